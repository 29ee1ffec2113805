"""Helpers for the server MQTT tests: a throw-away broker, a started link, requests with
MQTT v5 response topics, and waits on engine events. Every wait has a deadline."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from qms_common import wire
from qms_common.clock import Clock
from qms_common.mqtt import BrokerSettings
from server.devices import DeviceRegistry
from server.mqtt import MqttLink
from server.settings import RobotPolicy
from server.settings import MqttSettings
from tests.mosquitto_fixture import Broker, MqttProbe, free_port, render_conf

CENTER = "phuong-mau"  # the bundled center's id


def anon_broker(tmp_path: Path) -> Broker:
    """A bare Mosquitto on a free loopback port, anonymous, no ACL (not started)."""
    workdir = tmp_path / "broker"
    workdir.mkdir(exist_ok=True)
    ports = {1883: free_port()}
    conf = render_conf("listener 1883\nallow_anonymous true\nmax_queued_messages 100000\nset_tcp_nodelay true\n", ports=ports)
    return Broker(conf, workdir, ports, "anon")


class EngineEvents:
    """Records the engine's events (after commit) and waits for one that matches."""

    def __init__(self, engine) -> None:
        self.events: list[dict] = []
        self.cond = threading.Condition()
        engine.add_listener(self._on)

    def _on(self, event: dict) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, predicate: Callable[[dict], bool], timeout: float = 10.0, what: str = "event") -> dict:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.events:
                    if predicate(e):
                        return e
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s; got {[e['type'] for e in self.events]}")
                self.cond.wait(remaining)


class DevicesHook:
    """Stands in for socket.io: records every ``devices`` list the link emits."""

    def __init__(self) -> None:
        self.calls: list[list[dict]] = []
        self.cond = threading.Condition()

    def __call__(self, devices: list[dict]) -> None:
        with self.cond:
            self.calls.append(devices)
            self.cond.notify_all()

    def wait(self, predicate: Callable[[list[dict]], bool], timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for devices in reversed(self.calls):
                    if predicate(devices):
                        return devices
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching devices list; last: {self.calls[-1:] }")
                self.cond.wait(remaining)


def start_link(engine, clock: Clock, port: int, *, username: str | None = None, password: str | None = None,
               policy: RobotPolicy | None = None, stream_interval_s: float = 30, silent_after_s: float = 60,
               on_devices: Callable[[list[dict]], None] | None = None, tick_s: float = 0.2,
               watch=None) -> MqttLink:
    settings = MqttSettings(enabled=True, host="127.0.0.1", port=port, username=username,
                            stream_interval_s=stream_interval_s, device_silent_after_s=silent_after_s)
    registry = DeviceRegistry(clock, silent_after_s)
    link = MqttLink(engine, settings, clock=clock, registry=registry, robot_policy=policy, on_devices=on_devices,
                    tick_s=tick_s, broker=BrokerSettings(host="127.0.0.1", port=port, username=username,
                                                         password=password, keepalive=5), watch=watch)
    link.start()
    if not link.connected.wait(10):
        link.stop()
        raise TimeoutError("the server link did not connect")
    return link


def request(probe: MqttProbe, topic: str, message: wire.Message | bytes, *, response_topic: str,
            correlation: bytes) -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = response_topic
    props.CorrelationData = correlation
    payload = message if isinstance(message, bytes) else wire.encode(message)
    info = probe.client.publish(topic, payload, qos=1, properties=props)
    probe.wait(lambda: info.mid in probe.pubacks, 10, f"PUBACK for {topic}")


def response(probe: MqttProbe, topic: str, correlation: bytes, timeout: float = 10.0) -> wire.Response:
    def find():
        for m in probe.received(topic):
            if getattr(m.properties, "CorrelationData", None) == correlation:
                return m
        return None

    probe.wait(lambda: find() is not None, timeout, f"response {correlation!r} on {topic}")
    decoded = wire.decode(wire.RESPONSE, find().payload)
    assert isinstance(decoded, wire.Response)
    return decoded


def decoded(probe: MqttProbe, topic: str, entry: wire.Topic) -> list:
    return [wire.decode(entry, m.payload) for m in probe.received(topic)]
