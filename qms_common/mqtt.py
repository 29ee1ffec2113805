"""A paho-mqtt v5 client set up the way every role needs it.

- MQTT v5, ``clean_start=False`` with a ``SessionExpiryInterval`` so that QoS 1 messages
  queued by the broker while a device was away are delivered when it comes back (without
  both, paho silently starts a fresh session).
- Last will: retained ``offline`` on the device's availability topic; retained ``online``
  published on every (re)connect.
- ``connected`` is true only after the broker accepted us (CONNACK success), never after a
  refused connect.
- Reconnects with paho's own back-off (1 s .. 30 s).
"""
from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from . import wire

log = logging.getLogger(__name__)


@dataclass
class BrokerSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    keepalive: int = 15
    session_expiry_s: int = 7 * 24 * 3600


@dataclass
class DeviceIdentity:
    center: str
    cls: str
    device: str

    @property
    def availability_topic(self) -> str:
        return wire.AVAILABILITY.topic(center=self.center, cls=self.cls, device=self.device)


@dataclass
class PresenceClient:
    """Owns one paho client; call :meth:`start` then :meth:`stop`."""

    identity: DeviceIdentity
    broker: BrokerSettings
    on_message: Callable[[mqtt.MQTTMessage], None] | None = None
    subscriptions: list[tuple[str, int]] = field(default_factory=list)
    on_connected: Callable[[], None] | None = None
    client_id: str | None = None

    def __post_init__(self) -> None:
        self.connected = threading.Event()
        cid = self.client_id or f"{self.identity.cls}-{self.identity.device}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid,
                                  protocol=mqtt.MQTTv5)
        if self.broker.username:
            self.client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls_ca:
            self.client.tls_set(ca_certs=self.broker.tls_ca)
        self.client.will_set(self.identity.availability_topic, wire.OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # paho callbacks run on paho's network thread
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused %s: %s", self.identity.availability_topic, reason_code)
            self.connected.clear()
            return
        for topic, qos in self.subscriptions:
            client.subscribe(topic, qos=qos)
        client.publish(self.identity.availability_topic, wire.ONLINE, qos=1, retain=True)
        self.connected.set()
        if self.on_connected:
            try:
                self.on_connected()
            except Exception:  # a device must keep its link even if a hook fails
                log.exception("on_connected hook failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.info("disconnected from broker: %s", reason_code)

    def _on_message(self, client, userdata, msg) -> None:
        if self.on_message is None:
            return
        try:
            self.on_message(msg)
        except Exception:
            log.exception("handler for %s failed; message dropped", msg.topic)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.broker.session_expiry_s
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=self.broker.keepalive,
                                  clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        if self.connected.is_set():
            self.client.publish(self.identity.availability_topic, wire.OFFLINE, qos=1,
                                retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, message: wire.Message | str, *, retain: bool = False, qos: int = 1,
                response_topic: str | None = None, correlation: bytes | None = None):
        payload = message.encode() if isinstance(message, str) else wire.encode(message)
        props = None
        if response_topic or correlation:
            props = Properties(PacketTypes.PUBLISH)
            if response_topic:
                props.ResponseTopic = response_topic
            if correlation:
                props.CorrelationData = correlation
        return self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)


def new_correlation() -> bytes:
    return uuid.uuid4().hex.encode()
