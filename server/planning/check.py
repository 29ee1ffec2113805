"""The plan checked, and corrected, by living the day in the real engine (the simulator).

Synthetic days are drawn from the forecast (Poisson counts per service and half hour, times
uniform in the half hour, each citizen's service time, patience, priority and no-show drawn from
a citizen of that service in the history), one quiet, one usual and one busy by the forecast's
day-to-day spread. The planned roster lives them through
``server.simulator.Simulation``; while the share called within the target over all of them is
under the level (plus a margin of one point), clerks are added where most citizens were
called late and the days lived again; then clerks added where they were not needed are taken
away.
"""
from __future__ import annotations

import random
from statistics import NormalDist
from dataclasses import dataclass

from ..scenario import Arrival, Scenario, ScenarioCenter, Shift
from ..simulator import Simulation
from .forecast import Forecast
from .staffing import RosterRow, ServiceModel, StaffPlan, plan_day


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
    share: float                      # called within target over the synthetic days
    rounds: int
    tickets: int
    shares_by_day: list[float]


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


def live(center: ScenarioCenter, rows: list[RosterRow], arrivals: list[Arrival], name: str = "plan"):
    """One day of ``arrivals`` with the roster ``rows``, through the real engine: its records."""
    return Simulation(Scenario(name, center, shifts(rows), arrivals)).run().records


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


def check_plan(fc: Forecast, models: dict[str, ServiceModel], roster: list[RosterRow], center: ScenarioCenter,
               patterns: dict[str, list[Citizen]], *, absent: tuple[str, ...] = (), target_s: float = 900,
               level: float = 0.97, margin: float = 0.01, seeds=(1, 2, 3), max_rounds: int = 12,
               max_failed: int = 4) -> CheckResult:
    """Up: while short of ``level + margin``, one more clerk in each half hour and service with
    at least half as many late citizens as the worst. Down: the clerk-half-hours added, fewest
    late citizens first, each taken away if the days still reach ``level + margin`` without
    it, until ``max_failed`` could not be."""
    # the forecast's own uncertainty: days at the middles of equal-probability strata of the
    # day's level (for three days: -0.97, 0, +0.97 standard deviations)
    z = [NormalDist().inv_cdf((k + 0.5) / len(seeds)) for k in range(len(seeds))]
    days = [synthetic_day(fc, patterns, seed, max(0.5, 1 + zk * fc.level_cv)) for seed, zk in zip(seeds, z)]
    adjust: dict[str, list[int]] = {}
    rounds = 0

    def run():
        plan = plan_day(fc, models, roster, absent=absent, target_s=target_s, level=level, extra=adjust)
        ok = n = 0
        late: dict[tuple[str, int], int] = {}
        shares = []
        for k, arrivals in enumerate(days):
            o, c, lt = late_by(live(center, plan.rows, arrivals, f"plan-{k}"), fc, target_s)
            ok, n = ok + o, n + c
            shares.append(o / c if c else 1.0)
            for key, v in lt.items():
                late[key] = late.get(key, 0) + v
        return plan, (ok / n if n else 1.0), n, shares, late

    plan, share, n, shares, late = run()
    while share < level + margin and late and rounds < max_rounds:
        worst = max(late.values())
        for (s, i), v in late.items():       # the worst half hours at once: fewer rounds
            if v >= max(2, worst / 2):
                adjust.setdefault(s, [0] * fc.slots)[i] += 1
        rounds += 1
        plan, share, n, shares, late = run()
    if share >= level + margin:
        best = (plan, share, n, shares)
        candidates = sorted(((s, i) for s, per in plan.extra.items() for i, k in enumerate(per) if k > 0),
                            key=lambda si: (late.get(si, 0), -si[1]))
        failed = 0
        for s, i in candidates:
            if failed >= max_failed:
                break
            adjust.setdefault(s, [0] * fc.slots)[i] -= 1
            rounds += 1
            plan, share, n, shares, late = run()
            if share >= level + margin:
                best = (plan, share, n, shares)
            else:
                adjust[s][i] += 1
                failed += 1
        plan, share, n, shares = best
    return CheckResult(plan, share, rounds, n, shares)
