"""The 80% interval, calibrated on how the forecast's own intervals did. Pure.

The forecast's interval comes from its sample paths, which know the variance the model knows
(service times, no-shows, patience) and not the rest (a clerk who is slower today, arrivals in a
burst, a path count of 24). So the interval is widened or narrowed by how its past intervals held,
split conformal style, one factor for each end:

* for each earlier ticket of this center (history and today) that was called and whose raw
  interval ``[low, high]`` around the raw estimate ``m`` was not ``[0, 0]``, the score of the
  high end is ``(actual - m) / (high - m)`` and of the low end ``(m - actual) / (m - low)``
  (the distances floored at ``FLOOR_S``): the interval held exactly when both are at most 1;
* a citizen still waiting past the high end is already a miss: their score so far, a lower
  bound, counts (without it the long waits of the morning would count only once they end);
* each end's factor is the score's 90th percentile (order statistic ``ceil(0.9 (n + 1))``). Days
  differ (on one ward's ten days the high end's factor ran from 0.7 to 1.3), so today's factor is
  shrunk towards the earlier days' (or towards 1 without history) as if those had held on
  ``PRIOR_WEIGHT`` of today's tickets: a morning prints the usual interval and the day moves it;
* an interval is ``[m - f_low (m - low), m + f_high (high - m)]``. ``[0, 0]`` (a counter free for
  this ticket now: the call is certain) stays, and a low end of 0 stays 0 (the forecast gives it
  when at least one path in ten calls at once).

The estimate itself (the mean) does not change. The raw interval is kept in each
``ticket_issued`` event (``predicted_raw_s``) so that the scores are of the raw one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

FLOOR_S = 30.0       # a distance under half a minute counts as half a minute
PRIOR_WEIGHT = 30.0  # the raw interval (factor 1) counts as this many tickets
MIN_TICKETS = 5      # fewer than this: no data, factor 1
TAIL = 0.9           # each end misses one time in ten: an 80% interval


@dataclass(frozen=True)
class Calibration:
    low: float = 1.0   # the factor of the low end's distance below the estimate
    high: float = 1.0  # the factor of the high end's distance above it
    n: int = 0         # tickets it was learned from

    def apply(self, mean: float, low: float, high: float) -> tuple[float, float]:
        if high <= 0:
            return low, high
        lo = low if low <= 0 else max(0.0, mean - self.low * max(0.0, mean - low))
        hi = max(lo, mean + self.high * max(0.0, high - mean))
        return lo, hi


def _factor(scores: list[float], prior: float, weight: float) -> float:
    n = len(scores)
    if n < MIN_TICKETS:
        return prior
    xs = sorted(scores)
    k = xs[min(n - 1, max(0, math.ceil(TAIL * (n + 1)) - 1))]
    return max(0.0, (n * k + weight * prior) / (n + weight))


def learn_calibration(rows: Iterable[tuple[float, float, float, float]], *,
                      still_waiting: Iterable[tuple[float, float, float, float]] = (),
                      prior: Calibration = Calibration(), weight: float = PRIOR_WEIGHT) -> Calibration:
    """``rows``: (raw estimate, raw low, raw high, actual wait) of tickets that were called, in
    seconds; ``still_waiting``: the same with the wait so far of those not yet called (only those
    past their high end count). ``prior``: the factors of earlier days, worth ``weight`` tickets."""
    up, down = [], []
    for mean, low, high, actual in rows:
        if high <= 0:
            continue
        up.append((actual - mean) / max(high - mean, FLOOR_S))
        if low > 0:
            down.append((mean - actual) / max(mean - low, FLOOR_S))
    for mean, low, high, so_far in still_waiting:
        if 0 < high < so_far:
            up.append((so_far - mean) / max(high - mean, FLOOR_S))
            if low > 0:
                down.append(-1.0)   # past the high end: the low end held
    return Calibration(_factor(down, prior.low, weight), _factor(up, prior.high, weight), len(up))


__all__ = ["Calibration", "FLOOR_S", "PRIOR_WEIGHT", "learn_calibration"]
