"""The kiosk with a real Mosquitto (the shipped center.conf and ACL, credentials from the
shipped script) and the real server with its MQTT link: presence and health, the clerk's
reprint reaching the kiosk as a KioskCommand, garbage commands dropped, and tickets still
issued over HTTP while the broker is down.
"""
from __future__ import annotations

import time

import pytest
import requests
import zxingcpp
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from kiosk.app import KioskApp
from kiosk.config import config_from_dict
from kiosk.testing import RecordingPrinters, config_dict
from qms_common import wire
from qms_common.clock import FakeClock
from tests.escpos_decode import decode
from tests.live_server import LiveServer
from tests.mosquitto_fixture import CENTER, MqttProbe, center_setup

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DEVICE = "kiosk-m1"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """Broker + server (MQTT on) + a probe signed in as the server user."""
    tmp = tmp_path_factory.mktemp("mqtt")
    setup = center_setup(tmp, devices=[("kiosk", DEVICE)], tls=False)
    (tmp / "server-password").write_text(setup.passwords["server"] + "\n")
    (tmp / "kiosk-password").write_text(setup.passwords[DEVICE] + "\n")
    with setup.broker:
        port = setup.broker.port(1883)
        extra = (f'[mqtt]\nenabled = true\nport = {port}\nusername = "server"\n'
                 f'password_file = "{tmp / "server-password"}"\nstream_interval_s = 5\n')
        with LiveServer(tmp / "srv", settings_extra=extra) as srv:
            srv.director = srv.add_user("giamdoc", "director")
            srv.kiosk_token = srv.add_device(DEVICE, "kiosk")
            probe = MqttProbe.connect(port, "server", setup.passwords["server"], client_id="kiosk-test-probe",
                                      auto_reconnect=True)
            for topic in (wire.AVAILABILITY.topic(center=CENTER, cls="kiosk", device=DEVICE),
                          wire.HEALTH.topic(center=CENTER, cls="kiosk", device=DEVICE)):
                probe.subscribe(topic)
            try:
                yield setup, srv, probe, tmp
            finally:
                probe.close()


@pytest.fixture
def kiosk(rig):
    setup, srv, _probe, tmp = rig
    factory = MockFactory()
    Device.pin_factory = factory
    data = config_dict(tmp / f"k{time.monotonic_ns()}", srv.url, srv.kiosk_token, device=DEVICE, center=CENTER)
    data["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": setup.broker.port(1883),
                    "password_file": str(tmp / "kiosk-password"), "health_interval_s": 1.0}
    printers = RecordingPrinters()
    clock = FakeClock(time.time())
    app = KioskApp(config_from_dict(data, "test"), clock=clock, connect=printers,
                   mqtt_client_id=f"{DEVICE}-{time.monotonic_ns()}")
    app.start()
    assert app.link and app.link.presence.connected.wait(15)
    try:
        yield app, printers, clock, factory
    finally:
        app.stop()
        factory.reset()
        Device.pin_factory = None


def last_payload(probe: MqttProbe, topic: str) -> bytes | None:
    got = probe.received(topic)
    return got[-1].payload if got else None


def wait_jobs(app: KioskApp, count: int, timeout: float = 20.0) -> None:
    app.screen.wait_for(lambda s: len(app.jobs) >= count and not s.busy, timeout)


def test_presence_health_and_reprint_after_a_failed_print(rig, kiosk) -> None:
    _setup, srv, probe, _tmp = rig
    app, printers, clock, _pins = kiosk
    availability = wire.AVAILABILITY.topic(center=CENTER, cls="kiosk", device=DEVICE)
    health_topic = wire.HEALTH.topic(center=CENTER, cls="kiosk", device=DEVICE)
    probe.wait(lambda: last_payload(probe, availability) == b"online", 15, "kiosk online")

    printers.fault = "cover_open"
    result = app.press("1")
    assert result["verdict"] == "issue" and result["printed"] is False and result["fault"] == "cover_open"
    screen = app.screen.get()
    assert screen.ticket.code == result["code"] and "Nắp máy in đang mở" in screen.message
    app.screen.wait_for(lambda s: s.outbox == 0)
    headers = srv.bearer(srv.director)
    ticket = requests.get(f"{srv.url}/api/v1/tickets/{result['ticket_id']}", headers=headers, timeout=10).json()
    assert ticket["printed"] == 0 and ticket["print_fault"] == "cover_open"

    def health_says(pred) -> bool:
        payload = last_payload(probe, health_topic)
        return payload is not None and pred(wire.decode(wire.HEALTH, payload))

    probe.wait(lambda: health_says(lambda h: h.printer == "cover_open" and "printer_cover_open" in h.faults),
               15, "health with the printer fault")

    # the clerk presses "In lại" on the console: server -> MQTT -> kiosk
    printers.fault = "none"
    r = requests.post(f"{srv.url}/api/v1/tickets/{result['ticket_id']}/reprint", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    wait_jobs(app, 2)
    code, outcome, data = app.jobs[-1]
    assert code == result["code"] and outcome.printed
    qr = [b.text for b in zxingcpp.read_barcodes(decode(data or b"").image.convert("L"))]
    assert qr == [ticket["status_url"]]
    app.screen.wait_for(lambda s: s.outbox == 0)
    ticket = requests.get(f"{srv.url}/api/v1/tickets/{result['ticket_id']}", headers=headers, timeout=10).json()
    assert ticket["printed"] == 1
    probe.wait(lambda: health_says(lambda h: h.printer == "ok" and h.outbox == 0 and not h.faults), 15,
               "health back to ok")


def test_garbage_commands_are_dropped_and_the_kiosk_keeps_working(rig, kiosk) -> None:
    setup, srv, _probe, _tmp = rig
    app, printers, clock, _pins = kiosk
    topic = wire.KIOSK_COMMAND.topic(center=CENTER, device=DEVICE)
    sender = MqttProbe.connect(setup.broker.port(1883), "server", setup.passwords["server"],
                               client_id="kiosk-test-commander")
    try:
        info = wire.TicketInfo(ticket_id="20250101-HT-001", code="HT-001", service="HT", priority=False,
                               issued_at=time.time(), people_ahead=0, estimated_wait_s=0,
                               status_url="http://127.0.0.1/s/abcdefghijkl")
        good = wire.encode(wire.KioskCommand(action="reprint", ticket=info, request_id="r-1"))
        for payload in (b"not json", b'{"v": 2, "action": "reprint"}', b'{"v": 1, "action": "explode"}',
                        b"[1, 2, 3]", b"\xff\xfe", b"{" * 20000, good.replace(b'"HT-001"', b'""'), good):
            sender.publish(topic, payload)
        wait_jobs(app, 1)  # the good one, after the garbage in the same ordered stream
        assert app.link.dropped == 7
        assert app.jobs[-1][0] == "HT-001" and app.jobs[-1][1].printed
        sender.publish(topic, good)  # a redelivery of the same request is not printed twice
        clock.advance(3)
        result = app.press("2")
        assert result["verdict"] == "issue" and result["printed"] is True
        assert [c for c, _o, _d in app.jobs] == ["HT-001", result["code"]]
        assert app.healthy()
    finally:
        sender.close()


def test_broker_down_still_issues_and_presence_returns(rig, kiosk) -> None:
    setup, srv, probe, _tmp = rig
    app, printers, clock, _pins = kiosk
    availability = wire.AVAILABILITY.topic(center=CENTER, cls="kiosk", device=DEVICE)
    setup.broker.stop()
    deadline = time.monotonic() + 20
    while app.link.connected:  # cleared by paho's disconnect callback; polled with a deadline
        assert time.monotonic() < deadline, "the kiosk did not notice the broker going away"
        time.sleep(0.05)
    result = app.press("3")
    assert result["verdict"] == "issue" and result["offline"] is False and result["printed"]
    setup.broker.start()
    assert app.link.presence.connected.wait(40), "the kiosk did not reconnect to the broker"
    fresh = MqttProbe.connect(setup.broker.port(1883), "server", setup.passwords["server"],
                              client_id="kiosk-test-after-restart")
    try:
        fresh.subscribe(availability)
        fresh.wait(lambda: last_payload(fresh, availability) == b"online", 20, "availability online again")
    finally:
        fresh.close()
    headers = srv.bearer(srv.director)
    ticket = requests.get(f"{srv.url}/api/v1/tickets/{result['ticket_id']}", headers=headers, timeout=10).json()
    assert ticket["code"] == result["code"]
