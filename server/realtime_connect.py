"""A screen's connect served from the last pushed snapshot, then every event since: no forecast.

A screen's snapshot holds the forecast of every waiting citizen (the services' estimates, the
alerts). Computing a fresh one for each connect was a fifth of the server's time in
bench/connections.py during a center's day, with 1,300 waiting and screens reconnecting
(docs/performance.md, section 8). The live hub pushes a snapshot of every watched view after
each burst of events and at least every ``PERIODIC_S``: a connecting screen gets the last one.

Sockets that cannot lie: the snapshot carries the event sequence ``seq`` it reflects, and all of
it is of that one state (``Engine.snapshot`` reads in one read transaction:
``server/engine/views.py``); events broadcast since then reached the screens already in the
room, not this one. So, holding the
hub's send lock (no broadcast can pass meanwhile), the connect joins its rooms, sends the kept
snapshot, then every event after its ``seq`` up to the last one broadcast, read from the event
log, in order; the next broadcast comes after. The client sees a full snapshot and then ``seq``
rising by one, as after any push (``static/js/live.js`` drops what is older than it has).

A kept snapshot older than ``MAX_AGE_S``, or more than ``MAX_EVENTS`` events behind, is not used:
the connect computes a fresh one (outside the lock) and keeps it.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

MAX_AGE_S = 35.0   # the hub pushes every watched view at least every 30 s (realtime_push.PERIODIC_S)
MAX_EVENTS = 200   # events sent after a kept snapshot at most; more: a fresh snapshot


class SnapshotKeeper:
    """The last snapshot of each view (site, or None for all), with when it was made."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._kept: dict[str | None, tuple[float, dict]] = {}
        self._lock = threading.Lock()
        self.served = 0  # connects served from a kept snapshot (tests, the curious)

    def keep(self, site: str | None, snap: dict) -> None:
        with self._lock:
            old = self._kept.get(site)
            if old is None or old[1]["seq"] <= snap["seq"]:
                self._kept[site] = (self._monotonic(), snap)

    def usable(self, site: str | None, last_sent: int) -> dict | None:
        """The kept snapshot of ``site`` if recent enough and at most ``MAX_EVENTS`` behind ``last_sent``."""
        with self._lock:
            kept = self._kept.get(site)
        if kept is None or self._monotonic() - kept[0] > MAX_AGE_S or last_sent - kept[1]["seq"] > MAX_EVENTS:
            return None
        return kept[1]


def snapshot_for_connect(keeper: SnapshotKeeper, site: str | None, last_sent: Callable[[], int],
                         fresh: Callable[[], dict]) -> tuple[dict, bool]:
    """(the snapshot to send, whether it is a kept one): the kept one if usable, else ``fresh()``
    (kept for the next connect)."""
    snap = keeper.usable(site, last_sent())
    if snap is not None:
        keeper.served += 1
        return snap, True
    snap = fresh()
    keeper.keep(site, snap)
    return snap, False
