"""The dashboard's plan (server/insight/plan_view.py) is made by `qms plan` in a child process:
the server's own process never runs (nor even loads) the planner, which is minutes of CPU with
the simulated check; the child's mistakes come back as the command's clear message, and a child
that dies is a clear 503."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pytest

from qms_common.errors import QmsError
from server.cli import main
from server.insight import plan_view
from tests.plan_history import history  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from qms_common.clock import FakeClock
from server.app import create_app, close_app
from server.config import load_center
from server.settings import ServerSettings
PLANNER = ("server.planning.staffing", "server.planning.check", "server.planning.search", "server.simulator")
settings = ServerSettings(state_dir=sys.argv[1], password_profile="cheapest-for-tests",
                          planning={"history": [sys.argv[2]]})
app = create_app(settings, center=load_center(), clock=FakeClock(1_795_572_000.0))
services = app.extensions["qms"]
services.auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
director = {"Authorization": f"Bearer {services.auth.login('giamdoc', 'matkhau-123')[0]}"}
with app.test_client() as c:
    ask = {"query_string": {"date": "2026-11-10", "check": "false"}, "headers": director}
    r = c.get("/api/v1/plan", **ask)
    if r.status_code == 202:  # still being made after the request's wait: it goes on without anyone
        assert app.extensions["qms_plan"].wait_idle(300)
        r = c.get("/api/v1/plan", **ask)
    loaded = sorted(m for m in PLANNER if m in sys.modules)
close_app(app)
print(json.dumps({"status": r.status_code, "plan": r.get_json(), "loaded": loaded}))
"""


def test_the_server_process_never_runs_the_planner(tmp_path, history):  # noqa: F811
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "state"), str(history)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 200 and result["loaded"] == []
    cli = tmp_path / "cli.json"
    assert main(["plan", "--date", "2026-11-10", "--history", str(history), "--no-check", "--format", "json",
                 "--out", str(cli)]) == 0
    assert result["plan"] == json.loads(cli.read_text(encoding="utf-8"))  # exactly what `qms plan` says


def test_a_mistake_found_by_the_command_is_its_own_clear_message(tmp_path, history):  # noqa: F811
    view = plan_view.PlanView([str(history)], None, str(tmp_path))
    with pytest.raises(QmsError) as err:
        view.plan(date(2026, 11, 10), absent=("khong-co-ai",), check=False)
    assert err.value.http_status < 500 and "khong-co-ai" in err.value.message
    assert list((tmp_path / "plan-jobs").iterdir()) == []  # the child's answer file is removed


def test_a_child_that_dies_is_a_clear_503(tmp_path, history, monkeypatch):  # noqa: F811
    monkeypatch.setattr(plan_view.sys, "executable", "/bin/false")
    view = plan_view.PlanView([str(history)], None, str(tmp_path))
    with pytest.raises(plan_view.PlanFailed) as err:
        view.plan(date(2026, 11, 10), check=False)
    assert err.value.http_status == 503 and "Không lập được kế hoạch" in err.value.message


class _Slow:
    """``PlanView._run`` held until released: the job's states, seen from the requests."""

    def __init__(self, fail_first: bool = False) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.runs: list[tuple] = []
        self.fail_first = fail_first

    def __call__(self, day, absent, check):
        self.runs.append((day.isoformat(), absent, check))
        self.started.set()
        assert self.release.wait(30)
        if self.fail_first and len(self.runs) == 1:
            raise QmsError("không có cán bộ c99 trong lịch trực; no clerk c99")
        return {"date": day.isoformat(), "weekday": "Thứ Ba", "history": {}, "forecast_total": 0.0, "services": {},
                "absent": list(absent), "slots": [], "fixes": [], "moves": [], "extra_clerk_hours": 0.0,
                "made": len(self.runs)}


def test_a_plan_is_a_job_the_director_does_not_wait_for_and_it_is_made_once(tmp_path, monkeypatch):
    view = plan_view.PlanView(["unused"], None, str(tmp_path))
    slow = _Slow()
    monkeypatch.setattr(view, "_run", slow)
    first = view.request(date(2026, 11, 10), wait_s=0)
    assert isinstance(first, plan_view.PlanPending)
    assert slow.started.wait(30)
    other = view.request(date(2026, 11, 11), wait_s=0)  # another day, asked meanwhile: queued behind it
    assert isinstance(other, plan_view.PlanPending)
    again = view.request(date(2026, 11, 10), wait_s=0)  # asked again: the same job, not a second one
    assert again.state == "running" and again.ahead == 0
    assert other.state == "queued" and other.ahead == 1
    said = other.as_dict()
    assert said["message"].startswith("Đang chờ lập kế hoạch: 1 kế hoạch đang làm trước")
    assert said["retry_after_s"] == plan_view.RETRY_AFTER_S
    assert view.request(date(2026, 11, 10), wait_s=0).as_dict()["message"].startswith("Đang lập kế hoạch… (đã ")
    slow.release.set()
    assert view.wait_idle(30)
    made = view.request(date(2026, 11, 10), wait_s=0)
    assert (made["date"], made["made"]) == ("2026-11-10", 1)
    assert view.request(date(2026, 11, 11), wait_s=0)["date"] == "2026-11-11"
    assert slow.runs == [("2026-11-10", (), True), ("2026-11-11", (), True)]  # once each, in the order asked


def test_a_failed_job_tells_its_error_once_and_the_next_request_makes_it_again(tmp_path, monkeypatch):
    view = plan_view.PlanView(["unused"], None, str(tmp_path))
    slow = _Slow(fail_first=True)
    monkeypatch.setattr(view, "_run", slow)
    # held until the request has been answered "being made": released before, the job could end
    # within the request's wait and tell its error to it (then the next request made it again)
    assert isinstance(view.request(date(2026, 11, 10), wait_s=0), plan_view.PlanPending)
    slow.release.set()
    assert view.wait_idle(30)
    with pytest.raises(QmsError) as err:
        view.request(date(2026, 11, 10), wait_s=0)
    assert "c99" in err.value.message
    assert view.plan(date(2026, 11, 10))["made"] == 2  # asked again: made again, and kept


def test_the_route_answers_202_with_retry_after_while_the_plan_is_made(tmp_path, monkeypatch):
    from qms_common.clock import FakeClock
    from server.app import close_app, create_app
    from server.config import load_center
    from server.settings import ServerSettings
    settings = ServerSettings(state_dir=str(tmp_path / "state"), password_profile="cheapest-for-tests",
                              planning={"history": [str(tmp_path)]})
    app = create_app(settings, center=load_center(), clock=FakeClock(1_795_572_000.0))
    try:
        view = app.extensions["qms_plan"]
        slow = _Slow()
        monkeypatch.setattr(view, "_run", slow)
        monkeypatch.setattr(plan_view, "WAIT_S", 0.0)
        services = app.extensions["qms"]
        services.auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
        director = {"Authorization": f"Bearer {services.auth.login('giamdoc', 'matkhau-123')[0]}"}
        with app.test_client() as c:
            r = c.get("/api/v1/plan", query_string={"date": "2026-11-10", "check": "false"}, headers=director)
            assert r.status_code == 202 and r.headers["Retry-After"] == str(plan_view.RETRY_AFTER_S)
            assert slow.started.wait(30)
            r = c.get("/api/v1/plan", query_string={"date": "2026-11-10", "check": "false"}, headers=director)
            assert r.status_code == 202 and r.get_json()["state"] == "running"
            assert r.get_json()["message"].startswith("Đang lập kế hoạch… (đã ")
            slow.release.set()
            assert view.wait_idle(30)
            r = c.get("/api/v1/plan", query_string={"date": "2026-11-10", "check": "false"}, headers=director)
            assert r.status_code == 200 and r.get_json()["date"] == "2026-11-10"
    finally:
        close_app(app)
