"""The README's first command: ``qms demo`` starts the whole center and the screens move.

Runs the real demo (broker, server, kiosk, announcer, robot, simulated citizens and clerks) on
free ports in a temporary folder, waits until citizens have been called and an announcement has
been spoken to a file, then stops it with SIGTERM (as Ctrl-C does) and checks nothing is left.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date

import pytest
import requests

from tests.live_server import ROOT, free_port

pytestmark = pytest.mark.slow


def _called(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM events WHERE type = 'ticket_call'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_demo_runs_the_whole_center_and_stops_cleanly(tmp_path):
    state = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "--state-dir", str(state), "demo",
                             "--port", str(port), "--kiosk-port", str(free_port()),
                             "--broker-port", str(free_port()), "--speed", "120"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # polling the demo's own database, bounded by the deadline
            assert proc.poll() is None, proc.stdout.read()
            wavs = list((state / "announcements").glob("*.wav")) if (state / "announcements").exists() else []
            if _called(state / "qms.db") >= 3 and wavs:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the demo called nobody within 2 minutes:\n" + (state / "server.log").read_text()[-2000:])
        # the director's plan page has earlier days to plan from: the two working weeks before this one
        url = f"http://127.0.0.1:{port}/api/v1"
        token = requests.post(url + "/auth/login", json={"username": "giamdoc", "password": "demo1234"},
                              timeout=30).json()["token"]
        roster = requests.get(url + "/plan/roster", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        assert roster["history_days"] == 10 and roster["last_day"] < date.today().isoformat()
        # the broker dies (as a crash would): the demo starts it again, as systemd does, and the
        # calls reach the announcer through it
        broker = _pids_mentioning(str(state / "mosquitto.conf"))
        assert len(broker) == 1
        os.kill(broker[0], signal.SIGKILL)
        called, spoken = _called(state / "qms.db"), len(list((state / "announcements").glob("*.wav")))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # bounded by the deadline, as above
            assert proc.poll() is None, proc.stdout.read()
            again = _pids_mentioning(str(state / "mosquitto.conf"))
            wavs = len(list((state / "announcements").glob("*.wav")))
            if again and again != broker and _called(state / "qms.db") >= called + 2 and wavs > spoken:
                break  # called since, and the announcer heard it through the new broker
            time.sleep(0.5)
        else:
            pytest.fail("no broker again, or no call since:\n" + (state / "mosquitto.log").read_text()[-2000:])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    # the banner: every address, no device secret in any of them, a citizen's page in one click
    assert "/dashboard/plan " in out and "/display " in out and "canbo / demo1234" in out and "token=" not in out
    assert "/s/" in out and "Trang của công dân" in out
    assert "nhanh gấp 120 lần thời gian thực" in out  # says what runs faster
    assert " INFO " not in out  # the terminal stays readable: the detail is in the log files
    assert "mosquitto đã dừng (-9), khởi động lại sau 3 giây" in out
    with sqlite3.connect(state / "qms.db") as conn:
        sources = {r[0] for r in conn.execute("SELECT DISTINCT source FROM tickets")}
    assert "kiosk" in sources  # citizens pressed the kiosk's buttons, not the API directly
    # and each ticket the kiosk printed is there to look at, as the paper would show it
    assert "Phiếu đã in" in out and str(state / "tickets") in out
    assert list((state / "tickets").glob("*-*.png"))
    for log in state.glob("*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.name
    assert _processes_mentioning(str(state)) == []


def test_demo_says_which_port_is_busy_instead_of_swapping_it(tmp_path):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "server.cli", "--state-dir", str(tmp_path / "d"), "demo",
                              "--port", str(free_port()), "--kiosk-port", str(port), "--duration", "1"],
                             cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
    assert out.returncode == 2
    assert f"cổng {port}" in out.stderr and "--kiosk-port" in out.stderr


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("not the demo's")
    out = subprocess.run([sys.executable, "-m", "server.cli", "--state-dir", str(tmp_path), "demo",
                          "--port", str(free_port()), "--duration", "1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "không phải của bản chạy thử" in out.stderr
    assert (tmp_path / "mine.txt").exists()


def _cmdlines():
    """(pid, command line) of every live process (read from /proc, no procps needed)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    yield int(entry), f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue


def _pids_mentioning(text: str) -> list[int]:
    return [pid for pid, cmdline in _cmdlines() if text in cmdline]


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention ``text``."""
    return [cmdline for _, cmdline in _cmdlines() if text in cmdline]
