"""Rule 5 of the advice (server/advice/stress.py): a change that moves a counter's time to the
service at risk is shown only if it would do no harm were every other service to come in twice
its forecast, as a cold day's forecast is before the morning peak."""
from __future__ import annotations

import pytest

from server.advice import recommend as rec_mod
from server.advice import stress
from server.advice.recommend import MAX_LOSS_SHARE, _with, recommend
from server.advice.stress import loss_under_stress, stressed

from tests.test_advice_core import _busy_ct, _late_ht_beside_a_break  # counter 1 CT, counter 4 HT, 14 waiting for CT

# sample ward: counter 1 serves CT, counter 4 HT; bot1 is trained for CT, HT; bot4 for HT, CT, XH


@pytest.fixture(autouse=True)
def _new_services_as_on_a_day_with_history(monkeypatch):
    """This file's states are cold (no earlier days); its rules are those of a center with history,
    where a counter may be offered a new service. Rule 6 (cold days) is tested in test_simulate_trained."""
    monkeypatch.setattr(rec_mod, "COLD_ADDS", True)


def _ct_crowd_beside_ht(engine, clock, waiting_ct=20):
    """Counter 4 has served one Hộ tịch citizen (so Hộ tịch has a forecast stream), then twenty
    citizens wait for Chứng thực at counter 1."""
    engine.sign_in(1, "bot1")
    engine.sign_in(4, "bot4")
    engine.issue("HT")
    t = engine.call_next(4)
    engine.start(t["id"], 4)
    clock.advance(300)
    engine.finish(t["id"], 4)
    for _ in range(waiting_ct):
        engine.issue("CT")
    clock.advance(300)


def test_stressed_multiplies_the_named_services_forecast_only(engine, clock):
    _ct_crowd_beside_ht(engine, clock)
    snap = engine.advisor.input("main").snap
    streams = dict(snap.arrivals)
    assert ("HT", False) in streams and ("CT", False) in streams
    hard = dict(stressed(snap, ["HT"], 2.0).arrivals)
    for (a, b, rate), (a2, b2, rate2) in zip(streams[("HT", False)], hard[("HT", False)]):
        assert (a2, b2) == (a, b) and rate2 == 2.0 * rate
    assert hard[("CT", False)] == streams[("CT", False)]
    assert stressed(snap, ["HT"], 2.0).waiting == snap.waiting  # who already waits is as it is


def test_a_change_that_would_harm_if_the_others_came_busier_is_not_shown(engine, clock, monkeypatch):
    _ct_crowd_beside_ht(engine, clock)
    inp = engine.advisor.input("main")
    monkeypatch.setattr(rec_mod, "STRESS", False)
    before = recommend(inp).proposals
    assert before and before[0].key == "4:set_services:HT,CT"  # on the forecast, counter 4 helps CT
    p = before[0]
    counters = _with(inp.snap.counters, p.counter, tuple(p.after["services"]), inp.snap.now, False,
                     inp.persistent)
    # with Hộ tịch at twice its forecast, counter 4's time for CT costs more than it brings
    assert loss_under_stress(inp.snap, inp.model, counters, ["HT", "XH"], target_s=inp.target_s,
                             horizon_s=inp.horizon_s) > MAX_LOSS_SHARE
    monkeypatch.setattr(rec_mod, "STRESS", True)
    after = recommend(inp)
    assert "4:set_services:HT,CT" not in [q.key for q in after.proposals]


def test_what_is_shown_carries_the_loss_it_was_checked_for(engine, clock):
    _busy_ct(engine, clock)  # no other service has a forecast: the check has nothing to stress
    inp = engine.advisor.input("main")
    advice = recommend(inp)
    assert advice.proposals
    for p in advice.proposals:
        assert p.stress_loss is not None and p.stress_loss <= MAX_LOSS_SHARE
        assert advice.as_dict()["proposals"][0]["stress_loss"] == advice.proposals[0].stress_loss


def test_a_check_that_says_harm_drops_every_change_but_a_call_back(engine, clock, monkeypatch):
    _busy_ct(engine, clock)
    inp = engine.advisor.input("main")
    assert recommend(inp).proposals
    monkeypatch.setattr(rec_mod, "loss_under_stress", lambda *a, **k: MAX_LOSS_SHARE + 0.01)
    advice = recommend(inp)
    assert [p for p in advice.proposals if p.action != "call_back"] == []
    assert not advice.enough and "Không thay đổi nào" in advice.message


def test_a_call_back_only_adds_capacity_and_is_not_checked(engine, clock, monkeypatch):
    monkeypatch.setattr(rec_mod, "loss_under_stress", lambda *a, **k: MAX_LOSS_SHARE + 0.01)
    _late_ht_beside_a_break(engine, clock)  # counter 3 on a break, Hộ tịch citizens late
    [p] = [p for p in engine.advisor.advice().proposals if p.action == "call_back"]
    assert p.counter == 3 and p.stress_loss is None


def test_the_factor_is_read_when_the_check_runs(engine, clock, monkeypatch):
    _ct_crowd_beside_ht(engine, clock)
    snap = engine.advisor.input("main").snap
    monkeypatch.setattr(stress, "FACTOR", 3.0)
    hard = dict(stressed(snap, ["HT"]).arrivals)
    assert hard[("HT", False)][0][2] == 3.0 * dict(snap.arrivals)[("HT", False)][0][2]
