"""When the server's worker lets Python's cyclic garbage collector look at what (``server/worker.py``).

CPython's collector stops the whole process while it walks a generation, and gevent runs every
connection on that one thread: a collection is a pause of every request. With 2,000 connections
held (``bench/connections.py``) the middle generation held 34,000-42,000 objects, most of them
the live connections' own (engine.io's queues, events and timers, gevent's greenlets), and its
collection, about every 20 s, paused the server 65-90 ms on this machine; a full one, every few
minutes, 100-270 ms. Those objects are not garbage: they live as long as their connection.

So the worker freezes the heap (``gc.freeze``: every object that exists now leaves the collected
generations) right after the app is loaded, and again every ``FREEZE_EVERY_S`` while it serves:
the collections then only walk what was made since the last freeze. Measured in the bench's load
window (20 s, 2,000 connections): no middle or full collection, the young ones at most 6-9 ms
(were 16-18), 54-76 ms of collections in all (were 158-178, with one middle one of 66-84 ms).

The price: a reference cycle that was alive at a freeze and dies later is not collected while
frozen (plain reference counting still frees everything else, at once). Under the bench's hostile
clients (100 connections closed and reopened a second) that was 24,000-29,000 objects per 30 s,
about 5 MiB of resident memory per 35 s. Every ``THAW_EVERY_S`` the worker therefore unfreezes,
collects everything once and freezes again: memory held that way stays bounded (~20 MiB at that
churn, far less in a center), and the one long pause (236-265 ms over 265,000-280,000 objects at
load average 8-10) comes at a known rate instead of the collector's own, which paused every ~20 s
for the middle generation and every few minutes for a full pass (docs/performance.md, section 8,
"Latency tail").
"""
from __future__ import annotations

import gc
import logging
import time
from typing import Callable

log = logging.getLogger(__name__)

FREEZE_EVERY_S = 2.0
THAW_EVERY_S = 120.0
YOUNG_THRESHOLD = 20_000  # objects allocated between young collections (CPython's default: 700)


class Collector:
    """The worker's schedule for the collector; :meth:`tick` is called about once a second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, freeze_every_s: float = FREEZE_EVERY_S,
                 thaw_every_s: float = THAW_EVERY_S) -> None:
        self.clock = clock
        self.freeze_every_s = freeze_every_s
        self.thaw_every_s = thaw_every_s
        self._frozen_at = self._thawed_at = clock()
        self.thaws = 0

    def start(self) -> None:
        """After the app is loaded: everything loaded so far stays out of the collections."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
        self._frozen_at = self._thawed_at = self.clock()

    def tick(self) -> None:
        now = self.clock()
        if now - self._thawed_at >= self.thaw_every_s:
            self.thaw(now)
        elif now - self._frozen_at >= self.freeze_every_s:
            gc.freeze()
            self._frozen_at = now

    def thaw(self, now: float | None = None) -> int:
        """Collect everything once (the cycles that died while frozen), then freeze again."""
        now = self.clock() if now is None else now
        started = time.perf_counter()
        frozen = gc.get_freeze_count()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        self._frozen_at = self._thawed_at = now
        self.thaws += 1
        log.info("collector: %d of %d frozen objects were garbage; the full collection took %.0f ms",
                 collected, frozen, (time.perf_counter() - started) * 1000)
        return collected
