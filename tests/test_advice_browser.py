"""Live advice in Chromium against a real server: the director applies a proposal from the
dashboard, the clerk's console says what changed, the counter's next call follows it, and the
change is undone from the log. Every wait is on a selector. With QMS_SCREENS_DIR set,
it also writes the documentation screenshots there (docs/screens/)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import DESK, browser, sign_in, new_page  # noqa: F401  (fixture)
from server.config import sample_center_text
from tests.history import earlier_days_in
from tests.live_server import LiveServer

T = 15_000
# the documentation screenshots only when asked: a test run must not change the checkout
SCREENS = Path(os.environ["QMS_SCREENS_DIR"]) if os.environ.get("QMS_SCREENS_DIR") else None


def _server(tmp_path, *, history: bool):
    # the live server runs on the real clock: counters work all day long, so that the advice (which
    # plays the counters' working hours forward) has the same answer whenever the suite runs
    (tmp_path / "advice").mkdir()
    center = tmp_path / "advice" / "center.toml"
    center.write_text(sample_center_text(enforce_hours=False).replace('opens = "07:30"', 'opens = "00:00"')
                      .replace('closes = "17:00"', 'closes = "23:59"')
                      .replace('lunch = ["11:30", "13:30"]', 'lunch = ["23:58", "23:59"]'), encoding="utf-8")
    server = LiveServer(tmp_path / "advice", center_file=center)
    if history:
        # a center past its first days (earlier days in its event log): the advice may give a
        # counter a new service (docs/advice.md, rule 6)
        earlier_days_in(server.state_dir / "qms.db", center)
    with server:
        server.tokens = {"kiosk": server.add_device("kiosk-hall", "kiosk", site="main"),
                         # in the sample ward's [[clerks]]: bot4 is trained for HT, CT, XH; bot1 for CT, HT
                         "bot4": server.add_user("bot4", "clerk", name="Phạm Văn Bốn"),
                         "bot1": server.add_user("bot1", "clerk", name="Đỗ Thị Một"),
                         "director": server.add_user("giamdoc", "director", name="Lê Thị Hồng")}
        yield server


@pytest.fixture
def srv(tmp_path):
    yield from _server(tmp_path, history=True)


@pytest.fixture
def srv_cold(tmp_path):
    yield from _server(tmp_path, history=False)


def _post(srv, path, who, json=None):
    r = requests.post(srv.url + "/api/v1" + path, json=json, headers=srv.bearer(srv.tokens[who]), timeout=10)
    assert r.ok, r.text
    return r.json()


def test_apply_a_proposal_and_the_next_call_follows_it(browser, srv):  # noqa: F811
    _post(srv, "/counters/1/sign-in", "bot1")      # counter 1: CT only
    console = new_page(browser, DESK)
    console.goto(srv.url + "/console")
    sign_in(console, "bot4")
    console.click(".pick[data-counter='4']", timeout=T)
    expect(console.locator("#work")).to_be_visible(timeout=T)
    expect(console.locator("#counter-notice")).to_be_hidden()
    # counter 4 serves HT only, its clerk also knows CT; fourteen citizens for CT
    ct = [_post(srv, "/tickets", "kiosk", {"service": "CT"}) for _ in range(14)]

    dash = new_page(browser, DESK)
    dash.goto(srv.url + "/dashboard")
    sign_in(dash, "giamdoc")
    proposal = dash.locator("#advice-proposals li.proposal[data-counter='4']").first
    expect(proposal).to_contain_text("Chứng thực:", timeout=T)
    expect(proposal).to_contain_text("→")
    if SCREENS:
        SCREENS.mkdir(parents=True, exist_ok=True)
        dash.locator("#advice-panel").screenshot(path=str(SCREENS / "advice-proposals.png"))
    proposal.locator("button.apply").click()
    change = dash.locator("#control-log li.change[data-counter='4']")
    expect(change).to_contain_text("Chứng thực", timeout=T)
    expect(dash.locator("#advice-summary")).to_contain_text("Đã áp dụng cho quầy 4")
    if SCREENS:
        dash.locator("#advice-panel").screenshot(path=str(SCREENS / "advice-applied.png"))

    # the clerk sees it before calling, and the next call is a CT citizen (the oldest one still waiting)
    expect(console.locator("#counter-notice")).to_contain_text("Chứng thực", timeout=T)
    if SCREENS:
        console.screenshot(path=str(SCREENS / "console-control-notice.png"))
    console.keyboard.press("n")
    expect(console.locator("#in-hand")).to_have_attribute("data-code", ct[0]["code"], timeout=T)

    # undo from the log: the counter serves HT only again, the console notice goes
    change.locator("button.undo").click()
    expect(dash.locator("#control-log li.change.undone[data-counter='4']")).to_be_visible(timeout=T)
    expect(console.locator("#counter-notice")).to_be_hidden(timeout=T)
    counters = requests.get(srv.url + "/api/v1/counters", headers=srv.bearer(srv.tokens["director"]),
                            timeout=10).json()["counters"]
    assert next(c for c in counters if c["number"] == 4)["services"] == ["HT"]
    assert dash.errors == [] and console.errors == []
    dash.context.close()
    console.context.close()


def test_a_double_click_on_apply_or_undo_sends_one_change(browser, srv):  # noqa: F811
    """A director's double click made two requests: the second was refused (409, "nothing to
    change" / "already undone") and its refusal replaced the first one's "Đã áp dụng"."""
    _post(srv, "/counters/1/sign-in", "bot1")
    _post(srv, "/counters/4/sign-in", "bot4")
    for _ in range(14):
        _post(srv, "/tickets", "kiosk", {"service": "CT"})
    dash = new_page(browser, DESK)
    posts = []
    dash.on("request", lambda r: posts.append(r.url.split("/api/v1")[-1]) if r.method == "POST" else None)
    dash.goto(srv.url + "/dashboard")
    sign_in(dash, "giamdoc")
    proposal = dash.locator("#advice-proposals li.proposal[data-counter='4']").first
    expect(proposal).to_contain_text("Chứng thực:", timeout=40_000)
    proposal.locator("button.apply").dblclick()
    expect(dash.locator("#control-log li.change[data-counter='4'] button.undo")).to_be_visible(timeout=T)
    expect(dash.locator("#advice-summary")).to_contain_text("Đã áp dụng cho quầy 4")
    dash.locator("#control-log li.change[data-counter='4'] button.undo").dblclick()
    expect(dash.locator("#control-log li.change.undone[data-counter='4']")).to_be_visible(timeout=T)
    expect(dash.locator("#advice-summary")).to_contain_text("Đã hoàn tác ở quầy 4")
    assert posts.count("/advice/apply") == 1
    assert len([p for p in posts if p.endswith("/undo")]) == 1
    assert dash.errors == []
    dash.context.close()


def test_on_a_cold_day_the_page_says_why_no_counter_is_given_a_new_service(browser, srv_cold):  # noqa: F811
    # the same crowd on a center's first day: nothing in the event log before today
    _post(srv_cold, "/counters/1/sign-in", "bot1")
    _post(srv_cold, "/counters/4/sign-in", "bot4")
    for _ in range(14):
        _post(srv_cold, "/tickets", "kiosk", {"service": "CT"})
    dash = new_page(browser, DESK)
    dash.goto(srv_cold.url + "/dashboard")
    sign_in(dash, "giamdoc")
    cold = dash.locator("#advice-cold")
    expect(cold).to_be_visible(timeout=T)
    expect(cold).to_contain_text("Chưa có số liệu các ngày trước nên chưa đề xuất giao thêm lĩnh vực cho quầy")
    expect(cold).to_contain_text("no earlier days yet")
    expect(dash.locator("#advice-proposals li.proposal[data-counter='4']")).to_have_count(0)
    assert dash.errors == []
    dash.context.close()
