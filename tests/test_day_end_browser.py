"""The director ends the working day from the dashboard in Chromium against a real server: the
confirmation names how many citizens still wait, one click ends it, and a citizen's open status
page says, without a reload, that the center has ended its day and when to come back. Every wait
is on a selector."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import DESK, PHONE, browser, new_page, sign_in  # noqa: F401  (fixture)
from tests.live_server import LiveServer

T = 15_000


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    # the bundled ward with its hours not enforced (the suite runs at any hour): the day ends only by
    # the director's hand, with no "before closes" to force
    with LiveServer(tmp_path_factory.mktemp("dayend")) as server:
        server.tokens = {"kiosk": server.add_device("kiosk-hall", "kiosk", site="main"),
                         "bot4": server.add_user("bot4", "clerk", name="Phạm Văn Tư"),
                         "director": server.add_user("giamdoc", "director", name="Lê Thị Hồng")}
        yield server


def _shot(target, name):
    """docs/screens/ (with QMS_SCREENS_DIR set, as tests/test_pages_browser.py's screenshots)."""
    if os.environ.get("QMS_SCREENS_DIR"):
        target.screenshot(path=str(Path(os.environ["QMS_SCREENS_DIR"]) / name))


def _post(srv, path, who, json=None):
    r = requests.post(srv.url + "/api/v1" + path, json=json, headers=srv.bearer(srv.tokens[who]), timeout=10)
    assert r.ok, r.text
    return r.json()


def test_the_director_ends_the_day_and_the_citizen_is_told(browser, srv):  # noqa: F811
    tickets = [_post(srv, "/tickets", "kiosk", {"service": "HT"}) for _ in range(2)]
    phone = new_page(browser, PHONE)
    phone.goto(tickets[0]["status_url"])
    expect(phone.locator("#state")).to_contain_text("Đang chờ đến lượt", timeout=T)
    _post(srv, "/counters/4/sign-in", "bot4")                  # a clerk who forgot to sign out

    dash = new_page(browser, DESK)
    dash.goto(srv.url + "/dashboard")
    sign_in(dash, "giamdoc")
    expect(dash.locator("#day-end-summary")).to_contain_text("2 công dân đang chờ", timeout=T)
    dash.click("#day-end-open")
    dialog = dash.locator("#day-end-dialog")
    expect(dialog).to_be_visible(timeout=T)
    expect(dialog.locator("#day-end-count")).to_contain_text("2 công dân còn chờ sẽ được báo")
    expect(dialog.locator("#day-end-blockers")).to_contain_text("Quầy 4: Phạm Văn Tư còn đăng nhập")
    expect(dialog.locator("#day-end-confirm")).to_be_disabled()   # a clerk is signed in: confirm anyway first
    dash.check("#day-end-force")
    _shot(dialog, "dashboard-day-end.png")
    dash.click("#day-end-confirm")
    expect(dash.locator("#day-end-result")).to_contain_text("Đã kết thúc ngày làm việc: 2 vé", timeout=T)
    expect(dash.locator("#day-end-summary")).to_contain_text("0 công dân đang chờ", timeout=T)

    expect(phone.locator("#state")).to_contain_text("Trung tâm đã kết thúc ngày làm việc", timeout=T)
    expect(phone.locator("#guide")).to_contain_text("quay lại vào ngày làm việc tiếp theo")
    expect(phone.locator("#guide .en")).to_contain_text("come back on the next working day")
    assert phone.locator("#figures").is_hidden()
    _shot(phone, "status-day-ended.png")
    assert dash.errors == [] and phone.errors == []
    phone.context.close()
    dash.context.close()
