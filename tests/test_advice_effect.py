"""A proposal's lived effect (server/advice/effect.py): the simulated day is deterministic, so the
follower's decisions replay to the same day, and a change is measured against the same day
without it, on the same citizens."""
from __future__ import annotations

import pytest

from server.advice import recommend as rec_mod
from server.advice.effect import lived_effects, replay
from server.advice.follow import Applied, Director, realized
from server.advice.recommend import Proposal
from server.scenario import load_scenario
from server.simulator import Simulation

DAY = load_scenario("data/scenarios/ward-weekday")


def _sim(director=None):
    return Simulation(DAY, director=director)


def _lived(records):
    return {tid: (r.called_s, r.counter, r.outcome) for tid, r in records.items()}


@pytest.fixture(scope="module")
def followed():
    """ward-weekday followed with the old rules (no margin, no confirmation on fresh paths), so that
    several proposals are applied."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rec_mod, "MIN_WITHIN_GAIN", 0.0)
        mp.setattr(rec_mod, "Z_GAIN", 0.0)
        mp.setattr(rec_mod, "CONFIRM_PATHS", 0)
        director = Director()
        sim = _sim(director)
        sim.run()
    return director, sim.records


def test_the_followed_decisions_replay_to_the_same_day(followed):
    director, records = followed
    assert len(director.applied) >= 2
    again = replay(_sim, director.applied, frozenset(range(len(director.applied))))
    assert _lived(again) == _lived(records)  # ticket for ticket: who was called when, where, how it ended


def test_without_the_first_proposal_the_day_is_the_day_without_advice(followed):
    director, _ = followed
    first = director.applied[0]
    [effect] = lived_effects(_sim, director.applied[:1])
    until = first.seen_s + first.horizon_s + 900
    plain = _sim()
    plain.run(until_s=until)
    assert effect.without_share == realized(first, plain.records)
    p = first.proposal
    assert effect.predicted == pytest.approx(p.overall_after - p.overall_before)
    assert effect.lived == pytest.approx(effect.with_share - effect.without_share)


def test_a_change_that_takes_the_busiest_service_away_is_measured_as_harm():
    # at 9:00 counter 2 stops serving Chứng thực (CT: the busiest service, three counters for it)
    p = Proposal("2:set_services:HT", 2, "set_services", ["HT"], "HT", {"state": "open", "services": ["CT", "HT"]},
                 {"state": "open", "services": ["HT"]}, "HT", None, None, 0.9, 0.9, 0.0)
    rec = Applied(3600.0, 3720.0, p, 75 * 60.0, waiting=[])
    [effect] = lived_effects(_sim, [rec])
    assert effect.with_share is not None and effect.without_share is not None
    assert effect.lived < 0  # the same citizens: at least one more of them called after 15 minutes
