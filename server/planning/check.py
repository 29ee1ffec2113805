"""The plan checked, and corrected, by living the day in the real engine (the simulator).

Synthetic days are drawn from the forecast (Poisson counts per service and half hour, times
uniform in the half hour, each citizen's service time, patience, priority and no-show drawn from
a citizen of that service in the history), at levels spread over the forecast's day-to-day
uncertainty (equal-probability strata: for twelve days from about -1.7 to +1.7 standard
deviations). The formula's plan (``staffing.plan_day``) is the first cut; it lives those days through
``server.simulator.Simulation`` and is corrected (``search.Search``) until it keeps the promise
on every one of twelve *fit* days and on every one of twelve *held-out* days, drawn the same way
from other seeds and never used to choose a change (a search that keeps only the days it chose
on fits them: docs/performance.md §11):

* up: while a fit day is under the level (or, the fit days kept, a held-out day is), the half
  hours and services with most citizens called late on the fit days are the candidates; a
  training of a clerk for one of them is tried first (no clerk-hours), and only when none calls
  more citizens in time, a clerk-half-hour (an extension of a clerk trained for the service
  where their shift allows it, else one more clerk trained for it and a second service);
* down: every clerk-half-hour added (by the formula or by the search), fewest late citizens
  first, is taken away if the fit and the held-out days still keep the promise without it.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from statistics import NormalDist

from ..scenario import Arrival, Scenario, ScenarioCenter, Shift
from ..engine.waits import Estimate
from ..simulator import Simulation
from .forecast import Forecast
from .search import Search, share
from .staffing import FREE, Fix, RosterRow, ServiceModel, StaffPlan, _apply, _merge, apply_move, plan_day


@dataclass(frozen=True)
class Citizen:
    """A citizen of the history, as a pattern for synthetic ones."""
    service: str
    priority: bool
    service_s: float
    patience_s: float | None
    no_show: bool


@dataclass
class CheckResult:
    plan: StaffPlan
    share: float                      # called within target over all the synthetic days
    rounds: int                       # plans tried
    tickets: int
    shares_by_day: list[float]
    first_cut_hours: float = 0.0      # the formula's extra clerk-hours, before the correction
    first_cut_shares: list[float] = field(default_factory=list)
    added_by_search: int = 0          # clerk-half-hours the simulation added
    removed: int = 0                  # clerk-half-hours it took away as not needed
    simulations: int = 0
    seconds: float = 0.0
    held_out_shares: list[float] = field(default_factory=list)   # the days that only judged the plan
    trained_by_search: int = 0        # trainings the simulation added (no clerk-hours)
    held_out_kept: bool = True        # every held-out day (at its quantile) keeps the promise
    untrained: int = 0                # trainings taken away as not needed
    rotated: int = 0                  # held-out days under the goal that became fit days
    moved_by_search: int = 0          # moves the simulation added (no clerk-hours, no training)
    unmoved: int = 0                  # moves taken away as not needed


def synthetic_day(fc: Forecast, patterns: dict[str, list[Citizen]], seed: int, level: float = 1.0) -> list[Arrival]:
    """One day drawn from the forecast, its whole level times ``level`` (the day-to-day spread)."""
    rng = random.Random(seed)
    out = []
    for s, rates in fc.rates.items():
        pool = patterns.get(s)
        if not pool:
            continue
        for i, r in enumerate(rates):
            for _ in range(_poisson(rng, r * level)):
                c = rng.choice(pool)
                out.append(Arrival(arrival_s=(i + rng.random()) * fc.slot_s, service=s, priority=c.priority,
                                   service_s=c.service_s, patience_s=c.patience_s, no_show=c.no_show))
    out.sort(key=lambda a: a.arrival_s)
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    # sum of exponential gaps: exact, and fine for the few dozen per half hour seen here
    n, t = 0, rng.expovariate(1.0) if lam > 0 else 1.0
    while lam > 0 and t < lam:
        n += 1
        t += rng.expovariate(1.0)
    return n


def shifts(rows: list[RosterRow]) -> list[Shift]:
    return [Shift(clerk=r.clerk, counter=r.counter, skills=list(r.skills), start_s=r.start_s, end_s=r.end_s)
            for r in rows]


def live(center: ScenarioCenter, rows: list[RosterRow], arrivals: list[Arrival], name: str = "plan", *,
         printed_estimates: bool = True):
    """One day of ``arrivals`` with the roster ``rows``, through the real engine: its records.

    ``printed_estimates=False`` skips the wait printed on each new ticket (three quarters of a
    day's run time): it changes no call, no clerk and no outcome (``tests/test_plan_cli.py``
    checks the records are the same), so the plan's check lives its days without it."""
    sim = Simulation(Scenario(name, center, shifts(rows), arrivals))
    if not printed_estimates:
        sim.engine.waits.for_new = _no_estimate
    return sim.run().records


def _no_estimate(*_args, **_kwargs) -> Estimate:
    return Estimate(0.0, 0.0, 0.0, 0.0)


def late_by(records, fc: Forecast, target_s: float) -> tuple[int, int, dict[tuple[str, int], int]]:
    called = [r for r in records if r.called_s is not None]
    late: dict[tuple[str, int], int] = {}
    ok = 0
    for r in called:
        if r.called_s - r.arrival_s <= target_s:
            ok += 1
        else:
            key = (r.service, min(int(r.arrival_s // fc.slot_s), fc.slots - 1))
            late[key] = late.get(key, 0) + 1
    return ok, len(called), late


def day_levels(fc: Forecast, n: int) -> list[float]:
    """The level of each of ``n`` synthetic days: the middles of equal-probability strata of
    the forecast's day-to-day spread (three days: -0.97, 0, +0.97 standard deviations)."""
    return [max(0.5, 1 + NormalDist().inv_cdf((k + 0.5) / n) * fc.level_cv) for k in range(n)]


def units(fixes: list[Fix], slot_s: int) -> list[Fix]:
    """Extensions and additions cut into clerk-half-hours (trainings and moves as they are)."""
    out = []
    for f in fixes:
        if f.kind in FREE:
            out.append(f)
            continue
        t = f.start_s
        while t < f.end_s - 1e-6:
            out.append(Fix(f.kind, f.service, f.clerk, t, min(f.end_s, t + slot_s), f.also))
            t += slot_s
    return out


def rows_with(roster: list[RosterRow], absent: tuple[str, ...], fixes: list[Fix], slot_s: int) -> list[RosterRow]:
    """The day's roster: without the absent, with the trainings, extensions, moves (a clerk's
    rows split, the moved half hours with that service first) and added clerks."""
    rows = [r for r in roster if r.clerk not in set(absent)]
    for f in fixes:
        if f.kind == "train":
            rows = _apply(rows, f)
    pending = [f for f in fixes if f.kind == "extend"]
    while pending:                         # an extension joins the row it touches
        left = []
        for f in pending:
            after = _apply(rows, f)
            (left.append(f) if after == rows else None)
            rows = after
        if len(left) == len(pending):      # touches no row (a piece in between was taken away)
            rows = rows + [RosterRow(f.clerk, _counter(rows, f.clerk), _skills(rows, f.clerk), f.start_s, f.end_s)
                           for f in left]
            break
        pending = left
    for f in fixes:
        if f.kind == "move":
            rows = apply_move(rows, f)
    counter = max((r.counter for r in roster), default=0)
    adds: dict[tuple[str, tuple[str, ...]], dict[float, int]] = {}
    for f in fixes:
        if f.kind == "add":
            per = adds.setdefault((f.service, f.also), {})
            per[f.start_s] = per.get(f.start_s, 0) + 1
    for (s, also), per in sorted(adds.items()):
        for k in range(1, max(per.values()) + 1):   # the k-th extra clerk of each slot, in runs
            run = None
            for t in sorted(t for t, n in per.items() if n >= k):
                if run and math.isclose(run[1], t):
                    run[1] = t + slot_s
                    continue
                if run:
                    counter += 1
                    rows.append(RosterRow(f"them{counter}", counter, (s, *also), run[0], run[1]))
                run = [t, t + slot_s]
            if run:
                counter += 1
                rows.append(RosterRow(f"them{counter}", counter, (s, *also), run[0], run[1]))
    return rows


def _counter(rows, clerk):
    return next(r.counter for r in rows if r.clerk == clerk)


def _skills(rows, clerk):
    return next(r.skills for r in rows if r.clerk == clerk)


def busy_by(records) -> dict[str, float]:
    """Each clerk's seconds at the counter with a citizen (call to finish)."""
    out: dict[str, float] = {}
    for r in records:
        if r.clerk and r.called_s is not None:
            out[r.clerk] = out.get(r.clerk, 0.0) + ((r.finished_s or r.called_s) - r.called_s)
    return out


HELD_OUT_SEEDS = tuple(range(101, 113))


def check_plan(fc: Forecast, models: dict[str, ServiceModel], roster: list[RosterRow], center: ScenarioCenter,
               patterns: dict[str, list[Citizen]], *, absent: tuple[str, ...] = (), target_s: float = 900,
               level: float = 0.97, margin: float = 0.0, seeds=tuple(range(1, 13)), held_out=HELD_OUT_SEEDS,
               quantile: float = 0.95, held_quantile: float = 1.0, max_steps: int = 40, candidates: int = 3,
               max_prune: int = 40, max_trainings: int = 6, max_moves: int = 8, rotate: bool = True, max_rotated: int = 12,
               start_with_hours: bool = True, progress=None) -> CheckResult:
    """The formula's plan for ``fc``, corrected on synthetic days until the ``quantile`` of the
    fit days (one per seed of ``seeds``) and the ``held_quantile`` of the held-out days (one per
    seed of ``held_out``, never used to choose a change) reach ``level + margin`` within
    ``target_s``: with 12 fit days and 0.95, every one; with 12 held-out days and 1.0, every one.
    Trainings are tried before clerk-half-hours (``search.Search``), then the clerk-half-hours
    not needed are taken away. With ``rotate``, a held-out day under the goal once the fit days
    are kept becomes a fit day and a fresh day takes its place (at most ``max_rotated``): the
    held-out days at the end have never guided a change. ``start_with_hours=False`` starts the
    search from the formula's trainings alone (its clerk-half-hours dropped), so that every
    clerk-half-hour of the plan is one the simulation asked for (docs/performance.md §11: on
    the six cases, fewer hours and a few more fresh days kept, at 1.3-2.2 times the
    simulations; not the default yet)."""
    t0 = time.perf_counter()
    goal = level + margin
    n_fit = len(seeds)
    levels = day_levels(fc, n_fit) + day_levels(fc, len(held_out))
    days = [synthetic_day(fc, patterns, seed, lv) for seed, lv in zip((*seeds, *held_out), levels)]

    def replace(k: int) -> int:
        """A fresh held-out day at the level of day ``k`` (seeds 10001, 10002, ...)."""
        levels.append(levels[k])
        days.append(synthetic_day(fc, patterns, 10_000 + len(days) - n_fit - len(held_out) + 1, levels[k]))
        return len(days) - 1

    first = plan_day(fc, models, roster, absent=absent, target_s=target_s, level=level)
    sims = 0

    def lived(fx, which):
        nonlocal sims
        rows = rows_with(roster, absent, fx, fc.slot_s)
        out = {}
        for k in which:
            recs = live(center, rows, days[k], f"plan-{k}", printed_estimates=False)
            out[k] = (*late_by(recs, fc, target_s), busy_by(recs))
            sims += 1
        return out

    fit, held = list(range(n_fit)), list(range(n_fit, len(days)))
    first_fit = list(fit)
    search = Search(fc, roster, absent, lambda fx: rows_with(roster, absent, fx, fc.slot_s), lived, fit, held,
                    goal, int((1 - quantile) * n_fit + 1e-9), int((1 - held_quantile) * len(held) + 1e-9),
                    candidates=candidates, max_trainings=max_trainings, max_moves=max_moves, progress=progress,
                    replace=replace if rotate else None, max_rotated=max_rotated)
    fixes = units(first.fixes, fc.slot_s)
    first_res = lived(fixes, fit)              # the formula's plan, as the check reports it
    start_res = first_res
    if not start_with_hours:                   # its trainings only: every clerk-hour the search's
        fixes = [f for f in fixes if f.kind in FREE]
        start_res = lived(fixes, fit)
    out = search.up(fixes, max_steps, start_res)
    out = search.down(out, max_prune)
    res = out.res
    fit, held = search.fit, search.held
    plan = _plan_with(first, out.fixes, roster, absent, fc)
    ok = sum(res[k][0] for k in fit)
    n = sum(res[k][1] for k in fit)
    return CheckResult(plan, ok / n if n else 1.0, out.tried, n, [share(res[k]) for k in fit],
                       first.extra_clerk_hours(), [share(first_res[k]) for k in first_fit], out.added, out.removed,
                       sims, time.perf_counter() - t0, [share(res[k]) for k in held], out.trained, out.held_kept,
                       out.untrained, out.rotated, out.moved, out.unmoved)


def _plan_with(first: StaffPlan, fixes: list[Fix], roster, absent, fc) -> StaffPlan:
    extra = {s: [0] * fc.slots for s in first.services}
    for f in fixes:
        if f.kind == "add":
            extra.setdefault(f.service, [0] * fc.slots)[int(f.start_s // fc.slot_s)] += 1
    return StaffPlan(first.forecast, first.services, first.needed, first.staffed, first.short, first.moves,
                     _merge(list(fixes)), rows_with(roster, absent, fixes, fc.slot_s), first.absent, extra)
