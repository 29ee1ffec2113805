"""``qms serve`` becomes a lean gunicorn master (``server/master.py``): the process that forks the
worker imports gunicorn alone, the worker builds the app and serves (docs/performance.md §8)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from server.settings import ServerSettings
from tests.live_server import ROOT, LiveServer

HEAVY = ("pydantic", "flask", "flask_socketio", "gevent", "gunicorn.workers.ggevent", "server.settings",
         "server.app", "server.worker", "server.cli")


def test_the_master_is_configured_without_the_app_pydantic_or_gevent():
    settings = ServerSettings(port=8123).model_dump(mode="json")
    code = (
        "import json, sys\n"
        "from server.master import Master, handover\n"
        "m = Master(handover(json.loads(sys.argv[1]), log_level=20))\n"
        "worker_class = m.cfg.worker_class\n"  # what the arbiter makes before the fork
        f"print(json.dumps({{'bind': m.cfg.bind, 'connections': m.cfg.worker_connections, "
        f"'keepalive': m.cfg.keepalive, 'heavy': [x for x in {HEAVY!r} if x in sys.modules]}}))\n")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(settings)], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    seen = json.loads(out.stdout)
    assert seen == {"bind": ["127.0.0.1:8123"], "connections": 4000, "keepalive": 10, "heavy": []}


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_serve_answers_from_a_worker_whose_master_holds_no_gevent_nor_pydantic(tmp_path):
    with LiveServer(tmp_path / "srv") as srv:
        assert requests.get(srv.url + "/healthz", timeout=10).json()["ok"] is True
        master = srv.proc.pid  # the process `qms serve` was: exec'd, same pid
        assert "server.master" in Path(f"/proc/{master}/cmdline").read_text()
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        assert len(children) == 1
        worker = int(children[0])
        for lib in ("pydantic_core", "gevent"):  # their compiled modules, mapped by whoever imported them
            assert lib not in _maps(master)
            assert lib in _maps(worker)


def test_the_master_alone_is_refused_with_a_message():
    out = subprocess.run([sys.executable, "-m", "server.master"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "qms serve" in out.stderr
