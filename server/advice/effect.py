"""What one applied proposal changed: the day played again with it and without it.

The simulator is deterministic: a scenario day gives every citizen's arrival, service, service
time, no-show and patience, the engine has no randomness that decides a call, and the advice's
playouts are seeded (``playout.draw_paths(seed=0)``). So the director's decisions of a
``--follow-advice`` run (``follow.Director.applied``) can be replayed exactly by a
:class:`Script` (``tests/test_advice_core.py`` checks that the replay gives the same day, ticket
for ticket), and a proposal's *lived effect* is a difference between two branches of the same
day that part at the moment it was applied:

* **with**: the decisions before it as lived (their take-backs included), then it, and nothing
  after it (no later proposal, and it is not taken back);
* **without**: the same decisions before it, and nothing from then on.

Both branches see the same citizens (the day's file), so the difference is the change's, not
one day's luck; each is played until every citizen of the proposal's cohort (waiting when it was
seen and not yet past the target, or arriving within its horizon) is decided: ``seen + horizon +
target``. This is what the recommender predicts (``Proposal.overall_after - overall_before``:
the same drawn citizens played with the change and with the counters as they are).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from qms_common.errors import QmsError

from .follow import EVERY_S, Applied, realized as cohort_share

TARGET_S = 900.0


@dataclass
class Script:
    """A director who makes the given decisions at the times they were made, nothing else.

    ``undo``: indices of the decisions taken back ``horizon_s`` after being applied (as the
    follower does); the others hold. The looks happen at the same moments as the follower's, so
    the simulator's events are queued in the same order as in the run being replayed."""
    decisions: Sequence[Applied]
    undo: frozenset[int] = frozenset()
    every_s: float = EVERY_S
    applied: list[int] = field(default_factory=list)

    def start(self, sim) -> None:
        self.end_s = max((s.end_s for s in sim.day.shifts), default=0.0)
        self._by_seen = {}
        for i, d in enumerate(self.decisions):
            self._by_seen.setdefault(d.seen_s, []).append(i)
        sim.at(self.every_s, self._look)

    def _look(self, sim) -> None:
        now_s = sim.now_s()
        if now_s + self.every_s < self.end_s:
            sim.at(now_s + self.every_s, self._look)
        for i in self._by_seen.get(now_s, ()):
            d = self.decisions[i]
            sim.at(d.applied_s, lambda s, i=i: self._apply(s, i))

    def _apply(self, sim, i: int) -> None:
        d, engine = self.decisions[i], sim.engine
        p = d.proposal
        counter = engine.counter(p.counter)
        now = {"state": counter["state"], "services": list(engine.active_services(counter))}
        if now != p.before or counter["clerk"] is None:
            return
        try:
            change = engine.apply_control(p.counter, p.action, service=p.focus if p.action == "take_first" else None,
                                          services=p.services, by="director", proposal=p.key)
        except QmsError:
            return
        self.applied.append(i)
        if i in self.undo:
            sim.at(sim.now_s() + d.horizon_s, lambda s: _undo(s, change["change_id"]))


def _undo(sim, change_id: str) -> None:
    try:
        sim.engine.undo_control(change_id, by="director")
    except QmsError:
        pass


@dataclass
class Effect:
    rec: Applied
    predicted: float | None     # the recommender's: share with the change - share doing nothing
    lived: float | None         # the day's: share of the same cohort with it - without it
    with_share: float | None
    without_share: float | None


def replay(make_sim, decisions: Sequence[Applied], undo: frozenset[int], until_s: float | None = None):
    """Play the day again with ``decisions``; answer the records by ticket id."""
    script = Script(decisions, undo)
    sim = make_sim(script)
    sim.run(until_s=until_s)
    return sim.records


def lived_effects(make_sim, applied: Sequence[Applied], *, undo_after_horizon: bool = True,
                  target_s: float = TARGET_S) -> list[Effect]:
    """Per applied proposal, its predicted and lived effect on its cohort's share within the
    target. ``make_sim(director)`` builds a fresh simulation of the same day (same scenario,
    same history) with that director."""
    out = []
    for i, rec in enumerate(applied):
        until = rec.seen_s + rec.horizon_s + target_s
        # the follower took each earlier one back after its horizon (if it does)
        earlier = frozenset(range(i)) if undo_after_horizon else frozenset()
        with_ = cohort_share(rec, replay(make_sim, applied[:i + 1], earlier, until), target_s)
        without = cohort_share(rec, replay(make_sim, applied[:i], earlier, until), target_s)
        p = rec.proposal
        predicted = (p.overall_after - p.overall_before) if None not in (p.overall_after, p.overall_before) else None
        lived = with_ - without if None not in (with_, without) else None
        out.append(Effect(rec, predicted, lived, with_, without))
    return out
