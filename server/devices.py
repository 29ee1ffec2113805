"""The device registry: which kiosks, displays, counter keypads, robots and announcers the
server has heard from, whether they are online, what their health says, and who went quiet.

Fed by the MQTT link (availability, health, robot telemetry, and every valid message a
device sends counts as a sign of life). Thread-safe: it is updated on paho's network thread
and read by the API, the dashboard and the link's worker.

A device is ``silent`` when it has not been heard from for longer than ``silent_after_s``
while it is not known to be offline (a device whose last will said ``offline`` is offline,
not silent). Silence is measured on the injected clock's monotonic time, checked by
:meth:`check_silent` (the link's timer) and on every :meth:`list`.

Whenever what :meth:`list` would show changes (anything but ``last_seen``), ``on_change``
is called with no arguments; the link turns that into one socket.io ``devices`` event.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from qms_common import wire
from qms_common.clock import Clock

log = logging.getLogger(__name__)

ChangeHook = Callable[[], None]


@dataclass
class _Device:
    kind: str
    id: str
    online: bool | None = None  # None: no availability heard yet
    last_seen: float | None = None  # wall clock
    last_seen_mono: float | None = None
    faults: list[str] = field(default_factory=list)
    health: dict[str, Any] = field(default_factory=dict)
    silent: bool = False

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "online": self.online, "last_seen": self.last_seen,
                "faults": list(self.faults), "health": dict(self.health), "silent": self.silent}


def _health_dict(health: wire.Health) -> dict[str, Any]:
    out: dict[str, Any] = {"at": health.at, "uptime_s": health.uptime_s}
    for key in ("printer", "outbox", "temperature_c", "battery_pct"):
        value = getattr(health, key)
        if value is not None:
            out[key] = value
    if health.detail:
        out["detail"] = dict(health.detail)
    return out


class DeviceRegistry:
    """Presence and health of every device, keyed by (kind, id)."""

    def __init__(self, clock: Clock, silent_after_s: float = 120.0, on_change: ChangeHook | None = None) -> None:
        self.clock = clock
        self.silent_after_s = silent_after_s
        self.on_change = on_change
        self._devices: dict[tuple[str, str], _Device] = {}
        self._lock = threading.Lock()

    # --- updates (paho's thread) ------------------------------------------------------------
    def seen(self, kind: str, device: str, *, retained: bool = False) -> None:
        """Any valid message from the device. A retained message is stored state, not a sign
        of life: it makes the device known but does not refresh ``last_seen``."""
        self._update(kind, device, retained, lambda d: None)

    def presence(self, kind: str, device: str, online: bool, *, retained: bool = False) -> None:
        def apply(d: _Device) -> None:
            d.online = online
        self._update(kind, device, retained, apply)

    def health(self, kind: str, device: str, health: wire.Health, *, retained: bool = False) -> None:
        def apply(d: _Device) -> None:
            d.faults = list(health.faults)
            d.health = _health_dict(health)
        self._update(kind, device, retained, apply)

    def robot_telemetry(self, device: str, telemetry: wire.RobotTelemetry, *, retained: bool = False) -> None:
        def apply(d: _Device) -> None:
            d.health = {**d.health, "battery_pct": telemetry.battery_pct, "state": telemetry.state,
                        "task_id": telemetry.task_id}
            faults = [f for f in d.faults if f != "robot_fault"]
            if telemetry.state == "fault":
                faults.append("robot_fault")
            d.faults = faults
        self._update("robot", device, retained, apply)

    def _update(self, kind: str, device: str, retained: bool, apply: Callable[[_Device], None]) -> None:
        with self._lock:
            key = (kind, device)
            d = self._devices.get(key)
            before = None if d is None else self._signature(d)
            if d is None:
                d = self._devices[key] = _Device(kind, device)
            apply(d)
            if not retained or d.last_seen is None:
                d.last_seen = self.clock.now()
                d.last_seen_mono = self.clock.monotonic()
            self._refresh_silent(d, self.clock.monotonic())
            changed = before != self._signature(d)
        if changed:
            self._notify()

    # --- silence ------------------------------------------------------------------------------
    def _refresh_silent(self, d: _Device, mono: float) -> None:
        quiet = d.last_seen_mono is not None and mono - d.last_seen_mono > self.silent_after_s
        d.silent = quiet and d.online is not False

    def check_silent(self) -> bool:
        """Re-evaluate every device's silence flag; True (and ``on_change``) if any flipped."""
        mono = self.clock.monotonic()
        changed = False
        with self._lock:
            for d in self._devices.values():
                was = d.silent
                self._refresh_silent(d, mono)
                changed |= was != d.silent
        if changed:
            self._notify()
        return changed

    # --- reads --------------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """Every known device: {id, kind, online, last_seen, faults, health, silent}."""
        self.check_silent()
        with self._lock:
            return [self._devices[k].view() for k in sorted(self._devices)]

    def get(self, kind: str, device: str) -> dict[str, Any] | None:
        self.check_silent()
        with self._lock:
            d = self._devices.get((kind, device))
            return None if d is None else d.view()

    def forget(self, kind: str, device: str) -> bool:
        with self._lock:
            removed = self._devices.pop((kind, device), None) is not None
        if removed:
            self._notify()
        return removed

    @staticmethod
    def _signature(d: _Device) -> tuple:
        health = {k: v for k, v in d.health.items() if k not in ("at", "uptime_s")}
        return (d.online, tuple(d.faults), repr(sorted(health.items())), d.silent)

    def _notify(self) -> None:
        hook = self.on_change
        if hook is not None:
            try:
                hook()
            except Exception:  # pragma: no cover - a dashboard must never break the registry
                log.exception("device change hook failed")
