"""A citizen still waiting when the clerks stop for the day is closed by the next day's first
look (the engine's ``close_day``, the next morning). The province's report must not read that as
a wait through the night: the stretch of the broken promise ends with the day's last activity."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from server.reporting import files, period

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = date(2026, 11, 23)


def _at(day: date, hhmm: str) -> float:
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=TZ).timestamp()


def test_a_wait_left_open_at_the_end_of_the_day_ends_with_the_days_work(engine, clock):
    engine.sign_in(1, "bot1")
    first, left = engine.issue("CT"), engine.issue("CT")       # both at 09:00
    engine.call_next(1, "bot1")
    engine.start(first["id"], 1, "bot1")
    clock.advance(40 * 60)                                        # a long service: 09:00-09:40
    engine.finish(first["id"], 1, "bot1")
    engine.sign_out(1, "bot1")                                    # and nobody serves CT after it
    clock.jump(_at(date(2026, 11, 24), "07:30") - clock.now())   # the next morning's first look
    engine.snapshot()
    assert engine.ticket(left["id"])["state"] == "abandoned"      # closed by the new day
    report = files.build(engine, period.days(MONDAY))
    # someone waited past 15 minutes from 09:15 until the work of the day stopped at 09:40
    assert report["promise_broken"] == [
        {"day": "2026-11-23", "tickets": 1, "longest_wait_min": 40.0, "from": "09:15", "to": "09:40", "minutes": 25.0}]
    assert report["totals"]["abandoned"] == 1 and report["totals"]["served"] == 1


def test_a_day_closed_before_its_leftover_waited_long_reports_no_broken_promise(engine, clock):
    engine.sign_in(1, "bot1")
    first, left = engine.issue("CT"), engine.issue("CT")
    engine.call_next(1, "bot1")
    engine.start(first["id"], 1, "bot1")
    clock.advance(5 * 60)
    engine.finish(first["id"], 1, "bot1")
    engine.sign_out(1, "bot1")                                    # 09:05: the clerk leaves
    clock.jump(_at(date(2026, 11, 24), "08:00") - clock.now())
    engine.snapshot()
    report = files.build(engine, period.days(MONDAY))
    assert report["promise_broken"] == []                         # not 09:15 until 08:00 the next day
