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

Each listed device carries the ``name`` and ``site`` it was registered with (``qms device
add --name "Ki-ốt sảnh chính" --site main``) when a ``describe`` lookup is given
(:class:`Registrations`), so the dashboard says which kiosk has the fault.
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
Describe = Callable[[str, str], "dict[str, Any] | None"]


class Registrations:
    """Registered names and sites of devices, from ``load()`` (the auth store), cached.

    Reloaded after ``ttl_s``, or at once (at most every ``miss_s``) when asked about a device
    it does not know (registered a moment ago).
    """

    def __init__(self, load: Callable[[], list[dict]], clock: Clock, ttl_s: float = 30.0,
                 miss_s: float = 1.0) -> None:
        self.load = load
        self.clock = clock
        self.ttl_s = ttl_s
        self.miss_s = miss_s
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._loaded = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, kind: str, device: str) -> dict[str, Any] | None:
        with self._lock:
            age = self.clock.monotonic() - self._loaded
            if age > self.ttl_s or ((kind, device) not in self._rows and age > self.miss_s):
                try:
                    self._rows = {(r["kind"], r["id"]): {"name": r.get("name"), "site": r.get("site")}
                                  for r in self.load()}
                except Exception:  # a registry lookup must never break the device list
                    log.exception("loading device registrations failed")
                self._loaded = self.clock.monotonic()
            return self._rows.get((kind, device))


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

    def __init__(self, clock: Clock, silent_after_s: float = 120.0, on_change: ChangeHook | None = None,
                 describe: Describe | None = None) -> None:
        self.clock = clock
        self.describe = describe
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
        """Every known device: {id, kind, name, site, online, last_seen, faults, health, silent}."""
        self.check_silent()
        with self._lock:
            views = [self._devices[k].view() for k in sorted(self._devices)]
        return [self._named(v) for v in views]

    def get(self, kind: str, device: str) -> dict[str, Any] | None:
        self.check_silent()
        with self._lock:
            d = self._devices.get((kind, device))
            view = None if d is None else d.view()
        return None if view is None else self._named(view)

    def _named(self, view: dict[str, Any]) -> dict[str, Any]:
        registered = self.describe(view["kind"], view["id"]) if self.describe else None
        view["name"] = (registered or {}).get("name") or view["id"]
        view["site"] = (registered or {}).get("site")
        return view

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
