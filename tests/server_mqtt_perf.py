"""Measure the server's MQTT link on this machine (not a test; numbers in docs/perf-mqtt.md).

    .venv/bin/python -m tests.server_mqtt_perf

A bare Mosquitto (set_tcp_nodelay), a real engine on a temporary database, the real clock.
Measured: engine call → CALL received by a subscriber; keypad request → response; inbound
throughput for valid health messages and for bad ones (dropped).
"""
from __future__ import annotations

import logging
import socket
import statistics
import tempfile
import time
from pathlib import Path

from qms_common import wire
from qms_common.clock import SystemClock
from server.config import load_center
from server.engine import Engine
from server.store import Store
from tests.live_server import write_center
from tests.mosquitto_fixture import MqttProbe
from tests.server_mqtt_kit import CENTER, anon_broker, request, response, start_link


def _fast(probe: MqttProbe) -> MqttProbe:
    probe.client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return probe


def _summary(name: str, ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=100)
    return f"{name}: median {statistics.median(ms):.2f} ms, p95 {q[94]:.2f} ms, max {max(ms):.2f} ms (n={len(ms)})"


def _flood(link, sender: MqttProbe, topic_of, payload: bytes, n: int) -> float:
    before = link.inbound.stats.received
    t0 = time.perf_counter()
    for i in range(n):
        info = sender.client.publish(topic_of(i), payload, qos=1)
    info.wait_for_publish(120)
    deadline = time.monotonic() + 120
    while link.inbound.stats.received - before < n and time.monotonic() < deadline:
        time.sleep(0.005)  # polling a counter, bounded by the deadline
    return n / (time.perf_counter() - t0)


def main(n: int = 300, flood: int = 20000) -> None:
    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="qms-mqtt-perf-"))
    broker = anon_broker(tmp).start()
    clock = SystemClock()
    engine = Engine(Store(tmp / "qms.db"), load_center(write_center(tmp / "center.toml")), clock)
    link = start_link(engine, clock, broker.port(1883))
    probe = _fast(MqttProbe.connect(broker.port(1883), client_id="perf"))
    sender = _fast(MqttProbe.connect(broker.port(1883), client_id="flood"))
    try:
        call = wire.CALL.topic(center=CENTER)
        probe.subscribe(call)
        engine.sign_in(4, "c4")
        for _ in range(n + 1):
            engine.issue("HT")
        t = engine.call_next(4, "c4")
        engine.start(t["id"], 4, "c4")
        lat = []
        for _ in range(n):
            seen = len(probe.received(call))
            t0 = time.perf_counter()
            t = engine.call_next(4, "c4")
            probe.wait(lambda: len(probe.received(call)) > seen, 5)
            lat.append((time.perf_counter() - t0) * 1000)
            engine.start(t["id"], 4, "c4")
        print(_summary("engine call_next -> CALL received", lat))

        engine.sign_in(3, "c3")
        for _ in range(n):
            engine.issue("CT")
        resp = wire.RESPONSE.topic(center=CENTER, cls="counter", device="counter-3")
        probe.subscribe(resp)
        req = wire.COUNTER_REQUEST.topic(center=CENTER, device="counter-3")
        rt = []
        for i in range(n // 2):
            for action in ("next", "start"):
                corr = f"{action}-{i}".encode()
                t0 = time.perf_counter()
                request(probe, req, wire.CounterRequest(action=action), response_topic=resp, correlation=corr)
                assert response(probe, resp, corr).status == "ok"
                rt.append((time.perf_counter() - t0) * 1000)
        print(_summary("keypad request -> response", rt))

        health = wire.encode(wire.Health(at=time.time(), uptime_s=1))
        rate = _flood(link, sender, lambda i: wire.HEALTH.topic(center=CENTER, cls="display", device=f"d{i % 50}"),
                      health, flood)
        print(f"inbound health messages: {rate:.0f} msg/s (n={flood})")
        rate = _flood(link, sender, lambda i: wire.PRINT_RESULT.topic(center=CENTER, device="k1"), b'{"v":2}', flood)
        print(f"inbound bad messages (dropped): {rate:.0f} msg/s (n={flood}); link alive: {link.alive()}")
    finally:
        sender.close()
        probe.close()
        link.stop()
        broker.stop()


if __name__ == "__main__":
    main()
