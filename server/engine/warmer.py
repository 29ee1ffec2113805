"""Forecast in the background after every event, so that the ticket being issued finds its
estimate ready (``WaitEstimator`` caches one forecast per site and event sequence).

One daemon thread, woken by the engine's listeners after each commit. It forecasts once the
events pause for ``QUIET_S``: during a burst (a kiosk issuing 20 tickets a second) each forecast
would be stale before anyone used it, and with a thousand waiting every one costs about 0.1 s of
CPU on the server's event loop (docs/performance.md, section 8). Events that come while it works
are coalesced into one more forecast. If a press comes before it is done, the issue computes its
own estimate, exactly as without it (the result is the same: a forecast is seeded by the event
sequence).
"""
from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

QUIET_S = 0.2  # forecast once no event has come for this long
# ... and never sooner after the last round than this many times what that round took: with a
# thousand waiting a round is 0.3-0.8 s of CPU, and during a burst with short pauses the warmer
# forecast state after state beside the live hub's push (a quarter of the server's samples in
# bench/connections.py at 00:15, docs/performance.md section 8); a small center's rounds of a few
# milliseconds are as before
SPACING = 2.0


def quiet_window(now: float, ended: float, took: float) -> float:
    """How long the events must pause before the next round: ``QUIET_S``, or until ``SPACING``
    times the last round's duration ``took`` has passed since it ``ended`` (monotonic seconds)."""
    return max(QUIET_S, ended + SPACING * took - now)


class EstimateWarmer:
    def __init__(self, engine) -> None:
        self.engine = engine
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Condition()
        self.rounds = 0  # forecasts made (tests and the curious)

    def start(self) -> "EstimateWarmer":
        self.engine.add_listener(self._on_event)
        self._thread = threading.Thread(target=self._run, name="estimate-warmer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.engine.remove_listener(self._on_event)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _on_event(self, event: dict) -> None:
        self._wake.set()

    def _run(self) -> None:
        took, ended = 0.0, 0.0
        while True:
            self._wake.wait()
            while True:  # until the events pause, and the last round's spacing has passed
                self._wake.clear()
                if self._stop.is_set():
                    return
                if not self._wake.wait(quiet_window(time.monotonic(), ended, took)):
                    break
            start = time.monotonic()
            try:
                self.engine.warm_estimates()
            except Exception:  # a failed forecast must never stop the next one
                log.exception("background wait forecast failed")
            ended = time.monotonic()
            took = ended - start
            with self._done:
                self.rounds += 1
                self._done.notify_all()

    def wait_for(self, predicate, timeout: float) -> bool:
        """Block until ``predicate()`` holds after a round (tests), or ``timeout`` seconds."""
        with self._done:
            return self._done.wait_for(predicate, timeout)
