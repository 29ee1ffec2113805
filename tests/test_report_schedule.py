"""The scheduled report: by default Thursday 07:00 (center time) for the past week, written to the
reports folder once, announced on MQTT through the server's own link and a real Mosquitto;
its settings are validated; the API and the command line answer bad periods with a clear error."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from qms_common import wire
from qms_common.clock import FakeClock
from qms_common.errors import ConfigError
from server.cli import main as qms
from server.config import center_from_dict, load_center
from server.engine import Engine
from server.reporting.schedule import ReportScheduler, due
from server.settings import ReportSchedule, ServerSettings
from server.store import Store
from tests.mosquitto_fixture import MqttProbe, require_mosquitto
from tests.server_mqtt_kit import CENTER, anon_broker, start_link

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def at(y, m, d, hh, mm=0) -> float:
    return datetime(y, m, d, hh, mm, tzinfo=TZ).timestamp()


def test_thursday_morning_makes_the_past_weeks_report_once(tmp_path):
    assert ReportSchedule().weekly_day == 4 and ReportSchedule().daily  # by default: Thursdays, and daily
    s = ReportSchedule(daily=False)
    # Wednesday 2 December: last Thursday's (26/11) report covers week 47
    assert [(k, p.slug) for k, p in due(at(2026, 12, 2, 12), s, TZ, tmp_path)] == [("weekly", "2026-W47")]
    # Thursday 3 December 06:59: still week 47; 07:00: week 48 (Monday 23 – Sunday 29 November)
    assert [p.slug for _, p in due(at(2026, 12, 3, 6, 59), s, TZ, tmp_path)] == ["2026-W47"]
    (kind, week), = due(at(2026, 12, 3, 7, 0), s, TZ, tmp_path)
    assert (kind, week.first, week.last) == ("weekly", date(2026, 11, 23), date(2026, 11, 29))
    (tmp_path / "bao-cao-2026-W48.pdf").write_bytes(b"%PDF")  # written: not due again
    assert due(at(2026, 12, 3, 7, 1), s, TZ, tmp_path) == []
    assert due(at(2026, 12, 9, 23, 59), s, TZ, tmp_path) == []
    daily = ReportSchedule(weekly=False, daily=True, daily_at="06:30")
    assert [p.slug for _, p in due(at(2026, 12, 3, 6, 31), daily, TZ, tmp_path)] == ["2026-12-02"]
    monday = ReportSchedule(weekly_day=1, weekly_at="17:30", daily=False, formats=["xlsx"])
    assert [p.slug for _, p in due(at(2026, 11, 30, 17, 30), monday, TZ, tmp_path)] == ["2026-W48"]


def test_the_schedule_settings_are_validated():
    for bad in ({"weekly_day": 8}, {"weekly_day": 0}, {"weekly_at": "7h"}, {"weekly_at": "24:00"},
                {"formats": []}, {"formats": ["docx"]}, {"folder_x": "/tmp"}):
        with pytest.raises(ValidationError):
            ServerSettings(reports=bad)
    assert ServerSettings(state_dir="/srv/qms").reports_folder == Path("/srv/qms/reports")
    data = load_center().model_dump()
    for window in (5, 7200):
        data["satisfaction"] = {"window_s": window}
        with pytest.raises(ConfigError, match="window_s"):
            center_from_dict(data)


@pytest.mark.broker
def test_the_report_is_written_and_announced_on_mqtt(tmp_path):
    require_mosquitto()
    clock = FakeClock(at(2026, 11, 24, 9))  # a Tuesday in week 48: citizens served
    store = Store(tmp_path / "qms.db")
    engine = Engine(store, load_center(), clock)
    engine.sign_in(4, "binh")
    t = engine.issue("HT")
    clock.advance(600)
    engine.call_next(4, "binh")
    engine.start(t["id"], 4, "binh")
    clock.advance(600)
    engine.finish(t["id"], 4, "binh")
    engine.rate(3, counter=4)
    with anon_broker(tmp_path) as broker:
        port = broker.port(1883)
        link = start_link(engine, clock, port)
        probe = MqttProbe.connect(port, client_id="province-uploader")
        try:
            topic = wire.REPORT_READY.topic(center=CENTER)
            probe.subscribe(topic)
            folder = tmp_path / "reports"
            scheduler = ReportScheduler(engine, ReportSchedule(daily=False), folder, publish=link.publish)
            clock.set(at(2026, 12, 3, 6, 59))
            assert scheduler.run_due() == []           # week 47 had no ticket: nothing written
            clock.set(at(2026, 12, 3, 7, 0))
            written = scheduler.run_due()
            assert sorted(p.name for p in written) == sorted(
                f"bao-cao-2026-W48.{f}" for f in ("pdf", "html", "xlsx", "csv"))
            assert (folder / "bao-cao-2026-W48.pdf").read_bytes().startswith(b"%PDF")
            probe.wait(lambda: probe.received(topic), what="report announcement")
            msg = wire.decode(wire.REPORT_READY, probe.received(topic)[0].payload)
            assert (msg.kind, msg.period, msg.first, msg.last) == ("weekly", "2026-W48", "2026-11-23", "2026-11-29")
            assert sorted(msg.files) == sorted(p.name for p in written) and msg.folder == str(folder)
            clock.advance(3600)
            assert scheduler.run_due() == []           # once
        finally:
            probe.close()
            link.stop()
            store.close()


def test_bad_periods_are_clear_errors(tmp_path, capsys, center, clock):
    state = tmp_path / "state"
    Engine(Store(state / "qms.db"), center, clock)
    for args, words in ((["--week", "2026-48"], "2026-W48"), (["--week", "2026-W54"], "Không có tuần"),
                        (["--week", "2026-W48", "--from", "2026-11-23"], "--week hoặc --from"),
                        (["--from", "2025-01-01", "--to", "2026-11-23"], "tối đa một năm"),
                        (["--week", "2026-W48", "--format", "pdf"], "--out")):
        assert qms(["--state-dir", str(state), "report", *args]) == 2, args
        assert words in capsys.readouterr().err, args
    out = tmp_path / "w.xlsx"
    assert qms(["--state-dir", str(state), "report", "--week", "2026-W48", "--format", "xlsx", "--out", str(out)]) == 0
    assert out.read_bytes()[:2] == b"PK"  # a zip: an XLSX workbook


def test_report_file_download_for_directors(tmp_path, center, clock):
    from server.app import create_app
    app = create_app(ServerSettings(state_dir=str(tmp_path), password_profile="cheapest-for-tests"),
                     center=center, clock=clock)
    services = app.extensions["qms"]
    services.auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
    services.auth.add_user("lan", "Lan", "clerk", "matkhau-123")
    director = {"Authorization": f"Bearer {services.auth.login('giamdoc', 'matkhau-123')[0]}"}
    clerk = {"Authorization": f"Bearer {services.auth.login('lan', 'matkhau-123')[0]}"}
    engine = services.engine
    engine.sign_in(4, "lan")
    t = engine.issue("HT")
    engine.call_next(4, "lan")
    client = app.test_client()
    r = client.get("/api/v1/reports/file", query_string={"week": "2026-W48", "format": "xlsx"}, headers=director)
    assert r.status_code == 200 and r.data[:2] == b"PK"
    assert 'filename="bao-cao-2026-W48.xlsx"' in r.headers["Content-Disposition"]
    r = client.get("/api/v1/reports/file", query_string={"from": "2026-11-23", "format": "json"}, headers=director)
    assert r.json["totals"]["issued"] == 1 and r.json["by_counter"] == [] and t["code"]
    r = client.get("/api/v1/reports/file", query_string={"week": "2026-W48", "format": "pdf"}, headers=director)
    assert r.status_code == 200 and r.data.startswith(b"%PDF") and r.mimetype == "application/pdf"
    assert client.get("/api/v1/reports/file", headers=clerk).status_code == 403
    for bad in ({"week": "48"}, {"week": "2026-W48", "from": "2026-11-23"}, {"format": "docx"}):
        r = client.get("/api/v1/reports/file", query_string=bad, headers=director)
        assert r.status_code == 400 and ("Dữ liệu không hợp lệ" in r.json["message"] or "không chọn cả hai" in r.json["message"]), bad
    r = client.get("/api/v1/reports/file", query_string={"week": "2026-W99"}, headers=director)
    assert r.status_code == 400 and "Không có tuần" in r.json["message"]


def test_an_empty_period_starts_no_report_child_until_tickets_arrive(tmp_path, center, monkeypatch):
    """The schedule asks every minute; a week without tickets must not start a child process
    each time (the server shares two cores with the citizens' phones), yet a week whose tickets
    arrive late (a satellite's catch-up) is written once they are there."""
    from server.reporting import isolated
    clock = FakeClock(at(2026, 11, 24, 9))  # Tuesday of week 48
    engine = Engine(Store(tmp_path / "qms.db"), center, clock)
    children = []
    real = isolated.write_all
    monkeypatch.setattr(isolated, "write_all", lambda *a, **k: children.append(a[1].slug) or real(*a, **k))
    sched = ReportScheduler(engine, ReportSchedule(daily=False, formats=["csv"]), tmp_path / "reports")
    clock.now = lambda: at(2026, 12, 3, 8)  # Thursday after week 48: its report is due
    assert sched.run_due() == [] and sched.run_due() == [] and children == []
    clock.now = lambda: at(2026, 11, 24, 9)
    engine.issue("HT")  # a ticket of week 48, come in late
    clock.now = lambda: at(2026, 12, 3, 8, 1)
    written = sched.run_due()
    assert children == ["2026-W48"] and [p.name for p in written] == ["bao-cao-2026-W48.csv"]
