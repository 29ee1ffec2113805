"""Restart delays: short after a rare crash, growing while the browser keeps crashing.

The delay doubles after each exit (``initial``, ``2*initial``, ... up to ``maximum``) and
starts again from ``initial`` once a run has lasted ``stable_after_s``: a browser that
crashes once a day restarts at once, one that dies at start-up does not spin the CPU.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial_s: float
    maximum_s: float
    stable_after_s: float
    _next_s: float = field(init=False)

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.maximum_s < self.initial_s:
            raise ValueError("need 0 < initial_s <= maximum_s")
        self._next_s = self.initial_s

    def after_exit(self, ran_for_s: float) -> float:
        """The delay before the next start, given how long the run that just ended lasted."""
        if ran_for_s >= self.stable_after_s:
            self._next_s = self.initial_s
        delay = self._next_s
        self._next_s = min(self.maximum_s, self._next_s * 2)
        return delay

    def reset(self) -> None:
        self._next_s = self.initial_s
