"""The database (and its -wal/-shm), the secret key and device tokens are created readable by
their owner only, whatever the umask; an older, more open database is tightened."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.outbox import Outbox
from server.cli import main
from server.engine import Engine
from server.settings import ServerSettings
from server.store import Store

ROOT = Path(__file__).resolve().parents[1]


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask():
    """The usual 022 of a shell or a unit without UMask=: files would be world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_database_and_its_wal_and_shm_are_owner_only(tmp_path, center, clock):
    db = tmp_path / "var" / "server" / "qms.db"
    store = Store(db)
    Engine(store, center, clock).issue("HT")  # a commit: the WAL and shared-memory files exist now
    files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    assert all(p.exists() for p in files)
    assert [oct(mode(p)) for p in files] == [oct(0o600)] * 3
    assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700
    store.close()


def test_an_older_world_readable_database_is_tightened(tmp_path, center, clock):
    db = tmp_path / "qms.db"
    Store(db).close()
    os.chmod(db, 0o644)
    Store(db).close()
    assert mode(db) == 0o600


def test_secret_key_and_token_files_are_owner_only(tmp_path, capsys):
    settings = ServerSettings(state_dir=str(tmp_path / "state"))
    settings.secret_key()
    assert mode(tmp_path / "state" / "secret_key") == 0o600 and mode(tmp_path / "state") == 0o700
    token_file = tmp_path / "tokens" / "kiosk-1.token"
    token_file.parent.mkdir()
    token_file.write_text("old\n")
    os.chmod(token_file, 0o644)  # left by an earlier install
    assert main(["--state-dir", str(tmp_path / "state"), "device", "add", "kiosk-1", "--kind", "kiosk",
                 "--token-file", str(token_file)]) == 0
    assert mode(token_file) == 0o600 and token_file.read_text().strip() != "old"


def test_kiosk_outbox_is_owner_only(tmp_path):
    box = Outbox(tmp_path / "kiosk" / "outbox.db")
    assert mode(tmp_path / "kiosk" / "outbox.db") == 0o600
    box.close()


def test_qms_init_in_a_real_process(tmp_path):
    env = {**os.environ, "QMS_SECRET_KEY": "x"}
    r = subprocess.run([sys.executable, "-m", "server.cli", "--state-dir", str(tmp_path / "srv"), "init"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert mode(tmp_path / "srv" / "qms.db") == 0o600 and mode(tmp_path / "srv") == 0o700


@pytest.mark.parametrize("unit", ["qms-server", "qms-kiosk"])
def test_the_units_holding_databases_and_tokens_create_owner_only_files(unit):
    text = (ROOT / "systemd" / f"{unit}.service").read_text(encoding="utf-8")
    assert "\nUMask=0077\n" in text and "\nStateDirectoryMode=0700\n" in text
