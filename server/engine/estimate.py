"""Estimated wait for a citizen who takes a ticket now.

The queue-length predictor: with ``n`` people ahead, ``f`` free counters and an effective
number ``c`` of counters working on this service, each taking ``m`` seconds on average,

    W = max(0, n + 1 - f) * m / c

which is the exact expected wait of M/M/c when all counters are busy. A counter that serves
several services with people waiting counts as a fraction of a counter for each. When no
counter serving the service is open (before opening, at lunch, all paused), the estimate
assumes the configured counters will open and adds the time until they do.

``m`` comes from today's finished tickets of the service, blended with the configured prior
(``mean_service_min``) so that the first few services of the day do not swing it wildly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

PRIOR_WEIGHT = 3.0  # the prior counts as this many observed services


@dataclass(frozen=True)
class CounterLoad:
    number: int
    services: Sequence[str]
    open: bool
    busy: bool  # a ticket in hand


def blended_mean(prior_s: float, observed: Sequence[float]) -> float:
    return (prior_s * PRIOR_WEIGHT + sum(observed)) / (PRIOR_WEIGHT + len(observed))


def effective_counters(service: str, counters: Sequence[CounterLoad], waiting: Mapping[str, int],
                       *, only_open: bool) -> tuple[float, int]:
    """(effective counters, free counters) serving ``service``."""
    eff, free = 0.0, 0
    for c in counters:
        if service not in c.services or (only_open and not c.open):
            continue
        sharing = sum(1 for s in c.services if s == service or waiting.get(s, 0) > 0)
        eff += 1.0 / max(sharing, 1)
        if c.open and not c.busy:
            free += 1
    return eff, free


def estimate_wait_s(service: str, people_ahead: int, counters: Sequence[CounterLoad],
                    waiting: Mapping[str, int], mean_service_s: float, *, until_open_s: float = 0.0) -> float:
    eff, free = effective_counters(service, counters, waiting, only_open=True)
    delay = 0.0
    if eff == 0:
        eff, free = effective_counters(service, counters, waiting, only_open=False)
        delay = until_open_s
        free = sum(1 for c in counters if service in c.services)  # all free when they open
        if eff == 0:
            return delay
    slots = max(0, people_ahead + 1 - free)
    return delay + slots * mean_service_s / eff
