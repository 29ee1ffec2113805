"""One press, one ticket: what a button press means, decided on the monotonic clock.

Press events carry the monotonic time at which the button went down (stamped in the
callback thread, so a press that waited in the queue while a ticket printed is still
known to have happened during the print). :class:`PressFilter` then decides, in the
kiosk's worker thread only:

- contact bounce: a second press of the same button within ``debounce_s`` is the same press
  (gpiozero's mock ignores ``bounce_time``, and real contacts bounce anyway);
- cool-down: for ``cooldown_s`` after an accepted press, and while a ticket prints, service
  presses are ignored (an impatient second press does not take a second ticket);
- rate limit: at most ``per_minute`` tickets per button in any 60 s (a child pressing
  twenty times does not use up the numbers); a refused press is reported so the screen
  and LED can say so;
- priority: the priority button arms priority for ``priority_window_s``; the next service
  press within it issues a priority ticket.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

PRIORITY = "P"

Verdict = Literal["issue", "priority_armed", "bounce", "cooldown", "busy", "rate_limited", "unknown"]


@dataclass(frozen=True)
class Press:
    """A button went down. ``button`` is a service code or :data:`PRIORITY`."""

    button: str
    at: float  # monotonic seconds
    source: str = "gpio"  # gpio, web, cli


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    service: str | None = None
    priority: bool = False
    retry_in_s: float = 0.0  # for rate_limited: when this button works again

    @property
    def issue(self) -> bool:
        return self.verdict == "issue"


@dataclass
class PressFilter:
    services: frozenset[str]
    debounce_s: float = 0.05
    cooldown_s: float = 2.0
    per_minute: int = 4
    priority_window_s: float = 8.0
    window_s: float = 60.0
    _last_seen: dict[str, float] = field(default_factory=dict)
    _issued: dict[str, deque[float]] = field(default_factory=dict)
    _cooldown_until: float = float("-inf")
    _busy_until: float = float("-inf")
    _priority_until: float = float("-inf")

    def decide(self, press: Press) -> Decision:
        button, at = press.button, press.at
        last = self._last_seen.get(button)
        self._last_seen[button] = at
        if last is not None and 0 <= at - last < self.debounce_s:
            return Decision("bounce", button if button != PRIORITY else None)
        if button == PRIORITY:
            self._priority_until = at + self.priority_window_s
            return Decision("priority_armed")
        if button not in self.services:
            return Decision("unknown", button)
        if at < self._busy_until:
            return Decision("busy", button)
        if at < self._cooldown_until:
            return Decision("cooldown", button)
        issued = self._issued.setdefault(button, deque())
        while issued and at - issued[0] >= self.window_s:
            issued.popleft()
        if len(issued) >= self.per_minute:
            return Decision("rate_limited", button, retry_in_s=round(self.window_s - (at - issued[0]), 1))
        issued.append(at)
        self._cooldown_until = at + self.cooldown_s
        priority = at <= self._priority_until
        self._priority_until = float("-inf")
        return Decision("issue", button, priority=priority)

    def busy_until(self, monotonic: float) -> None:
        """A ticket was being issued and printed until ``monotonic``: presses before it are ignored."""
        self._busy_until = max(self._busy_until, monotonic)
        self._cooldown_until = max(self._cooldown_until, monotonic)

    def priority_armed(self, now: float) -> bool:
        return now <= self._priority_until
