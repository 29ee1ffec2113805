"""The kiosk on MQTT: presence, periodic Health, and reprint commands from the server.

A :class:`~qms_common.mqtt.PresenceClient` (device class ``kiosk``) publishes the retained
``online``/``offline`` availability with a last will and reconnects by itself when the
broker returns. Tickets never travel over MQTT: they go over HTTP with a one-second
deadline (see ``docs/kiosk.md``). What arrives on ``wire.KIOSK_COMMAND`` is validated
with :func:`qms_common.wire.decode`; anything else is logged and dropped on paho's thread,
and a valid command is put on the kiosk's queue.
"""
from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qms_common import wire
from qms_common.clock import Clock
from qms_common.mqtt import BrokerSettings, DeviceIdentity, PresenceClient

log = logging.getLogger(__name__)

DEVICE_CLASS = "kiosk"
#: What a printable ticket code looks like (the server's ``HT-042``); the wire model only says "a string".
TICKET_CODE = re.compile(r"^[A-Za-z0-9Đđ]{1,8}-?[0-9]{1,6}$")
THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


@dataclass(frozen=True)
class Command:
    """A valid KioskCommand taken off MQTT, for the worker thread."""

    message: wire.KioskCommand


def read_temperature(path: Path = THERMAL_ZONE) -> float | None:
    """The SoC temperature in °C where the kernel exposes it (a Pi), else None."""
    try:
        return round(int(path.read_text().strip()) / 1000, 1)
    except (OSError, ValueError):
        return None


class KioskLink:
    def __init__(self, *, center: str, device: str, broker: BrokerSettings, events: queue.Queue[Any],
                 health: Callable[[], wire.Health], interval_s: float, clock: Clock,
                 client_id: str | None = None) -> None:
        self.events = events
        self.health = health
        self.interval_s = interval_s
        self.clock = clock
        self.dropped = 0
        self.command_topic = wire.KIOSK_COMMAND.topic(center=center, device=device)
        self.health_topic = wire.HEALTH.topic(center=center, cls=DEVICE_CLASS, device=device)
        self.presence = PresenceClient(DeviceIdentity(center, DEVICE_CLASS, device), broker,
                                       on_message=self._on_message, subscriptions=[(self.command_topic, 1)],
                                       on_connected=self.publish_health, client_id=client_id)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kiosk-health", daemon=True)

    @property
    def connected(self) -> bool:
        return self.presence.connected.is_set()

    def start(self) -> None:
        self.presence.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            self.presence.stop()
        except Exception:
            log.debug("stopping MQTT failed", exc_info=True)

    def _on_message(self, msg: Any) -> None:
        if msg.topic != self.command_topic:
            return
        try:
            command = wire.decode(wire.KIOSK_COMMAND, msg.payload)
        except wire.WireError as exc:
            self.dropped += 1
            log.warning("dropped a kiosk command: %s", exc)
            return
        assert isinstance(command, wire.KioskCommand)
        if not TICKET_CODE.match(command.ticket.code) or not command.ticket.ticket_id.strip():
            self.dropped += 1
            log.warning("dropped a kiosk command: ticket code %r is not printable", command.ticket.code[:40])
            return
        self.events.put(Command(command))

    def publish_health(self) -> None:
        if not self.connected:
            return
        try:
            self.presence.publish(self.health_topic, self.health(), retain=True)
        except Exception:
            log.exception("publishing health failed")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.publish_health()
