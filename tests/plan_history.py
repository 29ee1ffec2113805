"""Six generated ward days (seed 41) as a plan's history: shared by the CLI and the page tests."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GENERATE = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "generate.py"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    out = tmp_path_factory.mktemp("hist") / "ward"
    subprocess.run([sys.executable, str(GENERATE), "ward", "--date", "2026-11-02", "--days", "6", "--seed", "41",
                    "--out", str(out)], check=True, capture_output=True)
    return out
