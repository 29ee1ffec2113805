"""Simulated motion and battery, in real or virtual time.

There is no motor driver: the robot "travels" between named spots in a straight line at
``speed_m_s``, so a trip takes ``distance / speed`` seconds. It advances in steps of
``step_s``; each step moves it, drains the battery by ``drain_pct_per_m`` per metre and
lets the caller publish telemetry. :class:`RealTime` waits for real (and is woken early
when the robot stops); :class:`VirtualTime` advances a :class:`~qms_common.clock.FakeClock`
instead, so a 40-second trip in a test takes no time at all.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Callable, Protocol

from qms_common.clock import Clock, FakeClock, SystemClock

Point = tuple[float, float]


class Timebase(Protocol):
    clock: Clock

    def sleep(self, seconds: float) -> bool:
        """Let ``seconds`` pass; False if the robot is stopping (the wait was cut short)."""
        ...

    def interrupt(self) -> None: ...


class RealTime:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._stop = threading.Event()

    def sleep(self, seconds: float) -> bool:
        return not self._stop.wait(max(0.0, seconds))

    def interrupt(self) -> None:
        self._stop.set()


class VirtualTime:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._stopped = False

    def sleep(self, seconds: float) -> bool:
        if self._stopped:
            return False
        self.clock.advance(max(0.0, seconds))
        return True

    def interrupt(self) -> None:
        self._stopped = True


def distance(a: Point, b: Point) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])


def route_length(start: Point, *stops: Point) -> float:
    total, here = 0.0, start
    for stop in stops:
        total += distance(here, stop)
        here = stop
    return total


class Battery:
    def __init__(self, pct: float, drain_pct_per_m: float, charge_pct_per_s: float) -> None:
        self.pct = max(0.0, min(100.0, pct))
        self.drain_pct_per_m = drain_pct_per_m
        self.charge_pct_per_s = charge_pct_per_s

    def needed_for(self, metres: float) -> float:
        return metres * self.drain_pct_per_m

    def drain(self, metres: float) -> None:
        self.pct = max(0.0, self.pct - self.needed_for(metres))

    def charge(self, seconds: float, until: float = 100.0) -> None:
        self.pct = min(until, 100.0, self.pct + self.charge_pct_per_s * max(0.0, seconds))

    @property
    def empty(self) -> bool:
        return self.pct <= 0.0


@dataclass
class TravelOutcome:
    arrived: bool
    metres: float
    seconds: float
    reason: str | None = None  # "stopped" or "battery_empty"


class Kinematics:
    """Where the robot is, and moving it in steps."""

    def __init__(self, position: Point, speed_m_s: float, step_s: float) -> None:
        self.position = position
        self.speed_m_s = speed_m_s
        self.step_s = step_s

    def travel_time(self, target: Point) -> float:
        return distance(self.position, target) / self.speed_m_s

    def travel(self, target: Point, time: Timebase, battery: Battery,
               on_step: Callable[[], None] = lambda: None) -> TravelOutcome:
        total = distance(self.position, target)
        done = 0.0
        elapsed = 0.0
        start = self.position
        while done < total:
            dt = min(self.step_s, (total - done) / self.speed_m_s)
            if not time.sleep(dt):
                return TravelOutcome(False, done, elapsed, "stopped")
            step = min(total - done, dt * self.speed_m_s)
            done += step
            elapsed += dt
            battery.drain(step)
            f = done / total
            self.position = (start[0] + (target[0] - start[0]) * f, start[1] + (target[1] - start[1]) * f)
            on_step()
            if battery.empty and done < total:
                return TravelOutcome(False, done, elapsed, "battery_empty")
        self.position = target
        return TravelOutcome(True, done, elapsed)
