"""The simulated correction of a plan: trainings before clerk-half-hours, held-out days that
judge it, and clerks added with two services (server/planning/search.py)."""
from datetime import date

from server.planning.check import Citizen, check_plan, late_by, live, rows_with, synthetic_day
from server.planning.forecast import Forecast
from server.planning.search import _second
from server.planning.staffing import Fix, RosterRow, ServiceModel, plan_day
from server.scenario import ScenarioCenter

CENTER = ScenarioCenter(name="t", close_s=4 * 1800, services=[{"code": "HT", "name": "Hộ tịch"},
                                                                {"code": "DD", "name": "Đất đai"}])


def _two_services(dd_per_half_hour: float):
    fc = Forecast(date(2026, 11, 23), 1800, 4, {"HT": [1.5] * 4, "DD": [dd_per_half_hour] * 4},
                  {"HT": [1.0] * 4, "DD": [1.5] * 4}, 10, 2, 1.0, 1.0, 0.05)
    patterns = {"HT": [Citizen("HT", False, s, None, False) for s in (200, 300, 400)],
                "DD": [Citizen("DD", False, s, None, False) for s in (300, 400, 500)]}
    # the formula is told Đất đai takes 2 minutes, so its first cut sees nothing short: every
    # change below is the simulation's
    models = {"HT": ServiceModel(300.0, None), "DD": ServiceModel(120.0, None)}
    roster = [RosterRow("c1", 1, ("HT",), 0, 4 * 1800), RosterRow("c2", 2, ("DD",), 0, 4 * 1800)]
    return fc, patterns, models, roster


def test_the_search_trains_an_idle_clerk_before_it_adds_clerk_hours():
    fc, patterns, models, roster = _two_services(3.5)
    assert plan_day(fc, models, roster).fixes == []                       # the formula sees no need
    ok, n, _ = late_by(live(CENTER, roster, synthetic_day(fc, patterns, 2)), fc, 900)
    assert ok / n < 0.9                                                   # one clerk for Đất đai is late
    without = check_plan(fc, models, roster, CENTER, patterns, seeds=(1, 2, 3), held_out=(101, 102, 103),
                         max_trainings=0)
    trained = check_plan(fc, models, roster, CENTER, patterns, seeds=(1, 2, 3), held_out=(101, 102, 103))
    assert without.trained_by_search == 0 and without.plan.extra_clerk_hours() >= 0.5
    assert trained.trained_by_search >= 1
    assert any(f.kind == "train" and f.clerk == "c1" and f.service == "DD" for f in trained.plan.fixes)
    assert "DD" in next(r.skills for r in trained.plan.rows if r.clerk == "c1")
    assert trained.plan.extra_clerk_hours() < without.plan.extra_clerk_hours()
    assert min(trained.shares_by_day) >= 0.97 and min(trained.held_out_shares) >= 0.97 and trained.held_out_kept


def test_the_held_out_days_keep_the_promise_when_the_check_says_so():
    center = ScenarioCenter(name="t", close_s=4 * 1800, services=[{"code": "HT", "name": "Hộ tịch"}])
    fc = Forecast(date(2026, 11, 23), 1800, 4, {"HT": [9.0] * 4}, {"HT": [3.0] * 4}, 10, 2, 1.0, 1.0, 0.1)
    patterns = {"HT": [Citizen("HT", False, s, None, False) for s in (300, 500, 700, 900)]}
    models = {"HT": ServiceModel(600.0, None)}
    roster = [RosterRow("c1", 1, ("HT",), 0, 4 * 1800), RosterRow("c2", 2, ("HT",), 0, 4 * 1800)]
    held = (201, 202, 203, 204)
    ck = check_plan(fc, models, roster, center, patterns, seeds=(1, 2), held_out=held, rotate=False)
    assert len(ck.held_out_shares) == len(held) and len(ck.shares_by_day) == 2 and ck.rotated == 0
    assert ck.held_out_kept and min(ck.held_out_shares) >= 0.97
    # the held-out days, lived again here with the plan's roster, say the same
    from server.planning.check import day_levels
    for seed, lv, sh in zip(held, day_levels(fc, len(held)), ck.held_out_shares):
        ok, n, _ = late_by(live(center, ck.plan.rows, synthetic_day(fc, patterns, seed, lv)), fc, 900)
        assert abs(ok / n - sh) < 1e-9


def test_an_added_clerk_is_trained_for_the_late_service_and_a_second_one():
    fc, _, _, roster = _two_services(3.0)
    late = {("DD", 1): 5, ("HT", 2): 2, ("HT", 3): 9}
    assert _second(roster, "DD", 1, late) == ("HT",)                      # HT late next to it
    assert _second([RosterRow("c5", 5, ("DD", "XD"), 0, 1800)], "DD", 1, {}) == ("XD",)  # as the roster trains
    rows = rows_with(roster, (), [Fix("add", "DD", None, 1800, 3600, ("HT",)),
                                  Fix("add", "DD", None, 3600, 5400, ("HT",))], 1800)
    added = [r for r in rows if r.clerk.startswith("them")]
    assert [(r.skills, r.start_s, r.end_s) for r in added] == [(("DD", "HT"), 1800, 5400)]   # one shift


def test_a_held_out_day_under_the_promise_becomes_a_fit_day_and_a_fresh_one_judges():
    center = ScenarioCenter(name="t", close_s=4 * 1800, services=[{"code": "HT", "name": "Hộ tịch"}])
    fc = Forecast(date(2026, 11, 23), 1800, 4, {"HT": [9.0] * 4}, {"HT": [3.0] * 4}, 10, 2, 1.0, 1.0, 0.3)
    patterns = {"HT": [Citizen("HT", False, s, None, False) for s in (300, 500, 700, 900)]}
    models = {"HT": ServiceModel(200.0, None)}     # the formula is told 200 s: it plans too few
    roster = [RosterRow("c1", 1, ("HT",), 0, 4 * 1800), RosterRow("c2", 2, ("HT",), 0, 4 * 1800)]
    # one fit day at the forecast level; held-out days spread 30% around it, the busiest above it
    ck = check_plan(fc, models, roster, center, patterns, seeds=(1,), held_out=(301, 302, 303, 304, 305, 306))
    assert ck.rotated >= 1                                  # some held-out day was under 97%
    assert len(ck.shares_by_day) == 1 + ck.rotated          # and became a fit day
    assert len(ck.held_out_shares) == 6
    assert ck.held_out_kept and min(ck.held_out_shares) >= 0.97 and min(ck.shares_by_day) >= 0.97


def _fake_days(effect):
    """A ``lived`` for the search without the engine: three fit days of 100 citizens each, whose
    citizens called in time are ``effect(day, fixes)``; the late ones are Đất đai's, half hour 1."""
    def lived(fixes, which):
        out = {}
        for k in which:
            ok = effect(k, fixes)
            out[k] = (ok, 100, {("DD", 1): 100 - ok} if ok < 100 else {}, {"c1": 600.0, "c2": 900.0, "c3": 7000.0})
        return out
    return lived


def test_a_training_that_costs_the_days_already_kept_is_not_taken():
    from server.planning.search import Search
    fc, _, _, _ = _two_services(3.0)
    roster = [RosterRow("c1", 1, ("HT",), 0, 4 * 1800), RosterRow("c2", 2, ("HT",), 0, 4 * 1800),
              RosterRow("c3", 3, ("DD",), 0, 4 * 1800)]

    def effect(day, fixes):
        trained = any(f.kind == "train" for f in fixes)
        more = any(f.kind in ("add", "extend") for f in fixes)
        if day == 0:                                   # the day under the promise: both help it
            return 100 if trained else 98 if more else 90
        return 90 if trained else 100                  # the days kept: the training takes a clerk off HT
    search = Search(fc, roster, (), lambda fx: rows_with(roster, (), fx, 1800), _fake_days(effect), [0, 1, 2], [],
                    0.97, 0, 0)
    out = search.up([], 10)
    assert [f.kind for f in out.fixes] == ["add"] or [f.kind for f in out.fixes] == ["extend"]
    assert out.trained == 0 and out.added == 1
    assert all(out.res[k][0] >= 97 for k in (0, 1, 2))
    assert any("costs the other fit days" in line for line in out.log)

    # the same training, harmless to the days kept, is taken before any clerk-hour
    def harmless(day, fixes):
        return 100 if any(f.kind == "train" for f in fixes) or day else 90
    search = Search(fc, roster, (), lambda fx: rows_with(roster, (), fx, 1800), _fake_days(harmless), [0, 1, 2], [],
                    0.97, 0, 0)
    out = search.up([], 10)
    assert out.trained == 1 and out.added == 0 and [f.kind for f in out.fixes] == ["train"]


def test_a_search_started_without_the_formulas_hours_adds_only_what_the_days_need():
    fc, patterns, _, roster = _two_services(2.0)
    models = {"HT": ServiceModel(300.0, None), "DD": ServiceModel(1500.0, None)}   # told 25 min: too many
    first = plan_day(fc, models, roster)
    assert first.extra_clerk_hours() > 0                                 # the formula adds clerks
    ck = check_plan(fc, models, roster, CENTER, patterns, seeds=(1, 2, 3), held_out=(101, 102, 103),
                    max_trainings=0, max_prune=0, start_with_hours=False)
    assert ck.first_cut_hours == first.extra_clerk_hours()              # still reported
    # every clerk-half-hour of the plan is one the simulated days asked for
    assert ck.plan.extra_clerk_hours() * 2 == ck.added_by_search - ck.removed
    assert min(ck.shares_by_day) >= 0.97 and ck.held_out_kept
    kept = check_plan(fc, models, roster, CENTER, patterns, seeds=(1, 2, 3), held_out=(101, 102, 103),
                      max_trainings=0, max_prune=0)
    assert kept.plan.extra_clerk_hours() >= first.extra_clerk_hours()   # the formula's hours, none taken away
    assert ck.plan.extra_clerk_hours() < kept.plan.extra_clerk_hours()
