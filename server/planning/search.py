"""The simulated correction of a plan: up where citizens are late, down where a half hour is
not needed, judged on two separate sets of forecast days.

Pure apart from the simulation it is given: ``lived(fixes, days)`` lives the roster with
``fixes`` on the synthetic days ``days`` (indices) and answers, per day, the citizens called in
time, those called, the late ones per (service, half hour) and each clerk's busy seconds.

* The **fit** days guide the search (where citizens are late, which candidate helps most).
* The **held-out** days only judge it: the search stops adding when the fit days keep the
  promise *and* the held-out days do too (at their own quantile); a clerk-half-hour is taken
  away only if both still keep it. A plan that fits its twelve days and not the next ones
  (docs/performance.md §11, "Why (b) fails") goes on being corrected, on the fit days' evidence.
* Each step first tries what costs no clerk-hours: training a clerk (the least busy clerks on
  the days in question, for the services with most late citizens) pools a small queue of a
  long service with other clerks' time; only when no training calls more citizens in time is a
  clerk-half-hour added (an extension of a trained clerk's shift, or one more clerk, trained
  for the late service and for the one with most late citizens around that half hour).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .forecast import Forecast
from .staffing import FREE, Fix, RosterRow, _extend

Lived = tuple[int, int, dict[tuple[str, int], int], dict[str, float]]


@dataclass
class Outcome:
    fixes: list[Fix]
    res: dict[int, Lived]
    added: int = 0                    # clerk-half-hours the search added
    trained: int = 0                  # trainings the search added
    moved: int = 0                    # moves the search added (a clerk put on a service first)
    unmoved: int = 0                  # moves taken away as not needed
    removed: int = 0                  # clerk-half-hours taken away
    untrained: int = 0                # trainings taken away as not needed
    tried: int = 0                    # plans tried
    held_kept: bool = False           # the held-out days keep the promise at their quantile
    rotated: int = 0                  # held-out days under the goal moved to the fit days
    log: list[str] = field(default_factory=list)


def share(r: Lived) -> float:
    return r[0] / r[1] if r[1] else 1.0


@dataclass
class Search:
    fc: Forecast
    roster: list[RosterRow]
    absent: tuple[str, ...]
    rows_for: Callable[[list[Fix]], list[RosterRow]]     # the day's roster with the fixes
    lived: Callable[[list[Fix], list[int]], dict[int, Lived]]
    fit: list[int]
    held: list[int]
    goal: float
    spare_fit: int                    # fit days that may stay under the goal
    spare_held: int                   # held-out days that may stay under the goal
    candidates: int = 3
    weakest: int = 4                  # fit days tried once all are kept and a held-out day is not
    verify: int = 2                   # trainings (best first) lived on all the fit days each step
    max_trainings: int = 6
    max_moves: int = 8
    move_slots: tuple[int, int] = (1, 2)   # a move covers the late peak's half hour, 1 before, 2 after
    trainings_per_clerk: int = 2
    progress: Callable[[str], None] | None = None       # told each step (the bench prints it)
    replace: Callable[[int], int] | None = None         # a fresh day like day k: its index
    max_rotated: int = 12             # held-out days that may become fit days

    def under(self, res, days) -> int:
        return sum(share(res[k]) < self.goal for k in days)

    def score(self, res, days, cap):
        return (sum(min(share(res[k]), cap) for k in days), sum(res[k][0] for k in days))

    def up(self, fixes: list[Fix], max_steps: int, res: dict[int, Lived] | None = None) -> Outcome:
        """``res``: the fit days already lived with ``fixes``, if they were."""
        out = Outcome(list(fixes), dict(res) if res is not None else self.lived(fixes, self.fit))
        while out.added < max_steps:
            if self.under(out.res, self.fit) <= self.spare_fit:
                # all of them, with the plan as it is now (a training since they were last
                # lived can cost a day that was kept)
                out.res.update(self.lived(out.fixes, list(self.held)))
                if self.under(out.res, self.held) <= self.spare_held:
                    out.held_kept = True
                    break
                if self.replace is not None and out.rotated < self.max_rotated:
                    # the held-out days under the goal have judged: they become fit days (their
                    # late citizens now guide the search) and fresh days, never seen, take their
                    # place in the held-out set (same level, another seed)
                    failed = [k for k in self.held if share(out.res[k]) < self.goal]
                    for k in failed:
                        self.held[self.held.index(k)] = self.replace(k)
                        self.fit.append(k)
                    out.rotated += len(failed)
                    which, cap = failed, self.goal
                else:
                    # go on, on the weakest fit days' late citizens, aiming above the goal
                    weakest = sorted(self.fit, key=lambda k: (share(out.res[k]), k))[:self.weakest]
                    which, cap = weakest, self.goal + 0.02
            else:
                which, cap = [k for k in self.fit if share(out.res[k]) < self.goal], self.goal
            if self.progress:
                self.progress(f"up: {out.added} half hours, {out.trained} trainings, {out.moved} moves; fit days under "
                              f"{self.under(out.res, self.fit)}, held-out under "
                              f"{self.under(out.res, [k for k in self.held if k in out.res])}")
            late = _late(out.res, which)
            if not late:
                break
            before = self.score(out.res, which, cap)
            # what costs nothing first: a clerk moved within their shift (no clerk-hours, no
            # training), then a clerk trained, and only then a clerk-half-hour
            picked = self._kept(out, self._moves(out, which, late), which, cap, before) \
                if out.moved < self.max_moves else None
            if picked is not None:
                out.fixes, out.res = picked
                out.moved += 1
                continue
            picked = self._training(out, which, late, cap, before) if out.trained < self.max_trainings else None
            if picked is not None:
                out.fixes, out.res = picked
                out.trained += 1
                continue
            best = self._best(out, self._units(out.fixes, late), which, cap)
            if best is None or best[0][1] <= before[1]:
                out.log.append("no candidate calls one more citizen in time")
                break
            out.added += 1
            _, out.fixes, r = best
            # the fit days not tried keep the old plan's results until the tried ones are kept,
            # then all are lived again (a clerk-half-hour adds time, it takes none away)
            stale = [k for k in self.fit if k not in which]
            out.res = {**{k: out.res[k] for k in stale}, **r}
            if stale and self.under(out.res, self.fit) <= self.spare_fit:
                out.res.update(self.lived(out.fixes, stale))
        missing = [k for k in self.fit if k not in out.res]
        out.res.update(self.lived(out.fixes, missing))
        return out

    def down(self, out: Outcome, max_prune: int) -> Outcome:
        days = self.fit + self.held
        missing = [k for k in days if k not in out.res]
        out.res.update(self.lived(out.fixes, missing))
        allowed_fit = max(self.spare_fit, self.under(out.res, self.fit))
        allowed_held = max(self.spare_held, self.under(out.res, self.held))
        late_all = _late(out.res, days)
        order = sorted((f for f in out.fixes if f.kind not in FREE),
                       key=lambda f: (late_all.get((f.service, int(f.start_s // self.fc.slot_s)), 0), -f.start_s))
        # then the trainings not needed (they cost no clerk-hours, but each is a clerk to train),
        # then the moves (each is an instruction the director gives)
        order = order[:max_prune] + [f for f in reversed(out.fixes) if f.kind == "train"] + \
            [f for f in reversed(out.fixes) if f.kind == "move"]
        for f in order:
            fx = list(out.fixes)
            fx.remove(f)
            r: dict[int, Lived] = {}
            ok = True
            for k in sorted(days, key=lambda k: share(out.res[k])):     # the weakest day first
                r.update(self.lived(fx, [k]))
                if self.under(r, [d for d in self.fit if d in r]) > allowed_fit or \
                        self.under(r, [d for d in self.held if d in r]) > allowed_held:
                    ok = False
                    break
            out.tried += 1
            if ok:
                out.fixes, out.res = fx, r
                if f.kind == "train":
                    out.untrained += 1
                elif f.kind == "move":
                    out.unmoved += 1
                else:
                    out.removed += 1
        out.held_kept = self.under(out.res, self.held) <= self.spare_held
        return out

    def _training(self, out: Outcome, which, late, cap, before):
        """The training kept this step, with every fit day lived with it, or None. The
        candidates are ranked on the days in question; the best ones that call more of their
        citizens in time are then lived on the other fit days too, and one is kept only if the
        fit days as a whole are no worse: no more of them under the goal, and more citizens
        called in time over all of them (a clerk trained for a long service leaves their own
        queue to serve it, which can cost the days that were kept more than it gives the
        others: docs/performance.md §11, 500:16)."""
        return self._kept(out, self._trainings(out, which, late), which, cap, before, "training")

    def _kept(self, out: Outcome, cands: list[list[Fix]], which, cap, before, what: str = "move"):
        """Of ``cands`` (each the plan with one free change more), the one kept, with every fit
        day lived with it, or None (the rule of ``_training``)."""
        if not cands:
            return None
        ranked = self._ranked(out, cands, which, cap)
        stale = [k for k in self.fit if k not in which]
        old = {k: out.res[k] for k in self.fit}        # the stale ones as last lived
        for sc, fx, r in ranked[:self.verify]:
            if sc[1] <= before[1]:
                break
            whole = {**r, **self.lived(fx, stale)} if stale else dict(r)
            if self.under(whole, self.fit) <= self.under(old, self.fit) and \
                    self.score(whole, self.fit, cap) > self.score(old, self.fit, cap):
                return fx, {**out.res, **whole}
            out.log.append(f"{what} {fx[-1].clerk} for {fx[-1].service} costs the other fit days")
        return None

    def _ranked(self, out: Outcome, cands: list[list[Fix]], which, cap):
        scored = []
        for fx in cands:
            r = self.lived(fx, which)
            out.tried += 1
            scored.append((self.score(r, which, cap), fx, r))
        return sorted(scored, key=lambda x: x[0], reverse=True)

    def _best(self, out: Outcome, cands: list[list[Fix]], which, cap):
        best = None
        for fx in cands:
            r = self.lived(fx, which)
            out.tried += 1
            sc = self.score(r, which, cap)
            if best is None or sc > best[0]:
                best = (sc, fx, r)
        return best

    def _trainings(self, out: Outcome, which, late) -> list[list[Fix]]:
        """One more service for a clerk: the late services (most late citizens first), the two
        least busy clerks present when they were late and not yet trained for them."""
        rows = self.rows_for(out.fixes)
        skills: dict[str, set[str]] = {}
        shift: dict[str, float] = {}
        for r in rows:
            if r.clerk.startswith("them"):
                continue
            skills.setdefault(r.clerk, set()).update(r.skills)
            shift[r.clerk] = shift.get(r.clerk, 0.0) + (r.end_s - r.start_s)
        base = {r.clerk: set(r.skills) for r in self.roster if r.clerk not in self.absent}
        busy = {c: sum(out.res[k][3].get(c, 0.0) for k in which) / (len(which) * shift[c]) for c in shift if shift[c]}
        by_service: dict[str, int] = {}
        slots: dict[str, list[int]] = {}
        for (s, i), v in late.items():
            by_service[s] = by_service.get(s, 0) + v
            slots.setdefault(s, []).append(i)
        cands = []
        for s in sorted(by_service, key=lambda s: (-by_service[s], s))[:2]:
            a = min(slots[s]) * self.fc.slot_s
            b = (max(slots[s]) + 1) * self.fc.slot_s
            on = {r.clerk for r in rows if r.start_s < b and r.end_s > a}
            who = [c for c in busy if c in on and s not in skills[c] and len(skills[c] - base.get(c, set())) <
                   self.trainings_per_clerk]
            for c in sorted(who, key=lambda c: (busy[c], c))[:2]:
                cands.append(out.fixes + [Fix("train", s, c, a, b)])
        return cands

    def _moves(self, out: Outcome, which, late) -> list[list[Fix]]:
        """A clerk moved to a late service for some half hours: for the two services with most
        late citizens, around the half hour with most of them (``move_slots`` before and after),
        the two least busy clerks on shift then, trained for it (a training of the plan counts)
        and not serving it first already, nor moved elsewhere then. Within their shift only:
        the move is cut to the rows they work (``staffing.apply_move``)."""
        rows = self.rows_for(out.fixes)
        shift: dict[str, float] = {}
        for r in rows:
            if not r.clerk.startswith("them"):
                shift[r.clerk] = shift.get(r.clerk, 0.0) + (r.end_s - r.start_s)
        busy = {c: sum(out.res[k][3].get(c, 0.0) for k in which) / (len(which) * shift[c]) for c in shift if shift[c]}
        by_service: dict[str, int] = {}
        for (s, i), v in late.items():
            by_service[s] = by_service.get(s, 0) + v
        slot = self.fc.slot_s
        cands = []
        for s in sorted(by_service, key=lambda s: (-by_service[s], s))[:2]:
            late_slots = sorted(i for (o, i) in late if o == s)
            peak = max(late_slots, key=lambda i: late[(s, i)])
            windows = [(peak - self.move_slots[0], peak + 1 + self.move_slots[1]),       # the peak
                       # all of it, from an hour before (the queue that makes them late builds up)
                       (late_slots[0] - 2 * self.move_slots[0], late_slots[-1] + 1 + self.move_slots[1])]
            for a, b in dict.fromkeys((max(0, a) * slot, min(self.fc.slots, b) * slot) for a, b in windows):
                mine = {}
                for r in rows:
                    if r.clerk in busy and r.start_s < b and r.end_s > a and s in r.skills:
                        mine.setdefault(r.clerk, []).append(r)
                # a clerk moved elsewhere then is not moved again; one moved to s already may
                # be moved for longer (the move widened)
                elsewhere = {f.clerk for f in out.fixes if f.kind == "move" and f.service != s
                             and f.start_s < b and f.end_s > a}
                who = [c for c, rs in mine.items() if c not in elsewhere and any(r.skills[0] != s for r in rs)]
                for c in sorted(who, key=lambda c: (busy[c], c))[:2]:
                    lo = max(a, min(r.start_s for r in mine[c]))
                    hi = min(b, max(r.end_s for r in mine[c]))
                    same = [f for f in out.fixes if f.kind == "move" and f.service == s and f.clerk == c
                            and f.start_s <= hi and f.end_s >= lo]
                    lo, hi = min([lo, *(f.start_s for f in same)]), max([hi, *(f.end_s for f in same)])
                    fx = [f for f in out.fixes if f not in same] + [Fix("move", s, c, lo, hi)]
                    if fx not in cands:
                        cands.append(fx)
        return cands

    def _units(self, fixes: list[Fix], late) -> list[list[Fix]]:
        ranked = sorted(late, key=lambda key: (-late[key], key))
        return [fixes + [self._unit(fixes, s, i, late)] for s, i in ranked[:self.candidates]]

    def _unit(self, fixes: list[Fix], s: str, i: int, late) -> Fix:
        """One more clerk-half-hour for ``s`` in slot ``i``: a shift extended if a clerk trained
        for it ends or starts there, else one more clerk trained for ``s`` and a second service."""
        rows = self.rows_for([f for f in fixes if f.kind != "add"])
        ext = _extend(rows, s, i, self.fc)
        if ext:
            return ext
        return Fix("add", s, None, i * self.fc.slot_s, (i + 1) * self.fc.slot_s, _second(self.roster, s, i, late))


def _late(res, days) -> dict[tuple[str, int], int]:
    late: dict[tuple[str, int], int] = {}
    for k in days:
        for key, v in res[k][2].items():
            late[key] = late.get(key, 0) + v
    return late


def _second(roster: list[RosterRow], s: str, i: int, late) -> tuple[str, ...]:
    """The second service of a clerk added for ``s``: the other service with most late citizens
    in and around the half hour, else the one most often trained beside ``s`` on the roster."""
    near: dict[str, int] = {}
    for (o, j), v in late.items():
        if o != s and abs(j - i) <= 1:
            near[o] = near.get(o, 0) + v
    if near:
        return (max(sorted(near), key=lambda o: near[o]),)
    beside: dict[str, int] = {}
    for r in roster:
        if s in r.skills:
            for o in r.skills:
                if o != s:
                    beside[o] = beside.get(o, 0) + 1
    return (max(sorted(beside), key=lambda o: beside[o]),) if beside else ()
