"""Wait estimates (placeholder, filled in below)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shift:
    """One row of the day's roster: a clerk at a counter, serving these services, from..to (epoch s)."""
    counter: int
    clerk: str
    services: tuple[str, ...]
    start: float
    end: float
