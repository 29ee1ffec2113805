"""The wall display read from across the hall, in Chromium: portrait and landscape keep every
ticket number on one line, secondary text is large enough for 5 m, and recalls do not push
new calls off the "Vừa gọi" list."""
from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from server.realtime_push import PERIODIC_S

from tests.browser import WALL, browser, sign_in, new_page  # noqa: F401  (fixture)
from tests.live_server import LiveServer

T = 10_000  # ms
PORTRAIT = {"width": 1080, "height": 1920}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("display")) as server:
        server.tokens = {"display": server.add_device("display-hall", "display", site="main"),
                         "kiosk": server.add_device("kiosk-hall", "kiosk", site="main"),
                         "clerk": server.add_user("lan.nguyen", "clerk"),
                         "clerk2": server.add_user("minh.tran", "clerk"),
                         "director": server.add_user("giam.doc", "director")}
        for number, who in ((5, "clerk"), (6, "clerk2")):
            r = requests.post(server.url + f"/api/v1/counters/{number}/sign-in", json={},
                              headers=server.bearer(server.tokens[who]), timeout=10)
            r.raise_for_status()
        yield server


def post(srv, path, who, json=None) -> dict:
    r = requests.post(srv.url + "/api/v1" + path, json=json, headers=srv.bearer(srv.tokens[who]), timeout=10)
    assert r.ok, r.text
    return r.json()


def open_display(browser, srv, viewport):  # noqa: F811
    page = new_page(browser, viewport)
    page.goto(f"{srv.url}/display?token={srv.tokens['display']}")
    page.wait_for_selector(".card[data-counter='5']", timeout=T)
    return page


def one_line(page, selector: str) -> bool:
    """The text's line boxes: one rectangle when the number stands on one line. The screen redraws
    every second, so the check runs on whatever element is there, until it holds or time is up."""
    try:
        page.wait_for_function("(sel) => { const n = document.querySelector(sel); if (!n) return false; "
                               "const r = document.createRange(); r.selectNodeContents(n); "
                               "return r.getClientRects().length === 1; }", arg=selector, timeout=3_000)
        return True
    except Exception:
        return False


@pytest.mark.parametrize("viewport", [PORTRAIT, WALL], ids=["portrait", "landscape"])
def test_numbers_never_break_and_secondary_text_is_large(browser, srv, viewport):  # noqa: F811
    page = open_display(browser, srv, viewport)
    post(srv, "/tickets", "kiosk", {"service": "DD"})
    called = post(srv, "/counters/6/call-next", "clerk2", {})["ticket"]
    try:
        _check_sizes(page, called)
    finally:  # the counter is free again for the next test, whatever happened
        post(srv, f"/tickets/{called['id']}/start", "clerk2", {"counter": 6})
        post(srv, f"/tickets/{called['id']}/finish", "clerk2", {"counter": 6})
        page.context.close()


def _check_sizes(page, called):
    banner_code = page.locator("#banner .code")
    expect(banner_code).to_have_text(called["code"], timeout=T)
    assert one_line(page, "#banner .code")
    assert one_line(page, ".card[data-counter='6'] .card-number")
    smallest = page.evaluate("""() => Math.min(...[...document.querySelectorAll('.display .en, .card-note, .bottom')]
        .filter((n) => n.offsetParent && n.textContent.trim())
        .map((n) => parseFloat(getComputedStyle(n).fontSize)))""")
    assert smallest >= 24, f"secondary text of {smallest}px cannot be read from 5 m"


def test_recalls_do_not_push_new_calls_off_the_list(browser, srv):  # noqa: F811
    page = open_display(browser, srv, WALL)
    codes = []
    for _ in range(3):
        post(srv, "/tickets", "kiosk", {"service": "DD"})
        t = post(srv, "/counters/6/call-next", "clerk2", {})["ticket"]
        codes.append(t["code"])
        post(srv, f"/tickets/{t['id']}/start", "clerk2", {"counter": 6})
        post(srv, f"/tickets/{t['id']}/finish", "clerk2", {"counter": 6})
    post(srv, "/tickets", "kiosk", {"service": "XD"})
    held = post(srv, "/counters/5/call-next", "clerk", {})["ticket"]
    for _ in range(6):  # the citizen at counter 5 does not come: recalled again and again
        post(srv, f"/tickets/{held['id']}/recall", "clerk", {"counter": 5})
    expect(page.locator(f"#calls li[data-code='{held['code']}']")).to_have_count(1, timeout=T)
    for code in codes:
        expect(page.locator(f"#calls li[data-code='{code}']")).to_have_count(1)
    expect(page.locator(f"#calls li[data-code='{held['code']}'] .recall")).to_be_visible()
    page.context.close()


def test_a_new_screen_is_paired_from_the_dashboard_by_its_code(browser, srv):  # noqa: F811
    screen = new_page(browser, WALL)
    screen.goto(f"{srv.url}/display")
    code = screen.locator("#pairing-code")
    expect(code).to_have_text(re.compile(r"^\d{3} \d{3}$"), timeout=T)
    assert "Bảng điều hành" in screen.locator("#pairing").inner_text()  # it says where the code goes
    dashboard = new_page(browser, {"width": 1440, "height": 900})
    srv.add_user("giamdoc", "director")
    dashboard.goto(srv.url + "/dashboard")
    sign_in(dashboard, "giamdoc")
    dashboard.fill("#pair-code", code.inner_text())
    dashboard.fill("#pair-name", "Sảnh chờ tầng 1")
    dashboard.click("#pair-form button[type=submit]")
    expect(dashboard.locator("#pair-result")).to_contain_text("Đã ghép nối", timeout=T)
    expect(screen.locator("#pairing")).to_be_hidden(timeout=T)  # the screen took its token by itself
    expect(screen.locator(".card[data-counter='5']")).to_be_visible(timeout=T)
    expect(screen.locator("#link")).to_have_text("● Trực tuyến", timeout=T)
    screen.reload()  # and keeps it
    expect(screen.locator(".card[data-counter='5']")).to_be_visible(timeout=T)
    assert screen.locator("#pairing").is_hidden()
    screen.context.close()
    dashboard.context.close()


def test_each_service_shows_the_wait_as_a_range(browser, srv):  # noqa: F811
    """A citizen reads the wait of a ticket taken now as the ticket prints it, "khoảng 10–15 phút",
    never a bare "~N" minutes."""
    page = open_display(browser, srv, WALL)
    issued = [post(srv, "/tickets", "kiosk", {"service": "DD"}) for _ in range(4)]
    try:
        def stats():
            r = requests.get(srv.url + "/api/v1/services/stats", headers=srv.bearer(srv.tokens["display"]), timeout=10)
            r.raise_for_status()
            return next(s for s in r.json()["services"] if s["service"] == "DD")

        dd = stats()
        assert dd["waiting"] == 4  # (the server's real clock: after hours the range may be "dưới 5 phút")
        row = page.locator(".svc[data-service='DD']")
        expect(row.locator(".waiting-count")).to_have_text("4", timeout=T)
        # the page may hold "10–15" together with word joiners (U+2060) in a narrow column
        joined = lambda text: re.compile(re.escape(text).replace("–", "\u2060?–\u2060?"))  # noqa: E731
        # the server's answer now and the page's last push are each of their own moment (the
        # estimate of a ticket taken now moves with the clock: the services in hand run on, a
        # range's end can pass a 5-minute step between two readings seconds apart); the page is
        # pushed again at least every PERIODIC_S, so within that it shows what the server says
        deadline = time.monotonic() + PERIODIC_S + T / 1000
        while True:
            try:
                expect(row.locator(".est .vi")).to_have_text(joined(dd["estimated_wait_text"]), timeout=T)
                expect(row.locator(".est .en")).to_have_text(joined(dd["estimated_wait_text_en"]), timeout=2000)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                dd = stats()
        assert re.fullmatch(r"(khoảng \d+–\d+|dưới \d+|hơn \d+) phút|hơn 2 giờ",
                            row.locator(".est .vi").inner_text().replace("\u2060", ""))
        assert "~" not in row.inner_text()
    finally:  # nobody left waiting for the next test
        for t in issued:
            called = post(srv, "/counters/6/call-next", "clerk2", {})["ticket"]
            post(srv, f"/tickets/{called['id']}/start", "clerk2", {"counter": 6})
            post(srv, f"/tickets/{called['id']}/finish", "clerk2", {"counter": 6})
        page.context.close()


LAYOUT = """() => {
  const box = (n) => n.getBoundingClientRect();
  const apart = (a, b) => a.bottom <= b.top + 1 || b.bottom <= a.top + 1 || a.right <= b.left + 1 || b.right <= a.left + 1;
  const inside = (a, b) => a.top >= b.top - 1 && a.bottom <= b.bottom + 1 && a.left >= b.left - 1 && a.right <= b.right + 1;
  const text = (n) => { const r = document.createRange(); r.selectNodeContents(n); return r.getBoundingClientRect(); };
  const out = [];
  for (const card of document.querySelectorAll('.card')) {
    const c = box(card), label = text(card.querySelector('.card-label .vi')),
          num = text(card.querySelector('.card-number')), note = text(card.querySelector('.card-note'));
    if (!apart(label, num)) out.push(`counter ${card.dataset.counter}: its label overlaps its number`);
    if (!apart(num, note)) out.push(`counter ${card.dataset.counter}: its number overlaps its state`);
    if (!inside(num, c) || !inside(label, c)) out.push(`counter ${card.dataset.counter}: cut off by its card`);
    // at least the size of the "Vừa gọi" list (2.4rem), which is read from across the hall
    const size = parseFloat(getComputedStyle(card.querySelector('.card-number')).fontSize);
    const list = 2.4 * parseFloat(getComputedStyle(document.documentElement).fontSize);
    if (size < list - 0.5) out.push(`counter ${card.dataset.counter}: number of ${size}px, under the list's ${list}px`);
  }
  for (const svc of document.querySelectorAll('.svc')) {
    if (svc.scrollHeight > svc.clientHeight + 1) out.push(`service ${svc.dataset.service}: text cut off`);
    const est = text(svc.querySelector('.est .vi'));
    if (!inside(est, box(svc))) out.push(`service ${svc.dataset.service}: its wait is outside its box`);
  }
  return out;
}"""


@pytest.mark.parametrize("viewport", [WALL, PORTRAIT], ids=["landscape", "portrait"])
def test_nine_counters_and_seven_waits_fit_without_overlap(browser, srv, viewport):  # noqa: F811
    """The reference hall at 1920x1080 (and portrait): nine counters, a wait range for each of the
    seven services; no counter's label covers its number, every number is readable from across the
    hall, and no service's wait is cut off. A busy hall: six waiting in every service (two-line wait
    ranges, which in portrait once left the numbers at 30 px) and six calls in "Vừa gọi"."""
    page = open_display(browser, srv, viewport)
    snap = requests.get(srv.url + "/api/v1/snapshot", headers=srv.bearer(srv.tokens["display"]), timeout=10).json()
    codes = [s["service"] for s in snap["services"]]
    assert len(codes) == 7
    issued = [post(srv, "/tickets", "kiosk", {"service": code}) for code in codes for _ in range(6)]
    called = None
    try:
        for _ in range(5):  # served at counter 6 (its six DD): "Vừa gọi" fills
            called = post(srv, "/counters/6/call-next", "clerk2", {})["ticket"]
            post(srv, f"/tickets/{called['id']}/start", "clerk2", {"counter": 6})
            post(srv, f"/tickets/{called['id']}/finish", "clerk2", {"counter": 6})
        called = post(srv, "/counters/6/call-next", "clerk2", {})["ticket"]
        page.wait_for_function("document.querySelectorAll('.calls li:not(.empty)').length >= 6", timeout=T)
        expect(page.locator(".card[data-counter='6'] .card-number")).to_have_text(called["code"], timeout=T)
        expect(page.locator(".svc")).to_have_count(len(codes), timeout=T)
        expect(page.locator(".card")).to_have_count(9)
        try:  # the screen redraws every second: wait for a layout that holds, then say what does not
            page.wait_for_function(f"({LAYOUT})().length === 0", timeout=3_000)
        except Exception:
            pass
        assert page.evaluate(LAYOUT) == []
    finally:  # nobody left waiting, counter 6 free, for the next test
        if called:
            post(srv, f"/tickets/{called['id']}/start", "clerk2", {"counter": 6})
            post(srv, f"/tickets/{called['id']}/finish", "clerk2", {"counter": 6})
        for t in issued:
            ticket = requests.get(srv.url + f"/api/v1/tickets/{t['id']}", headers=srv.bearer(srv.tokens["director"]),
                                  timeout=10).json()
            if ticket.get("state") == "waiting":
                post(srv, f"/tickets/{t['id']}/cancel", "director", {})
        page.context.close()


@pytest.mark.parametrize("at, closed", [("2026-12-02T06:00", True), ("2026-12-06T10:00", True),
                                        ("2026-12-02T09:30", False)], ids=["before-opening", "sunday", "open"])
def test_outside_the_ticket_hours_the_banner_does_not_invite_to_take_a_number(browser, tmp_path, at, closed):  # noqa: F811
    """Before 07:30 (or on a Sunday) the kiosk refuses every ticket, and the idle banner said
    "Xin vui lòng lấy số thứ tự": it now gives the hours instead."""
    from tests.live_server import write_center
    state = tmp_path / "hours"
    state.mkdir()
    center = write_center(state / "center.toml", enforce_hours=True)
    with LiveServer(state, center_file=center, serve_args=("--bench-clock-start", at)) as server:
        token = server.add_device("display-hall", "display", site="main")
        page = new_page(browser, WALL)
        page.goto(f"{server.url}/display?token={token}")
        page.wait_for_selector(".card[data-counter='5']", timeout=T)
        banner = page.locator("#banner")
        if closed:
            expect(banner).to_contain_text("Trung tâm ngoài giờ cấp số. Giờ cấp số: 07:30–17:00, thứ Hai đến thứ Sáu",
                                           timeout=T)
            expect(banner).to_contain_text("Tickets are issued 07:30–17:00, Monday to Friday")
        else:
            expect(banner).to_contain_text("Xin vui lòng lấy số thứ tự", timeout=T)
        assert page.errors == []
        page.context.close()
