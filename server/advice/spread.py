"""How sure a change's gain is, over playout paths that share their draws (the same citizens and
dice with and without the change): the paired standard error and the 10th-90th percentile range.
Pure."""
from __future__ import annotations

import math
import statistics
from typing import Sequence


def percentile_range(after: Sequence[float | None], before: Sequence[float | None]) -> tuple[float | None, float | None]:
    """The 10th and 90th percentiles of the gain in share over paths that share their draws."""
    d = sorted(a - b for a, b in zip(after, before) if a is not None and b is not None)
    if not d:
        return None, None
    at = lambda q: d[min(len(d) - 1, max(0, round(q * (len(d) - 1))))]  # noqa: E731
    return at(0.1), at(0.9)


def paired_se(after: Sequence[float | None], before: Sequence[float | None]) -> float | None:
    """The standard error of the mean gain in share over paths that share their draws."""
    d = [a - b for a, b in zip(after, before) if a is not None and b is not None]
    if len(d) < 2:
        return None
    return statistics.stdev(d) / math.sqrt(len(d))
