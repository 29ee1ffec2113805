"""Personal data (Nghị định 13/2023/NĐ-CP): none by default; an optional, validated call-back
phone number and name when the center turns it on, kept apart from the event log, deleted
after ``retention_days`` by the scheduled purge, and left out of exports and reports unless
asked for with ``--include-personal``."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

from qms_common.clock import FakeClock
from server.app import create_app
from server.config import center_from_dict, sample_center_text
from server.privacy import Callbacks
from server.reporting import files, period
from server.settings import ServerSettings
from tests.conftest import MONDAY_9AM
from tests.live_server import ROOT

PHONE = "0912345678"


def make(tmp_path, *, callback: bool, days: int = 30):
    text = sample_center_text(enforce_hours=False).replace("callback = false", f"callback = {str(callback).lower()}")
    text = text.replace("retention_days = 30", f"retention_days = {days}")
    config = center_from_dict(tomllib.loads(text))
    clock = FakeClock(MONDAY_9AM)
    app = create_app(ServerSettings(state_dir=str(tmp_path), password_profile="cheapest-for-tests"), center=config,
                     clock=clock)
    kiosk = app.extensions["qms"].auth.add_device("k1", "kiosk")
    return app, app.test_client(), {"Authorization": f"Bearer {kiosk}"}, clock


def personal_anywhere(app) -> list[str]:
    """Every table, every column: where the phone number is stored."""
    conn = app.extensions["qms"].engine.store.conn()
    found = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for row in conn.execute(f"SELECT * FROM {table}").fetchall():
            if any(PHONE in str(v) for v in tuple(row)):
                found.append(table)
    return found


def test_nothing_personal_by_default(tmp_path):
    app, client, kiosk, _ = make(tmp_path, callback=False)
    r = client.post("/api/v1/tickets", json={"service": "HT", "callback": {"phone": PHONE}}, headers=kiosk)
    assert r.status_code == 403 and "không thu thập" in r.json["message"]
    assert client.post("/api/v1/tickets", json={"service": "HT"}, headers=kiosk).status_code == 201
    assert personal_anywhere(app) == []
    # and no ticket was issued by the refused request
    assert len(app.extensions["qms"].engine.tickets()) == 1


def test_callback_is_optional_validated_kept_apart_and_purged(tmp_path):
    app, client, kiosk, clock = make(tmp_path, callback=True, days=7)
    engine = app.extensions["qms"].engine
    for bad in ({"phone": "12345"}, {"phone": "0912 345 678"}, {"phone": PHONE, "name": ""},
                {"phone": PHONE, "email": "a@b.vn"}, {"phone": 912345678}):
        r = client.post("/api/v1/tickets", json={"service": "HT", "callback": bad}, headers=kiosk)
        assert r.status_code == 400 and r.json["error"] == "validation_error", (bad, r.json)
    assert engine.tickets() == []  # a refused call-back issues no ticket
    assert client.post("/api/v1/tickets", json={"service": "CT"}, headers=kiosk).status_code == 201  # optional
    r = client.post("/api/v1/tickets", json={"service": "HT", "client_ref": "k1-000000001",
                                             "callback": {"phone": PHONE, "name": "Nguyễn Văn An"}}, headers=kiosk)
    assert r.status_code == 201
    assert PHONE not in json.dumps(r.json)  # not echoed on the ticket (which the kiosk prints as a QR)
    assert personal_anywhere(app) == ["callbacks"]  # never in the events, tickets or anywhere else
    ticket = r.json["id"]
    callbacks = Callbacks(engine.store, engine.config, clock)
    assert callbacks.rows(engine.today()) == [{"code": "HT-001", "service": "HT", "site": "main",
                                               "issued_at": clock.now()}]
    assert callbacks.rows(engine.today(), include_personal=True)[0]["phone"] == PHONE
    report = files.build(engine, period.days(engine.today(), engine.today()))
    assert PHONE not in json.dumps(report, ensure_ascii=False) and "Nguyễn Văn An" not in json.dumps(
        report, ensure_ascii=False)
    clock.advance(6 * 86400)
    assert callbacks.purge() == 0  # within retention_days
    clock.advance(86400 + 1)
    assert callbacks.purge() == 1
    assert personal_anywhere(app) == []
    assert engine.ticket(ticket)["code"] == "HT-001"  # the ticket and its statistics stay


def test_the_scheduled_purge_and_the_export_flag_from_the_command_line(tmp_path):
    center = tmp_path / "center.toml"
    center.write_text(sample_center_text(enforce_hours=False).replace("callback = false", "callback = true")
                      .replace("retention_days = 30", "retention_days = 1"), encoding="utf-8")
    settings = tmp_path / "server.toml"
    settings.write_text(f'state_dir = "{tmp_path}"\ncenter_file = "{center}"\n', encoding="utf-8")
    from server.engine import Engine
    from server.store import Store
    from server.config import load_center
    from qms_common.clock import SystemClock
    engine = Engine(Store(tmp_path / "qms.db"), load_center(center), SystemClock())
    t = engine.issue("HT")
    from server.privacy import CallbackIn
    Callbacks(engine.store, engine.config, FakeClock(SystemClock().now() - 3 * 86400)).save(
        t["id"], CallbackIn(phone=PHONE, name="Trần Thị Bình"))

    def qms(*args):
        return subprocess.run([sys.executable, "-m", "server.cli", "--settings", str(settings), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    plain = qms("privacy", "export", "--day", engine.today().isoformat())
    assert plain.returncode == 0 and t["code"] in plain.stdout and PHONE not in plain.stdout
    assert plain.stdout.splitlines()[0] == "code,service,site,issued_at"
    full = qms("privacy", "export", "--day", engine.today().isoformat(), "--include-personal")
    assert PHONE in full.stdout and "Trần Thị Bình" in full.stdout
    events = qms("export-events")
    assert events.returncode == 0 and PHONE not in events.stdout
    purge = qms("privacy", "purge")
    assert purge.returncode == 0 and "đã xóa 1" in purge.stdout, purge.stdout + purge.stderr
    again = qms("privacy", "export", "--day", engine.today().isoformat(), "--include-personal")
    assert PHONE not in again.stdout


@pytest.mark.parametrize("days", [0, 366])
def test_retention_is_bounded(days):
    from qms_common.errors import QmsError
    with pytest.raises(QmsError, match="retention_days"):
        center_from_dict(tomllib.loads(sample_center_text().replace("retention_days = 30", f"retention_days = {days}")))
