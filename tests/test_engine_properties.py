"""Property-based: any sequence of operations keeps the engine's invariants.

Unique numbers, one state per ticket, nothing lost, a counter holds at most one ticket and
that ticket agrees it is there, and the event log rebuilds the live tables.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qms_common.clock import FakeClock
from qms_common.errors import QmsError
from server.config import load_center
from server.engine import Engine
from server.engine.replay_check import check
from server.store import Store
from tests.conftest import MONDAY_9AM

SERVICES = ["HT", "CT", "DD", "XH"]
COUNTERS = [1, 2, 3, 4, 5, 8, 9, 21]
ACTIONS = ["issue", "issue", "issue", "call_next", "call_next", "start", "finish", "no_show", "recall",
           "transfer", "park", "resume", "cancel", "requeue", "sign_in", "pause", "resume_counter", "sign_out",
           "advance", "offline", "jump_back"]

op = st.tuples(st.sampled_from(ACTIONS), st.integers(0, 50), st.integers(0, 50), st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=5, max_size=60))
def test_any_sequence_keeps_the_invariants(ops):
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "p.db", synchronous="OFF")
        clock = FakeClock(MONDAY_9AM)
        engine = Engine(store, load_center(), clock)
        issued: set[str] = set()
        blocks: dict[str, list[int]] = {}
        for action, a, b, flag in ops:
            counter = COUNTERS[a % len(COUNTERS)]
            clerk = f"clerk{counter}"
            service = SERVICES[b % len(SERVICES)]
            tickets = engine.tickets(limit=1000)
            target = tickets[b % len(tickets)] if tickets else None
            try:
                if action == "issue":
                    issued.add(engine.issue(service, priority=flag, site="diem-1" if a % 5 == 0 else None)["id"])
                elif action == "offline":
                    free = blocks.get(service) or []
                    if not free:
                        blk = engine.reserve_block("kiosk-1", service, 3)
                        free = blocks[service] = list(range(blk["first"], blk["last"] + 1))
                    n = free.pop(0)
                    t = engine.merge_offline("kiosk-1", client_ref=f"offline-{service}-{n:05d}", service=service,
                                             number=n, day=engine.today().isoformat(), issued_at=clock.now() - a)
                    issued.add(t["id"])
                elif action == "call_next":
                    if engine.counter(counter)["state"] == "closed":
                        engine.sign_in(counter, clerk)
                    called = engine.call_next(counter, clerk)
                    if called:
                        event("call_next found a ticket")
                elif action == "advance":
                    clock.advance(a * 7)
                elif action == "jump_back":
                    # NTP steps the wall clock back, within the day (never before 08:00)
                    clock.jump(-min(a * 20, max(0.0, clock.now() - (MONDAY_9AM - 3600))))
                elif action == "sign_in":
                    engine.sign_in(counter, clerk)
                elif action == "pause":
                    engine.pause(counter, clerk)
                elif action == "resume_counter":
                    engine.resume_counter(counter, clerk)
                elif action == "sign_out":
                    engine.sign_out(counter, clerk)
                elif target is not None:
                    where = target["counter"] or counter
                    who = f"clerk{where}"
                    # as the API calls it: the clerk's role, so the counter rule is checked
                    if action == "transfer":
                        engine.transfer(target["id"], service=service, counter=target["counter"], actor=who,
                                        role="clerk")
                    elif action in ("cancel",):
                        engine.cancel(target["id"], actor="director", role="director")
                    elif action == "requeue":
                        engine.requeue(target["id"], actor=who, role="clerk")
                    else:
                        getattr(engine, action)(target["id"], where, who, role="clerk")
                event(f"accepted: {action}")
            except QmsError:
                pass  # refused operations are fine; the invariants below must hold anyway

            check_invariants(engine, issued)
        store.close()


def check_invariants(engine: Engine, issued: set[str]) -> None:
    tickets = engine.tickets(limit=10000)
    by_id = {t["id"]: t for t in tickets}
    # nothing lost, nothing invented
    assert set(by_id) == issued
    # unique numbers per day and prefix
    keys = [(t["day"], t["prefix"], t["number"]) for t in tickets]
    assert len(keys) == len(set(keys))
    # a counter holds at most one ticket, which is called or serving there; no ticket at two counters
    held = {}
    for c in engine.counters():
        if c["ticket_id"]:
            t = by_id[c["ticket_id"]]
            assert t["state"] in ("called", "serving"), (c, t)
            assert t["counter"] == c["number"]
            assert c["state"] != "closed"
            held[c["ticket_id"]] = c["number"]
    for t in tickets:
        if t["state"] in ("called", "serving"):
            assert held.get(t["id"]) == t["counter"], t
    # a wall clock stepped back makes no negative wait anywhere a person reads one
    assert all(s["longest_wait_s"] >= 0 for s in engine.service_stats())
    for c in engine.counters_view():
        assert c["ticket"] is None or (c["ticket"]["waited_s"] >= 0 and c["ticket"]["in_hand_s"] >= 0)
    # the event log rebuilds the live state, every field `qms replay --check` compares
    result = check(engine.store.conn(), [c.number for c in engine.config.counters])
    assert result.differences == []
