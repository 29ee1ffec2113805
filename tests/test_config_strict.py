"""A center file with impossible working days is refused by `qms config check`, and `qms serve`
refuses any broken center file with the same one-line message (exit 2, no traceback)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from server.cli import main
from tests.live_server import ROOT, free_port, write_center


def _center_with(tmp_path, work_days: str):
    path = write_center(tmp_path / "center.toml")
    text = path.read_text(encoding="utf-8")
    assert "work_days = [1, 2, 3, 4, 5]" in text
    path.write_text(text.replace("work_days = [1, 2, 3, 4, 5]", f"work_days = {work_days}"), encoding="utf-8")
    return path


@pytest.mark.parametrize("work_days, said", [
    ("[0]", "0 is not an ISO weekday (1 = Monday ... 7 = Sunday)"),
    ("[1, 2, 8]", "8 is not an ISO weekday"),
    ("[]", "give at least one working day"),
    ("[1, 2, 2]", "a day is listed twice"),
])
def test_config_check_refuses_impossible_work_days(tmp_path, capsys, work_days, said):
    center = _center_with(tmp_path, work_days)
    assert main(["--center", str(center), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "center.toml: hours.work_days: " in err and said in err
    assert err.split("hours.work_days: ", 1)[1][:4] in ("ngày", "cần ", "một ")  # Vietnamese first
    assert "Value error" not in err


def test_every_iso_weekday_is_accepted(tmp_path, capsys):
    center = _center_with(tmp_path, "[1, 2, 3, 4, 5, 6, 7]")
    assert main(["--center", str(center), "config", "check"]) == 0
    assert "OK:" in capsys.readouterr().out


@pytest.mark.parametrize("breakage", ["work_days", "toml", "missing"])
def test_serve_with_a_broken_center_file_says_what_config_check_says(tmp_path, breakage):
    if breakage == "work_days":
        center = _center_with(tmp_path, "[0]")
    elif breakage == "toml":
        center = tmp_path / "center.toml"
        center.write_text("[center\nname=", encoding="utf-8")
    else:
        center = tmp_path / "absent.toml"
    base = [sys.executable, "-m", "server.cli", "--center", str(center), "--state-dir", str(tmp_path / "state")]
    check = subprocess.run([*base, "config", "check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    serve = subprocess.run([*base, "serve", "--port", str(free_port())], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 2 and serve.returncode == 2
    assert serve.stderr == check.stderr  # the same clean message
    assert len(serve.stderr.strip().splitlines()) == 1 and serve.stderr.startswith("qms: ")
    assert "Traceback" not in serve.stderr + serve.stdout and "Worker failed to boot" not in serve.stderr
