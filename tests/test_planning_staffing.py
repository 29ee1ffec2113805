"""Needs against the roster (server/planning/staffing.py): matching, shortfall, the fixes."""
from datetime import date

import pytest

from server.planning.forecast import Forecast
from server.planning.staffing import RosterRow, ServiceModel, assign, model_from_samples, needs, plan_day


def _fc(rates: dict[str, list[float]]) -> Forecast:
    n = len(next(iter(rates.values())))
    return Forecast(date(2026, 11, 23), 1800, n, rates, {s: [0.0] * n for s in rates}, 10, 2, 1.0, 1.0, 0.1)


MODELS = {"HT": ServiceModel(600.0, None), "CT": ServiceModel(300.0, None)}


def test_matching_moves_the_clerk_with_two_skills():
    who, unfilled = assign({"HT": 1, "CT": 1}, {"a": ("HT", "CT"), "b": ("HT",)})
    assert unfilled == {}
    assert who["a"] == {"CT": 1.0} and who["b"] == {"HT": 1.0}
    _, unfilled = assign({"HT": 2.5}, {"a": ("HT",), "b": ("CT",)})
    assert unfilled == {"HT": pytest.approx(1.5)}


def test_needs_pool_services_but_not_below_their_traffic():
    fc = _fc({"HT": [6.0], "CT": [12.0]})          # 2 + 2 Erlangs
    n = needs(fc, MODELS)
    assert n["HT"][0] >= 2 and n["CT"][0] >= 2
    from server.planning.erlang import positions_needed
    alone = positions_needed(6 / 1800, 600) + positions_needed(12 / 1800, 300)
    assert n["HT"][0] + n["CT"][0] < alone           # trained clerks share the work


def test_enough_roster_needs_no_fix():
    fc = _fc({"HT": [3.0, 3.0]})                    # three clerks needed
    roster = [RosterRow(f"c{k}", k, ("HT",), 0, 3600) for k in range(1, 5)]
    plan = plan_day(fc, MODELS, roster)
    assert plan.fixes == [] and plan.extra_clerk_hours() == 0
    assert all(s == 0 for s in plan.short["HT"])


def test_an_idle_clerk_is_trained_before_anyone_is_added():
    fc = _fc({"HT": [6.0], "CT": [0.0]})
    roster = [RosterRow("c1", 1, ("HT",), 0, 1800), RosterRow("c2", 2, ("CT",), 0, 1800)]
    plan = plan_day(fc, MODELS, roster)
    kinds = [(f.kind, f.clerk, f.service) for f in plan.fixes]
    assert ("train", "c2", "HT") in kinds
    assert any(r.clerk == "c2" and "HT" in r.skills for r in plan.rows)


def test_a_shift_is_extended_into_the_half_hour_it_misses():
    fc = _fc({"HT": [2.0, 2.0]})                    # two clerks needed each half hour
    roster = [RosterRow("c1", 1, ("HT",), 0, 1800), RosterRow("c2", 2, ("HT",), 0, 3600)]
    plan = plan_day(fc, MODELS, roster)
    ext = [f for f in plan.fixes if f.kind == "extend"]
    assert [(f.clerk, f.start_s, f.end_s) for f in ext] == [("c1", 1800, 3600)]
    assert plan.extra_clerk_hours() == pytest.approx(0.5)


def test_absent_clerks_make_a_shortfall_filled_by_one_more_clerk():
    fc = _fc({"HT": [6.0, 6.0]})
    roster = [RosterRow(f"c{k}", k, ("HT",), 0, 3600) for k in range(1, 5)]
    full = plan_day(fc, MODELS, roster)
    short = plan_day(fc, MODELS, roster, absent=("c3", "c4"))
    assert full.extra_clerk_hours() == 0
    assert sum(short.short["HT"]) > 0
    adds = [f for f in short.fixes if f.kind == "add"]
    assert adds and all(f.service == "HT" and f.start_s == 0 and f.end_s == 3600 for f in adds)
    assert not any(r.clerk in ("c3", "c4") for r in short.rows)


def test_service_model_from_history_counts_no_shows_as_the_hold():
    m = model_from_samples([("HT", 600, False, None), ("HT", 900, True, None)], hold_s=60)
    assert m["HT"].hold_s == pytest.approx(0.5 * 600 + 0.5 * 60)
    assert m["HT"].patience_s is None
