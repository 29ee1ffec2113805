"""The citizen's status page in Chromium: what to do in each state, in plain words, and an
apology with the new estimate when the 15-minute promise is already broken."""
from __future__ import annotations

import sqlite3

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import PHONE, browser, new_page  # noqa: F401  (fixture)
from tests.live_server import LiveServer

T = 10_000  # ms


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("status")) as server:
        server.tokens = {"kiosk": server.add_device("kiosk-hall", "kiosk", site="main"),
                         "clerk": server.add_user("lan.nguyen", "clerk")}
        yield server


def issue(srv, service="HT") -> dict:
    r = requests.post(srv.url + "/api/v1/tickets", json={"service": service},
                      headers=srv.bearer(srv.tokens["kiosk"]), timeout=10)
    r.raise_for_status()
    return r.json()


def test_waiting_page_says_what_to_do_when_called_or_missed(browser, srv):  # noqa: F811
    t = issue(srv)
    page = new_page(browser, PHONE)
    page.goto(t["status_url"])
    guide = page.locator("#guide")
    expect(guide).to_contain_text("mang phiếu đến đúng quầy", timeout=T)
    expect(guide).to_contain_text("gọi lại")
    expect(guide).to_contain_text("xếp lại hàng")
    assert page.locator("#sorry").is_hidden()
    assert "quý khách" not in page.content()
    page.context.close()


def test_a_broken_promise_is_apologised_for_with_the_new_estimate(browser, srv):  # noqa: F811
    t = issue(srv, "DD")
    # this citizen took the ticket 17 minutes ago and is still waiting
    db = sqlite3.connect(srv.state_dir / "qms.db")
    db.execute("UPDATE tickets SET wait_from = wait_from - 1020, issued_at = issued_at - 1020, "
               "queue_key = queue_key - 1020 WHERE id = ?", (t["id"],))
    db.commit()
    db.close()
    page = new_page(browser, PHONE)
    page.goto(t["status_url"])
    sorry = page.locator("#sorry")
    expect(sorry).to_be_visible(timeout=T)
    expect(sorry).to_contain_text("Xin lỗi")
    expect(sorry).to_contain_text("17 phút")
    expect(sorry).to_contain_text("đã được báo")
    vi = sorry.locator(".vi").inner_text()
    assert "Xin lỗi ông/bà: ông/bà đã chờ" in vi and "bạn" not in vi  # one form of address
    assert "Dự kiến còn khoảng" in sorry.inner_text() or "Sắp đến lượt" in sorry.inner_text()
    assert page.errors == []
    page.context.close()


NARROW = {"width": 320, "height": 640}  # the smallest phones still in use


@pytest.mark.parametrize("viewport", [PHONE, NARROW], ids=["390px", "320px"])
def test_the_wait_in_words_fits_the_phone(browser, srv, viewport):  # noqa: F811
    """The estimate is words ("khoảng 10–40 phút", or "may not be served today" while no counter is
    open): the page never scrolls sideways and both figures stay inside their boxes."""
    for _ in range(3):
        issue(srv, "XH")
    t = issue(srv, "XH")
    page = new_page(browser, viewport)
    page.goto(t["status_url"])
    expect(page.locator("#estimate")).not_to_be_empty(timeout=T)
    sideways = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert sideways <= 0, f"the page scrolls {sideways}px sideways"
    outside = page.evaluate("""() => [...document.querySelectorAll('#figures > div')].filter((box) => {
        const b = box.getBoundingClientRect(), r = document.createRange(); r.selectNodeContents(box.querySelector('dd'));
        const t = r.getBoundingClientRect();
        return t.left < b.left - 1 || t.right > b.right + 1; }).map((box) => box.querySelector('dd').id)""")
    assert outside == []
    page.context.close()


def test_the_counter_word_and_its_number_stay_on_one_line(browser, srv):  # noqa: F811
    """"Đang được phục vụ tại quầy 6" broke as "… tại quầy" / "6" on a 390 px phone."""
    t = issue(srv, "CT")
    clerk = srv.bearer(srv.tokens["clerk"])
    requests.post(srv.url + "/api/v1/counters/1/sign-in", headers=clerk, timeout=10).raise_for_status()
    called = requests.post(srv.url + "/api/v1/counters/1/call-next", headers=clerk, timeout=10).json()["ticket"]
    assert called["id"] == t["id"]
    requests.post(srv.url + f"/api/v1/tickets/{t['id']}/start", json={"counter": 1}, headers=clerk,
                  timeout=10).raise_for_status()
    page = new_page(browser, PHONE)
    page.goto(t["status_url"])
    expect(page.locator("#state")).to_contain_text("Đang được phục vụ tại quầy", timeout=T)
    tops = page.evaluate("""() => { const r = document.createRange(); r.selectNodeContents(document.querySelector('#state .vi'));
        return [...new Set([...r.getClientRects()].map((x) => Math.round(x.top)))]; }""")
    word = page.evaluate("""() => { const r = document.createRange(), vi = document.querySelector('#state .vi');
        const text = [...vi.childNodes].find((n) => n.nodeType === 3 && n.textContent.includes('quầy')) ||
                     vi.querySelector('.at-counter').firstChild;
        const i = text.textContent.lastIndexOf('quầy'); r.setStart(text, i); r.setEnd(text, i + 4);
        return Math.round(r.getBoundingClientRect().bottom); }""")
    number = page.evaluate("() => Math.round(document.querySelector('#counter').getBoundingClientRect().bottom)")
    assert abs(word - number) <= 4, (tops, word, number)
    page.context.close()
