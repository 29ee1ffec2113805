"""The dashboard's second version in Chromium against a real server: the charts are drawn by the
vendored Chart.js with today's data, an overloaded counter is flagged, a new predicted breach
rings the chime and raises a browser notification, and the alert log shows it.

One server and one browser for the module; every wait is on a selector or a page condition.
Set QMS_SCREENS_DIR to also write the documentation screenshots there.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import DESK, browser, sign_in, new_page  # noqa: F401  (fixture)
from server.config import sample_center_text
from tests.live_server import LiveServer
from tests.test_pages_browser import _issue, _post

T = 15_000  # ms: the give-up time of every wait


def _all_day_center(folder: Path) -> Path:
    """The sample ward open every day from 00:00 to 23:59 without lunch, so that the estimates
    (which count on counters working only in opening hours) do not depend on when the test runs."""
    text = sample_center_text(enforce_hours=False)
    text = text.replace('opens = "07:30"', 'opens = "00:00"').replace('closes = "17:00"', 'closes = "23:59"')
    text = text.replace('lunch = ["11:30", "13:30"]', 'lunch = ["23:58", "23:59"]')
    text = text.replace("work_days = [1, 2, 3, 4, 5]", "work_days = [1, 2, 3, 4, 5, 6, 7]")
    path = folder / "center.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("insight")
    with LiveServer(folder, center_file=_all_day_center(folder)) as server:
        server.tokens = {
            "kiosk": server.add_device("kiosk-hall", "kiosk", site="main"),
            "clerk": server.add_user("lan.nguyen", "clerk", name="Nguyễn Thị Lan"),
            "clerk2": server.add_user("minh.tran", "clerk", name="Trần Văn Minh"),
            "director": server.add_user("giamdoc", "director", name="Lê Thị Hồng"),
        }
        yield server




def _dashboard(browser, srv, **context):  # noqa: F811
    page = new_page(browser, DESK, **context)
    page.goto(srv.url + "/dashboard")
    sign_in(page, "giamdoc")
    expect(page.locator("#services tr")).to_have_count(7, timeout=T)
    return page


def _painted(page, canvas_id: str) -> int:
    """How many pixels of the canvas are drawn (not transparent): a chart with data draws many."""
    return page.evaluate("""(id) => { const c = document.getElementById(id);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""", canvas_id)


def test_charts_overload_and_the_alarm(browser, srv):  # noqa: F811
    _post(srv, "/counters/4/sign-in", "clerk")           # the only open counter for Hộ tịch
    for _ in range(5):                                    # 4 left waiting x 8 minutes at one counter
        _issue(srv, "HT")
    t = _post(srv, "/counters/4/call-next", "clerk")["ticket"]
    _post(srv, f"/tickets/{t['id']}/start", "clerk", {"counter": 4})
    page = _dashboard(browser, srv, permissions=["notifications"])

    # the charts, by Chart.js from this server, with today's figures
    assert page.evaluate("() => typeof Chart === 'function' && Chart.version") == "4.6.1"
    page.wait_for_function("() => window.qmsInsight.data && Object.keys(window.qmsInsight.charts).length === 5",
                           timeout=T)
    waiting = page.evaluate("""() => window.qmsInsight.charts['chart-waiting'].data.datasets
        .map((d) => [d.label, d.data[d.data.length - 1]])""")
    assert ["Hộ tịch", 4] in waiting                      # four still waiting now
    loads = page.evaluate("() => window.qmsInsight.charts['chart-counters'].data.labels")
    assert loads == ["Quầy 4"]
    for canvas in ("chart-waiting", "chart-within", "chart-waits", "chart-counters", "chart-arrivals"):
        assert _painted(page, canvas) > 2000, canvas
    # no earlier day in this server's log: said honestly, no invented forecast line
    expect(page.locator("#arrivals-note")).to_contain_text("Chưa đủ dữ liệu")
    assert page.evaluate("() => window.qmsInsight.charts['chart-arrivals'].data.datasets.length") == 1

    # counter 4 alone cannot clear Hộ tịch within 15 minutes at this pace
    flag = page.locator("#overload li[data-counter='4']")
    expect(flag).to_contain_text("Quầy 4", timeout=T)
    expect(flag.locator("li[data-flag='cannot_clear']")).to_contain_text("Hộ tịch còn 4 người chờ")

    # sound and notifications, enabled by the director's click
    page.click("#notify-enable")
    expect(page.locator("#notify-state")).to_contain_text("Thông báo: bật")
    expect(page.locator("#notify-state")).to_contain_text("chuông: bật")
    page.wait_for_function("() => window.qmsInsight.lastLogId !== null", timeout=T)
    assert page.evaluate("() => window.qmsInsight.notified.length") == 0   # what came before does not ring
    _post(srv, "/counters/6/sign-in", "clerk2")          # land: one counter open ...
    for _ in range(6):                                    # ... for six citizens: ~48 minutes for the last
        _issue(srv, "DD")
    page.wait_for_function("() => window.qmsInsight.notified.some((n) => n.kind === 'predicted_breach')", timeout=T)
    rung = page.evaluate("() => window.qmsInsight.notified.find((n) => n.kind === 'predicted_breach')")
    assert rung["shown"] is True and "Đất đai" in rung["message"]
    assert page.evaluate("() => window.qmsInsight.chimes") >= 1
    row = page.locator("#alert-log tr[data-kind='predicted_breach'][data-event='raised'][data-service='DD']")
    expect(row).to_contain_text("Đất đai", timeout=T)
    expect(row).to_contain_text("Phát sinh")
    assert not page.errors
    if os.environ.get("QMS_SCREENS_DIR"):
        out = Path(os.environ["QMS_SCREENS_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / "dashboard-insight.png"), full_page=True)
    page.context.close()
