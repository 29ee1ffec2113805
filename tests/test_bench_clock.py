"""``qms serve --bench-clock-start``: a server run as if it were a chosen local time of the center
(bench/connections.py at 09:30 on a working day), refused where it could touch a real center."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from qms_common.clock import StartedClock
from server.bench_clock import bench_clock, parse_start
from server.cli import main
from tests.live_server import LiveServer

TZ = "Asia/Ho_Chi_Minh"


def test_the_clock_starts_at_its_instant_and_runs_at_real_speed():
    mono = [500.0]
    clock = StartedClock(1_764_642_600.0, monotonic=lambda: mono[0])
    assert clock.now() == 1_764_642_600.0
    mono[0] += 12.5
    assert clock.now() == 1_764_642_612.5
    assert clock.monotonic() == 512.5


def test_a_local_time_is_read_in_the_centers_zone():
    start = parse_start("2026-12-02T09:30", TZ)
    assert datetime.fromtimestamp(start, ZoneInfo(TZ)).isoformat() == "2026-12-02T09:30:00+07:00"
    assert parse_start("2026-12-02T02:30+00:00", TZ) == start  # an explicit offset is kept


@pytest.mark.parametrize("text", ["09:30", "2026-12-02", "tomorrow", "2026-13-02T09:30", "1970-01-01T00:00"])
def test_a_wrong_start_is_a_clear_message_and_no_server(tmp_path, capsys, text):
    settings = tmp_path / "server.toml"
    settings.write_text(f'state_dir = "{tmp_path}"\n', encoding="utf-8")
    assert main(["--settings", str(settings), "serve", "--bench-clock-start", text]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"qms: --bench-clock-start {text!r}")
    assert "ví dụ 2026-12-02T09:30" in err and err.index("ví dụ") < err.index("e.g. 2026-12-02T09:30")


def test_refused_on_a_database_that_holds_events(tmp_path, capsys):
    db = tmp_path / "qms.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, at REAL, type TEXT)")
    conn.execute("INSERT INTO events (at, type) VALUES (1764640000, 'ticket_issued')")
    conn.commit()
    conn.close()
    settings = tmp_path / "server.toml"
    settings.write_text(f'state_dir = "{tmp_path}"\n', encoding="utf-8")
    assert main(["--settings", str(settings), "serve", "--bench-clock-start", "2026-12-02T09:30"]) == 2
    err = capsys.readouterr().err
    assert "cơ sở dữ liệu mới" in err and "fresh database only" in err and "1 events" in err
    # a fresh (missing) database is accepted
    assert bench_clock("2026-12-02T09:30", TZ, tmp_path / "none.db").now() >= parse_start("2026-12-02T09:30", TZ)


def test_a_served_ticket_is_issued_at_the_bench_time(tmp_path):
    start = parse_start("2026-12-02T09:30", TZ)
    with LiveServer(tmp_path / "srv", serve_args=("--bench-clock-start", "2026-12-02T09:30")) as srv:
        kiosk = srv.add_device("kiosk-1", "kiosk", site="main")
        r = requests.post(srv.url + "/api/v1/tickets", json={"service": "CT"}, headers=srv.bearer(kiosk), timeout=10)
        assert r.status_code == 201, r.text
        issued = r.json()["issued_at"]
        assert start <= issued < start + 60  # within the minute the server has run, not the real hour
        assert "bench clock: this server runs as if it were 2026-12-02T09:30" in srv.log_path.read_text()
