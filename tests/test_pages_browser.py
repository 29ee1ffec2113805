"""The live screens in Chromium against a real server: a clerk's call reaches the wall
display and the citizen's phone; simultaneous calls all show, in order; the display recovers
from a server restart without a reload; Vietnamese renders without tofu.

One server and one browser for the module; every wait is on a selector or an event.
Set QMS_SCREENS_DIR to also write the documentation screenshots there.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import DESK, PHONE, WALL, browser, sign_in, new_page  # noqa: F401  (fixture)
from tests.live_server import LiveServer

T = 10_000  # ms: the give-up time of every wait
# the advice on an alert is made in the background (75 minutes played forward, yielding to
# requests): with another test file running beside this one on two cores it took over 10 s once
ADVICE_T = 40_000
VIETNAMESE = "Mời công dân số HT-042 đến quầy. Hộ tịch, Chứng thực, Đất đai, Bảo trợ xã hội — ạảãàáâầấậẩẫăằắặẳẵêềếệểễôồốộổỗơờớợởỡưừứựửữỳýỵỷỹđĐ"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("pages")) as server:
        server.tokens = {
            "display": server.add_device("display-hall", "display", site="main"),
            "kiosk": server.add_device("kiosk-hall", "kiosk", site="main"),
            "clerk": server.add_user("lan.nguyen", "clerk", name="Nguyễn Thị Lan"),
            "clerk2": server.add_user("minh.tran", "clerk", name="Trần Văn Minh"),
            "director": server.add_user("giamdoc", "director", name="Lê Thị Hồng"),
        }
        yield server


@pytest.fixture(scope="module")
def display(browser, srv):  # noqa: F811
    page = new_page(browser, WALL)
    page.goto(f"{srv.url}/display?token={srv.tokens['display']}")
    page.wait_for_selector(".card[data-counter='1']", timeout=T)
    assert "token=" not in page.url  # the pairing token is kept, not left in the address bar
    yield page
    page.context.close()


def _issue(srv, service: str) -> dict:
    r = requests.post(srv.url + "/api/v1/tickets", json={"service": service},
                      headers=srv.bearer(srv.tokens["kiosk"]), timeout=10)
    r.raise_for_status()
    return r.json()


def _post(srv, path: str, who: str, json: dict | None = None) -> dict:
    r = requests.post(srv.url + "/api/v1" + path, json=json, headers=srv.bearer(srv.tokens[who]), timeout=10)
    assert r.ok, r.text
    return r.json()


def _card(page, counter: int, code: str):
    return page.locator(f".card[data-counter='{counter}'] .card-number[data-code='{code}']")


def test_clerk_call_reaches_the_display_and_the_phone(browser, srv, display):  # noqa: F811
    ticket = _issue(srv, "HT")
    phone = new_page(browser, PHONE)
    phone.goto(ticket["status_url"])
    expect(phone.locator("#code")).to_have_text(ticket["code"])
    expect(phone.locator("#state")).to_contain_text("Đang chờ", timeout=T)
    # the estimate in words, as on the ticket: a range ("khoảng 10–15 phút", "dưới 5 phút"), or, with
    # no counter open for HT yet, "may not be served today" rather than a made-up range
    expect(phone.locator("#estimate")).to_contain_text(re.compile(r"^((dưới|khoảng|hơn) \d|Có thể không kịp)"))

    console = new_page(browser, DESK)
    console.goto(srv.url + "/console")
    sign_in(console, "lan.nguyen")
    console.click(".pick[data-counter='3']", timeout=T)
    expect(console.locator("#work")).to_be_visible(timeout=T)
    expect(console.locator("button[data-action='call-next'] kbd")).to_have_text("N")
    expect(console.locator("button[data-action='call-next']")).to_be_enabled(timeout=T)
    console.keyboard.press("n")  # the shortcut

    expect(console.locator("#in-hand")).to_have_attribute("data-code", ticket["code"], timeout=T)
    expect(_card(display, 3, ticket["code"])).to_be_visible(timeout=T)
    expect(display.locator(".card[data-counter='3']")).to_have_class(
        re.compile(r"\bflash\b"))  # it stands out
    expect(display.locator("#banner")).to_contain_text(f"Mời công dân số {ticket['code']} đến Quầy 3")
    expect(phone.locator("#state")).to_contain_text("Mời đến quầy 3", timeout=T)
    expect(phone.locator("#counter")).to_have_text("3")

    console.keyboard.press("f")  # finish is disabled while the ticket is only called: nothing happens
    # the call shows (live update) before its answer; Start is enabled once the page has it
    expect(console.locator("button[data-action='start']")).to_be_enabled(timeout=T)
    console.keyboard.press("s")  # start
    expect(console.locator(".ticket-state")).to_contain_text("Đang phục vụ", timeout=T)
    expect(phone.locator("#state")).to_contain_text("Đang được phục vụ", timeout=T)
    _post(srv, f"/tickets/{ticket['id']}/finish", "clerk", {"counter": 3})  # behind the console's back
    expect(console.locator("#in-hand")).to_have_attribute("data-code", "", timeout=T)
    expect(phone.locator("#state")).to_contain_text("Đã hoàn thành", timeout=T)
    expect(console.locator("button[data-action='sign-out']")).to_be_enabled(timeout=T)
    console.keyboard.press("q")  # close the counter
    expect(console.locator("#pick")).to_be_visible(timeout=T)
    assert not console.errors and not phone.errors and not display.errors
    console.context.close()
    phone.context.close()


def test_clerk_transfers_a_ticket_and_reprints_a_failed_one(browser, srv):  # noqa: F811
    moving = _issue(srv, "CT")
    unprinted = _issue(srv, "HT")
    requests.post(f"{srv.url}/api/v1/tickets/{unprinted['id']}/print-result",
                  json={"printed": False, "fault": "no_paper"}, headers=srv.bearer(srv.tokens["kiosk"]),
                  timeout=10).raise_for_status()

    console = new_page(browser, DESK)
    console.goto(srv.url + "/console")
    sign_in(console, "minh.tran")
    console.click(".pick[data-counter='2']", timeout=T)  # counter 2 serves CT, then HT
    expect(console.locator("#work")).to_be_visible(timeout=T)  # (its buttons exist while hidden)
    expect(console.locator("button[data-action='call-next']")).to_be_enabled(timeout=T)
    console.keyboard.press("n")
    expect(console.locator("#in-hand")).to_have_attribute("data-code", moving["code"], timeout=T)
    expect(console.locator("button[data-action='transfer']")).to_be_enabled(timeout=T)  # the call answered

    console.keyboard.press("t")  # transfer: the citizen needs Hộ tịch, at counter 4
    expect(console.locator("#transfer-dialog")).to_be_visible(timeout=T)
    expect(console.locator("#transfer-code")).to_have_text(moving["code"])
    console.select_option("#transfer-service", "HT")
    console.select_option("#transfer-counter", "4")
    console.click("#transfer-form button[type=submit]")
    expect(console.locator("#in-hand")).to_have_attribute("data-code", "", timeout=T)
    t = requests.get(f"{srv.url}/api/v1/tickets/{moving['id']}", headers=srv.bearer(srv.tokens["director"]),
                     timeout=10).json()
    assert (t["state"], t["service"], t["target_counter"]) == ("waiting", "HT", 4)

    # the kiosk's failed print of a ticket this counter serves is listed; "In lại" asks the
    # kiosk to print it again
    item = console.locator("#unprinted li", has_text=unprinted["code"])
    expect(item).to_be_visible(timeout=T)
    item.get_by_role("button").click()  # (disabled until the transfer is answered: the click waits)
    expect(console.locator("body")).to_contain_text("Đã gửi lệnh in lại", timeout=T)
    events = requests.get(f"{srv.url}/api/v1/events", params={"after": 0, "limit": 5000},
                          headers=srv.bearer(srv.tokens["director"]), timeout=10).json()["events"]
    assert any(e["type"] == "ticket_reprint_requested" and e["ticket_id"] == unprinted["id"]
               and e["device"] == "kiosk-hall" and e["actor"] == "minh.tran" for e in events)
    console.keyboard.press("q")
    expect(console.locator("#pick")).to_be_visible(timeout=T)
    assert not console.errors
    console.context.close()


def test_console_shows_api_errors_in_vietnamese(browser, srv):  # noqa: F811
    console = new_page(browser, DESK)
    console.goto(srv.url + "/console")
    sign_in(console, "minh.tran", "sai-mat-khau")
    expect(console.locator("#error-vi")).to_have_text("Sai tên đăng nhập hoặc mật khẩu", timeout=T)
    expect(console.locator("#error-en")).to_contain_text("wrong username or password")
    console.context.close()


def test_simultaneous_calls_all_appear_in_order(srv, display):
    for _ in range(2):
        _issue(srv, "CT")
        _issue(srv, "HT")
    _post(srv, "/counters/1/sign-in", "clerk2")
    _post(srv, "/counters/4/sign-in", "director")
    barrier = threading.Barrier(2)
    called: dict[int, dict] = {}

    def call(counter: int, who: str) -> None:
        barrier.wait()
        called[counter] = _post(srv, f"/counters/{counter}/call-next", who)["ticket"]

    threads = [threading.Thread(target=call, args=(1, "clerk2")), threading.Thread(target=call, args=(4, "director"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(20)
    codes = {called[1]["code"], called[4]["code"]}
    events = requests.get(srv.url + "/api/v1/events?after=0&limit=5000", headers=srv.bearer(srv.tokens["director"]),
                          timeout=10).json()["events"]
    calls = [e for e in events if e["type"] == "ticket_call" and e["data"]["code"] in codes and e["counter"] in (1, 4)]
    order = [e["data"]["code"] for e in sorted(calls, key=lambda e: -e["seq"])]  # newest first, as listed

    for counter in (1, 4):
        expect(_card(display, counter, called[counter]["code"])).to_be_visible(timeout=T)
    top = display.locator("#calls li").first
    expect(top).to_have_attribute("data-code", order[0], timeout=T)
    listed = display.locator("#calls li").evaluate_all("els => els.slice(0, 2).map(e => e.dataset.code)")
    assert listed == order
    # both were highlighted, none dropped: both rows flash and both went through the banner queue
    flashing = display.evaluate("() => [...window.qmsDisplay.model.flashUntil.keys()]")
    assert {e["seq"] for e in calls} <= set(flashing)
    in_banner = display.evaluate("() => { const b = window.qmsDisplay.banner; "
                                 "return [b.current && b.current.seq, ...b.queue.map(c => c.seq)]; }")
    assert {e["seq"] for e in calls} <= set(in_banner)  # shown now or queued, in order


def test_display_recovers_after_a_server_restart_without_reload(srv, display):
    display.evaluate("() => { window.notReloaded = true; }")
    srv.restart()  # same database: seq continues
    ticket = _issue(srv, "DD")
    _post(srv, "/counters/5/sign-in", "clerk")
    called = _post(srv, "/counters/5/call-next", "clerk")["ticket"]
    assert called["code"] == ticket["code"]
    expect(_card(display, 5, ticket["code"])).to_be_visible(timeout=T)
    expect(display.locator("#link")).to_have_class(re.compile(r"\bok\b"), timeout=T)
    assert display.evaluate("() => window.notReloaded") is True
    assert not display.errors


def test_vietnamese_renders_with_the_served_font_no_tofu(browser, srv, tmp_path):  # noqa: F811
    page = new_page(browser, DESK)
    page.goto(srv.url + "/")
    page.evaluate("() => document.fonts.ready")
    faces = page.evaluate("() => [...document.fonts].filter(f => f.family.includes('QMS Sans')).map(f => f.status)")
    assert faces and all(s == "loaded" for s in faces), faces
    # every Vietnamese letter drawn in the served font differs from the font's missing-glyph box
    # (U+0378 is unassigned: nothing can draw it but .notdef) and is not blank
    bad = page.evaluate("""(text) => {
      const c = document.createElement('canvas'); c.width = 64; c.height = 64;
      const g = c.getContext('2d', { willReadFrequently: true });
      const draw = (ch) => { g.clearRect(0, 0, 64, 64); g.font = '40px "QMS Sans"'; g.fillStyle = '#000';
        g.fillText(ch, 8, 48); return Array.from(g.getImageData(0, 0, 64, 64).data).join(','); };
      const notdef = draw('\\u0378'), blank = (g.clearRect(0, 0, 64, 64), Array.from(g.getImageData(0, 0, 64, 64).data).join(','));
      return [...new Set(text.replace(/[\\s.,—-]/g, ''))].filter(ch => { const d = draw(ch); return d === notdef || d === blank; });
    }""", VIETNAMESE)
    assert bad == [], f"drawn as tofu or blank: {bad}"
    # and on screen: the same words with and without their marks render differently
    page.evaluate("""(text) => {
      document.body.innerHTML = '';
      for (const [id, t] of [['with', text], ['without', text.normalize('NFD').replace(/[\\u0300-\\u036f]/g, '').replace(/đ/g, 'd').replace(/Đ/g, 'D')]]) {
        const p = document.createElement('p'); p.id = id; p.textContent = t;
        p.style.cssText = 'font: 28px "QMS Sans"; margin: 20px; width: 1300px; line-height: 1.6; color: #000; background: #fff';
        document.body.append(p);
      }
    }""", VIETNAMESE)
    out = Path(os.environ.get("QMS_SCREENS_DIR") or tmp_path)
    with_marks = page.locator("#with").screenshot(path=str(out / "diacritics.png"))
    without = page.locator("#without").screenshot()
    assert with_marks != without
    page.context.close()


def test_guessed_status_url_and_unknown_pages_are_vietnamese_404(browser, srv):  # noqa: F811
    page = new_page(browser, PHONE)
    response = page.goto(srv.url + "/s/AAAAAAAAAAAAAAAAAAAAAA")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Không tìm thấy trang")
    # an offline ticket's QR before its hand-over: tell the citizen the ticket is still valid
    expect(page.locator("main")).to_contain_text("vé vẫn có giá trị")
    assert requests.get(srv.url + "/api/v1/no-such-route", timeout=10).json()["error"] == "not_found"
    page.goto(srv.url + "/")
    expect(page.locator(".screens a")).to_have_count(len(requests.get(srv.url + "/api/v1/center").json()["sites"]) + 2)
    page.context.close()


def test_dashboard_lists_services_counters_and_devices(browser, srv):  # noqa: F811
    _post(srv, "/counters/5/sign-in", "clerk")  # (idempotent: the test stands alone or after the others)
    page = new_page(browser, DESK)
    page.goto(srv.url + "/dashboard")
    sign_in(page, "giamdoc")
    expect(page.locator("#services tr")).to_have_count(7, timeout=T)
    # the clerk by name, the account beside it
    expect(page.locator("#counters tr[data-counter='5']")).to_contain_text("Nguyễn Thị Lan lan.nguyen")
    expect(page.locator("#devices .empty-state")).to_be_visible()
    # ten citizens for household business, whose only counter (7) is closed and whose clerk is not
    # there: the 15-minute promise will be broken, and the director is told what staffing would do
    # (not "open counter 7": nobody is there to open it)
    for _ in range(10):
        _issue(srv, "KD")
    alert = page.locator("#alerts li.alert[data-service='KD']")
    expect(alert).to_contain_text("Đăng ký hộ kinh doanh", timeout=T)
    expect(alert).to_have_attribute("data-kind", "predicted_breach")
    expect(alert.locator(".advice")).to_contain_text("Cần thêm", timeout=ADVICE_T)
    expect(alert.locator(".advice")).not_to_contain_text("Mở quầy")
    # the "Gọi trong 15 phút" bar is red before anyone has waited 15 minutes: by the estimate, all ten will
    expect(page.locator("#services tr[data-service='KD'] .bar-fill")).to_have_class(re.compile(r"\bbad\b"), timeout=T)
    expect(page.locator("#services tr[data-service='KD'] .share b")).to_have_text("0%")
    # the device registry's socket event re-renders the panel
    page.evaluate("""() => window.qmsDashboard.live.socket.listeners("devices")[0]({devices: [{id: 'kiosk-1', kind: 'kiosk', online: true,
        last_seen: Date.now() / 1000, faults: ['paper_out'], health: {printer: 'paper_out'}}], at: 0})""")
    expect(page.locator("#devices tr[data-device='kiosk-1']")).to_contain_text("Có lỗi")
    # the week's report, downloaded with the sign-in cookie, opens in a spreadsheet as UTF-8
    _issue(srv, "XH")
    with page.expect_download(timeout=T) as download:
        page.click("#report-link")
    data = Path(download.value.path()).read_bytes()
    assert data.startswith("\ufeff".encode()) and download.value.suggested_filename.startswith("bao-cao-")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Ngày,Mã lĩnh vực,Lĩnh vực,Số vé,Đã phục vụ")  # Vietnamese headers for the province
    assert any(",XH,Bảo trợ xã hội," in line for line in lines[1:])
    assert not page.errors
    page.context.close()


def test_report_days_in_the_wrong_order_are_said_before_any_download(browser, srv):  # noqa: F811
    """"Từ ngày" after "Đến ngày": the PDF link had opened a tab of raw JSON, the others saved it."""
    page = new_page(browser, DESK)
    page.goto(srv.url + "/dashboard")
    sign_in(page, "giamdoc")
    pdf = page.locator("#report-form a.report-file[data-format='pdf']")
    expect(pdf).to_have_attribute("href", re.compile(r"^/api/v1/reports/file\?from="), timeout=T)
    expect(page.locator("#report-problem")).to_be_hidden()
    page.fill("#report-from", "2026-12-05")
    page.fill("#report-to", "2026-12-01")
    expect(page.locator("#report-problem")).to_contain_text("Ngày bắt đầu (05/12/2026) sau ngày kết thúc (01/12/2026)")
    for link in page.locator("#report-form a.button").all():
        assert link.get_attribute("href") is None and link.get_attribute("aria-disabled") == "true"
    page.fill("#report-from", "2025-01-01")
    expect(page.locator("#report-problem")).to_contain_text("tối đa một năm")
    page.fill("#report-from", "2026-11-25")
    expect(page.locator("#report-problem")).to_be_hidden()
    expect(pdf).to_have_attribute("href", re.compile(r"from=2026-11-25&to=2026-12-01&format=pdf"))
    assert not page.errors
    page.context.close()


@pytest.mark.skipif(not os.environ.get("QMS_SCREENS_DIR"), reason="set QMS_SCREENS_DIR to write the screenshots")
def test_documentation_screenshots(browser, srv, display):  # noqa: F811
    """docs/screens/*.png: a busy morning on every screen."""
    out = Path(os.environ["QMS_SCREENS_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    for service, n in (("HT", 5), ("CT", 7), ("DD", 2), ("KD", 1), ("XH", 3), ("NC", 1)):
        for _ in range(n):
            _issue(srv, service)
    staff = (("hoa.pham", "Phạm Thu Hoà", 3), ("quang.vo", "Võ Minh Quang", 2), ("thu.dang", "Đặng Thị Thu", 6),
             ("binh.ho", "Hồ Văn Bình", 8))
    for username, name, counter in staff:
        srv.tokens[username] = srv.add_user(username, "clerk", name=name)
        _post(srv, f"/counters/{counter}/sign-in", username)
        t = _post(srv, f"/counters/{counter}/call-next", username)["ticket"]
        if counter != 3:
            _post(srv, f"/tickets/{t['id']}/start", username, {"counter": counter})
    waiting = _issue(srv, "CT")
    phone = new_page(browser, PHONE)
    phone.goto(waiting["status_url"])
    expect(phone.locator("#state")).to_contain_text("Đang chờ", timeout=T)
    phone.screenshot(path=str(out / "status-waiting.png"), full_page=True)

    console = new_page(browser, DESK)
    console.goto(srv.url + "/console")
    sign_in(console, "hoa.pham")
    expect(console.locator("#work")).to_be_visible(timeout=T)
    expect(console.locator("#in-hand .code")).to_be_visible(timeout=T)
    console.screenshot(path=str(out / "console.png"), full_page=True)

    dash = new_page(browser, DESK)
    dash.goto(srv.url + "/dashboard")
    sign_in(dash, "giamdoc")
    expect(dash.locator("#services tr")).to_have_count(7, timeout=T)
    dash.screenshot(path=str(out / "dashboard.png"), full_page=True)

    expect(display.locator("#banner.active")).to_be_visible(timeout=T)
    display.screenshot(path=str(out / "display-landscape.png"))
    portrait = new_page(browser, {"width": 1080, "height": 1920})
    portrait.goto(f"{srv.url}/display?site=main&counters=1,2,3,4")
    expect(portrait.locator("#pairing")).to_be_visible(timeout=T)  # a browser that was never paired
    portrait.screenshot(path=str(out / "display-unpaired.png"))
    portrait.evaluate(f"() => localStorage.setItem('qms_display_token', '{srv.tokens['display']}')")
    portrait.reload()
    expect(portrait.locator(".card")).to_have_count(4, timeout=T)
    portrait.screenshot(path=str(out / "display-portrait.png"))

    console.keyboard.press("s")
    expect(console.locator(".ticket-state")).to_contain_text("Đang phục vụ", timeout=T)
    expect(console.locator("button[data-action='call-next']")).to_be_enabled(timeout=T)  # the start answered
    console.keyboard.press("n")
    expect(console.locator(".ticket-state")).to_contain_text("Đang mời", timeout=T)
    expect(console.locator("button[data-action='no-show']")).to_be_enabled(timeout=T)
    console.keyboard.press("v")  # a no-show waits a few seconds, with its undo
    expect(console.locator("#undo")).to_be_visible(timeout=T)
    console.screenshot(path=str(out / "console-no-show-undo.png"), full_page=True)
    console.keyboard.press("z")
    expect(console.locator("#undo")).to_be_hidden(timeout=T)
    srv.tokens["clerk4"] = srv.add_user("tuan.le", "clerk", name="Lê Anh Tuấn")
    _post(srv, "/counters/9/sign-in", "clerk4")
    _post(srv, f"/tickets/{waiting['id']}/call", "clerk4", {"counter": 9})
    expect(phone.locator("#state")).to_contain_text("Mời đến quầy 9", timeout=T)
    phone.screenshot(path=str(out / "status-called.png"), full_page=True)
    late = _issue(srv, "NC")  # a citizen past the 15 minutes: the page apologises
    import sqlite3
    with sqlite3.connect(srv.state_dir / "qms.db") as db:
        db.execute("UPDATE tickets SET wait_from = wait_from - 1150 WHERE id = ?", (late["id"],))
    sorry = new_page(browser, PHONE)
    sorry.goto(late["status_url"])
    expect(sorry.locator("#sorry")).to_be_visible(timeout=T)
    sorry.screenshot(path=str(out / "status-late.png"), full_page=True)
    block = _post(srv, "/kiosk/blocks", "kiosk", {"service": "HT", "size": 1})
    pending = new_page(browser, PHONE)
    pending.goto(f"{srv.url}/s/{block['tokens'][0]}")
    expect(pending.locator("#state")).to_contain_text("Phiếu hợp lệ", timeout=T)
    pending.screenshot(path=str(out / "status-offline-pending.png"), full_page=True)
    for page in (phone, console, dash, portrait, sorry, pending):
        page.context.close()
