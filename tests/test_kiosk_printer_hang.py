"""A printer that hangs, end to end: the kiosk (gpiozero MockFactory presses) prints through
the configured ``file`` printer onto a FIFO whose reader never reads (the device accepts the
open and never takes the bytes), against the real server with its MQTT link, the shipped
Mosquitto, and the director's dashboard and the kiosk's own page in Chromium.

What a user checks: the press gets a number, shown large with a Vietnamese message; the
ticket is on the server as not printed (the console offers "In lại"); presses during the
hang are told why they got nothing; the next press is served; /healthz, the MQTT health
(seen by a real subscriber) and the dashboard say the printer is stuck, and say it again
when it recovers; a reprint then prints. Waits are on events (screen versions, MQTT
messages, selectors); the measured times are printed for docs/perf-kiosk.md.
"""
from __future__ import annotations

import os
import select
import threading
import time

import pytest
import requests
from gpiozero import Device
from gpiozero.pins.mock import MockFactory
from playwright.sync_api import expect

from kiosk.app import KioskApp
from kiosk.config import config_from_dict
from kiosk.testing import config_dict
from kiosk.web import KioskWeb
from qms_common import wire
from tests.browser import DESK, browser, new_page, sign_in  # noqa: F401  (fixture)
from tests.live_server import LiveServer
from tests.mosquitto_fixture import CENTER, MqttProbe, center_setup
from tests.test_printer_hang import drain, fifo, fill, idle_reader, unread

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DEVICE = "kiosk-hall"
NAME = "Ki-ốt sảnh chính"
HT_PIN, CT_PIN, DD_PIN = 17, 27, 22
JOB_TIMEOUT_S = 2.0
T = 10_000  # ms: give-up time of browser waits


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hang")
    setup = center_setup(tmp, devices=[("kiosk", DEVICE)], tls=False)
    (tmp / "server-password").write_text(setup.passwords["server"] + "\n")
    (tmp / "kiosk-password").write_text(setup.passwords[DEVICE] + "\n")
    with setup.broker:
        port = setup.broker.port(1883)
        extra = (f'[mqtt]\nenabled = true\nport = {port}\nusername = "server"\n'
                 f'password_file = "{tmp / "server-password"}"\n')
        with LiveServer(tmp / "srv", settings_extra=extra) as srv:
            srv.director = srv.add_user("giamdoc", "director")
            srv.add_user("minh.tran", "clerk", name="Trần Văn Minh")
            srv.kiosk_token = srv.add_device(DEVICE, "kiosk", site="main", name=NAME)
            probe = MqttProbe.connect(port, "server", setup.passwords["server"], client_id="hang-probe")
            probe.subscribe(wire.HEALTH.topic(center=CENTER, cls="kiosk", device=DEVICE))
            try:
                yield setup, srv, probe, tmp
            finally:
                probe.close()


@pytest.fixture
def pins():
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = None


def push(pins: MockFactory, pin: int) -> float:
    pins.pin(pin).drive_low()
    pins.pin(pin).drive_high()
    return time.monotonic()


def healths(probe: MqttProbe, topic: str) -> list[tuple[float, wire.Health]]:
    return [(m.timestamp, wire.decode(wire.HEALTH, m.payload)) for m in probe.received(topic)]


def test_hung_printer_faults_by_its_deadline_and_the_kiosk_keeps_serving(rig, pins, browser, tmp_path):  # noqa: F811
    setup, srv, probe, tmp = rig
    health_topic = wire.HEALTH.topic(center=CENTER, cls="kiosk", device=DEVICE)
    device = fifo(tmp_path)
    reader = idle_reader(device)  # the printer: it accepts the open and never takes a byte
    data = config_dict(tmp_path / "kiosk", srv.url, srv.kiosk_token, device=DEVICE, center=CENTER)
    data["printer"] = {"connection": {"type": "file", "devfile": str(device)}, "job_timeout_s": JOB_TIMEOUT_S}
    data["buttons"].update(cooldown_s=0.5)
    # the periodic health is 10 minutes away: whatever arrives sooner was published on change
    data["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": setup.broker.port(1883),
                    "password_file": str(tmp / "kiosk-password"), "health_interval_s": 600.0}
    app = KioskApp(config_from_dict(data, "test"), mqtt_client_id=f"{DEVICE}-{time.monotonic_ns()}")
    web = KioskWeb(app, "127.0.0.1", 0)
    dash = new_page(browser, DESK)
    kiosk_page = new_page(browser, DESK)
    app.start()
    web.start()
    try:
        assert app.link and app.link.presence.connected.wait(15)
        assert app.sender.wait_first_round(15)
        app.screen.wait_for(lambda s: s.printer == "ok")  # the first idle probe: the FIFO takes bytes
        dash.goto(srv.url + "/dashboard")
        sign_in(dash, "giamdoc")
        row = dash.locator(f"#devices tr[data-device='{DEVICE}']")
        expect(row).to_contain_text(NAME, timeout=T)
        expect(row).to_contain_text("Trực tuyến", timeout=T)
        kiosk_page.goto(web.url)
        expect(kiosk_page.locator("#code")).to_be_visible(timeout=T)
        expect(kiosk_page.locator("#status")).to_be_hidden()  # all is well: no machine words for citizens
        assert requests.get(web.url + "/healthz", timeout=5).json()["status"] == "ok"

        # press 1: the ticket is issued, then the printer takes ~64 KiB and stops taking
        t1 = push(pins, HT_PIN)
        busy = app.screen.wait_for(lambda s: s.busy and s.ticket is not None)
        code1 = busy.ticket.code
        deadline = time.monotonic() + 10
        while unread(reader) == 0:  # the pipe fills within milliseconds; polled with a deadline
            assert time.monotonic() < deadline
            select.select([], [], [], 0.01)
        # presses 2 and 3 while the kiosk waits on the printer: other citizens, other buttons
        push(pins, CT_PIN)
        push(pins, DD_PIN)
        faulted = app.screen.wait_for(lambda s: s.ticket.printed is False and not s.busy, 15)
        t_fault = time.monotonic()
        report = requests.get(web.url + "/healthz", timeout=5)
        t_healthz = time.monotonic()
        assert faulted.ticket.code == code1 and faulted.level == "error"
        assert "Máy in không nhận lệnh in" in faulted.message and f"Xin ghi nhớ số của bạn: {code1}" in faulted.message
        assert report.status_code == 200
        assert report.json() | {"status": "degraded", "printer": "stuck", "faults": ["printer_stuck"]} == report.json()
        ignored = app.screen.wait_for(lambda s: s.counters.get("busy", 0) == 2)
        assert f"số {code1} là của lượt bấm trước" in ignored.notice and "xin bấm lại" in ignored.notice

        # the local page: the number large, the message, why the other presses gave nothing
        expect(kiosk_page.locator("#code")).to_have_text(code1, timeout=T)
        expect(kiosk_page.locator("#msg")).to_contain_text("Xin ghi nhớ số của bạn", timeout=T)
        expect(kiosk_page.locator("#notice")).to_contain_text("không được tính", timeout=T)
        expect(kiosk_page.locator("#status")).to_contain_text("máy in bị treo", timeout=T)
        expect(kiosk_page.locator("#unprinted")).to_contain_text(f"Không in được phiếu số {code1}")
        assert "Chờ gửi" not in kiosk_page.content() and "Máy in:" not in kiosk_page.content()
        assert int(kiosk_page.locator("#code").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 48

        # MQTT: a real subscriber sees the stuck printer at once, not at the periodic report
        probe.wait(lambda: any("printer_stuck" in h.faults for _at, h in healths(probe, health_topic)), 10,
                   "health with printer_stuck")
        t_mqtt = next(at for at, h in healths(probe, health_topic) if "printer_stuck" in h.faults)
        stuck = next(h for _at, h in healths(probe, health_topic) if "printer_stuck" in h.faults)
        assert stuck.printer == "error" and stuck.detail["last_ticket"] == code1
        # the dashboard names the kiosk and says what is wrong, in Vietnamese
        expect(row).to_contain_text("Máy in bị treo", timeout=T)
        expect(row.locator(".pill")).to_have_text("Có lỗi · Fault")
        t_dash = time.monotonic()

        # press 4, after the fault: served at once with a number, again not printed
        t4 = push(pins, HT_PIN)
        served = app.screen.wait_for(lambda s: s.ticket.code != code1 and s.ticket.printed is False and not s.busy, 15)
        t_next = time.monotonic()
        code4 = served.ticket.code
        assert [c for c, _o, _d in app.jobs] == [code1, code4]
        assert all(o.fault == "stuck" for _c, o, _d in app.jobs)

        # the server has both, not printed: the console offers "In lại"
        app.screen.wait_for(lambda s: s.outbox == 0, 15)
        headers = srv.bearer(srv.director)
        tickets = {t["code"]: t for t in requests.get(f"{srv.url}/api/v1/tickets?limit=500", headers=headers,
                                                       timeout=10).json()["tickets"]}
        assert (tickets[code1]["printed"], tickets[code1]["print_fault"]) == (0, "stuck")
        assert (tickets[code4]["printed"], tickets[code4]["print_fault"]) == (0, "stuck")
        assert len([c for c in tickets if c.startswith(("CT", "DD"))]) == 0  # presses 2, 3: no ticket

        # the printer is fixed: it takes bytes again; recovery is published on change too
        printed = bytearray()
        fixed = threading.Event()

        def printer_works() -> None:
            while not fixed.is_set():
                if select.select([reader], [], [], 0.05)[0]:
                    printed.extend(drain(reader))

        t_fix = time.monotonic()
        worker = threading.Thread(target=printer_works, daemon=True)
        worker.start()
        probe.wait(lambda: healths(probe, health_topic)[-1][1].printer == "ok", 15, "health back to ok")
        t_recovered = healths(probe, health_topic)[-1][0]
        assert not healths(probe, health_topic)[-1][1].faults
        expect(row.locator(".pill")).to_have_text("Trực tuyến · Online", timeout=T)
        assert requests.get(web.url + "/healthz", timeout=5).json()["status"] == "ok"

        # "In lại" on the clerk's console: the kiosk prints it now
        before = len(printed)
        console = new_page(browser, DESK)
        try:
            console.goto(srv.url + "/console")
            sign_in(console, "minh.tran")
            console.click(".pick[data-counter='2']", timeout=T)  # counter 2 serves CT, then HT
            expect(console.locator("#unprinted li", has_text=code4)).to_be_visible(timeout=T)
            item = console.locator("#unprinted li", has_text=code1)
            expect(item).to_be_visible(timeout=T)
            expect(item).to_contain_text("máy in bị treo")
            item.get_by_role("button").click()
            expect(console.locator("body")).to_contain_text("Đã gửi lệnh in lại", timeout=T)
            assert not console.errors
        finally:
            console.context.close()
        app.screen.wait_for(lambda s: len(app.jobs) == 3 and not s.busy, 15)
        assert app.jobs[-1][0] == code1 and app.jobs[-1][1].printed
        app.screen.wait_for(lambda s: s.outbox == 0, 15)
        ticket = requests.get(f"{srv.url}/api/v1/tickets/{tickets[code1]['id']}", headers=headers, timeout=10).json()
        assert ticket["printed"] == 1
        fixed.set()
        worker.join(5)
        assert len(printed) > before
        assert not dash.errors and not kiosk_page.errors
        print(f"\nprinter hang (job_timeout_s={JOB_TIMEOUT_S}): press -> fault on screen {t_fault - t1:.2f} s; "
              f"/healthz says stuck at {t_healthz - t1:.2f} s; MQTT health at {t_mqtt - t1:.2f} s; "
              f"dashboard by {t_dash - t1:.2f} s; next press -> number on screen {t_next - t4:.3f} s; "
              f"printer fixed -> MQTT recovery {t_recovered - t_fix:.2f} s")
    finally:
        dash.context.close()
        kiosk_page.context.close()
        web.stop()
        app.stop()
        os.close(reader)


def test_offline_ticket_with_a_hung_printer_is_handed_over_as_not_printed(tmp_path, pins):
    """The server is down and the printer hangs: the offline number is shown, kept in the
    outbox as not printed, and reaches the server that way when it is back."""
    from kiosk.outbox import Outbox

    device = fifo(tmp_path)
    reader = idle_reader(device)
    with LiveServer(tmp_path / "server") as srv:
        director = srv.add_user("giamdoc", "director")
        token = srv.add_device("kiosk-off", "kiosk")
        data = config_dict(tmp_path / "kiosk", srv.url, token, device="kiosk-off")
        data["printer"] = {"connection": {"type": "file", "devfile": str(device)}, "job_timeout_s": 1.0}
        app = KioskApp(config_from_dict(data, "test"))
        app.start()
        try:
            assert app.sender.wait_first_round(15)  # blocks reserved
            srv.stop()
            fill(device)  # a short offline ticket would fit in the pipe: the printer's buffer is full
            result = app.press("1")
            assert (result["verdict"], result["offline"], result["printed"], result["fault"]) == \
                ("issue", True, False, "stuck"), result
            screen = app.screen.get()
            assert screen.ticket.code == result["code"] and screen.ticket.offline and screen.ticket.printed is False
            outbox = Outbox(data["outbox_path"])
            try:
                item = outbox.next_item()
                assert item is not None and item.kind == "ticket" and item.payload["printed"] is False
            finally:
                outbox.close()
            srv.start()
            app.screen.wait_for(lambda s: s.outbox == 0 and s.mode == "online", 30)
            got = requests.get(f"{srv.url}/api/v1/tickets?limit=100", headers=srv.bearer(director),
                               timeout=10).json()["tickets"]
            mine = next(t for t in got if t["code"] == result["code"])
            assert (mine["source"], mine["printed"]) == ("offline", 0)
        finally:
            app.stop()
            os.close(reader)
