"""The plan page (/dashboard/plan) in Chromium against a real server whose [planning] history is
generated ward days: the same plan as `qms plan --format json`, its chart of clerks needed
against the roster, and a what-if with two clerks absent. Waits on selectors and page state."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from server.cli import main
from tests.browser import DESK, browser, sign_in, new_page  # noqa: F401  (fixture)
from tests.live_server import LiveServer

T = 60_000  # ms: planning without the simulated check takes a few seconds on a shared machine
from tests.plan_history import history  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def srv(tmp_path_factory, history):
    extra = f'\n[planning]\nhistory = ["{history}"]\n'
    with LiveServer(tmp_path_factory.mktemp("plan"), settings_extra=extra) as server:
        server.tokens = {"director": server.add_user("giamdoc", "director", name="Lê Thị Hồng"),
                         "clerk": server.add_user("lan.nguyen", "clerk", name="Nguyễn Thị Lan")}
        yield server


def _cli_plan(history, tmp_path, *extra) -> dict:
    out = tmp_path / "plan.json"
    assert main(["plan", "--date", "2026-11-10", "--history", str(history), "--no-check", "--format", "json",
                 "--out", str(out), *extra]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_the_plan_page_shows_the_commands_plan_and_answers_what_if(browser, srv, history, tmp_path):  # noqa: F811
    page = new_page(browser, DESK)
    page.goto(srv.url + "/dashboard/plan")
    sign_in(page, "giamdoc")
    expect(page.locator("#plan-absent input[value='c3']")).to_be_attached(timeout=T)
    page.wait_for_function("() => window.qmsPlan.plan && !window.qmsPlan.busy", timeout=T)  # tomorrow's plan first
    page.fill("#plan-date", "2026-11-10")
    page.click("#plan-submit")
    page.wait_for_function("() => window.qmsPlan.plan.date === '2026-11-10' && !window.qmsPlan.busy", timeout=T)
    shown = page.evaluate("() => window.qmsPlan.plan")
    assert shown == _cli_plan(history, tmp_path)           # exactly what `qms plan` says
    expect(page.locator("#plan-summary")).to_contain_text("thứ Ba 10/11/2026")
    # Vietnamese figures: the weekday factor with a decimal comma, days as dd/mm/yyyy
    history_line = page.locator("#plan-history").inner_text()
    factor = f"{shown['history']['weekday_factor']:g}".replace(".", ",")
    assert f"hệ số thứ {factor}," in history_line, history_line
    # the chart: clerks needed (the line) against the roster (the bars), per half hour
    sets = page.evaluate("() => window.qmsPlan.chart.data.datasets.map((d) => [d.label, d.data.length])")
    assert [n for _, n in sets] == [len(shown["slots"])] * 3 and sets[2][0].startswith("Cần")
    needed = page.evaluate("() => window.qmsPlan.chart.data.datasets[2].data")
    assert needed[3] == pytest.approx(sum(v["needed"] for v in shown["slots"][3]["services"].values()), abs=0.01)
    painted = page.evaluate("""() => { const c = document.getElementById('chart-plan');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 5000
    expect(page.locator("#plan-check-result")).to_contain_text("Chưa kiểm tra bằng mô phỏng")
    if os.environ.get("QMS_SCREENS_DIR"):
        out = Path(os.environ["QMS_SCREENS_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / "dashboard-plan.png"), full_page=True)

    # what if c3 and c7 are absent that day: the same as --absent c3,c7
    page.check("#plan-absent input[value='c3']")
    page.check("#plan-absent input[value='c7']")
    page.click("#plan-submit")
    page.wait_for_function("() => window.qmsPlan.plan.absent.length === 2 && !window.qmsPlan.busy", timeout=T)
    absent = page.evaluate("() => window.qmsPlan.plan")
    assert absent == _cli_plan(history, tmp_path, "--absent", "c3,c7")
    assert absent["extra_clerk_hours"] > shown["extra_clerk_hours"]
    expect(page.locator("#plan-summary")).to_contain_text("vắng: c3, c7")
    assert not page.errors
    page.context.close()


def test_the_plan_route_refuses_an_unknown_clerk_and_a_clerk_role(srv):
    h = srv.bearer(srv.tokens["director"])
    r = requests.get(srv.url + "/api/v1/plan?date=2026-11-10&absent=c99&check=false", headers=h, timeout=60)
    assert r.status_code == 400 and "không có cán bộ c99" in r.json()["message"]
    r = requests.get(srv.url + "/api/v1/plan?date=2026-11-02&check=false", headers=h, timeout=60)
    assert r.status_code == 400 and r.json()["message"].startswith("không có ngày nào trước")
    r = requests.get(srv.url + "/api/v1/plan?date=2026-11-10", headers=srv.bearer(srv.tokens["clerk"]), timeout=60)
    assert r.status_code == 403


def test_the_plan_page_says_a_move_in_vietnamese(browser, srv):  # noqa: F811
    """A checked plan with a move (the search's cheapest fix): the page lists it in the words of
    `qms plan`. The answer of /api/v1/plan is the planner's own JSON (report.as_dict) of a plan
    with a move, served for this one request (a checked plan of the ward history takes minutes)."""
    from datetime import date

    from server.planning.forecast import Forecast
    from server.planning.report import as_dict
    from server.planning.staffing import Fix, RosterRow, ServiceModel, plan_day

    fc = Forecast(date(2026, 11, 10), 1800, 4, {"HT": [5.0] * 4, "CT": [12.0] * 4}, {"HT": [1.0] * 4, "CT": [1.0] * 4},
                  10, 2, 1.0, 1.0, 0.05)
    plan = plan_day(fc, {"HT": ServiceModel(400.0, None), "CT": ServiceModel(150.0, None)},
                    [RosterRow("c1", 1, ("HT",), 0, 7200), RosterRow("c2", 2, ("CT", "HT"), 0, 7200)])
    plan.fixes = [Fix("move", "HT", "c2", 1800, 5400)]
    body = json.dumps(as_dict(plan, None, names={"HT": "Hộ tịch", "CT": "Chứng thực"}, opens_at="07:30"))
    page = new_page(browser, DESK)
    page.route("**/api/v1/plan?*", lambda route: route.fulfill(status=200, content_type="application/json", body=body))
    page.goto(srv.url + "/dashboard/plan")
    sign_in(page, "giamdoc")
    expect(page.locator("#plan-absent input[value='c3']")).to_be_attached(timeout=T)
    page.wait_for_function("() => window.qmsPlan.plan && !window.qmsPlan.busy", timeout=T)
    item = page.locator("#plan-fixes li[data-kind='move']")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Chuyển cán bộ c2 sang Hộ tịch (HT) 08:00–09:00 (làm Hộ tịch trước, không thêm giờ công)")
    expect(page.locator("#plan-summary")).to_contain_text("giờ công thêm: 0")
    assert not page.errors
    page.context.close()


def test_while_the_plan_is_made_the_page_says_so_and_asks_again_until_it_is_there(browser, srv, history, tmp_path):  # noqa: F811
    """The server answers 202 while a plan is being made (a checked plan takes minutes: more than a
    request should wait). The page shows what the server says and asks again after retry_after_s,
    and shows the plan when it comes. The first answer is the server's 202 as the route sends it
    (served here: a real one needs a plan over 15 s), the next ones the real server's."""
    pending = {"state": "running", "running_s": 42.0, "ahead": 0, "retry_after_s": 1,
               "message": "Đang lập kế hoạch… (đã 42 giây); the plan is being made (42 s so far)"}
    asked = []

    def answer(route):
        asked.append(route.request.url)
        if len(asked) == 1:
            route.fulfill(status=202, content_type="application/json", body=json.dumps(pending),
                          headers={"Retry-After": "1"})
        else:
            route.continue_()

    page = new_page(browser, DESK)
    page.route("**/api/v1/plan?*", answer)
    page.goto(srv.url + "/dashboard/plan")
    sign_in(page, "giamdoc")
    expect(page.locator("#plan-status")).to_contain_text("Đang lập kế hoạch… (đã 42 giây)", timeout=T)
    page.wait_for_function("() => window.qmsPlan.plan && !window.qmsPlan.busy", timeout=T)
    assert len(asked) >= 2 and asked[0] == asked[1]  # the same plan asked again
    expect(page.locator("#plan-status")).to_have_text("")
    assert not page.errors
    page.context.close()


def test_a_day_the_center_does_not_work_is_refused_at_once_not_planned(srv):
    # a Sunday was planned for minutes (a day of nobody simulated) before anyone was told anything
    h = srv.bearer(srv.tokens["director"])
    r = requests.get(srv.url + "/api/v1/plan?date=2026-11-15", headers=h, timeout=60)  # a Sunday
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "not_a_working_day" and body["details"]["working_days"] == [1, 2, 3, 4, 5]
    assert body["message"].startswith("Ngày 15/11/2026 là Chủ nhật, trung tâm không làm việc")
    assert "thứ Hai, thứ Ba, thứ Tư, thứ Năm, thứ Sáu" in body["message"] and "Sunday" in body["message"]
    assert requests.get(srv.url + "/api/v1/plan?date=2026-11-16&check=false", headers=h, timeout=60).status_code == 200


def test_the_plan_page_starts_on_the_next_working_day_and_says_why_a_sunday_is_not_planned(browser, srv):  # noqa: F811
    page = new_page(browser, DESK)
    page.goto(srv.url + "/dashboard/plan")
    sign_in(page, "giamdoc")
    expect(page.locator("#plan-main")).to_be_visible(timeout=T)
    day = page.locator("#plan-date").input_value()
    weekday = page.evaluate("(d) => new Date(d + 'T12:00:00Z').getUTCDay()", day)
    assert weekday not in (0, 6), day  # never a Saturday or a Sunday (work_days 1..5)
    page.locator("#plan-date").fill("2026-11-15")
    page.locator("#plan-check").uncheck()
    page.locator("#plan-form button[type=submit], #plan-submit").first.click()
    expect(page.locator("#error")).to_contain_text("là Chủ nhật, trung tâm không làm việc", timeout=T)
    page.context.close()
