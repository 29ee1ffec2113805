"""The printed 80% interval is calibrated on how the forecast's own past intervals held."""
from __future__ import annotations

import json
import random
import sqlite3

from server.engine.calibration import Calibration, learn_calibration
from server.simulator import Simulation
from tests.test_waits import _day


def _tickets(rng: random.Random, n: int, spread: float) -> list[tuple[float, float, float, float]]:
    """Raw intervals that assume a wait of mean m and sd m/4 (±1.28 sd: 80% if that were true);
    the real waits have sd ``spread`` * m/4."""
    out = []
    for _ in range(n):
        m = rng.uniform(300, 1500)
        sd = m / 4
        actual = max(0.0, rng.gauss(m, sd * spread))
        out.append((m, m - 1.28 * sd, m + 1.28 * sd, actual))
    return out


def _coverage(cal: Calibration, rows) -> float:
    inside = 0
    for m, lo, hi, a in rows:
        low, high = cal.apply(m, lo, hi)
        inside += low <= a <= high
    return inside / len(rows)


def test_an_interval_too_narrow_is_widened_to_hold_eight_times_in_ten():
    rng = random.Random(11)
    past, fresh = _tickets(rng, 400, 2.0), _tickets(rng, 2000, 2.0)
    assert _coverage(Calibration(), fresh) < 0.55          # the raw interval holds about half the time
    cal = learn_calibration(past)
    assert cal.high > 1.5 and cal.low > 1.5 and cal.n == 400
    assert 0.75 <= _coverage(cal, fresh) <= 0.85


def test_an_honest_interval_is_left_about_as_it_is_and_a_too_wide_one_narrowed():
    rng = random.Random(12)
    honest = learn_calibration(_tickets(rng, 400, 1.0))
    assert 0.85 < honest.low < 1.15 and 0.85 < honest.high < 1.15
    wide = learn_calibration(_tickets(rng, 400, 0.5))
    assert wide.high < 0.8
    assert 0.75 <= _coverage(wide, _tickets(rng, 2000, 0.5)) <= 0.85


def test_a_cold_morning_prints_the_raw_interval_and_a_certain_call_stays_certain():
    assert learn_calibration([]) == Calibration(1.0, 1.0, 0)
    few = learn_calibration([(600, 400, 800, 3000)] * 3)  # three misses are not yet evidence
    assert (few.low, few.high) == (1.0, 1.0)
    cal = Calibration(2.0, 2.0, 100)
    assert cal.apply(0.0, 0.0, 0.0) == (0.0, 0.0)         # a counter free now: called at once
    assert cal.apply(120.0, 0.0, 300.0) == (0.0, 480.0)   # a low end of 0 (called at once in some paths) stays


def test_each_ticket_keeps_its_raw_interval_and_prints_the_calibrated_one(tmp_path):
    db = tmp_path / "day.db"
    Simulation(_day(tmp_path, "d", 900), db_path=str(db)).run()
    conn = sqlite3.connect(db)
    rows = [json.loads(d) for (d,) in conn.execute("SELECT data FROM events WHERE type = 'ticket_issued' ORDER BY seq")]
    assert rows and all(len(r["predicted_raw_s"]) == 3 for r in rows)
    for r in rows:
        mean, raw_low, raw_high = r["predicted_raw_s"]
        low, high = r["predicted_range_s"]
        assert mean == r["predicted_wait_s"] and 0 <= low <= high and raw_low <= raw_high
        if raw_high == 0:
            assert (low, high) == (0, 0)
