"""``qms plan`` on generated history, and the simulated check of a plan."""
import json
from datetime import date

import pytest

from server.cli import main
from server.planning.check import Citizen, check_plan, late_by, live, synthetic_day
from server.planning.forecast import Forecast
from server.planning.staffing import RosterRow, ServiceModel, plan_day
from server.scenario import ScenarioCenter
from tests.plan_history import history  # noqa: F401  (fixture)


def _plan(capsys, *argv):
    rc = main(["plan", *argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_json_plan_says_what_history_it_used_and_what_is_short(history, capsys):
    rc, out, _ = _plan(capsys, "--date", "2026-11-10", "--history", str(history), "--no-check", "--format", "json")
    assert rc == 0
    d = json.loads(out)
    assert d["date"] == "2026-11-10" and d["weekday"] == "thứ Ba"
    assert d["history"]["days"] == 6 and d["history"]["same_weekday_days"] == 1
    assert any("ngày" in n for n in d["history"]["notes"])
    assert len(d["slots"]) == 18 and d["slots"][0]["start"] == "07:30"
    cell = d["slots"][3]["services"]["HT"]
    assert cell["forecast"] > 0 and cell["needed"] >= 1
    assert set(d["services"]) == {"HT", "CT", "DD", "KD", "XD", "XH"}


def test_two_clerks_absent_need_more_fixes(history, capsys):
    _, out, _ = _plan(capsys, "--date", "2026-11-10", "--history", str(history), "--no-check", "--format", "json")
    base = json.loads(out)
    _, out, _ = _plan(capsys, "--date", "2026-11-10", "--history", str(history), "--no-check", "--format", "json",
                      "--absent", "c3,c7")
    what_if = json.loads(out)
    assert what_if["absent"] == ["c3", "c7"]
    assert what_if["extra_clerk_hours"] > base["extra_clerk_hours"]
    short = sum(c["short"] for s in what_if["slots"] for c in s["services"].values())
    assert short > sum(c["short"] for s in base["slots"] for c in s["services"].values())


def test_table_is_vietnamese_first(history, capsys):
    rc, out, _ = _plan(capsys, "--date", "2026-11-10", "--history", str(history), "--no-check", "--absent", "c3")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("Kế hoạch nhân sự ngày 10/11/2026 (thứ Ba)")
    assert "Vắng / absent: c3" in out
    assert "Cách bù thiếu" in out and "Tổng giờ công thêm" in out
    assert any(line.startswith("09:00–09:30") for line in lines)


@pytest.mark.parametrize("argv, words", [
    (["--date", "2026-13-01"], "ngày không hợp lệ"),
    (["--date", "2026-11-10", "--absent", "c99"], "không có cán bộ c99"),
    (["--date", "2026-11-02"], "không có ngày nào trước"),
])
def test_bad_input_is_a_clear_error(history, capsys, argv, words):
    rc, out, err = _plan(capsys, *argv, "--history", str(history), "--no-check")
    assert rc == 2 and out == ""
    assert words in err and "/" in err          # Vietnamese, then English


def test_check_adds_clerks_until_the_simulated_days_keep_the_promise():
    center = ScenarioCenter(name="t", close_s=4 * 1800, services=[{"code": "HT", "name": "Hộ tịch"}])
    fc = Forecast(date(2026, 11, 23), 1800, 4, {"HT": [9.0, 9.0, 9.0, 9.0]}, {"HT": [3.0] * 4}, 10, 2, 1.0, 1.0, 0.1)
    patterns = {"HT": [Citizen("HT", False, s, None, False) for s in (300, 500, 700, 900)]}
    models = {"HT": ServiceModel(600.0, None)}
    roster = [RosterRow("c1", 1, ("HT",), 0, 4 * 1800), RosterRow("c2", 2, ("HT",), 0, 4 * 1800)]
    short = live(center, roster, synthetic_day(fc, patterns, 9))
    ok, n, _ = late_by(short, fc, 900)
    assert ok / n < 0.9                                  # two clerks are not enough
    result = check_plan(fc, models, roster, center, patterns, seeds=(1, 2, 3, 4), held_out=(101, 102, 103))
    assert min(result.shares_by_day) >= 0.97             # every day checked keeps the promise
    assert len(result.plan.rows) > len(roster)
    ok, n, _ = late_by(live(center, result.plan.rows, synthetic_day(fc, patterns, 9)), fc, 900)
    assert ok / n >= 0.95                                # and on a day it was not checked on
    assert result.plan.extra_clerk_hours() <= plan_day(fc, models, roster).extra_clerk_hours() + 2
    assert result.simulations >= 4 and len(result.first_cut_shares) == 4


def test_check_takes_away_clerk_half_hours_the_days_do_not_need():
    center = ScenarioCenter(name="t", close_s=4 * 1800, services=[{"code": "HT", "name": "Hộ tịch"}])
    fc = Forecast(date(2026, 11, 23), 1800, 4, {"HT": [4.0, 4.0, 4.0, 4.0]}, {"HT": [2.0] * 4}, 10, 2, 1.0, 1.0, 0.1)
    patterns = {"HT": [Citizen("HT", False, s, None, False) for s in (300, 500, 700)]}
    # the formula plans for ten-minute services; the citizens take eight on average
    models = {"HT": ServiceModel(1800.0, None)}
    roster = [RosterRow("c1", 1, ("HT",), 0, 4 * 1800)]
    first = plan_day(fc, models, roster)
    assert first.extra_clerk_hours() >= 2                 # the formula over-staffs
    result = check_plan(fc, models, roster, center, patterns, seeds=(1, 2, 3), held_out=(101, 102, 103))
    assert result.removed > 0
    assert result.plan.extra_clerk_hours() < first.extra_clerk_hours()
    assert min(result.shares_by_day) >= 0.97


def test_the_check_skips_only_the_printed_estimate(history):
    """The check lives its days without the wait printed on tickets: same calls, clerks, outcomes."""
    from server.simulator import history_days
    from server.planning.sources import roster_from
    day = history_days([history])[-1]
    full = live(day.center, roster_from(day), day.arrivals)
    fast = live(day.center, roster_from(day), day.arrivals, printed_estimates=False)
    assert [(r.service, r.called_s, r.clerk, r.outcome) for r in full] == \
        [(r.service, r.called_s, r.clerk, r.outcome) for r in fast]
    assert any(r.predicted_wait_s for r in full) and not any(r.predicted_wait_s for r in fast)


def test_check_of_a_what_if_with_a_clerk_absent_adds_more():
    center = ScenarioCenter(name="t", close_s=4 * 1800, services=[{"code": "HT", "name": "Hộ tịch"}])
    fc = Forecast(date(2026, 11, 23), 1800, 4, {"HT": [6.0, 6.0, 6.0, 6.0]}, {"HT": [2.5] * 4}, 10, 2, 1.0, 1.0, 0.1)
    patterns = {"HT": [Citizen("HT", False, s, None, False) for s in (300, 500, 700, 900)]}
    models = {"HT": ServiceModel(600.0, None)}
    roster = [RosterRow(f"c{k}", k, ("HT",), 0, 4 * 1800) for k in (1, 2, 3)]
    full = check_plan(fc, models, roster, center, patterns, seeds=(1, 2, 3), held_out=(101, 102, 103))
    what_if = check_plan(fc, models, roster, center, patterns, absent=("c2",), seeds=(1, 2, 3),
                         held_out=(101, 102, 103))
    assert "c2" not in {r.clerk for r in what_if.plan.rows}
    assert what_if.plan.extra_clerk_hours() > full.plan.extra_clerk_hours()
    assert min(what_if.shares_by_day) >= 0.97


def test_table_and_json_say_what_the_check_did():
    from server.planning.report import as_dict, as_table
    center = ScenarioCenter(name="t", close_s=4 * 1800, services=[{"code": "HT", "name": "Hộ tịch"}])
    fc = Forecast(date(2026, 11, 23), 1800, 4, {"HT": [9.0, 9.0, 9.0, 9.0]}, {"HT": [3.0] * 4}, 10, 2, 1.0, 1.0, 0.1)
    patterns = {"HT": [Citizen("HT", False, s, None, False) for s in (300, 500, 700, 900)]}
    roster = [RosterRow("c1", 1, ("HT",), 0, 4 * 1800), RosterRow("c2", 2, ("HT",), 0, 4 * 1800)]
    ck = check_plan(fc, {"HT": ServiceModel(600.0, None)}, roster, center, patterns, seeds=(1, 2),
                    held_out=(101, 102))
    d = as_dict(ck.plan, ck, names={"HT": "Hộ tịch"}, opens_at="07:30")
    assert d["check"]["synthetic_days"] == 2 and len(d["check"]["first_cut_by_day"]) == 2
    assert d["check"]["simulations"] == ck.simulations and d["extra_clerk_hours"] == ck.plan.extra_clerk_hours()
    text = as_table(d)
    assert f"Ngày thấp nhất {min(ck.shares_by_day) * 100:.1f}%" in text and "lowest day" in text
    assert "Thêm" in text                                # the clerks added, as a fix
    assert d["check"]["held_out_days"] == 2 and len(d["check"]["held_out_by_day"]) == 2
    assert "2 ngày kiểm chứng riêng" in text and "held-out days (never used to choose)" in text
