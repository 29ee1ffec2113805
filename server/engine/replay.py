"""Rebuild the live state from the event log alone.

The live tables are a cache of the events: this proves it (tests compare the two after
random operation sequences) and lets an operator check a database after a crash:
``qms replay --check`` (server/engine/replay_check.py) compares the two.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass
class ReplayedState:
    tickets: dict[str, dict] = field(default_factory=dict)   # id -> {code, service, state, counter, ...}
    counters: dict[int, dict] = field(default_factory=dict)  # number -> {state, clerk, ticket_id}


def replay(events: Iterable[dict]) -> ReplayedState:
    st = ReplayedState()
    for e in events:
        kind, data, tid, n = e["type"], e["data"], e.get("ticket_id"), e.get("counter")
        if kind == "ticket_issued":
            st.tickets[tid] = {"code": data["code"], "service": data["service"], "state": "waiting", "counter": None,
                               "priority": bool(data.get("priority")), "target_counter": None, "recalls": 0,
                               "transfers": 0}
        elif kind.startswith("ticket_") and "to" in data and tid in st.tickets:
            t = st.tickets[tid]
            t["state"] = data["to"]
            if kind == "ticket_transfer":
                t.update(service=data["service"], target_counter=data.get("to_counter"), counter=None,
                         transfers=t["transfers"] + 1)
            elif kind == "ticket_requeue":
                t["counter"] = None
            elif kind == "ticket_recall":
                t["recalls"] += 1
            if kind in ("ticket_call", "ticket_recall", "ticket_resume"):
                t["counter"] = n
                st.counters.setdefault(n, {"state": "open", "clerk": e.get("actor"), "ticket_id": None})["ticket_id"] = tid
            elif kind in ("ticket_finish", "ticket_no_show", "ticket_transfer", "ticket_park", "ticket_cancel",
                          "ticket_abandon"):
                for c in st.counters.values():
                    if c["ticket_id"] == tid:
                        c["ticket_id"] = None
        elif kind == "counter_signed_in":
            c = st.counters.setdefault(n, {"state": "closed", "clerk": None, "ticket_id": None})
            c.update(state="open", clerk=e.get("actor"), services=data.get("services"))
        elif kind in ("counter_control_applied", "counter_control_undone"):  # engine/controls.py
            c = st.counters.setdefault(n, {"state": "closed", "clerk": None, "ticket_id": None})
            c.update(state=data["after"]["state"], services=list(data["after"]["services"]))
        elif kind in ("counter_paused", "counter_resumed", "counter_signed_out"):
            c = st.counters.setdefault(n, {"state": "closed", "clerk": None, "ticket_id": None})
            c["state"] = {"counter_paused": "paused", "counter_resumed": "open", "counter_signed_out": "closed"}[kind]
            if kind == "counter_signed_out":
                c["clerk"] = None
    return st
