"""The server's MQTT side: streams out, device messages in (see docs/server-mqtt.md)."""
from __future__ import annotations

from .inbound import Inbound, Incoming, counter_number
from .link import MqttLink, broker_settings
from .outbound import Outbound

__all__ = ["Inbound", "Incoming", "MqttLink", "Outbound", "broker_settings", "counter_number"]
