"""The kiosk's local page API reads a press strictly: a wrong body is a 400 naming the field,
Vietnamese first, and presses nothing (``kiosk/web.py``, ``PressBody``)."""
from __future__ import annotations

import sqlite3

import pytest
import requests
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from kiosk.app import KioskApp
from kiosk.config import config_from_dict
from kiosk.testing import config_dict
from kiosk.web import KioskWeb


@pytest.fixture
def kiosk(tmp_path):
    Device.pin_factory = MockFactory()
    # the server is unreachable (port 9): a press that reaches the worker is answered offline
    app = KioskApp(config_from_dict(config_dict(tmp_path, "http://127.0.0.1:9", "token-xyz"), "test"))
    web = KioskWeb(app, "127.0.0.1", 0)
    app.start()
    web.start()
    try:
        yield app, web
    finally:
        web.stop()
        app.stop()
        Device.pin_factory.reset()
        Device.pin_factory = None


def tickets(app: KioskApp) -> int:
    with sqlite3.connect(app.config.outbox_path) as conn:
        return conn.execute("SELECT count(*) FROM tickets").fetchone()[0]


@pytest.mark.parametrize(("body", "field"), [
    ({"button": 1}, "button"),            # was taken as the key "1": a ticket for service 1
    ({"button": True}, "button"),
    ({"button": ["HT"]}, "button"),
    ({"button": ""}, "button"),
    ({"button": "HT" * 10}, "button"),
    ({"button": "HT", "copies": 2}, "copies"),
    ({}, "button"),
    (["HT"], "body"),
])
def test_a_wrong_press_body_is_a_400_naming_the_field_and_presses_nothing(kiosk, body, field):
    app, web = kiosk
    r = requests.post(web.url + "/api/press", json=body, timeout=10)
    assert r.status_code == 400, r.text
    answer = r.json()
    assert answer["error"] == "bad_request" and answer["field"] == field
    vi, en = answer["message"].split(" / ", 1)
    assert "không hợp lệ" in vi or "JSON" in vi
    assert en
    assert tickets(app) == 0


@pytest.mark.parametrize("raw", [b"{", b"[" * 5000 + b"]" * 5000, b"\xff\xfe{}"])
def test_a_press_body_that_is_not_json_is_a_400(kiosk, raw):
    app, web = kiosk
    r = requests.post(web.url + "/api/press", data=raw[:4096], timeout=10,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "body"
    assert tickets(app) == 0


def test_an_empty_or_oversized_body_is_a_400(kiosk):
    app, web = kiosk
    assert requests.post(web.url + "/api/press", data=b"", timeout=10).status_code == 400
    r = requests.post(web.url + "/api/press", data=b"x" * 5000, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "body"
    assert tickets(app) == 0


def test_a_good_press_body_reaches_the_kiosk(kiosk):
    app, web = kiosk
    r = requests.post(web.url + "/api/press", json={"button": "HT"}, timeout=35)
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] in ("issue", "refused")  # offline: a number from a block, or none yet


@pytest.mark.parametrize("button", ["ZZ", "9", "ht", "PP"])
def test_a_press_of_a_button_the_kiosk_has_not_is_a_400_listing_its_buttons(kiosk, button):
    # it was a 200 {"verdict": "unknown"}: a script or a page with a stale list thought it pressed
    app, web = kiosk
    r = requests.post(web.url + "/api/press", json={"button": button}, timeout=10)
    assert r.status_code == 400, r.text
    answer = r.json()
    assert answer["field"] == "button"
    vi, en = answer["message"].split(" / ", 1)
    assert f"không có nút «{button}»" in vi and "HT" in vi and "P" in vi
    assert f"no button '{button}'" in en
    assert tickets(app) == 0


@pytest.mark.parametrize("button", ["1", "p"])
def test_a_key_or_the_priority_button_in_lower_case_is_a_press(kiosk, button):
    app, web = kiosk
    r = requests.post(web.url + "/api/press", json={"button": button}, timeout=35)
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] in ("issue", "refused", "priority_armed")


def test_qms_kiosk_press_of_a_wrong_button_says_what_the_kiosk_answered(kiosk, capsys):
    # `qms-kiosk press` printed "cannot reach the kiosk ... HTTP Error 400" for a kiosk it had reached
    from kiosk.cli import _press
    app, web = kiosk
    port = int(web.url.rsplit(":", 1)[1])
    config = app.config.model_copy(update={"web": app.config.web.model_copy(update={"port": port, "enabled": True})})
    assert _press(config, "ZZ") == 2
    err = capsys.readouterr().err
    assert "refused (400)" in err and "không có nút «ZZ»" in err and "cannot reach" not in err
    assert tickets(app) == 0


def test_a_page_closed_during_its_long_poll_leaves_no_traceback(kiosk, capfd):
    # a browser tab closed mid-poll printed a BrokenPipeError traceback into the kiosk's log
    import socket
    app, web = kiosk
    host, port = web.url.removeprefix("http://").rsplit(":", 1)
    version = requests.get(web.url + "/api/state", timeout=10).json()["version"]
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    s.sendall(f"GET /api/state?after={version} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    s.close()
    changed = app.screen.update(outbox=7).version  # the poll now answers a socket that is gone
    # the kiosk still answers the next poll (the worker may have counted the outbox again since:
    # only the version is ours to wait for)
    assert requests.get(web.url + f"/api/state?after={changed - 1}", timeout=15).json()["version"] >= changed
    web.httpd.shutdown()  # every handler thread has finished writing
    assert "Traceback" not in capfd.readouterr().err
