"""What the citizen and the clerk see of an offline hand-over, in Chromium against a real
server: the QR page of a ticket printed offline says it is valid before the kiosk hands it over
and switches by itself when it arrives; a refused hand-over is on the clerk's console and the
director's dashboard with the printed number, until someone marks it dealt with."""
from __future__ import annotations

import time

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import DESK, PHONE, browser, new_page, sign_in  # noqa: F401  (fixture)
from tests.live_server import LiveServer

T = 10_000  # ms


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("handover")) as server:
        server.tokens = {
            "kiosk": server.add_device("kiosk-hall", "kiosk", site="main"),
            "clerk": server.add_user("lan.nguyen", "clerk", name="Nguyễn Thị Lan"),
            "director": server.add_user("giamdoc", "director", name="Lê Thị Hồng"),
        }
        yield server


def _post(srv, path: str, who: str, json: dict | None = None) -> requests.Response:
    return requests.post(srv.url + "/api/v1" + path, json=json, headers=srv.bearer(srv.tokens[who]), timeout=10)


def test_offline_qr_page_is_valid_before_arrival_and_updates_by_itself(browser, srv):  # noqa: F811
    block = _post(srv, "/kiosk/blocks", "kiosk", {"service": "HT", "size": 2}).json()
    phone = new_page(browser, PHONE)
    phone.goto(f"{srv.url}/s/{block['tokens'][0]}")  # the QR printed on the offline ticket
    expect(phone.locator("#code")).to_have_text("HT-901")
    expect(phone.locator("#state")).to_contain_text("Phiếu hợp lệ", timeout=T)
    assert phone.locator("#figures").is_hidden()
    # the kiosk's link comes back: it hands the ticket over; the page follows without a reload
    r = _post(srv, "/kiosk/offline-tickets", "kiosk", {"client_ref": "offline-browser-0001", "service": "HT",
                                                       "number": block["first"], "day": block["day"],
                                                       "issued_at": time.time()})
    assert r.status_code == 201, r.text
    expect(phone.locator("#state")).to_contain_text("Đang chờ", timeout=T)
    expect(phone.locator("#figures")).to_be_visible()
    phone.context.close()


def test_a_refused_hand_over_shows_on_console_and_dashboard_until_resolved(browser, srv):  # noqa: F811
    block = _post(srv, "/kiosk/blocks", "kiosk", {"service": "HT", "size": 2}).json()
    code = f"HT-{block['last'] + 40:03d}"
    r = _post(srv, "/kiosk/offline-tickets", "kiosk", {"client_ref": "offline-browser-0002", "service": "HT",
                                                       "number": block["last"] + 40, "day": block["day"],
                                                       "issued_at": time.time()})
    assert r.status_code == 403
    console = new_page(browser, DESK)
    console.goto(srv.url + "/console")
    sign_in(console, "lan.nguyen")
    console.click(".pick[data-counter='4']", timeout=T)
    item = console.locator(f"#handover li[data-code='{code}']")
    expect(item).to_be_visible(timeout=T)
    expect(item).to_contain_text("không đưa được vào hàng")
    dashboard = new_page(browser, DESK)
    dashboard.goto(srv.url + "/dashboard")
    sign_in(dashboard, "giamdoc")
    alert = dashboard.locator("#alerts li[data-kind='handover_refused']")
    expect(alert).to_contain_text(code, timeout=T)
    item.locator("button").click()  # the clerk served the citizen holding that paper
    expect(console.locator("#handover-section")).to_be_hidden(timeout=T)
    expect(alert).to_have_count(0, timeout=T)
    console.context.close()
    dashboard.context.close()
