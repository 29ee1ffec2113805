"""The kiosk against the real center server (a subprocess), gpiozero's MockFactory for the
buttons, and python-escpos' Dummy (through the printer seam) for the printer; the printed
bytes are decoded back to an image and its QR code read with zxing-cpp.

Waits are on conditions with deadlines (the screen's version, the sender's rounds); time
that matters to the press filter is a FakeClock the test moves.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import zxingcpp
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from kiosk.app import KioskApp
from kiosk.config import config_from_dict
from kiosk.testing import RecordingPrinters, config_dict
from qms_common.clock import FakeClock
from tests.escpos_decode import decode
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

HT_PIN, CT_PIN, PRIORITY_PIN = 17, 27, 26


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("server")) as srv:
        srv.director = srv.add_user("giamdoc", "director")
        yield srv


@pytest.fixture
def pins():
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = None


@pytest.fixture
def kiosks(tmp_path, pins):
    made: list[KioskApp] = []
    counter = iter(range(100))

    def make(srv: LiveServer, url: str | None = None, *, clock=None, printers=None, start=True,
             **changes) -> KioskApp:
        device = f"kiosk-{time.monotonic_ns() % 10**9}-{next(counter)}"
        token = srv.add_device(device, "kiosk")
        data = config_dict(tmp_path / device, url or srv.url, token, device=device)
        for key, value in changes.items():  # "buttons.per_minute": 2
            target = data
            *path, last = key.split(".")
            for part in path:
                target = target[part]
            target[last] = value
        app = KioskApp(config_from_dict(data, "test"), clock=clock or FakeClock(time.time()),
                       connect=printers or RecordingPrinters())
        app.printers = app.printer._connect  # type: ignore[attr-defined]
        if start:
            app.start()
            assert app.sender.wait_first_round(15)  # blocks reserved (or the server found absent)
        made.append(app)
        return app

    yield make
    for app in made:
        app.stop()


def push(pins: MockFactory, pin: int) -> None:
    """One press of a pulled-up button: the pin goes low, then high again."""
    pins.pin(pin).drive_low()
    pins.pin(pin).drive_high()


def settle(app: KioskApp, decided: int, timeout: float = 15.0):
    """Wait until ``decided`` presses in total were decided by the worker."""
    return app.screen.wait_for(lambda s: sum(s.counters.values()) >= decided and not s.busy, timeout)


def api(srv: LiveServer, path: str) -> dict:
    r = requests.get(srv.url + path, headers=srv.bearer(srv.director), timeout=10)
    r.raise_for_status()
    return r.json()


def job_qr(app: KioskApp, index: int = -1) -> list[str]:
    _code, _outcome, data = app.jobs[index]
    image = decode(data or b"").image
    return [r.text for r in zxingcpp.read_barcodes(image.convert("L"))]


# --- online -----------------------------------------------------------------------------------

def test_press_issues_prints_and_reports(server, kiosks, pins) -> None:
    app = kiosks(server)
    push(pins, HT_PIN)
    screen = settle(app, 1)
    assert screen.ticket and screen.ticket.printed is True and screen.mode == "online"
    code, outcome, data = app.jobs[-1]
    assert code == screen.ticket.code and outcome.printed
    tickets = api(server, "/api/v1/tickets?service=HT")["tickets"]
    mine = next(t for t in tickets if t["code"] == code)
    assert job_qr(app) == [mine["status_url"]]
    assert mine["state"] == "waiting" and mine["priority"] is False
    # the print result reaches the server through the outbox
    app.screen.wait_for(lambda s: s.outbox == 0)  # set when the server confirmed the last item
    assert api(server, f"/api/v1/tickets/{mine['id']}")["printed"] == 1


def test_priority_button_then_service(server, kiosks, pins) -> None:
    app = kiosks(server)
    push(pins, PRIORITY_PIN)
    screen = settle(app, 1)
    assert screen.priority_armed
    push(pins, CT_PIN)
    screen = settle(app, 2)
    assert screen.ticket and screen.ticket.priority
    got = api(server, "/api/v1/tickets?service=CT")["tickets"]
    assert next(t for t in got if t["code"] == screen.ticket.code)["priority"] is True
    data = app.jobs[-1][2]
    assert decode(data or b"").image.height > 900  # the priority banner and footer make it longer


def test_debounce_five_fast_presses_one_ticket(server, kiosks, pins) -> None:
    clock = FakeClock(time.time())
    app = kiosks(server, clock=clock)
    for _ in range(5):
        push(pins, HT_PIN)
        clock.advance(0.1)
    screen = settle(app, 5)
    assert screen.counters.get("issue") == 1 and len(app.jobs) == 1
    assert screen.counters.get("cooldown", 0) + screen.counters.get("busy", 0) == 4
    # the ignored presses are not silent: whoever pressed is told whose number is on the screen
    assert f"số {screen.ticket.code} là của lượt bấm trước" in screen.notice
    clock.advance(3)
    push(pins, HT_PIN)
    second = settle(app, 6)
    assert second.counters["issue"] == 2 and second.notice == ""  # a new ticket clears it


def test_rate_limit_refuses_and_says_so(server, kiosks, pins) -> None:
    clock = FakeClock(time.time())
    app = kiosks(server, clock=clock, **{"buttons.per_minute": 2, "buttons.cooldown_s": 0.5})
    for i in range(6):  # a child pressing every 3 s
        push(pins, CT_PIN)
        screen = settle(app, i + 1)
        clock.advance(3)
    assert screen.counters == {"issue": 2, "rate_limited": 4}
    assert "bấm nhiều lần" in screen.message and screen.level == "warn"
    assert app.indicators.devices["fault_led"] is not None
    clock.advance(60)
    push(pins, CT_PIN)
    assert settle(app, 7).counters["issue"] == 3


def test_print_fault_is_recorded_reported_and_shown(server, kiosks, pins) -> None:
    printers = RecordingPrinters()
    printers.fault = "no_paper"
    clock = FakeClock(time.time())
    app = kiosks(server, clock=clock, printers=printers)
    push(pins, DD_PIN := 22)
    screen = settle(app, 1)
    assert screen.ticket and screen.ticket.printed is False
    assert "hết giấy" in screen.message and screen.ticket.code in screen.message and screen.level == "error"
    assert app.indicators.state == "fault" and app.indicators.devices["fault_led"].is_lit is not None
    app.screen.wait_for(lambda s: s.outbox == 0)
    tickets = api(server, "/api/v1/tickets?service=DD")["tickets"]
    mine = next(t for t in tickets if t["code"] == screen.ticket.code)
    assert (mine["printed"], mine["print_fault"]) == (0, "no_paper")
    assert app.health().printer == "no_paper" and "printer_no_paper" in app.health().faults
    # paper loaded: the next job opens the printer anew and prints
    printers.fault = "none"
    clock.advance(3)
    push(pins, DD_PIN)
    screen = settle(app, 2)
    assert screen.ticket.printed is True and app.indicators.state == "ready"


# --- offline ------------------------------------------------------------------------------------

def test_partition_twenty_presses_all_arrive_once_in_order(tmp_path, kiosks, pins) -> None:
    with LiveServer(tmp_path / "own-server") as srv:
        director = srv.add_user("giamdoc", "director")
        clock = FakeClock(time.time())
        app = kiosks(srv, clock=clock, **{"offline.block_size": 10, "offline.min_spare": 10,
                                          "buttons.per_minute": 120})
        srv.stop()
        presses = [HT_PIN, CT_PIN, 22, HT_PIN] * 5
        for i, pin in enumerate(presses):
            push(pins, pin)
            settle(app, i + 1)
            clock.advance(2.5)
        screen = app.screen.get()
        assert screen.counters == {"issue": 20} and screen.mode == "offline"
        issued = [code for code, outcome, _ in app.jobs]
        assert len(issued) == 20 and all(o.printed for _, o, _ in app.jobs)
        # offline tickets say so on paper, and their QR is the URL the server resolves after the merge
        assert app.screen.get().outbox == 20
        srv.start()
        app.sender.wake()
        app.screen.wait_for(lambda s: s.outbox == 0 and s.mode == "online", timeout=30)
        r = requests.get(srv.url + "/api/v1/tickets?limit=2000", headers=srv.bearer(director), timeout=10)
        got = r.json()["tickets"]
        assert [t["code"] for t in got] == issued  # each once, and in the order they were pressed
        assert {t["source"] for t in got} == {"offline"} and all(t["printed"] == 1 for t in got)
        assert all(t["state"] == "waiting" for t in got)


class _LosingProxy(BaseHTTPRequestHandler):
    """Forwards to the server; the answer to a ticket request comes after the kiosk gave up."""

    target = ""
    delay_s = 1.6
    forwarded = threading.Event()

    def log_message(self, *args) -> None:
        pass

    def _forward(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        r = requests.request(method, self.target + self.path, data=body, headers=headers, timeout=10)
        if method == "POST" and self.path == "/api/v1/tickets":
            _LosingProxy.forwarded.set()
            time.sleep(self.delay_s)  # the network losing the answer, not a test waiting
        self.send_response(r.status_code)
        self.send_header("Content-Type", r.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    def do_POST(self) -> None:  # noqa: N802
        self._forward("POST")

    def do_GET(self) -> None:  # noqa: N802
        self._forward("GET")


def test_lost_answer_server_copy_is_cancelled(server, kiosks, pins) -> None:
    _LosingProxy.target = server.url
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _LosingProxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        app = kiosks(server, url=f"http://127.0.0.1:{proxy.server_address[1]}")
        result = app.press("1")
        assert _LosingProxy.forwarded.is_set()
        assert result["verdict"] == "issue" and result["offline"] is True
        app.screen.wait_for(lambda s: s.outbox == 0, timeout=20)
        tickets = api(server, "/api/v1/tickets?service=HT&limit=2000")["tickets"]
        offline = next(t for t in tickets if t["code"] == result["code"])
        assert offline["state"] == "waiting" and offline["source"] == "offline"
        events = api(server, "/api/v1/events?limit=5000")["events"]
        cancelled = [e for e in events if e["type"] == "ticket_cancel"
                     and str(e["data"].get("reason")).startswith("superseded_by_offline")]
        assert len(cancelled) == 1  # the copy made for the lost answer: nobody is called twice
    finally:
        proxy.shutdown()
        proxy.server_close()


class _Garbage(BaseHTTPRequestHandler):
    answers = iter(())

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = (500, b"oops")
        if self.path == "/api/v1/tickets":  # hand-overs and block requests always get a 500
            status, body = next(_Garbage.answers, (500, b"oops"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_server_answering_500_or_garbage_is_offline_not_a_crash(server, kiosks, pins) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _Garbage.answers = iter([])
    try:
        clock = FakeClock(time.time())
        app = kiosks(server, url=f"http://127.0.0.1:{httpd.server_address[1]}", clock=clock, start=False)
        # numbers reserved on an earlier, good day at the real server
        from kiosk.outbox import Outbox
        from qms_common.clock import local_day
        box = Outbox(app.config.outbox_path)
        day = local_day(clock.now(), app.config.timezone).isoformat()
        box.add_block(day=day, service="HT", prefix="HT", first=901, last=905, at=clock.now())
        box.close()
        app.start()
        _Garbage.answers = iter([(500, b"Internal Server Error"), (201, b"\x00\xff{not json"),
                                 (201, json.dumps([1, 2]).encode()), (201, b'{"code": 42}')])
        codes = []
        for _ in range(4):
            result = app.press("1")
            assert result["verdict"] == "issue" and result["offline"] is True
            codes.append(result["code"])
            clock.advance(3)
        assert codes == ["HT-901", "HT-902", "HT-903", "HT-904"]
        assert app.healthy() and app.screen.get().mode == "offline"
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- voice ------------------------------------------------------------------------------------------

def test_spoken_confirmation_is_written_as_wav(server, kiosks, pins, tmp_path) -> None:
    import wave

    from kiosk.voice import sentence

    out = tmp_path / "voice-out"
    app = kiosks(server, **{"voice": {"enabled": True, "cache_dir": str(tmp_path / "voice-cache"),
                                      "output": {"kind": "files", "directory": str(out)}}})
    result = app.press("2")
    assert result["verdict"] == "issue"
    job = app.voice.last_job
    assert job is not None and job.wait(60) and job.error is None, job and job.error
    assert job.request.text == sentence(result["code"], True)
    assert job.request.text.startswith("Số thứ tự của bạn là C T ")
    with wave.open(job.output, "rb") as wav:
        assert wav.getnframes() / wav.getframerate() > 1.0


def test_the_server_sends_the_estimate_as_a_range_for_the_ticket(server) -> None:
    from kiosk.server_client import ServerClient
    from qms_common.wait_words import wait_range_phrase
    token = server.add_device(f"kiosk-range-{time.monotonic_ns() % 10**9}", "kiosk")
    client = ServerClient(server.url, token, timeout_s=5)
    try:
        answer = client.issue("HT", False, f"range-{time.monotonic_ns()}", None)
    finally:
        client.close()
    low, high = answer.estimated_wait_range_s
    assert 0 <= low <= high and answer.estimated_wait_s >= 0
    assert wait_range_phrase(low, high)[0].startswith(("dưới", "khoảng", "hơn"))
    # and its words for it, which the kiosk prints: the range, or "may not be served today"
    from qms_common.wait_words import NOT_SURE_TODAY
    assert answer.estimated_wait_text in (wait_range_phrase(low, high), NOT_SURE_TODAY)


def test_the_outbox_count_is_never_an_older_one_from_the_sender(tmp_path, kiosks, pins) -> None:
    """The sender reports a change with the count it read last (after its own round). A print
    result queued since must still be counted: the screen's "chờ gửi" and the health say 0
    only when nothing waits to reach the server (a full-suite run once read the server too early)."""
    with LiveServer(tmp_path / "own-server") as srv:
        clock = FakeClock(time.time())
        app = kiosks(srv, clock=clock, **{"buttons.per_minute": 120})
        srv.stop()                                   # nothing leaves the outbox now
        for i in range(2):
            push(pins, HT_PIN)
            settle(app, i + 1)
            clock.advance(2.5)                       # past the button's cooldown
        assert app.screen.get().outbox == 2
        app.sender.depth = 0                         # its count from before these presses
        app.sender._changed()                        # ... as after a round that reserved numbers
        assert app.screen.get().outbox == 2
        app.press("1", wait=True, timeout=15)        # handled after the sender's report
        assert app.screen.get().outbox == 3
        assert app.health().outbox == 3
