"""The scenario simulator replays a day through the real engine in virtual time."""
from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from qms_common.errors import ConfigError
from server.scenario import load_scenario
from server.simulator import REPORT_COLUMNS, simulate


def test_satellite_day_every_citizen_accounted_for():
    scenario = load_scenario("satellite-point")
    result = simulate(scenario)
    assert len(result.records) == len([a for a in scenario.arrivals if a.arrival_s <= scenario.center.close_s])
    for r in result.records:
        assert r.outcome in ("done", "no_show", "abandoned", "unserved")
        if r.called_s is not None:
            assert r.called_s >= r.arrival_s
            assert r.counter in {s.counter for s in scenario.shifts}
        if r.outcome == "done":
            assert r.finished_s - r.started_s == pytest.approx(r.service_s, abs=0.01)
    # the scenario marks who will not show up; the simulation must agree
    assert sum(r.outcome == "no_show" for r in result.records) == sum(a.no_show for a in scenario.arrivals)
    s = result.summary()
    assert 0 < s["within_target"] <= 1 and s["served"] > 0.9 * s["tickets"]


def test_report_has_the_columns_the_format_asks_for():
    result = simulate("satellite-point")
    out = io.StringIO()
    result.write_csv(out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == REPORT_COLUMNS
    assert len(rows) == len(result.records)


def test_a_clerk_only_serves_services_of_the_counter():
    scenario = load_scenario("ward-weekday")
    skills = {s.counter: set(s.skills) for s in scenario.shifts}
    for r in simulate(scenario).records:
        if r.counter is not None:
            assert r.service in skills[r.counter]


def test_bad_scenarios_name_file_and_line(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    with pytest.raises(ConfigError, match="center.json"):
        load_scenario(folder)
    (folder / "center.json").write_text('{"name": "x", "close_s": 100, "services": [{"code": "HT", "name": "Hộ tịch"}]}')
    (folder / "staff.csv").write_text("clerk,counter,skills,start_s,end_s\nc1,1,HT,0,100\n")
    (folder / "arrivals.csv").write_text("arrival_s,service,priority,service_s,patience_s,no_show\n1,HT,0,10,,0\n"
                                         "2,QQ,0,10,,0\n")
    with pytest.raises(ConfigError, match=r"arrivals.csv: line 3: unknown service 'QQ'"):
        load_scenario(folder)
    (folder / "arrivals.csv").write_text("arrival_s,service,priority,service_s,patience_s,no_show\nsoon,HT,0,10,,0\n")
    with pytest.raises(ConfigError, match="line 2"):
        load_scenario(folder)


# --- the format's rules, one small day each --------------------------------------------------
def _day(folder, arrivals, staff, *, close_s=1000, services=("HT", "CT"), **center):
    """A scenario folder: arrivals as (arrival_s, service, service_s[, patience_s, no_show]),
    staff as (clerk, counter, skills, start_s, end_s)."""
    folder.mkdir(parents=True)
    data = {"name": "test", "close_s": close_s, "services": [{"code": c, "name": c} for c in services], **center}
    (folder / "center.json").write_text(json.dumps(data))
    (folder / "staff.csv").write_text("clerk,counter,skills,start_s,end_s\n" + "".join(
        f"{c},{n},{sk},{a},{b}\n" for c, n, sk, a, b in staff))
    rows = []
    for a in arrivals:
        t, svc, dur, patience, no_show = (*a, "", 0)[:5] if len(a) < 5 else a
        rows.append(f"{t},{svc},0,{dur},{patience},{no_show}\n")
    (folder / "arrivals.csv").write_text("arrival_s,service,priority,service_s,patience_s,no_show\n" + "".join(rows))
    return folder


def _by_arrival(result):
    return {r.arrival_s: r for r in result.records}


def test_service_starts_at_the_call_unless_the_center_has_a_walk(tmp_path):
    staff = [("c1", 1, "HT", 0, 1000)]
    arrivals = [(10, "HT", 100), (20, "HT", 50)]
    plain = _by_arrival(simulate(_day(tmp_path / "plain", arrivals, staff)))
    assert plain[10].called_s == plain[10].started_s == 10
    assert plain[20].called_s == plain[20].started_s == 110  # the counter was free at 10 + 100
    walk = _by_arrival(simulate(_day(tmp_path / "walk", arrivals, staff, walk_s=30)))
    assert (walk[10].called_s, walk[10].started_s, walk[10].finished_s) == (10, 40, 140)
    assert walk[20].called_s == 140  # the counter is held during the walk


def test_no_show_hold_is_the_centers_or_a_minute(tmp_path):
    staff = [("c1", 1, "HT", 0, 1000)]
    arrivals = [(10, "HT", 100, "", 1), (20, "HT", 50)]
    default = _by_arrival(simulate(_day(tmp_path / "default", arrivals, staff)))
    assert default[10].outcome == "no_show" and default[10].started_s is None
    assert default[20].called_s == 10 + 60
    held = _by_arrival(simulate(_day(tmp_path / "held", arrivals, staff, no_show_hold_s=150)))
    assert held[20].called_s == 10 + 150


def test_each_shift_row_brings_its_own_skills(tmp_path):
    # c1 does HT in the morning and CT in the afternoon; the CT citizen waits for the afternoon,
    # the late HT citizen is never served by a clerk who no longer does HT
    staff = [("c1", 1, "HT", 0, 100), ("c1", 1, "CT", 200, 400)]
    arrivals = [(10, "CT", 30), (20, "HT", 30), (250, "HT", 30)]
    r = _by_arrival(simulate(_day(tmp_path / "d", arrivals, staff)))
    assert r[20].called_s == 20 and r[10].called_s == 200
    assert r[250].outcome == "unserved" and r[250].called_s is None


def test_breaks_are_the_gaps_between_a_clerks_rows(tmp_path):
    staff = [("c1", 1, "HT", 0, 100), ("c1", 1, "HT", 300, 500)]
    arrivals = [(50, "HT", 80), (60, "HT", 10)]
    r = _by_arrival(simulate(_day(tmp_path / "d", arrivals, staff)))
    assert r[50].called_s == 50 and r[50].finished_s == 130  # the citizen in hand is finished after 100
    assert r[60].called_s == 300  # nobody is called during the break


def test_nobody_is_called_after_the_last_shift(tmp_path):
    staff = [("c1", 1, "HT", 0, 100), ("c2", 2, "HT", 0, 110)]
    arrivals = [(10, "HT", 200), (20, "HT", 100), (30, "HT", 10)]  # kiosk open until 1000
    r = _by_arrival(simulate(_day(tmp_path / "d", arrivals, staff)))
    assert r[10].finished_s == 210 and r[20].finished_s == 120  # hands finish after the shift
    assert r[30].outcome == "unserved" and r[30].called_s is None


def test_history_days_are_lived_first_in_the_same_event_log(tmp_path):
    from server.simulator import Simulation, history_days
    staff = [("c1", 1, "HT", 0, 1000)]
    for i, d in enumerate(("2026-11-02", "2026-11-03")):
        _day(tmp_path / "hist" / d, [(10, "HT", 100 + i), (20, "HT", 100)], staff, date=d)
    today = load_scenario(_day(tmp_path / "today", [(10, "HT", 100)], staff, date="2026-11-04"))
    db = tmp_path / "sim.db"
    result = Simulation(today, history=history_days([tmp_path / "hist"]), db_path=db).run()
    assert len(result.records) == 1 and result.records[0].called_s == 10
    conn = sqlite3.connect(db)
    days = [r[0] for r in conn.execute("SELECT day FROM tickets ORDER BY day, id")]
    assert days == ["2026-11-02", "2026-11-02", "2026-11-03", "2026-11-03", "2026-11-04"]
    durations = sorted(round(r[0]) for r in conn.execute(
        "SELECT finished_at - started_at FROM tickets WHERE day < '2026-11-04'"))
    assert durations == [100, 100, 100, 101]


def test_cli_simulate_with_history(tmp_path, capsys):
    from server.cli import main
    staff = [("c1", 1, "HT", 0, 1000)]
    _day(tmp_path / "hist" / "2026-11-02", [(10, "HT", 100)], staff, date="2026-11-02")
    _day(tmp_path / "today", [(10, "HT", 100), (20, "HT", 50)], staff, date="2026-11-03")
    assert main(["simulate", str(tmp_path / "today"), "--history", str(tmp_path / "hist")]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["outcome"] for r in rows] == ["done", "done"]
    assert "2 tickets, 2 served" in err
