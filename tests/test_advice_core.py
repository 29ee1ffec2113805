"""The recommender's rules (server/advice/recommend.py): only what is possible now, judged by the
forward play, steady, honest about staffing; and the simulator's director who follows it."""
from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from server.advice import recommend as rec_mod
from server.advice.follow import Director
from server.advice.recommend import MARGIN_PEOPLE, recommend
from server.scenario import load_scenario
from server.simulator import Simulation, run_scenario_file

# sample ward: counter 1 serves CT, counter 4 HT; bot1 is trained for CT, HT; bot4 for HT, CT, XH


@pytest.fixture(autouse=True)
def _new_services_as_on_a_day_with_history(monkeypatch):
    """This file's states are cold (no earlier days); its rules are those of a center with history,
    where a counter may be offered a new service. Rule 6 (cold days) is tested in test_simulate_trained."""
    monkeypatch.setattr(rec_mod, "COLD_ADDS", True)


def _busy_ct(engine, clock, n=14):
    engine.sign_in(1, "bot1")
    engine.sign_in(4, "bot4")
    for _ in range(n):
        engine.issue("CT")
    clock.advance(300)


def test_proposes_only_what_is_possible_now(engine, clock):
    _busy_ct(engine, clock)
    advice = engine.advisor.advice()
    assert advice.proposals
    trained = {1: {"CT", "HT"}, 4: {"HT", "CT", "XH"}}
    for p in advice.proposals:
        assert p.counter in (1, 4)  # counters 2, 3, 9 also serve CT, but nobody sits there
        assert set(p.after["services"]) <= trained[p.counter]
        assert p.share_after > p.share_before and p.late_saved > 0
        # worth a click: it helped on the paths it was picked on, and on fresh ones it had to pass
        # (tests/test_advice_confirm.py: at least one more citizen within 15 minutes, beyond the dice)
        assert p.screen_gain > 0 and p.confirm_gain > 0 and p.overall_after > p.overall_before
    top = advice.proposals[0]
    assert top.counter == 4 and top.focus == "CT" and "CT" in top.after["services"]
    assert top.text.startswith("Quầy 4") and "Chứng thực: " in top.text and "→" in top.text


def test_the_same_state_gives_the_same_advice(engine, clock):
    _busy_ct(engine, clock)
    inp = engine.advisor.input("main")
    a, b = recommend(inp), recommend(inp)
    assert [p.as_dict() for p in a.proposals] == [p.as_dict() for p in b.proposals]


def test_the_server_lets_others_run_within_each_playout_and_the_advice_is_the_same(engine, clock, monkeypatch):
    """Under gevent the advice yields (``pause``) between its playouts and within them, every
    ``playout.PAUSE_EVERY`` calls: a playout of a thousand waiting held the event loop 60-140 ms
    (docs/performance.md, section 8). Where it yields changes nothing it advises."""
    from server.advice import playout
    monkeypatch.setattr(playout, "PAUSE_EVERY", 3)
    _busy_ct(engine, clock, n=30)
    inp = engine.advisor.input("main")
    pauses = []
    slow = recommend(inp, pause=lambda: pauses.append(1))
    fast = recommend(inp)
    assert [p.as_dict() for p in slow.proposals] == [p.as_dict() for p in fast.proposals]
    assert slow.services == fast.services and slow.staffing == fast.staffing
    drawn = playout.draw_paths(inp.snap, inp.model, paths=inp.paths, horizon_s=inp.horizon_s)
    within = []
    kw = {"target_s": inp.target_s, "horizon_s": inp.horizon_s}
    one = playout.play(inp.snap, inp.model, inp.snap.counters, drawn, pause=lambda: within.append(1), **kw)
    assert one == playout.play(inp.snap, inp.model, inp.snap.counters, drawn, **kw)
    assert len(within) > 2 * inp.paths  # not only between two paths: within each one


def test_the_draws_yield_among_the_citizens_to_come_as_among_those_waiting(engine, clock, monkeypatch):
    """The citizens still to come are drawn with pauses too: drawn in one go, with a busy hour
    ahead, they held the event loop 40-42 ms at a time (docs/performance.md, section 8, "Latency
    tail"). Where the draws yield changes nothing they draw."""
    from server.advice import playout
    monkeypatch.setattr(playout, "PAUSE_EVERY", 3)
    _busy_ct(engine, clock, n=30)
    inp = engine.advisor.input("main")
    pauses = []
    slow = playout.draw_paths(inp.snap, inp.model, paths=4, horizon_s=inp.horizon_s, pause=lambda: pauses.append(1))
    fast = playout.draw_paths(inp.snap, inp.model, paths=4, horizon_s=inp.horizon_s)
    assert slow == fast
    waiting = len(inp.snap.waiting)
    to_come = [len(p.tickets) - waiting for p in fast]
    assert min(to_come) >= 6  # the cold day's rate brings some within the horizon
    # every third citizen drawn, those to come included; every third arrival of each stream as
    # it is drawn (a busy stream's arrivals are thousands); and between paths
    def streams(p):
        return Counter(t[7] for t in p.tickets[waiting:]).values()
    assert len(pauses) == sum(len(p.tickets) // 3 + sum(n // 3 for n in streams(p)) for p in fast) + 3


def test_the_first_proposal_holds_unless_beaten_by_the_margin(engine, clock):
    engine.sign_in(9, "canbo")  # XH first, CT second: could take CT first
    engine.sign_in(8, "bot8")   # XH, NC, HT
    for _ in range(4):
        engine.issue("XH")
    _busy_ct(engine, clock)
    inp = engine.advisor.input("main")
    fresh = recommend(inp)
    assert len(fresh.proposals) >= 2
    best, other = fresh.proposals[0], fresh.proposals[1]
    held = recommend(inp, previous=other.key)
    if best.late_saved - other.late_saved < MARGIN_PEOPLE:
        assert held.proposals[0].key == other.key
    else:
        assert held.proposals[0].key == best.key
    # a previous first that is no longer possible is simply dropped
    assert recommend(inp, previous="9:take_first:CT").proposals[0].key == best.key


def test_when_nothing_possible_helps_it_says_so_and_what_staffing_would(engine, clock):
    engine.sign_in(4, "binh")  # not in [[clerks]]: serves only what counter 4 serves, HT
    for _ in range(10):
        engine.issue("HT")
    advice = engine.advisor.advice()
    assert advice.proposals == [] and not advice.enough
    assert "Không thay đổi nào" in advice.message
    [staffing] = advice.staffing
    assert staffing["service"] == "HT" and staffing["text"].startswith("Cần thêm")
    assert staffing["extra_clerks"] is None or staffing["extra_clerks"] >= 1


def _late_ht_beside_a_break(engine, clock):
    """Counter 3 on a break, counter 4 busy, two Hộ tịch citizens past 15 minutes."""
    engine.sign_in(4, "bot4")
    engine.sign_in(3, "chi")
    engine.pause(3, "chi")
    first = engine.issue("HT")
    engine.call_next(4, "bot4")
    engine.start(first["id"], 4, "bot4")
    for _ in range(2):
        engine.issue("HT")
    clock.advance(16 * 60)


def test_a_break_is_cut_short_for_those_already_late(engine, clock):
    _late_ht_beside_a_break(engine, clock)
    [p] = [p for p in engine.advisor.advice().proposals if p.action == "call_back"]
    assert p.counter == 3 and p.overdue_saved_min > 0 and p.text.startswith("Gọi quầy 3 trở lại")


def test_the_cost_is_bounded_by_the_candidates(engine, clock):
    _busy_ct(engine, clock)
    inp = dataclasses.replace(engine.advisor.input("main"), paths=4)
    advice = recommend(inp)
    assert 1 <= advice.evaluated <= 14


def test_simulate_follow_advice_applies_proposals(capsys, monkeypatch):
    # without the margin (as before it), ward-weekday's small reorderings are applied and listed
    monkeypatch.setattr(rec_mod, "MIN_WITHIN_GAIN", 0.0)
    monkeypatch.setattr(rec_mod, "Z_GAIN", 0.0)
    assert run_scenario_file("ward-weekday", out="/dev/null", follow_advice=True, reaction_s=120) == 0
    err = capsys.readouterr().err
    assert "advice followed (reaction 120 s):" in err
    applied = int(err.split("advice followed (reaction 120 s): ")[1].split(" applied")[0])
    assert applied >= 1 and "→" in err


def test_reorderings_within_the_noise_are_not_applied():
    # ward-weekday: every reordering the advice finds predicts under one citizen more within 15
    # minutes (or less than two standard errors): none is shown, the day is the day without advice
    day = load_scenario("data/scenarios/ward-weekday")
    director = Director()
    followed = Simulation(day, director=director).run().summary()
    assert director.looks > 50 and director.applied == []
    assert followed["within_target"] == Simulation(day).run().summary()["within_target"]


def test_staffing_beside_an_empty_queue_says_it_is_a_forecast_of_citizens_to_come():
    """Before opening (or at a quiet service) nobody waits, yet the forecast of the citizens
    expected can need more clerks: the note says so instead of "nay dự kiến 55%" beside an
    empty queue (the demo at 04:00 showed that for Đất đai)."""
    from types import SimpleNamespace

    from server.advice.staffing import staffing_note as _staffing
    from server.engine.forecast import WaitingTicket

    class Run:
        def __init__(self, share):
            self.share = lambda service: share

    def note(waiting):
        snap = SimpleNamespace(now=0.0, waiting=waiting)
        inp = SimpleNamespace(snap=snap, horizon_s=4500.0, target_s=900.0, names={"DD": "Đất đai"})
        return _staffing(inp, lambda counters: Run(0.99 if len(counters) >= 2 else 0.6), [], "DD", 0.55)["text"]

    empty = note([])
    assert empty.startswith("Cần thêm 2 cán bộ được đào tạo Đất đai")
    assert "chưa có ai chờ; với công dân dự kiến sẽ đến: 55%" in empty and "nobody waits yet" in empty
    one = note([WaitingTicket("t1", "DD", False, 0.0, 0.0)])
    assert "nay dự kiến 55%" in one and "chưa có ai chờ" not in one


def test_the_advice_weighs_a_clerks_own_times_as_its_rules_were_set_on(engine, clock, monkeypatch):
    """The wait estimate weighs a clerk's own times by how much the clerks really differ (empirical
    Bayes, ``learned.clerk_shares``); the advice plays them weighed n / (n + 20) as before, the
    weights its bars were set and checked on (with the estimate's, the simulated director applied
    reorderings that lived lower on three of 33 days: docs/performance.md, section 12)."""
    import random

    from server.engine.learned import CLERK_WEIGHT, Observations, learn
    rng = random.Random(5)
    rows = [("HT", f"c{k}", rng.lognormvariate(6.2, 0.7)) for k in range(3) for _ in range(30)]
    model = learn(Observations(durations=rows), {"HT": 480.0})
    fixed = model.with_fixed_clerk_weight()
    for k in range(3):
        assert fixed.own_share("HT", f"c{k}") == pytest.approx(30 / (30 + CLERK_WEIGHT))
    assert [model.own_share("HT", f"c{k}") for k in range(3)] == [model.clerk_share[("HT", f"c{k}")] for k in range(3)]
    assert fixed.services is model.services and model.clerk_share  # the estimate's own weights untouched
    _busy_ct(engine, clock)
    monkeypatch.setattr(engine.waits, "model", lambda conn, now: model)  # the estimate's, with its weights
    played = engine.advisor.input("main").model
    assert played.clerk_share == {} and played.own_share("HT", "c0") == fixed.own_share("HT", "c0")
