"""The estimate as a citizen reads it: a rounded range."""
from __future__ import annotations

import pytest

from qms_common.wait_words import wait_range_phrase


@pytest.mark.parametrize("low, high, vi, en", [
    (0, 0, "dưới 5 phút", "under 5 min"),
    (60, 250, "dưới 5 phút", "under 5 min"),
    (0, 520, "dưới 10 phút", "under 10 min"),
    (612, 880, "khoảng 10–15 phút", "about 10–15 min"),
    (600, 600, "khoảng 10–15 phút", "about 10–15 min"),   # never narrower than 5 minutes
    (1150, 2230, "khoảng 15–40 phút", "about 15–40 min"),
    (900, 9000, "hơn 15 phút", "over 15 min"),
    (7300, 9000, "hơn 2 giờ", "over 2 hours"),
    (880, 612, "khoảng 10–15 phút", "about 10–15 min"),   # ends given the wrong way round
])
def test_wait_range_phrase(low, high, vi, en):
    assert wait_range_phrase(low, high) == (vi, en)
