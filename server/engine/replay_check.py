"""``qms replay --check``: rebuild the live state from the event log and compare it with the
live tables, field by field, in one consistent read (SQLite's snapshot, so it may run beside a
working server). Each difference is reported in Vietnamese, then English."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .replay import ReplayedState, replay

#: ticket fields the events determine, with their Vietnamese names
TICKET_FIELDS = {"code": "số", "service": "lĩnh vực", "state": "trạng thái", "counter": "quầy",
                 "priority": "ưu tiên", "target_counter": "quầy được chuyển tới", "recalls": "số lần gọi lại",
                 "transfers": "số lần chuyển"}
COUNTER_FIELDS = {"state": "trạng thái", "clerk": "cán bộ", "ticket_id": "vé đang xử lý"}
#: compared while a clerk is there: what they signed in with or the director set (engine/controls.py)
SERVICES_FIELD = ("services", "lĩnh vực phục vụ")
CLOSED = {"state": "closed", "clerk": None, "ticket_id": None}


@dataclass(frozen=True)
class Difference:
    kind: str  # "ticket" or "counter"
    key: str  # ticket id or counter number
    field: str
    live: Any
    replayed: Any

    def message(self) -> str:
        if self.kind == "ticket":
            what_vi, what_en = f"Vé {self.key}", f"ticket {self.key}"
            name = TICKET_FIELDS.get(self.field, self.field)
        else:
            what_vi, what_en = f"Quầy {self.key}", f"counter {self.key}"
            name = COUNTER_FIELDS.get(self.field, SERVICES_FIELD[1] if self.field == "services" else self.field)
        if self.field == "*":
            return (f"{what_vi}: {self.live}; {what_en}: {self.replayed}")
        return (f"{what_vi}, {name}: bảng trực tiếp '{self.live}', theo nhật ký sự kiện '{self.replayed}'; "
                f"{what_en}, {self.field}: live table {self.live!r}, event log {self.replayed!r}")


@dataclass
class CheckResult:
    events: int
    tickets: int
    counters: int
    differences: list[Difference]

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        if self.ok:
            return (f"Khớp: trạng thái dựng lại từ {self.events} sự kiện trùng với bảng trực tiếp "
                    f"({self.tickets} vé, {self.counters} quầy); consistent: the state rebuilt from {self.events} "
                    f"events matches the live tables ({self.tickets} tickets, {self.counters} counters)")
        n = len(self.differences)
        return (f"KHÔNG khớp: {n} khác biệt giữa bảng trực tiếp và nhật ký sự kiện; NOT consistent: {n} "
                f"difference(s) between the live tables and the event log")


def _read(conn: sqlite3.Connection, counters: list[int]) -> tuple[list[dict], dict[str, dict], dict[int, dict]]:
    conn.execute("BEGIN")  # one snapshot for the events and both tables
    try:
        events = [{**dict(r), "data": json.loads(r["data"])}
                  for r in conn.execute("SELECT * FROM events ORDER BY seq").fetchall()]
        tickets = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM tickets").fetchall()}
        live_counters = {r["number"]: dict(r) for r in conn.execute("SELECT * FROM counters").fetchall()
                         if r["number"] in counters}
    finally:
        conn.execute("COMMIT")
    return events, tickets, live_counters


def compare(tickets: dict[str, dict], counters: dict[int, dict], state: ReplayedState) -> list[Difference]:
    out: list[Difference] = []
    for tid in sorted(set(tickets) | set(state.tickets)):
        live, rebuilt = tickets.get(tid), state.tickets.get(tid)
        if rebuilt is None:
            out.append(Difference("ticket", tid, "*", "có trong bảng nhưng không có sự kiện phát số",
                                  "in the live table but never issued in the event log"))
            continue
        if live is None:
            out.append(Difference("ticket", tid, "*", "có sự kiện phát số nhưng không có trong bảng",
                                  "issued in the event log but missing from the live table"))
            continue
        for field in TICKET_FIELDS:
            lv = bool(live[field]) if field == "priority" else live[field]
            if lv != rebuilt[field]:
                out.append(Difference("ticket", tid, field, lv, rebuilt[field]))
    for number in sorted(counters):
        live, rebuilt = counters[number], state.counters.get(number, CLOSED)
        for field in COUNTER_FIELDS:
            if live[field] != rebuilt[field]:
                out.append(Difference("counter", str(number), field, live[field], rebuilt[field]))
        if live["state"] != "closed":
            lv = json.loads(live["services"]) if live.get("services") else None
            if lv != rebuilt.get("services"):
                out.append(Difference("counter", str(number), "services", lv, rebuilt.get("services")))
    return out


def check(conn: sqlite3.Connection, counters: list[int]) -> CheckResult:
    """``counters``: the configured counter numbers (a counter removed from the configuration
    keeps its row but is no longer part of the live state)."""
    events, tickets, live_counters = _read(conn, counters)
    state = replay(events)
    return CheckResult(len(events), len(tickets), len(live_counters), compare(tickets, live_counters, state))
