"""The server's MQTT link: one paho client (``server``/``<server_id>``), one worker thread.

- paho's network thread runs :class:`~server.mqtt.inbound.Inbound` for every device message
  (short engine calls, answers on the response topic).
- The worker thread reads the engine's event log in ``seq`` order (woken by an engine
  listener, and every ``tick_s`` for everything time-driven) and publishes calls, reprint
  commands and the retained streams; it also checks silent devices, runs the robot
  dispatcher and emits the socket.io ``devices`` event when the registry changed.

Nothing starts at construction: call :meth:`start` and :meth:`stop`.
"""
from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt

from qms_common import wire
from qms_common.clock import Clock
from qms_common.errors import ConfigError
from qms_common.mqtt import BrokerSettings, DeviceIdentity, PresenceClient

from ..devices import DeviceRegistry
from ..robot_dispatch import RobotDispatcher, RobotPolicy
from ..settings import MqttSettings
from .inbound import Inbound, Incoming
from .insight_out import InsightOutbound
from .outbound import Outbound

log = logging.getLogger(__name__)

DevicesHook = Callable[[list[dict]], None]


def broker_settings(settings: MqttSettings) -> BrokerSettings:
    password = None
    if settings.password_file:
        try:
            password = Path(settings.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"mqtt.password_file {settings.password_file}: cannot read it ({exc.strerror})",
                              path=settings.password_file) from None
    return BrokerSettings(host=settings.host, port=settings.port, username=settings.username,
                          password=password, tls_ca=settings.tls_ca)


def _no_delay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (e.g. a websocket wrapper): leave it
        pass


class MqttLink:
    def __init__(self, engine: Any, settings: MqttSettings, *, clock: Clock, registry: DeviceRegistry,
                 robot_policy: RobotPolicy | None = None, on_devices: DevicesHook | None = None,
                 robot_site: Callable[[str], str | None] | None = None, tick_s: float = 1.0,
                 client_id: str | None = None, broker: BrokerSettings | None = None,
                 watch: Any = None) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.registry = registry
        self.on_devices = on_devices
        self.tick_s = tick_s
        self.center = engine.config.center.id
        self.identity = DeviceIdentity(self.center, "server", settings.server_id)
        self.robots = RobotDispatcher(engine, clock, self._publish_command, center=self.center,
                                      policy=robot_policy, site_of=robot_site)
        self.inbound = Inbound(engine, registry, self.robots, center=self.center, server_id=settings.server_id,
                               respond=self._respond, wake=self.wake)
        self.outbound = Outbound(engine, clock, self.publish, center=self.center,
                                 interval_s=settings.stream_interval_s)
        # alerts, their log, overload flags and the director's changes (server/mqtt/insight_out.py)
        self.insight = None if watch is None else InsightOutbound(
            watch, clock, self.publish, center=self.center, interval_s=settings.stream_interval_s)
        self.client = PresenceClient(self.identity, broker or broker_settings(settings),
                                     on_message=self._on_message, subscriptions=self.inbound.filters(),
                                     on_connected=self._on_connected,
                                     client_id=client_id or f"server-{settings.server_id}")
        # calls and answers are small and latency matters more than packing: no Nagle delay
        self.client.client.on_socket_open = _no_delay
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._resync = threading.Event()
        self._devices_dirty = threading.Event()
        self._thread: threading.Thread | None = None
        self._cursor = 0
        self._started_mono = 0.0
        self._last_health: float | None = None
        self.cycles = 0
        self.cycle_done = threading.Condition()
        registry.on_change = self._devices_changed

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def connected(self) -> threading.Event:
        return self.client.connected

    def start(self) -> "MqttLink":
        if self._thread is not None:
            return self
        self._cursor = self.engine.last_seq()
        self._started_mono = self.clock.monotonic()
        self.outbound.seed()
        self.engine.add_listener(self._on_engine_event)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="qms-mqtt-link", daemon=True)
        self._thread.start()
        self.client.start()
        log.info("MQTT link to %s:%s as %s", self.settings.host, self.settings.port,
                 self.identity.availability_topic)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Idempotent: publishes ``offline``, disconnects and joins the worker."""
        if self._thread is None:
            return
        self.engine.remove_listener(self._on_engine_event)
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None
        try:
            self.client.stop()
        except Exception:
            log.exception("MQTT disconnect failed")

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Run a worker cycle now (new events, a robot report, a test that moved the clock)."""
        self._wake.set()

    def wait_cycle(self, after: int, timeout: float = 5.0) -> bool:
        """Block until the worker has completed a cycle numbered above ``after``."""
        with self.cycle_done:
            return self.cycle_done.wait_for(lambda: self.cycles > after, timeout)

    def sync(self, timeout: float = 5.0) -> bool:
        """Wake the worker and wait for a full cycle that started after this call."""
        start = self.cycles
        self.wake()
        return self.wait_cycle(start + 1, timeout)

    # --- publishing ----------------------------------------------------------------------------
    def publish(self, topic: str, message: wire.Message | str, *, retain: bool = False,
                response_topic: str | None = None, correlation: bytes | None = None) -> bool:
        info = self.client.publish(topic, message, retain=retain, response_topic=response_topic,
                                   correlation=correlation)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _publish_command(self, topic: str, message: wire.Message) -> None:
        self.publish(topic, message)

    def _respond(self, topic: str, response: wire.Response, correlation: bytes | None) -> None:
        self.publish(topic, response, correlation=correlation)

    # --- callbacks (other threads) ------------------------------------------------------------
    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        correlation = getattr(props, "CorrelationData", None) if props else None
        self.inbound.handle(Incoming(topic=msg.topic, payload=msg.payload, retained=bool(msg.retain),
                                     response_topic=response_topic, correlation=correlation))

    def _on_connected(self) -> None:
        self._resync.set()
        self._wake.set()

    def _on_engine_event(self, event: dict) -> None:
        self._wake.set()

    def _devices_changed(self) -> None:
        self._devices_dirty.set()
        self._wake.set()

    # --- the worker -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.tick_s)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self._cycle()
            except Exception:  # the next cycle retries; the link never dies of one bad cycle
                log.exception("MQTT link cycle failed")
            with self.cycle_done:
                self.cycles += 1
                self.cycle_done.notify_all()

    def _cycle(self) -> None:
        events = self._drain_events()
        if self.client.connected.is_set():
            if self._resync.is_set():
                self._resync.clear()
                self.outbound.forget()
                if self.insight is not None:
                    self.insight.forget()
            if events or self._due():
                self.outbound.refresh()
            if self.insight is not None:
                self.insight.refresh(bool(events))
            self._publish_health()
        self.registry.check_silent()
        self.robots.evaluate()
        if self._devices_dirty.is_set() and self.on_devices is not None:
            self._devices_dirty.clear()
            try:
                self.on_devices(self.registry.list())
            except Exception:
                log.exception("devices hook failed")

    def _drain_events(self) -> list[dict]:
        drained: list[dict] = []
        while True:
            batch = self.engine.events_after(self._cursor, limit=500)
            if not batch:
                return drained
            for event in batch:
                self._cursor = event["seq"]
                # QoS 1: paho keeps what is published while disconnected and sends it on reconnect
                consumers = [self.outbound.on_event, self.robots.on_event]
                if self.insight is not None:
                    consumers.append(self.insight.on_event)
                for consumer in consumers:
                    try:
                        consumer(event)
                    except Exception:  # one event must not block the ones after it
                        log.exception("MQTT link failed on event %s (%s)", event["seq"], event["type"])
            drained.extend(batch)

    def _due(self) -> bool:
        return self.outbound.due()

    def _publish_health(self) -> None:
        mono = self.clock.monotonic()
        if self._last_health is not None and mono - self._last_health < self.settings.stream_interval_s:
            return
        self._last_health = mono
        detail: dict[str, str | int | float | bool | None] = dict(self.inbound.stats.as_detail())
        detail["published"] = self.outbound.published
        detail["last_seq"] = self._cursor
        health = wire.Health(at=self.clock.now(), uptime_s=max(0.0, mono - self._started_mono), detail=detail)
        self.publish(wire.HEALTH.topic(center=self.center, cls="server", device=self.settings.server_id),
                     health, retain=True)
