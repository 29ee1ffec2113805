"""The dashboard's plan (server/insight/plan_view.py) is made by `qms plan` in a child process:
the server's own process never runs (nor even loads) the planner, which is minutes of CPU with
the simulated check; the child's mistakes come back as the command's clear message, and a child
that dies is a clear 503."""
from __future__ import annotations

import json
import subprocess
import sys
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
    r = c.get("/api/v1/plan", query_string={"date": "2026-11-10", "check": "false"}, headers=director)
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
    assert list(tmp_path.glob("plan-*.json")) == []  # the child's answer file is removed


def test_a_child_that_dies_is_a_clear_503(tmp_path, history, monkeypatch):  # noqa: F811
    monkeypatch.setattr(plan_view.sys, "executable", "/bin/false")
    view = plan_view.PlanView([str(history)], None, str(tmp_path))
    with pytest.raises(plan_view.PlanFailed) as err:
        view.plan(date(2026, 11, 10), check=False)
    assert err.value.http_status == 503 and "Không lập được kế hoạch" in err.value.message
