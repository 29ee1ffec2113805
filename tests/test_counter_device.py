"""The counter device with gpiozero's mock pins and a real Mosquitto (the shipped ACL).

A test-side paho client logged in as ``server`` plays the server: it publishes the
retained CounterServing and answers requests on their MQTT v5 response topic with their
correlation data. Keys are pressed with ``pin.drive_low()`` / ``drive_high()``. Waits are
on conditions with deadlines; debounce and timeouts run on an injected clock.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from display.counter_device.cli import main
from display.counter_device.config import config_from_dict, load_config
from display.counter_device.screen import ImageFileScreen, ScreenView
from display.counter_device.service import CounterDevice
from display.counter_device.state import CounterLogic
from qms_common import wire
from qms_common.clock import FakeClock
from tests.mosquitto_fixture import CENTER, BrokerSetup, MqttProbe, center_setup

COUNTER = 5
DEVICE = f"counter-{COUNTER}"
PINS = {"next": 17, "recall": 27, "very_satisfied": 5, "satisfied": 6, "neutral": 13, "unsatisfied": 19}
REPO = Path(__file__).resolve().parents[1]


class RecordingScreen:
    """A screen that remembers every view, and lets a test wait for one."""

    def __init__(self) -> None:
        self.views: list[ScreenView] = []
        self.cond = threading.Condition()

    def show(self, view: ScreenView) -> None:
        with self.cond:
            self.views.append(view)
            self.cond.notify_all()

    def close(self) -> None:
        pass

    def wait(self, predicate: Callable[[ScreenView], bool], what: str, timeout: float = 10) -> ScreenView:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for view in reversed(self.views):
                    if predicate(view):
                        return view
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}; last views: {self.views[-3:]}")
                self.cond.wait(remaining)


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[BrokerSetup]:
    setup = center_setup(tmp_path_factory.mktemp("counter-broker"), devices=[("counter", DEVICE)], tls=False)
    with setup.broker:
        yield setup


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = previous


def press(factory: MockFactory, key: str) -> None:
    pin = factory.pin(PINS[key])
    pin.drive_low()
    pin.drive_high()


@pytest.fixture
def server(broker: BrokerSetup) -> Iterator[MqttProbe]:
    probe = MqttProbe.connect(broker.broker.port(1883), "server", broker.passwords["server"])
    probe.subscribe(f"qms/{CENTER}/counter/{DEVICE}/#")
    yield probe
    # leave no retained state for the next test
    probe.publish(wire.COUNTER_SERVING.topic(center=CENTER, n=COUNTER), b"", retain=True)
    probe.close()


def make_device(broker: BrokerSetup, screen: RecordingScreen, clock=None, **overrides) -> CounterDevice:
    data = {"center": CENTER, "counter": COUNTER, "tick_s": 0.02, "debounce_s": 0.3,
            "request_timeout_s": 5, "buttons": {"next": PINS["next"], "recall": PINS["recall"]},
            "mqtt": {"port": broker.broker.port(1883), "username": DEVICE,
                     "password": broker.passwords[DEVICE]}}
    data.update(overrides)
    return CounterDevice(config_from_dict(data), clock=clock, screen=screen,
                         client_id=f"{DEVICE}-{time.monotonic_ns()}")


@pytest.fixture
def running(broker: BrokerSetup, pins: MockFactory, server: MqttProbe):
    clock, screen = FakeClock(), RecordingScreen()
    device = make_device(broker, screen, clock)
    device.start()
    try:
        server.wait(lambda: any(m.topic.endswith("/availability") and m.payload == b"online"
                                for m in server.messages), 10, "the device online")
        yield device, screen, clock
    finally:
        device.stop()


def serving(ticket: str | None, seq: int | None = None, state: str = "open") -> bytes:
    return wire.encode(wire.CounterServing(counter=COUNTER, state=state, ticket=ticket, service="HT",
                                           called_at=1.0 if ticket else None, call_seq=seq))


def answer(server: MqttProbe, request, response: wire.Response) -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.CorrelationData = request.properties.CorrelationData
    server.client.publish(request.properties.ResponseTopic, wire.encode(response), qos=1,
                          properties=props).wait_for_publish(5)


def requests_seen(server: MqttProbe) -> list[mqtt.MQTTMessage]:
    return server.received(wire.COUNTER_REQUEST.topic(center=CENTER, device=DEVICE))


def ratings_seen(server: MqttProbe) -> list[wire.Rating]:
    return [wire.decode(wire.RATING, m.payload) for m in server.received(wire.RATING.topic(center=CENTER, device=DEVICE))]


# --- requests and responses --------------------------------------------------------------------

def test_next_sends_a_request_and_shows_the_servers_refusal_in_vietnamese(running, pins, server) -> None:
    device, screen, clock = running
    press(pins, "next")
    server.wait(lambda: len(requests_seen(server)) == 1, 10, "a counter request")
    request = requests_seen(server)[0]
    assert wire.decode(wire.COUNTER_REQUEST, request.payload) == wire.CounterRequest(action="next")
    assert request.properties.ResponseTopic == wire.RESPONSE.topic(center=CENTER, cls="counter", device=DEVICE)
    assert len(request.properties.CorrelationData) >= 16
    screen.wait(lambda v: v.status == "Gọi số tiếp theo: đang gửi…", "sending")
    answer(server, request, wire.Response(status="error",
                                          error="Không còn công dân nào đang chờ; nobody is waiting"))
    view = screen.wait(lambda v: v.alert, "the refusal")
    assert view.status == "Máy chủ từ chối: Không còn công dân nào đang chờ"
    # an answer with someone else's correlation data changes nothing
    clock.advance(1)
    press(pins, "recall")
    server.wait(lambda: len(requests_seen(server)) == 2, 10, "the recall request")
    recall = requests_seen(server)[1]
    assert recall.properties.CorrelationData != request.properties.CorrelationData
    answer(server, request, wire.Response(status="ok"))  # stale: the first request's id
    answer(server, recall, wire.Response(status="ok"))
    screen.wait(lambda v: v.status == "Gọi lại: đã gửi" and not v.alert, "the recall accepted")


def test_a_request_without_an_answer_times_out(running, pins, server) -> None:
    device, screen, clock = running
    press(pins, "next")
    server.wait(lambda: len(requests_seen(server)) == 1, 10, "a counter request")
    clock.advance(1)
    press(pins, "next")  # one request at a time: a second "next" would skip a citizen
    screen.wait(lambda v: v.status == "Đang chờ máy chủ trả lời…", "busy")
    clock.advance(5)
    screen.wait(lambda v: v.status == "Máy chủ không phản hồi, vui lòng thử lại" and v.alert, "timeout")
    assert len(requests_seen(server)) == 1


def test_retained_serving_and_calls_update_the_number(broker, pins, server) -> None:
    topic = wire.COUNTER_SERVING.topic(center=CENTER, n=COUNTER)
    server.publish(topic, serving("HT-041", seq=10), retain=True)
    screen = RecordingScreen()
    device = make_device(broker, screen)  # starts after the state was published: retained
    device.start()
    try:
        view = screen.wait(lambda v: v.ticket == "HT-041", "the retained number")
        assert view.state == "open" and view.lines()[:2] == ["QUẦY 5", "HT-041"]
        server.publish(wire.CALL.topic(center=CENTER), wire.encode(
            wire.CallEvent(seq=11, ticket="HT-042", counter=COUNTER, at=time.time())))
        screen.wait(lambda v: v.ticket == "HT-042", "the called number")
        server.publish(wire.CALL.topic(center=CENTER), wire.encode(
            wire.CallEvent(seq=12, ticket="CT-007", counter=COUNTER + 1, at=time.time())))  # another counter
        server.publish(topic, serving("HT-041", seq=10), retain=True)  # older than call #11: ignored
        server.publish(wire.CALL.topic(center=CENTER), wire.encode(
            wire.CallEvent(seq=13, ticket="HT-042", counter=COUNTER, recall=True, at=time.time())))
        screen.wait(lambda v: v.status == "Gọi lại số HT-042", "the recall")
        assert screen.views[-1].ticket == "HT-042"
        server.publish(topic, serving(None, seq=13, state="paused"), retain=True)
        view = screen.wait(lambda v: v.state == "paused", "paused")
        assert view.ticket is None and view.lines()[1:3] == ["---", "Tạm dừng"]
        assert not any(v.ticket == "CT-007" for v in screen.views)
    finally:
        device.stop()


# --- ratings and debounce ------------------------------------------------------------------------

def test_rating_keys_publish_scores_four_to_one(broker, pins, server) -> None:
    screen = RecordingScreen()
    device = make_device(broker, screen, FakeClock())
    device.start()
    try:
        topic = wire.COUNTER_SERVING.topic(center=CENTER, n=COUNTER)
        keys = ["very_satisfied", "satisfied", "neutral", "unsatisfied"]
        for i, key in enumerate(keys, start=1):
            server.publish(topic, serving(f"HT-00{i}", seq=i), retain=True)
            screen.wait(lambda v, i=i: v.ticket == f"HT-00{i}", f"ticket {i}")
            press(pins, key)
            if key == "unsatisfied":  # asks why; the second key ("Hài lòng", key 2) is the reason
                screen.wait(lambda v: v.status.startswith("Vì sao ông/bà chưa hài lòng?"), "why")
                assert len(ratings_seen(server)) == i - 1  # held until the reason
                device.clock.advance(1)
                press(pins, "satisfied")
            server.wait(lambda i=i: len(ratings_seen(server)) == i, 10, f"rating {i}")
        assert [(r.ticket, r.score, r.reason) for r in ratings_seen(server)] == [
            ("HT-001", 4, None), ("HT-002", 3, None), ("HT-003", 2, None), ("HT-004", 1, "unclear_guidance")]
        screen.wait(lambda v: v.status == "Cảm ơn ông/bà đã góp ý: Hướng dẫn chưa rõ", "thanks")
        device.clock.advance(1)
        press(pins, "very_satisfied")  # the same citizen again: one rating per ticket
        screen.wait(lambda v: v.status == "Số HT-004 đã được đánh giá. Xin cảm ơn!", "already rated")
        # after finishing, the citizen who just left can still rate
        server.publish(topic, serving(None, seq=5), retain=True)
        screen.wait(lambda v: v.ticket is None, "idle")
        device.clock.advance(1)
        press(pins, "satisfied")
        screen.wait(lambda v: "đã được đánh giá" in v.status and v.ticket is None, "HT-004 still rated")
        assert len(ratings_seen(server)) == 4
    finally:
        device.stop()


def test_bouncing_contacts_send_one_request(running, pins, server) -> None:
    device, screen, clock = running
    for _ in range(5):  # a bouncing contact: five edges within microseconds
        press(pins, "next")
    press(pins, "very_satisfied")  # processed after the five: a marker
    server.wait(lambda: len(ratings_seen(server)) == 1, 10, "the marker rating")
    assert len(requests_seen(server)) == 1 and device.debouncer.suppressed == 4
    request = requests_seen(server)[0]
    answer(server, request, wire.Response(status="ok"))
    screen.wait(lambda v: v.status == "Gọi số tiếp theo: đã gửi", "accepted")
    clock.advance(0.31)  # after the window a new press counts
    press(pins, "next")
    server.wait(lambda: len(requests_seen(server)) == 2, 10, "a second request")


def garbage_payloads() -> list[bytes]:
    good = json.loads(serving("HT-001", seq=1))
    return [b"", b"\xff\xfe\x00", b"null", b"[1,2]", b"{", b"online", b"[" * 5000,
            json.dumps({**good, "v": 2}).encode(), json.dumps({**good, "counter": "năm"}).encode(),
            json.dumps({**good, "extra": 1}).encode(), json.dumps({**good, "state": "busy"}).encode(),
            b"x" * (wire.MAX_PAYLOAD_BYTES + 1)]


def test_garbage_on_every_topic_is_dropped(running, pins, server) -> None:
    device, screen, clock = running
    topics = [wire.COUNTER_SERVING.topic(center=CENTER, n=COUNTER), wire.CALL.topic(center=CENTER),
              wire.RESPONSE.topic(center=CENTER, cls="counter", device=DEVICE)]
    payloads = garbage_payloads()
    for topic in topics:
        for payload in payloads:
            server.publish(topic, payload)
    server.publish(topics[0], serving("HT-099", seq=99))
    screen.wait(lambda v: v.ticket == "HT-099", "a valid state after the garbage")
    assert device.stats.dropped == len(topics) * len(payloads)
    assert device.healthy()


def test_offline_press_is_refused_on_screen(pins) -> None:
    screen = RecordingScreen()
    config = config_from_dict({"center": CENTER, "counter": COUNTER, "tick_s": 0.02,
                               "mqtt": {"port": 9, "host": "127.0.0.1"}})
    device = CounterDevice(config, clock=FakeClock(), screen=screen)
    device.start()
    try:
        press(pins, "next")
        view = screen.wait(lambda v: v.alert, "offline")
        assert view.status == "Mất kết nối máy chủ, vui lòng thử lại sau"
        assert device.stats.requests == 0
    finally:
        device.stop()


# --- logic, screen and configuration --------------------------------------------------------------

def test_unsatisfied_waits_for_its_reason_then_goes_without_one() -> None:
    logic = CounterLogic(5, request_timeout_s=5, message_s=8, rating_window_s=60, rating_cooldown_s=10, reason_s=15)
    logic.ticket = "HT-007"
    assert logic.on_rating_key("unsatisfied", 100, 1000.0, True) is None  # held: the screen asks why
    assert "Nút 1: Chờ quá lâu" in logic.view().status
    assert not logic.on_tick(114.9) and logic.take_due() == []
    assert logic.on_tick(115.0)
    due = logic.take_due()
    assert [(r.rating.ticket, r.rating.score, r.rating.reason, r.rating.at) for r in due] == [
        ("HT-007", 1, None, 1000.0)]
    assert logic.take_due() == [] and logic.view().status == "Cảm ơn ông/bà đã đánh giá: Không hài lòng"
    assert logic.on_rating_key("very_satisfied", 116, 1016.0, True) is None  # one rating per ticket
    logic.ticket = "HT-008"
    assert logic.on_rating_key("unsatisfied", 120, 1020.0, True) is None
    out = logic.on_rating_key("neutral", 122, 1022.0, True)  # key 3: attitude
    assert (out.rating.ticket, out.rating.score, out.rating.reason, out.rating.at) == ("HT-008", 1, "attitude", 1020.0)
    logic.on_tick(200)
    assert logic.take_due() == []  # sent once, not again at the deadline
    logic.ticket = "HT-009"
    assert logic.on_rating_key("unsatisfied", 210, 1030.0, True) is None
    assert logic.on_rating_key("satisfied", 211, 1031.0, False) is None  # broker lost: nothing half-sent
    logic.on_tick(300)
    assert logic.take_due() == []
    quick = CounterLogic(5, request_timeout_s=5, message_s=8, rating_window_s=60, rating_cooldown_s=10, reason_s=0)
    quick.ticket = "HT-010"
    assert quick.on_rating_key("unsatisfied", 1, 1.0, True).rating.reason is None  # 0: sent at once


def test_rating_window_after_the_citizen_left() -> None:
    logic = CounterLogic(5, request_timeout_s=5, message_s=8, rating_window_s=60, rating_cooldown_s=10)
    logic.on_serving(wire.CounterServing(counter=5, state="open", ticket="HT-001", call_seq=1), 0)
    logic.on_serving(wire.CounterServing(counter=5, state="open", ticket=None, call_seq=1), 100)
    assert logic.rating_ticket(130) == "HT-001" and logic.rating_ticket(161) is None
    assert logic.on_rating_key("neutral", 200, 1.0, True).rating.ticket is None
    assert logic.on_rating_key("neutral", 205, 1.0, True) is None  # cooldown without a ticket
    assert logic.on_rating_key("neutral", 211, 1.0, True).rating.score == 2


def test_image_file_screen_renders_vietnamese(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "screen.png"
    screen = ImageFileScreen(path, 480, 320)
    screen.show(ScreenView(5, "HT-042", "open", "Máy chủ từ chối: Không còn công dân nào đang chờ", True))
    first = path.read_bytes()
    with Image.open(path) as image:
        assert image.size == (480, 320)
        assert len(image.getcolors(maxcolors=1 << 20) or []) > 10  # text drawn, not a blank frame
    screen.show(ScreenView(5, "HT-043", "open"))
    assert path.read_bytes() != first and screen.frames == 2
    assert not list(tmp_path.glob(".*.tmp"))


def test_config_errors_exit_2_with_the_field(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "counter.toml"
    bad.write_text('center = "phuong-mau"\ncounter = 5\n[buttons]\nnext = 5\n')  # keypad uses GPIO 5
    assert main(["--config", str(bad), "--check"]) == 2
    err = capsys.readouterr().err
    assert "GPIO 5 is used twice" in err and "Traceback" not in err
    bad.write_text('center = "phuong-mau"\ncounter = 0\n')
    assert main(["--config", str(bad)]) == 2
    assert "counter.toml: counter:" in capsys.readouterr().err
    bad.write_text('center = "phuong-mau"\ncounter = 5\n[screen]\nkind = "image-file"\n')
    assert main(["--config", str(bad)]) == 2
    assert "needs path" in capsys.readouterr().err
    example = load_config(REPO / "firmware_config" / "counter.example.toml")
    assert example.device == "counter-5" and example.pins()["next"] == 17


def test_no_gpio_on_a_laptop_is_a_clear_error(tmp_path: Path) -> None:
    conf = tmp_path / "counter.toml"
    conf.write_text('center = "phuong-mau"\ncounter = 5\n[mqtt]\nport = 9\n')
    env = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
    done = subprocess.run([sys.executable, "-m", "display.counter_device", "--config", str(conf)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "GPIOZERO_PIN_FACTORY=mock" in done.stderr and "Traceback" not in done.stderr



# --- end to end: the real server answers over MQTT --------------------------------------------------

def test_buttons_against_the_real_server(broker, pins, tmp_path: Path) -> None:
    """counter-5 -> COUNTER_REQUEST -> the server's engine -> Response + COUNTER_SERVING -> screen."""
    import requests

    from tests.live_server import LiveServer

    password_file = tmp_path / "server-mqtt-password"
    password_file.write_text(broker.passwords["server"])
    mqtt_settings = (f'\n[mqtt]\nenabled = true\nport = {broker.broker.port(1883)}\n'
                     f'password_file = "{password_file}"\n')
    with LiveServer(tmp_path / "server", settings_extra=mqtt_settings) as srv:
        clock, screen = FakeClock(), RecordingScreen()
        device = make_device(broker, screen, clock)
        device.start()
        try:
            screen.wait(lambda v: v.state == "closed", "the counter's state from the server", timeout=15)
            press(pins, "next")  # the counter is closed: the server refuses, in Vietnamese
            view = screen.wait(lambda v: v.alert, "the refusal", timeout=15)
            assert view.status == "Máy chủ từ chối: Quầy 5 chưa mở (đang 'closed')"
            clerk = srv.add_user("lan", "clerk", name="Nguyễn Thị Lan")
            opened = requests.post(f"{srv.url}/api/v1/counters/{COUNTER}/sign-in", json={},
                                   headers=srv.bearer(clerk), timeout=10)
            assert opened.ok, opened.text
            screen.wait(lambda v: v.state == "open", "the counter open", timeout=15)
            clock.advance(1)
            press(pins, "next")  # nobody waits for counter 5's services (DD, XD)
            screen.wait(lambda v: v.status == "Không còn công dân nào đang chờ", "nobody waiting", timeout=15)
            issued = requests.post(srv.url + "/api/v1/tickets", json={"service": "DD"},
                                   headers=srv.bearer(srv.add_device("kiosk-e2e", "kiosk")), timeout=10)
            assert issued.status_code == 201, issued.text
            code = issued.json()["code"]
            clock.advance(1)
            press(pins, "next")
            screen.wait(lambda v: v.status == f"Đã gọi số {code}", "the call answered", timeout=15)
            screen.wait(lambda v: v.ticket == code, "the number from COUNTER_SERVING", timeout=15)
        finally:
            device.stop()
