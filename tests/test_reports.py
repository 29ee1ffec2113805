"""Reports from the event log: the numbers a director sends to the province."""
from __future__ import annotations

import csv
import io
from datetime import date

from server.app import create_app
from server.cli import main as qms
from server.reports import daily_report, write_csv
from server.settings import ServerSettings


def a_morning(engine, clock):
    """Four HT citizens and one CT citizen at counter 4/2; waits of 5, 20 min, a no-show, one who left."""
    engine.sign_in(4, "binh")
    quick = engine.issue("HT")
    slow = engine.issue("HT")
    absent = engine.issue("HT")
    gone = engine.issue("HT")
    clock.advance(300)
    engine.call_next(4, "binh")                      # quick: waited 5 min
    engine.start(quick["id"], 4, "binh")
    clock.advance(900)
    engine.finish(quick["id"], 4, "binh")            # served in 15 min
    engine.rate(4, counter=4)
    engine.call_next(4, "binh")                      # slow: waited 20 min
    engine.start(slow["id"], 4, "binh")
    clock.advance(2400)
    engine.call_next(4, "binh")                      # slow finished after 40 min; absent called
    engine.no_show(absent["id"], 4, "binh")
    engine.abandon(gone["id"], actor="binh", reason="left")
    engine.issue("CT")


def test_daily_report_counts_waits_targets_and_ratings(engine, clock):
    a_morning(engine, clock)
    day = engine.today()
    rows = daily_report(engine.events_of_days(day, day), engine.config, day, day)
    ht = next(r for r in rows if r["service"] == "HT")
    assert (ht["issued"], ht["served"], ht["no_show"], ht["abandoned"], ht["open"]) == (4, 2, 1, 1, 0)
    # waits 5, 20 and 60 min (the no-show was called after an hour)
    assert ht["mean_wait_min"] == round((5 + 20 + 60) / 3, 1)
    assert ht["called_within_target"] == round(1 / 3, 3)
    assert ht["mean_service_min"] == round((15 + 40) / 2, 1)
    assert ht["served_within_target"] == 0.5
    assert (ht["ratings"], ht["mean_rating"]) == (1, 4)
    ct = next(r for r in rows if r["service"] == "CT")
    assert (ct["issued"], ct["open"], ct["mean_wait_min"]) == (1, 1, None)
    assert [r["service"] for r in rows] == ["HT", "CT"]  # the center's order; services without tickets left out


def test_report_of_other_days_is_empty_and_csv_is_well_formed(engine, clock):
    a_morning(engine, clock)
    assert daily_report(engine.events_of_days(date(2026, 11, 20), date(2026, 11, 22)), engine.config,
                        date(2026, 11, 20), date(2026, 11, 22)) == []
    out = io.StringIO()
    day = engine.today()
    write_csv(daily_report(engine.events_of_days(day, day), engine.config, day, day), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["Lĩnh vực"] == "Hộ tịch" and rows[1]["Thời gian chờ trung bình (phút)"] == ""
    assert rows[0]["Tỷ lệ được gọi trong 15 phút"] == "33.3%"  # a percentage, not 0.333


def test_report_api_for_directors_only(tmp_path, center, clock):
    app = create_app(ServerSettings(state_dir=str(tmp_path), password_profile="cheapest-for-tests"),
                     center=center, clock=clock)
    qms_ = app.extensions["qms"]
    a_morning(qms_.engine, clock)
    qms_.auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
    qms_.auth.add_user("lan", "Lan", "clerk", "matkhau-123")
    director, _, _ = qms_.auth.login("giamdoc", "matkhau-123")
    clerk, _, _ = qms_.auth.login("lan", "matkhau-123")
    client = app.test_client()
    r = client.get("/api/v1/reports/daily", query_string={"from": "2026-11-23", "to": "2026-11-23"},
                   headers={"Authorization": f"Bearer {director}"})
    assert r.status_code == 200 and r.json["rows"][0]["issued"] == 4
    assert client.get("/api/v1/reports/daily", headers={"Authorization": f"Bearer {clerk}"}).status_code == 403
    bad = client.get("/api/v1/reports/daily", query_string={"from": "2026-11-24", "to": "2026-11-23"},
                     headers={"Authorization": f"Bearer {director}"})
    assert bad.status_code == 400 and "after" in bad.json["message"]
    bad = client.get("/api/v1/reports/daily", query_string={"from": "23/11/2026"},
                     headers={"Authorization": f"Bearer {director}"})
    assert bad.status_code == 400 and "from" in bad.json["message"]


def test_report_command(tmp_path, capsys, center, clock):
    from server.engine import Engine
    from server.store import Store
    state = tmp_path / "state"
    a_morning(Engine(Store(state / "qms.db"), center, clock), clock)
    assert qms(["--state-dir", str(state), "report", "--from", "2026-11-23", "--to", "2026-11-23"]) == 0
    out = capsys.readouterr().out
    assert "Hộ tịch" in out and "23/11/2026" in out and "33%" in out
    assert qms(["--state-dir", str(state), "report", "--from", "2026-11-24", "--to", "2026-11-23"]) == 2
    assert "after" in capsys.readouterr().err


def test_days_in_the_wrong_order_are_one_refusal_with_its_own_code(tmp_path, center, clock):
    """The report file and the daily table refused "from" after "to" with the code "error" and two
    wordings (one with ISO days); both now say it alike, with ``invalid_period``."""
    app = create_app(ServerSettings(state_dir=str(tmp_path), password_profile="cheapest-for-tests"),
                     center=center, clock=clock)
    qms_ = app.extensions["qms"]
    qms_.auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
    director, _, _ = qms_.auth.login("giamdoc", "matkhau-123")
    client = app.test_client()
    h = {"Authorization": f"Bearer {director}"}
    days = {"from": "2026-11-24", "to": "2026-11-23"}
    table = client.get("/api/v1/reports/daily", query_string=days, headers=h)
    file = client.get("/api/v1/reports/file", query_string={**days, "format": "json"}, headers=h)
    for r in (table, file):
        assert r.status_code == 400 and r.json["error"] == "invalid_period"
        assert r.json["message"].startswith("Ngày bắt đầu (24/11/2026) sau ngày kết thúc (23/11/2026); ")
    year = client.get("/api/v1/reports/file", query_string={"from": "2025-01-01", "to": "2026-11-23", "format": "json"},
                      headers=h)
    assert year.status_code == 400 and year.json["error"] == "invalid_period"
