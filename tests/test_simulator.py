"""The scenario simulator replays a day through the real engine in virtual time."""
from __future__ import annotations

import csv
import io

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
