"""One injectable clock for the engine, the simulator, the devices and the tests.

Wall time (``now()``, seconds since the epoch, UTC) is what we record: ticket issue
times, events, reports. ``monotonic()`` is what we measure intervals with, so that a
clock jump after boot (a Pi without an RTC that learns the time from NTP minutes after
starting) never makes a wait negative or a debounce window last for hours.
"""
from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def __repr__(self) -> str:
        return "<SystemClock>"


class StartedClock:
    """A clock that starts at a chosen wall instant and then runs at real speed.

    For benches and demos only (``qms serve --bench-clock-start``, docs/performance.md, section 8):
    a server run "as if" it were 09:30 on a working day, whatever the hour it is really run.
    ``monotonic()`` is the real one; ``now()`` is ``start`` plus the real time elapsed since the
    clock was made. ``monotonic`` can be injected (tests).
    """

    def __init__(self, start: float, monotonic=time.monotonic) -> None:
        self._start = float(start)
        self._source = monotonic
        self._origin = monotonic()

    def now(self) -> float:
        return self._start + (self._source() - self._origin)

    def monotonic(self) -> float:
        return self._source()

    def __repr__(self) -> str:
        return f"<StartedClock from {datetime.fromtimestamp(self._start, timezone.utc).isoformat()}>"


class FakeClock:
    """A clock the caller moves: tests and the simulator run in virtual time.

    ``advance()`` moves wall and monotonic time together; ``jump()`` moves only the wall
    clock, as NTP does after boot.
    """

    def __init__(self, start: float = 1_764_000_000.0) -> None:
        self._wall = float(start)
        self._mono = 1000.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward; use jump() for a wall-clock step")
        with self._lock:
            self._wall += seconds
            self._mono += seconds

    def set(self, wall: float) -> None:
        """Move to an absolute wall time (forward), monotonic following."""
        with self._lock:
            delta = wall - self._wall
            if delta < 0:
                raise ValueError("set() cannot go back; use jump()")
            self._wall = wall
            self._mono += delta

    def jump(self, seconds: float) -> None:
        with self._lock:
            self._wall += seconds

    def __repr__(self) -> str:
        return f"<FakeClock {datetime.fromtimestamp(self._wall, timezone.utc).isoformat()}>"


def local_datetime(ts: float, tz: str | ZoneInfo) -> datetime:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return datetime.fromtimestamp(ts, zone)


def local_day(ts: float, tz: str | ZoneInfo) -> date:
    """The center's calendar day for a timestamp: ticket numbers restart on it."""
    return local_datetime(ts, tz).date()


def local_timestamp(day: date, hhmm: str, tz: str | ZoneInfo) -> float:
    """Epoch seconds of ``hh:mm`` on ``day`` in the center's timezone."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=zone).timestamp()
