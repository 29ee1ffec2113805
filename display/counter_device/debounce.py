"""Debounce in the application, on the monotonic clock.

gpiozero's mock pins ignore ``bounce_time`` and real contacts bounce for milliseconds, so
each key accepts one press per window, measured with ``monotonic()`` (a wall-clock jump
after NTP sync must not block a key for hours).
"""
from __future__ import annotations


class Debouncer:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._last: dict[str, float] = {}
        self.suppressed = 0

    def accept(self, key: str, at: float) -> bool:
        """Whether a press of ``key`` at monotonic time ``at`` counts."""
        last = self._last.get(key)
        if last is not None and at - last < self.window_s:
            self.suppressed += 1
            return False
        self._last[key] = at
        return True
