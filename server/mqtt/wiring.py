"""Start the MQTT link for an app (called by ``create_app`` only when ``mqtt.enabled``)."""
from __future__ import annotations

import atexit
import threading
import time
from typing import Any

from qms_common.clock import Clock

from ..devices import DeviceRegistry
from ..settings import ServerSettings
from .link import MqttLink


class _RobotSites:
    """A robot's site from its device registration (``qms device add --site``), cached a minute."""

    def __init__(self, auth: Any, ttl_s: float = 60.0) -> None:
        self.auth = auth
        self.ttl_s = ttl_s
        self._sites: dict[str, str | None] = {}
        self._loaded = -ttl_s - 1.0
        self._lock = threading.Lock()

    def __call__(self, robot: str) -> str | None:
        with self._lock:
            if time.monotonic() - self._loaded > self.ttl_s:
                self._sites = {d["id"]: d["site"] for d in self.auth.devices() if d["kind"] == "robot"}
                self._loaded = time.monotonic()
            return self._sites.get(robot)


def start_link(app: Any, engine: Any, settings: ServerSettings, clock: Clock, registry: DeviceRegistry,
               auth: Any) -> MqttLink:
    def emit_devices(devices: list[dict]) -> None:
        payload = {"devices": devices, "at": clock.now()}
        realtime = app.extensions.get("qms_realtime")
        if realtime is not None:  # staff screens only, never citizens' phones
            realtime.emit_devices(payload)

    link = MqttLink(engine, settings.mqtt, clock=clock, registry=registry,
                    robot_policy=settings.robot,
                    on_devices=emit_devices, robot_site=_RobotSites(auth),
                    watch=app.extensions.get("qms_watch"))
    link.start()
    atexit.register(link.stop)
    return link
