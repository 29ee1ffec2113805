"""The announcer against a real Mosquitto: calls in, speech out, garbage dropped.

Each test starts its own ``mosquitto`` on a free loopback port and stops it afterwards.
Nothing sleeps and hopes: tests wait on queues and on conditions with deadlines.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from display.announcer import audio
from display.announcer.composer import CallRequest
from display.announcer.config import config_from_dict
from display.announcer.service import AnnouncerService
from display.announcer.sinks import FileSink
from qms_common import wire
from qms_common.clock import FakeClock, local_timestamp
from tests.mosquitto_fixture import mosquitto_binary
from tests.waiting import wait_for

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(mosquitto_binary() is None, reason="needs mosquitto (apt install mosquitto)")]

REPO = Path(__file__).resolve().parent.parent
CENTER = "hcm-q1"
CALL_TOPIC = wire.CALL.topic(center=CENTER)
TZ = "Asia/Ho_Chi_Minh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """A real Mosquitto on 127.0.0.1:<free port>, stopped after the test."""
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    log = open(tmp_path / "mosquitto.log", "wb")
    proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)

    def accepting() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"mosquitto exited: {(tmp_path / 'mosquitto.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    try:
        wait_for(accepting, 10, "mosquitto to accept connections")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


class Watcher:
    """A test-side paho client: publishes, and collects what arrives on its filters."""

    def __init__(self, port: int, *filters: str) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        subscribed = queue.Queue()
        self.client.on_subscribe = lambda *a: subscribed.put(True)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        for topic in filters:
            self.client.subscribe(topic, qos=1)
            subscribed.get(timeout=5)

    def publish(self, payload: bytes, topic: str = CALL_TOPIC) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def expect(self, match: Callable[[mqtt.MQTTMessage], bool], timeout: float = 10) -> mqtt.MQTTMessage:
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no matching message within {timeout} s") from None
            if match(msg):
                return msg

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def availability(device: str) -> str:
    return wire.AVAILABILITY.topic(center=CENTER, cls="announcer", device=device)


@pytest.fixture
def running(broker: int, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """An announcer service at 10:00 in Hanoi time, writing files, plus a watcher."""
    clock = FakeClock(local_timestamp(date(2026, 3, 10), "10:00", TZ))
    device = f"announcer-{tmp_path.name[-20:].replace('_', '-')}"
    config = config_from_dict({
        "center": CENTER, "device": device, "cache_dir": str(tmp_path / "cache"),
        "health_interval_s": 0.2,
        "output": {"kind": "files", "directory": str(tmp_path / "out")},
        "voice": {"repetitions": 1, "gap_s": 0.2},
        "mqtt": {"host": "127.0.0.1", "port": broker},
    })
    caplog.set_level(logging.INFO)
    service = AnnouncerService(config, clock=clock)
    watcher = Watcher(broker, f"qms/{CENTER}/announcer/{device}/#")
    service.start()
    try:
        # "online" goes out on the service's connection after its SUBSCRIBE, so once we see
        # it the broker has the subscription and no call can be missed.
        watcher.expect(lambda m: m.topic == availability(device) and m.payload == b"online")
        yield service, watcher, clock
    finally:
        service.stop()
        watcher.close()
    # Fail on exceptions that a callback logged and swallowed.
    swallowed = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not swallowed, [r.getMessage() for r in swallowed]


def call(seq: int, clock: FakeClock, ticket: str = "HT-042", counter: int = 5,
         recall: bool = False) -> bytes:
    return wire.encode(wire.CallEvent(seq=seq, ticket=ticket, counter=counter, recall=recall,
                                      at=clock.now()))


def test_calls_are_spoken_in_order_and_replays_ignored(running) -> None:
    service, watcher, clock = running
    watcher.publish(call(17, clock, "HT-042", 5))
    watcher.publish(call(18, clock, "HT-043", 6))
    watcher.publish(call(17, clock, "HT-042", 5))  # a replay of call #17
    watcher.publish(call(19, clock, "HT-042", 5, recall=True))
    wait_for(lambda: service.worker.spoken >= 3, 30, "three announcements")
    files = FileSink(service.config.output.directory).files()
    assert len(files) == 3
    assert service.counters.duplicates == 1
    expected = [("HT-042", 5), ("HT-043", 6), ("HT-042", 5)]
    for path, (ticket, counter) in zip(files, expected, strict=True):
        assert audio.read_wav(path) == service.composer.compose(CallRequest(ticket, counter))
    # call #19 repeats call #17's sentence: served from the phrase cache
    assert service.cache.misses == 2 and service.cache.hits >= 1


def without(fields: dict, key: str) -> bytes:
    return json.dumps({k: v for k, v in fields.items() if k != key}).encode()


def garbage(clock: FakeClock, count: int = 300, seed: int = 7) -> list[bytes]:
    """Payloads that must all be dropped: not JSON, wrong version, oversized, wrong schema."""
    rng = random.Random(seed)
    good = json.loads(call(1, clock))
    makers: list[Callable[[], bytes]] = [
        lambda: rng.randbytes(rng.randint(0, 200)),
        lambda: b"\xff\xfe" + rng.randbytes(20),
        lambda: rng.choice([b"", b"null", b"42", b'"HT-042"', b"[1, 2]", b"{", b"online"]),
        lambda: json.dumps({**good, "v": rng.choice([0, 2, 99, "1", None, -1])}).encode(),
        lambda: json.dumps({k: v for k, v in good.items() if k != "v"}).encode(),
        lambda: json.dumps({**good, "ticket": "A" * rng.randint(wire.MAX_PAYLOAD_BYTES,
                                                                 2 * wire.MAX_PAYLOAD_BYTES)}).encode(),
        lambda: b"[" * rng.randint(2000, 15000),  # nesting deeper than Python's recursion limit
        lambda: without(good, rng.choice(["seq", "ticket", "counter", "at"])),
        lambda: json.dumps({**good, "counter": rng.choice([0, -3, "năm", None, 2.5])}).encode(),
        lambda: json.dumps({**good, "seq": rng.choice([-1, "seventeen", None, [], 1.5])}).encode(),
        lambda: json.dumps({**good, "extra": rng.random()}).encode(),
        lambda: json.dumps({**good, "ticket": rng.choice(["", "<speak>HT</speak>", "HT;042",
                                                          "x" * 40, "số 1"])}).encode(),
    ]
    return [rng.choice(makers)() for _ in range(count)]


def test_garbage_is_dropped_and_the_next_call_still_spoken(running) -> None:
    service, watcher, clock = running
    bad = garbage(clock)
    assert any(len(p) > wire.MAX_PAYLOAD_BYTES for p in bad)
    for payload in bad:
        watcher.publish(payload)
    watcher.publish(call(100, clock, "TP-007", 3))
    wait_for(lambda: service.worker.spoken >= 1, 30, "the valid call after the garbage")
    assert service.worker.spoken == 1
    assert service.counters.dropped == len(bad)
    assert service.counters.received == len(bad) + 1
    assert len(FileSink(service.config.output.directory).files()) == 1
    assert service.worker.failed == 0


def test_health_and_availability_are_published(running) -> None:
    service, watcher, clock = running
    health_topic = wire.HEALTH.topic(center=CENTER, cls="announcer", device=service.config.device)
    msg = watcher.expect(lambda m: m.topic == health_topic)
    health = wire.decode(wire.HEALTH, msg.payload)
    assert isinstance(health, wire.Health)
    assert health.detail["queue_depth"] == 0 and health.detail["voice"] == "aav/vi"
    assert health.faults == []
    watcher.publish(call(5, clock))
    wait_for(lambda: service.worker.spoken == 1, 30, "one announcement")
    watcher.expect(lambda m: m.topic == health_topic
                   and json.loads(m.payload)["detail"]["announced"] == 1)
    service.stop()
    watcher.expect(lambda m: m.topic == availability(service.config.device)
                   and m.payload == b"offline")


@pytest.mark.slow
def test_cli_runs_under_systemd_notify(broker: int, tmp_path: Path) -> None:
    """``qms-announcer --config``: READY=1, then WATCHDOG=1 pings; SIGTERM stops it cleanly."""
    sock_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    notify.settimeout(20)
    config = tmp_path / "announcer.toml"
    config.write_text(
        f'center = "{CENTER}"\ndevice = "announcer-cli"\ncache_dir = "{tmp_path / "cache"}"\n'
        f'[quiet_hours]\nenabled = false\n'
        f'[output]\nkind = "files"\ndirectory = "{tmp_path / "out"}"\n'
        f'[mqtt]\nport = {broker}\n', encoding="utf-8")
    watcher = Watcher(broker, availability("announcer-cli"))
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "200000",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "display.announcer", "--config", str(config)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        received = []
        while "WATCHDOG=1" not in received:
            received.append(notify.recv(4096).decode().split("\n")[0])
        assert received[0] == "READY=1"
        watcher.expect(lambda m: m.payload == b"online")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in err
        watcher.expect(lambda m: m.payload == b"offline")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        notify.close()
        watcher.close()
