"""bench/estimates.py --points: the points of one predictive distribution it compares (the mean
printed, the median, the centre of the ten minutes holding most sample paths)."""
from __future__ import annotations

import pytest

from bench.estimates import Row, points_table, window_point

MIN = 60.0


def test_the_window_point_is_where_most_paths_fall_within_five_minutes():
    # a bimodal forecast (called before lunch, or after it): the mean falls between the two, where
    # no path is; the window point sits on the larger mode, nearest the mean among equal windows
    xs = sorted([2 * MIN, 3 * MIN, 4 * MIN, 6 * MIN, 90 * MIN, 95 * MIN])
    mean = sum(xs) / len(xs)
    at = window_point(xs, mean)
    assert sum(abs(x - at) <= 5 * MIN for x in xs) == 4
    assert at == pytest.approx(7 * MIN)      # the centre nearest the mean that still holds [2, 6]
    assert window_point([0.0] * 10, 0.0) == 0.0                          # a certain call at once stays 0
    assert window_point(sorted([0.0, 0.0, 12 * MIN]), 4 * MIN) == 4 * MIN  # the mean itself holds the most


def test_points_are_scored_against_the_actual_wait():
    rows = [Row("HT", 0.0, actual=10 * MIN, samples=[8 * MIN, 9 * MIN, 10 * MIN, 40 * MIN]),
            Row("HT", 0.0, actual=2 * MIN, samples=[0.0, 1 * MIN, 2 * MIN])]
    t = points_table(rows)
    assert t["mean"]["within5"] == 0.5       # 16.75 min printed for a 10-min wait: outside ± 5
    assert t["median"]["within5"] == 1.0 and t["window"]["within5"] == 1.0
    assert t["mean"]["bias"] == pytest.approx(((16.75 - 10) + (1 - 2)) / 2)


def test_the_words_across_a_closure_are_checked_against_the_call_in_the_centers_time():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bench.estimates import split_outcome
    tz = "Asia/Ho_Chi_Minh"
    issued = datetime(2026, 12, 1, 11, 20, tzinfo=ZoneInfo(tz)).timestamp()  # 11:20 local, 04:20 UTC
    words = ("11:30", "13:30")
    assert split_outcome(words, issued, 5 * MIN, tz) == "before"        # called 11:25
    assert split_outcome(words, issued, 10 * MIN, tz) == "before"       # 11:30, as the words allow
    assert split_outcome(words, issued, 130 * MIN, tz) == "after"       # 13:30
    assert split_outcome(words, issued, 60 * MIN, tz) == "between"      # 12:20: the words were wrong
    assert split_outcome(words, issued, None, tz) == "not called"


def test_the_seed_bench_reads_ranges_and_lists_of_offsets():
    from bench.estimate_seeds import offsets
    assert offsets("0-9") == list(range(10))
    assert offsets("0,3-4,7") == [0, 3, 4, 7]
