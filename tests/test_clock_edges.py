"""Time at its edges, with the injected clock: the Asia/Ho_Chi_Minh midnight (numbering restarts
at 00:00 local, yesterday's open tickets are closed as docs/queue-rules.md says) and a wall clock
that jumps back (NTP correcting a clock that ran ahead): nobody overtaken, no negative wait, no
number given twice."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from qms_common.errors import InvalidTransition
from server.engine import Engine
from server.engine.replay_check import check
from server.reports import report_for

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def vn(day: int, hh: int, mm: int, ss: int = 0) -> float:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=VN).timestamp()


@pytest.fixture
def night(engine, clock):
    """The server runs through the night (hours not enforced, as for a 24 h test)."""
    engine.config.hours.enforce = False
    return engine


def test_numbering_restarts_at_local_midnight_not_utc(night, clock):
    clock.set(vn(23, 23, 59, 59))
    last = [night.issue("HT") for _ in range(3)][-1]
    assert (last["day"], last["code"]) == ("2026-11-23", "HT-003")
    clock.advance(1)  # 00:00:00 in Hà Nội, 17:00 UTC
    first = night.issue("HT")
    assert (first["day"], first["code"], first["id"]) == ("2026-11-24", "HT-001", "20261124-HT-001")
    clock.set(vn(24, 6, 59))  # 23:59 UTC: still the 24th here, no second restart at UTC midnight
    clock.advance(120)
    assert night.issue("HT")["code"] == "HT-002"


def test_yesterdays_open_tickets_are_closed_at_midnight(night, clock):
    clock.set(vn(23, 16, 0))
    waiting, called, serving, parked, gone = (night.issue("HT") for _ in range(5))
    night.sign_in(4, "binh")
    night.sign_in(3, "chi")
    night.sign_in(2, "an")
    night.call(called["id"], 4, "binh")
    night.call(serving["id"], 3, "chi")
    night.start(serving["id"], 3, "chi")
    night.call(parked["id"], 2, "an")
    night.park(parked["id"], 2, "an")
    night.call(gone["id"], 2, "an")
    night.no_show(gone["id"], 2, "an")
    clock.set(vn(24, 0, 0, 1))
    snap = night.snapshot()  # the first thing after midnight is a wall display's refresh
    ht = next(s for s in snap["services"] if s["service"] == "HT")
    assert ht["waiting"] == 0 and ht["longest_wait_s"] == 0.0
    assert not [a for a in snap["alerts"] if a["kind"] == "wait_breach"]
    state = {t["id"]: night.ticket(t["id"])["state"] for t in (waiting, called, serving, parked, gone)}
    assert state == {waiting["id"]: "abandoned", called["id"]: "abandoned", serving["id"]: "done",
                     parked["id"]: "abandoned", gone["id"]: "no_show"}
    assert all(c["ticket_id"] is None for c in night.counters())
    # a no-show of yesterday does not come back into today's line
    with pytest.raises(InvalidTransition, match="hôm trước"):
        night.requeue(gone["id"], actor="an")
    today = night.issue("HT")
    assert night.call_next(2, "an")["id"] == today["id"]
    assert check(night.store.conn(), [c.number for c in night.config.counters]).differences == []


def test_a_clock_jumping_back_lets_nobody_overtake(night, clock):
    clock.set(vn(23, 9, 0))
    early = night.issue("HT")
    clock.advance(60)
    second = night.issue("HT")
    clock.jump(-3600)  # NTP: the clock ran an hour ahead
    later = night.issue("HT")
    assert later["code"] == "HT-003"
    night.sign_in(4, "binh")
    order = []
    for _ in range(3):
        t = night.call_next(4, "binh")
        order.append(t["id"])
        night.start(t["id"], 4, "binh")
    assert order == [early["id"], second["id"], later["id"]]


def test_a_clock_jumping_back_makes_no_negative_wait_or_service_time(night, clock):
    clock.set(vn(23, 9, 0))
    a = night.issue("HT")
    night.sign_in(4, "binh")
    night.call_next(4, "binh")
    night.start(a["id"], 4, "binh")
    b = night.issue("HT")
    clock.jump(-3600)
    clock.advance(300)
    stats = next(s for s in night.service_stats() if s["service"] == "HT")
    assert stats["longest_wait_s"] >= 0
    held = next(c for c in night.counters_view() if c["number"] == 4)["ticket"]
    assert held["in_hand_s"] >= 0
    called = night.call_next(4, "binh")  # finishes a after a "negative" service time, calls b
    assert called["id"] == b["id"]
    call_event = [e for e in night.events_after(0) if e["type"] == "ticket_call"][-1]
    assert call_event["data"]["wait_s"] >= 0
    model = night.waits.model(night.store.conn(), clock.now())
    assert model.mean_service_s("HT") > 0 and night.estimate_new("HT") >= 0
    row = next(r for r in report_for(night, None, None)[2] if r["service"] == "HT")
    assert row["mean_wait_min"] >= 0
    assert row["mean_service_min"] is None  # its one service "took" -55 min: unknown, left out


def test_a_clock_jumping_back_across_midnight_gives_no_number_twice_and_loses_nobody(night, clock):
    clock.set(vn(23, 23, 58))
    a = night.issue("HT")
    clock.advance(180)  # 00:01 on the 24th
    b = night.issue("HT")
    clock.jump(-300)  # back to 23:56 on the 23rd
    c = night.issue("HT")
    clock.advance(600)  # 00:06 on the 24th again
    d = night.issue("HT")
    ids = [t["id"] for t in (a, b, c, d)]
    assert len(set(ids)) == 4
    assert [t["code"] for t in (a, b, c, d)] == ["HT-001", "HT-001", "HT-002", "HT-002"]
    assert [t["day"] for t in (a, b, c, d)] == ["2026-11-23", "2026-11-24", "2026-11-23", "2026-11-24"]
    assert night.ticket(b["id"])["state"] == "waiting"  # today's citizen kept their ticket
    assert night.ticket(d["id"])["state"] == "waiting"
    assert check(night.store.conn(), [c.number for c in night.config.counters]).differences == []


def test_the_day_rolls_for_an_engine_in_another_process_too(store, center, clock):
    """Two processes share the database: the one that did not issue yesterday's ticket closes it."""
    center.hours.enforce = False
    yesterday = Engine(store, center, clock).issue("HT")
    other = Engine(store, center, clock)
    clock.advance(86400)
    assert other.tickets(state="waiting") == []
    assert other.ticket(yesterday["id"])["state"] == "abandoned"
