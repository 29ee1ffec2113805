"""The ``qms`` command line: each command works, and each mistake ends with a message
naming the problem and exit status 2, never a traceback."""
from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from server.cli import main
from tests.live_server import ROOT, write_center


@pytest.fixture
def state(tmp_path):
    return ["--state-dir", str(tmp_path / "state")]


def test_init_config_check_users_devices_and_export(tmp_path, state, capsys, monkeypatch):
    assert main([*state, "init"]) == 0
    assert "ready" in capsys.readouterr().out
    assert main([*state, "config", "check"]) == 0
    out = capsys.readouterr().out
    assert "Trung tâm Phục vụ hành chính công phường Mẫu" in out and "quầy   1" in out
    monkeypatch.setenv("QMS_PASSWORD", "matkhau-123")
    assert main([*state, "user", "add", "lan", "--role", "clerk", "--name", "Nguyễn Thị Lan", "--password-env"]) == 0
    token_file = tmp_path / "kiosk.token"
    assert main([*state, "device", "add", "kiosk-1", "--kind", "kiosk", "--token-file", str(token_file)]) == 0
    assert len(token_file.read_text().strip()) > 30 and oct(token_file.stat().st_mode)[-3:] == "600"
    capsys.readouterr()
    assert main([*state, "user", "list"]) == 0
    assert "Nguyễn Thị Lan" in capsys.readouterr().out

    from qms_common.clock import SystemClock
    from server.config import load_center
    from server.engine import Engine
    from server.store import Store
    center = load_center()
    center.hours.enforce = False
    engine = Engine(Store(tmp_path / "state" / "qms.db"), center, SystemClock())
    engine.issue("HT")
    engine.issue("CT", priority=True)
    out_file = tmp_path / "events.csv"
    assert main([*state, "export-events", "--out", str(out_file)]) == 0
    rows = list(csv.DictReader(out_file.open(encoding="utf-8")))
    assert [r["type"] for r in rows] == ["ticket_issued", "ticket_issued"]
    assert '"code": "CT-001"' in rows[1]["data"]


@pytest.mark.parametrize("argv, message", [
    (["user", "add", "Bad Name!", "--role", "clerk", "--password-env"], "invalid username"),
    (["device", "add", "Kiosk 1", "--kind", "kiosk"], "invalid device id"),
    (["device", "add", "kiosk-1", "--kind", "kiosk", "--site", "dao-xa"], "unknown site 'dao-xa'"),
    (["export-events", "--day", "23/11/2026"], "Invalid isoformat"),
])
def test_mistakes_exit_2_with_a_message(state, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("QMS_PASSWORD", "matkhau-123")
    assert main([*state, *argv]) == 2
    assert message in capsys.readouterr().err


def test_short_password_refused(state, capsys, monkeypatch):
    monkeypatch.setenv("QMS_PASSWORD", "123")
    assert main([*state, "user", "add", "lan", "--role", "clerk", "--password-env"]) == 2
    assert "password too short" in capsys.readouterr().err


def test_bad_center_file_names_file_and_field(tmp_path, capsys):
    bad = write_center(tmp_path / "center.toml", extra="")
    bad.write_text(bad.read_text(encoding="utf-8").replace('timezone = "Asia/Ho_Chi_Minh"',
                                                             'timezone = "Asia/Saigon_Typo"'), encoding="utf-8")
    assert main(["--center", str(bad), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "center.toml" in err and "center.timezone" in err and "Asia/Saigon_Typo" in err


def test_typo_in_settings_file_stops_start_up(tmp_path, capsys):
    settings = tmp_path / "server.toml"
    settings.write_text('prot = 8000\n', encoding="utf-8")
    assert main(["--settings", str(settings), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "server.toml: prot: unknown field" in err


def test_missing_and_broken_files(tmp_path, capsys):
    assert main(["--center", str(tmp_path / "nope.toml"), "config", "check"]) == 2
    assert "not found" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[center\nname=", encoding="utf-8")
    assert main(["--center", str(broken), "config", "check"]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_real_process_exit_code_and_no_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "server.cli", "--center", str(tmp_path / "x.toml"), "config", "check"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and "x.toml" in p.stderr
    p = subprocess.run([sys.executable, "-m", "server.cli", "frobnicate"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "invalid choice" in p.stderr
