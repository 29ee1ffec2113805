"""Moves: a clerk put on another of their services for some half hours, at no extra
clerk-hours (server/planning/search.py, staffing.apply_move), tried before anything else."""
from datetime import date

from server.planning.check import Citizen, check_plan, day_levels, late_by, live, rows_with, synthetic_day
from server.planning.forecast import Forecast
from server.planning.report import as_dict, as_table
from server.planning.search import Outcome, Search
from server.planning.staffing import Fix, RosterRow, ServiceModel, apply_move, plan_day
from server.scenario import ScenarioCenter

CENTER = ScenarioCenter(name="t", close_s=4 * 1800, services=[
    {"code": "HT", "name": "Hộ tịch"}, {"code": "CT", "name": "Chứng thực"}, {"code": "XH", "name": "Bảo trợ xã hội"}])
NAMES = {s.code: s.name for s in CENTER.services}
DAY = 4 * 1800


def _day():
    """Hộ tịch (about 7 minutes) has c1 alone and c2, who serves it third, after Chứng thực
    (about 2.5 minutes, c3 alone and c2 first): c2 leaves Hộ tịch's queue for Chứng thực's."""
    fc = Forecast(date(2026, 11, 23), 1800, 4, {"HT": [5.0] * 4, "CT": [12.0] * 4},
                  {"HT": [1.0] * 4, "CT": [1.0] * 4}, 10, 2, 1.0, 1.0, 0.05)
    patterns = {"HT": [Citizen("HT", False, s, None, False) for s in (300, 400, 500)],
                "CT": [Citizen("CT", False, s, None, False) for s in (100, 150, 200)]}
    models = {"HT": ServiceModel(400.0, None), "CT": ServiceModel(150.0, None)}
    roster = [RosterRow("c1", 1, ("HT",), 0, DAY), RosterRow("c2", 2, ("CT", "XH", "HT"), 0, DAY),
              RosterRow("c3", 3, ("CT",), 0, DAY)]
    return fc, patterns, models, roster


def test_a_move_splits_the_clerks_rows_only_within_their_shift_and_trained_services():
    rows = [RosterRow("c2", 2, ("CT", "HT"), 0, 3600), RosterRow("c2", 2, ("CT", "HT"), 5400, 9000),
            RosterRow("c1", 1, ("HT",), 0, 9000)]
    moved = apply_move(rows, Fix("move", "HT", "c2", 1800, 7200))
    assert [(r.skills, r.start_s, r.end_s) for r in moved if r.clerk == "c2"] == [
        (("CT", "HT"), 0, 1800), (("HT", "CT"), 1800, 3600),       # the lunch break stays a break
        (("HT", "CT"), 5400, 7200), (("CT", "HT"), 7200, 9000)]
    assert apply_move(rows, Fix("move", "XH", "c2", 0, 3600)) == rows  # not trained for it: nothing
    assert apply_move(rows, Fix("move", "HT", "c9", 0, 3600)) == rows  # not on the roster
    # a training of the plan counts: trained for XH, c2 can be moved to it
    trained = rows_with(rows, (), [Fix("train", "XH", "c2", 0, 1800), Fix("move", "XH", "c2", 0, 1800)], 1800)
    assert [r.skills for r in trained if r.clerk == "c2"][0] == ("XH", "CT", "HT")
    # the moved half hours are lived as that: the clerk signs in again with the service first,
    # no ticket lost, and Hộ tịch's citizens are called sooner
    fc, patterns, _, roster = _day()
    day = synthetic_day(fc, patterns, 7, day_levels(fc, 8)[6])     # the day Hộ tịch is late

    def c2_ht(fixes):
        recs = live(CENTER, rows_with(roster, (), fixes, 1800), day, printed_estimates=False)
        assert len(recs) == len(day)
        return max(r.called_s - r.arrival_s for r in recs if r.service == "HT" and r.called_s is not None)
    assert c2_ht([Fix("move", "HT", "c2", 0, 5400)]) < c2_ht([]) - 120


def test_a_day_a_move_alone_fixes_gets_a_move_and_no_extra_hours():
    fc, patterns, models, roster = _day()
    assert plan_day(fc, models, roster).fixes == []                       # the formula sees no need
    fit = tuple(range(1, 9))
    shares = [late_by(live(CENTER, roster, synthetic_day(fc, patterns, k, lv), printed_estimates=False), fc, 900)
              for k, lv in zip(fit, day_levels(fc, len(fit)))]
    assert min(ok / n for ok, n, _ in shares) < 0.97                      # Hộ tịch is late as rostered
    kw = dict(seeds=fit, held_out=(101, 102, 103))
    without = check_plan(fc, models, roster, CENTER, patterns, max_moves=0, **kw)
    moved = check_plan(fc, models, roster, CENTER, patterns, **kw)
    assert without.plan.extra_clerk_hours() >= 0.5 or without.trained_by_search >= 1
    assert moved.moved_by_search >= 1 and moved.trained_by_search == 0
    assert moved.plan.extra_clerk_hours() == 0
    assert [(f.kind, f.clerk, f.service) for f in moved.plan.fixes] == [("move", "c2", "HT")]
    assert min(moved.shares_by_day) >= 0.97 and min(moved.held_out_shares) >= 0.97 and moved.held_out_kept
    # the plan's roster: c2 serves Hộ tịch first in the moved half hours, as the output says
    f = moved.plan.fixes[0]
    assert any(r.clerk == "c2" and r.skills[0] == "HT" and r.start_s == f.start_s for r in moved.plan.rows)
    d = as_dict(moved.plan, moved, names=NAMES, opens_at="07:30")
    assert [(x["kind"], x["clerk"], x["service"], x["clerk_hours"]) for x in d["fixes"]] == [("move", "c2", "HT", 0.0)]
    assert d["check"]["moved_by_search"] >= 1 and d["extra_clerk_hours"] == 0
    text = as_table(d)
    start, end = f"{7 * 60 + 30 + int(f.start_s // 60)}", f"{7 * 60 + 30 + int(f.end_s // 60)}"
    line = next(x for x in text.splitlines() if "Chuyển cán bộ c2" in x)
    assert line.strip().startswith(f"Chuyển cán bộ c2 sang Hộ tịch (HT) {int(start) // 60:02d}:{int(start) % 60:02d}"
                                   f"–{int(end) // 60:02d}:{int(end) % 60:02d} (làm Hộ tịch trước, không thêm giờ công)")
    assert "/ move c2 to HT" in line
    assert "Tổng giờ công thêm / extra clerk-hours: 0.0" in text
    assert "mô phỏng chuyển cán bộ 1 lần, giao thêm 0 lĩnh vực" in text


def _search(fc, roster, absent=()):
    return Search(fc, roster, absent, lambda fx: rows_with(roster, absent, fx, fc.slot_s), lambda fx, days: {},
                  [0], [], 0.97, 0, 0)


def test_a_move_is_never_proposed_for_an_absent_clerk_or_outside_their_shift():
    fc, _, _, roster = _day()
    busy = {"c1": 6000.0, "c2": 1000.0, "c3": 3000.0}
    late = {("HT", 1): 9, ("HT", 2): 4}
    res = {0: (10, 20, late, busy)}
    cands = _search(fc, roster)._moves(Outcome([], res), [0], late)
    assert [(c[-1].clerk, c[-1].service, c[-1].start_s, c[-1].end_s) for c in cands] == [("c2", "HT", 0, 7200)]
    # c2 absent: nobody else on shift is trained for Hộ tịch and not serving it first
    assert _search(fc, roster, ("c2",))._moves(Outcome([], res), [0], late) == []
    # c2 on shift only 08:30-09:00 (one half hour of the late window, after a break): the move is cut to it
    short = [roster[0], RosterRow("c2", 2, ("CT", "XH", "HT"), 1800, 3600), roster[2]]
    cands = _search(fc, short)._moves(Outcome([], res), [0], late)
    assert [(c[-1].clerk, c[-1].start_s, c[-1].end_s) for c in cands] == [("c2", 1800, 3600)]
    # off shift all through the late half hours: no move
    off = [roster[0], RosterRow("c2", 2, ("CT", "XH", "HT"), 6600, DAY), roster[2]]
    late_early = {("HT", 0): 9}
    assert _search(fc, off)._moves(Outcome([], {0: (10, 20, late_early, busy)}), [0], late_early) == []
