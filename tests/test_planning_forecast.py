"""The arrivals forecast (server/planning/forecast.py): weekday, shape, honesty with few days."""
from datetime import date, timedelta

import pytest

from server.planning.forecast import HistoryDay, error_by_slot, forecast


def _day(d: date, per_slot: dict[int, int], service="HT") -> HistoryDay:
    rows = []
    for slot, n in per_slot.items():
        rows += [(slot * 1800 + 60 * k, service) for k in range(n)]
    return HistoryDay(d, tuple(rows))


def _weeks(n_weeks, monday=20, other=10):
    start = date(2026, 11, 2)  # a Monday
    out = []
    for w in range(n_weeks):
        for k in range(5):
            d = start + timedelta(days=7 * w + k)
            n = monday if k == 0 else other
            out.append(_day(d, {0: n // 2, 1: n // 2}))  # all in the first hour
    return out


def test_mondays_busier_than_fridays_and_shape_kept():
    hist = _weeks(3)
    monday = forecast(hist, date(2026, 11, 23), close_s=3 * 1800)
    friday = forecast(hist, date(2026, 11, 27), close_s=3 * 1800)
    assert monday.total() > friday.total()
    # days of one weekday all alike: the Monday level is trusted as it is
    assert monday.total() == pytest.approx(20)
    assert monday.rates["HT"][2] == 0        # nobody ever came in the third half hour
    assert monday.rates["HT"][0] == pytest.approx(monday.rates["HT"][1])
    assert monday.same_weekday_days == 3 and monday.days_used == 15


def test_few_days_say_so_and_are_uncertain():
    hist = _weeks(1)[:3]
    fc = forecast(hist, date(2026, 11, 9), close_s=2 * 1800)
    assert fc.days_used == 3
    assert any("3 ngày" in n for n in fc.notes)
    assert fc.level_cv >= 0.25
    assert fc.sd["HT"][0] > fc.rates["HT"][0] ** 0.5   # more than Poisson alone


def test_trend_only_with_enough_days():
    short = forecast(_weeks(2), date(2026, 11, 16), close_s=3600)
    assert short.trend == 1.0 and any("xu hướng" in n for n in short.notes)
    rising = []
    for i, h in enumerate(_weeks(4, monday=10, other=10)):
        n = 10 + i                          # one more citizen every day
        rising.append(_day(h.day, {0: n}))
    fc = forecast(rising, date(2026, 11, 30), close_s=3600)
    assert fc.trend > 1.0


def test_needs_an_earlier_day_and_ignores_later_ones():
    hist = _weeks(1)
    with pytest.raises(ValueError):
        forecast(hist, date(2026, 11, 2))
    fc = forecast(hist, date(2026, 11, 4), close_s=3600)   # only Mon and Tue are before it
    assert fc.days_used == 2


def test_error_by_slot():
    hist = _weeks(2)
    fc = forecast(hist, date(2026, 11, 17), close_s=2 * 1800)
    err = error_by_slot(fc, _day(date(2026, 11, 17), {0: 5, 1: 5}))
    assert [e["actual"] for e in err] == [5, 5]
    assert err[0]["abs_error"] == pytest.approx(abs(fc.rates["HT"][0] - 5))


def test_weekday_level_shrunk_when_days_of_one_weekday_differ_much():
    start = date(2026, 11, 2)
    hist = []
    mondays = [8, 22, 15]                       # a noisy Monday level, mean 15
    others = [[10, 13, 9, 12], [12, 9, 11, 10], [11, 12, 10, 9]]
    for w in range(3):
        hist.append(_day(start + timedelta(days=7 * w), {0: mondays[w]}))
        for k in range(4):
            hist.append(_day(start + timedelta(days=7 * w + k + 1), {0: others[w][k]}))
    fc = forecast(hist, date(2026, 11, 23), close_s=1800)
    mean = sum(mondays + sum(others, [])) / 15
    assert mean < fc.total() < 15               # between the mean day and the Mondays' mean
