"""The server starts without the report libraries: matplotlib and numpy (about 40 MiB resident)
load only in a process that builds a report (docs/performance.md §8, memory idle < 150 MB)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from qms_common.clock import FakeClock
from server.app import create_app, close_app
from server.config import load_center
from server.settings import ServerSettings
app = create_app(ServerSettings(state_dir=sys.argv[1], password_profile="cheapest-for-tests"),
                 center=load_center(), clock=FakeClock(1_795_572_000.0))
with app.test_client() as c:
    status = c.get("/healthz").status_code
heavy = sorted(m for m in ("numpy", "matplotlib", "PIL", "openpyxl", "weasyprint", "sqlite_utils") if m in sys.modules)
close_app(app)
print(json.dumps({"healthz": status, "heavy": heavy}))
"""


def test_a_started_server_has_not_loaded_the_report_libraries(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"healthz": 200, "heavy": []}
