"""A director in the simulator who follows the advice (``qms simulate --follow-advice``).

Every ``every_s`` of the day the director looks at the advice; if it has a first proposal, they
apply it ``reaction_s`` later (the time to read it, decide and click), provided the counter is
still as the proposal found it. Each applied proposal is recorded with what it predicted over its
horizon, and with the citizens it predicted for (those waiting then, not yet past the target, and
those arriving within the horizon), so the benchmark can set the prediction against what the
simulated day then shows for the same citizens.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from qms_common.errors import QmsError

from .recommend import Proposal

EVERY_S = 300.0
REACTION_S = 120.0


@dataclass
class Applied:
    seen_s: float             # when the director saw it (seconds after opening)
    applied_s: float
    proposal: Proposal
    horizon_s: float
    waiting: list[str]        # ticket ids waiting when seen, not yet past the target
    change_id: str | None = None


@dataclass
class Director:
    reaction_s: float = REACTION_S
    every_s: float = EVERY_S
    applied: list[Applied] = field(default_factory=list)
    skipped: int = 0
    undone: int = 0
    undo_after_horizon: bool = True
    looks: int = 0
    cost_ms: list[float] = field(default_factory=list)
    _pending: bool = False

    def start(self, sim) -> None:
        self.end_s = max((s.end_s for s in sim.day.shifts), default=0.0)
        sim.at(self.every_s, self._look)

    def _look(self, sim) -> None:
        now_s = sim.now_s()
        if now_s + self.every_s < self.end_s:
            sim.at(now_s + self.every_s, self._look)
        if self._pending:
            return
        engine = sim.engine
        advice = engine.advisor.advice()
        self.looks += 1
        self.cost_ms.append(advice.cost_ms)
        if not advice.proposals:
            return
        p = advice.proposals[0]
        target = engine.config.targets.max_wait_s
        now = engine.clock.now()
        waiting = [t["id"] for t in engine.tickets(state="waiting", limit=2000) if now - t["wait_from"] <= target]
        horizon = engine.advisor.input_horizon()
        self._pending = True
        sim.at(now_s + self.reaction_s, lambda s: self._apply(s, Applied(now_s, now_s + self.reaction_s, p, horizon,
                                                                          waiting)))

    def _apply(self, sim, rec: Applied) -> None:
        self._pending = False
        p, engine = rec.proposal, sim.engine
        counter = engine.counter(p.counter)
        now = {"state": counter["state"], "services": list(engine.active_services(counter))}
        if now != p.before or counter["clerk"] is None:
            self.skipped += 1  # the counter changed meanwhile (a break, the end of a shift)
            return
        try:
            change = engine.apply_control(p.counter, p.action, service=p.focus if p.action == "take_first" else None,
                                          services=p.services, by="director", proposal=p.key)
        except QmsError:
            self.skipped += 1
            return
        rec.change_id = change["change_id"]
        self.applied.append(rec)
        if self.undo_after_horizon:
            sim.at(sim.now_s() + rec.horizon_s, lambda s: self._undo(s, rec))

    def _undo(self, sim, rec: Applied) -> None:
        """The horizon the change was judged over has passed: take it back if nothing changed since
        (what was true then need not be now; the advice proposes it again if it still helps)."""
        try:
            sim.engine.undo_control(rec.change_id, by="director")
            self.undone += 1
        except QmsError:
            pass


def realized(rec: Applied, records: dict, target_s: float = 900.0) -> float | None:
    """The share within the target, as the simulated day lived it, of the citizens a proposal
    predicted for (``records``: the simulator's, by ticket id). Who left is not counted, as in the
    prediction; who was never called counts as late."""
    ids = set(rec.waiting)
    ids.update(tid for tid, r in records.items() if rec.seen_s < r.arrival_s <= rec.seen_s + rec.horizon_s)
    within = late = 0
    for tid in ids:
        r = records.get(tid)
        if r is None or r.outcome == "abandoned":
            continue
        if r.called_s is not None and r.called_s - r.arrival_s <= target_s:
            within += 1
        else:
            late += 1
    return within / (within + late) if within + late else None
