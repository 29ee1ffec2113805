"""The server's process stays small and keeps serving while reports are made: matplotlib,
numpy and WeasyPrint (about 40-60 MiB resident, seconds of CPU for a PDF) load only in the
child process that builds a report (server/reporting/isolated.py; docs/performance.md §8, §10)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from server.reporting import isolated, period as periods

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from qms_common.clock import FakeClock
from server.app import create_app, close_app
from server.config import load_center
from server.settings import ServerSettings
HEAVY = ("numpy", "matplotlib", "PIL", "openpyxl", "weasyprint", "sqlite_utils")
app = create_app(ServerSettings(state_dir=sys.argv[1], password_profile="cheapest-for-tests"),
                 center=load_center(), clock=FakeClock(1_795_572_000.0))  # Monday 30 Nov 2026, 09:00
services = app.extensions["qms"]
services.auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
director = {"Authorization": f"Bearer {services.auth.login('giamdoc', 'matkhau-123')[0]}"}
with app.test_client() as c:
    status = c.get("/healthz").status_code
    at_start = sorted(m for m in HEAVY if m in sys.modules)
    services.engine.issue("HT")
    r = c.get("/api/v1/reports/file", query_string={"week": "2026-W49", "format": "pdf"}, headers=director)
    pdf = r.status_code == 200 and r.data.startswith(b"%PDF")
    after_report = sorted(m for m in HEAVY if m in sys.modules)
close_app(app)
print(json.dumps({"healthz": status, "at_start": at_start, "pdf": pdf, "after_report": after_report}))
"""


def test_the_server_process_never_loads_the_report_libraries(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"healthz": 200, "at_start": [], "pdf": True, "after_report": []}


def test_a_report_child_that_fails_is_a_clear_503_not_a_crash(tmp_path, engine, monkeypatch):
    import pytest
    monkeypatch.setattr(isolated.sys, "executable", "/bin/false")  # a child that dies at once
    with pytest.raises(isolated.ReportFailed) as err:
        isolated.content(engine, periods.week("2026-W48"), "pdf")
    assert err.value.http_status == 503 and "Không tạo được báo cáo" in str(err.value)


def test_a_mistake_found_in_the_child_is_the_same_clear_error_in_the_server(engine):
    from qms_common.errors import NotFound
    with pytest.raises(NotFound) as err:  # the site is checked where the report is built: in the child
        isolated.content(engine, periods.week("2026-W48"), "json", site="khong-co")
    assert err.value.http_status == 404 and "khong-co" in err.value.message
