"""Clerks needed per service and half hour, against the roster: the shortfall and its fixes.

Pure: a forecast, a service model per service and the roster's rows in; the plan out.

* needed: Erlang A per service (``erlang.positions_needed``) at the forecast rate of each half
  hour, with the effective time a call holds a counter (service, or the no-show hold, plus the
  walk) and the citizens' mean patience;
* staffed: the clerks on shift for at least half of the half hour, each put on one service
  they are trained for by a maximum matching (a clerk serving a service other than their first
  is "moved" there for that half hour);
* fixes, cheapest first, until no half hour is short: train a clerk who is present and not
  needed, extend a shift row of a clerk trained for the service by half an hour (at either end,
  into a break too), else one more clerk for the service for that half hour.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .erlang import positions_needed
from .forecast import Forecast


@dataclass(frozen=True)
class RosterRow:
    clerk: str
    counter: int
    skills: tuple[str, ...]
    start_s: float
    end_s: float


@dataclass(frozen=True)
class ServiceModel:
    hold_s: float                  # mean time a call holds the counter
    patience_s: float | None       # mean patience (None: citizens stay)


@dataclass(frozen=True)
class Fix:
    kind: str                      # "train", "move", "extend", "add"
    service: str
    clerk: str | None
    start_s: float
    end_s: float
    also: tuple[str, ...] = ()     # "add": the other services the added clerk is trained for

    @property
    def clerk_hours(self) -> float:
        return 0.0 if self.kind in FREE else (self.end_s - self.start_s) / 3600


FREE = ("train", "move")               # fixes that cost no clerk-hours
ORDER = ("move", "train", "extend", "add")   # how the plan lists them: the cheapest first


@dataclass
class StaffPlan:
    forecast: Forecast
    services: list[str]
    needed: dict[str, list[float]]             # positions (a clerk's time) per slot
    staffed: dict[str, list[float]]            # with the roster as it is (absent removed)
    short: dict[str, list[float]]              # needed - staffed where positive
    moves: list[tuple[int, str, str]]          # (slot, clerk, service) not the clerk's first
    fixes: list[Fix]
    rows: list[RosterRow]                      # the roster with the fixes, for the day
    absent: tuple[str, ...] = ()
    extra: dict[str, list[int]] = field(default_factory=dict)   # clerks added per service and slot

    def extra_clerk_hours(self) -> float:
        return sum(f.clerk_hours for f in self.fixes)


def model_from_samples(samples, *, hold_s: float = 60.0, walk_s: float = 0.0) -> dict[str, ServiceModel]:
    """Service models from history rows (service, service_s, no_show, patience_s or None)."""
    by: dict[str, list] = {}
    for row in samples:
        by.setdefault(row[0], []).append(row)
    out = {}
    for s, rows in by.items():
        served = [r[1] for r in rows if not r[2]]
        mean_s = sum(served) / len(served) if served else 600.0
        p_ns = sum(1 for r in rows if r[2]) / len(rows)
        pats = [r[3] for r in rows if r[3] is not None]
        share_patient = len(pats) / len(rows)
        patience = (sum(pats) / len(pats)) / share_patient if pats and share_patient > 0.5 else None
        out[s] = ServiceModel(hold_s=(1 - p_ns) * mean_s + p_ns * hold_s + walk_s, patience_s=patience)
    return out


def needs(fc: Forecast, models: dict[str, ServiceModel], *, target_s: float = 900,
          level: float = 0.97) -> dict[str, list[float]]:
    """Positions per service and slot: the pooled Erlang A need of the slot (all services, as
    trained clerks share the work), split between services by their traffic; never less than
    one for a service with arrivals, nor more than its own Erlang A need alone."""
    out = {s: [0.0] * fc.slots for s in fc.rates}
    for i in range(fc.slots):
        rate = sum(fc.rates[s][i] for s in fc.rates) / fc.slot_s
        if rate <= 0:
            continue
        traffic = {s: fc.rates[s][i] / fc.slot_s * _m(models, s).hold_s for s in fc.rates}
        total = sum(traffic.values())
        hold = total / rate
        pats = [_m(models, s).patience_s for s in fc.rates if fc.rates[s][i] > 0]
        patience = None if any(p is None for p in pats) else sum(pats) / len(pats)
        pooled = positions_needed(rate, hold, target_s=target_s, level=level, patience_s=patience)
        for s in fc.rates:
            r = fc.rates[s][i]
            if r <= 0.05:
                continue
            alone = positions_needed(r / fc.slot_s, _m(models, s).hold_s, target_s=target_s, level=level,
                                     patience_s=_m(models, s).patience_s)
            out[s][i] = min(float(alone), max(min(1.0, alone), pooled * traffic[s] / total))
    return out


def _m(models, s):
    return models.get(s, ServiceModel(600.0, None))


def present(rows: list[RosterRow], slot: int, slot_s: int) -> dict[str, tuple[str, ...]]:
    """Clerks on shift for at least half of the slot, with their skills (in their order)."""
    a, b = slot * slot_s, (slot + 1) * slot_s
    cover: dict[str, float] = {}
    skills: dict[str, list[str]] = {}
    for r in rows:
        cover[r.clerk] = cover.get(r.clerk, 0.0) + max(0.0, min(b, r.end_s) - max(a, r.start_s))
        known = skills.setdefault(r.clerk, [])
        known.extend(s for s in r.skills if s not in known)
    return {c: tuple(skills[c]) for c, v in cover.items() if v >= slot_s / 2}


def assign(need: dict[str, float], clerks: dict[str, tuple[str, ...]]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """The most of the needed positions the present clerks can fill (a maximum flow, clerks of
    capacity one to the services they are trained for, Edmonds-Karp): per clerk the share of
    their time on each service, and the positions left unfilled per service."""
    names = sorted(clerks)
    codes = sorted(s for s, n in need.items() if n > 0)
    n_nodes = 2 + len(names) + len(codes)
    src, dst = 0, n_nodes - 1
    cap = [[0.0] * n_nodes for _ in range(n_nodes)]
    for k, c in enumerate(names, start=1):
        cap[src][k] = 1.0
        for j, s in enumerate(codes, start=1 + len(names)):
            if s in clerks[c]:
                cap[k][j] = 1.0
    for j, s in enumerate(codes, start=1 + len(names)):
        cap[j][dst] = float(need[s])
    flow = [[0.0] * n_nodes for _ in range(n_nodes)]
    while True:
        prev = [-1] * n_nodes
        prev[src] = src
        queue = [src]
        for u in queue:
            for v in range(n_nodes):
                if prev[v] < 0 and cap[u][v] - flow[u][v] > 1e-9:
                    prev[v] = u
                    queue.append(v)
        if prev[dst] < 0:
            break
        push, v = float("inf"), dst
        while v != src:
            push = min(push, cap[prev[v]][v] - flow[prev[v]][v])
            v = prev[v]
        v = dst
        while v != src:
            flow[prev[v]][v] += push
            flow[v][prev[v]] -= push
            v = prev[v]
    who: dict[str, dict[str, float]] = {}
    unfilled: dict[str, float] = {}
    for j, s in enumerate(codes, start=1 + len(names)):
        for k, c in enumerate(names, start=1):
            if flow[k][j] > 1e-9:
                who.setdefault(c, {})[s] = flow[k][j]
        left = need[s] - flow[j][dst]
        if left > 1e-6:
            unfilled[s] = left
    return who, unfilled


def _shortfall(rows, need, services, fc):
    staffed = {s: [0.0] * fc.slots for s in services}
    short = {s: [0.0] * fc.slots for s in services}
    idle: list[dict[str, float]] = []
    moves = []
    for i in range(fc.slots):
        clerks = present(rows, i, fc.slot_s)
        who, unfilled = assign({s: need[s][i] for s in services}, clerks)
        for c, shares in who.items():
            for s, f in shares.items():
                staffed[s][i] += f
                if clerks[c] and clerks[c][0] != s and f >= 0.5:
                    moves.append((i, c, s))
        for s, n in unfilled.items():
            short[s][i] = n
        idle.append({c: 1.0 - sum(who.get(c, {}).values()) for c in clerks
                     if 1.0 - sum(who.get(c, {}).values()) >= 0.5})
    return staffed, short, idle, moves


def plan_day(fc: Forecast, models: dict[str, ServiceModel], roster: list[RosterRow], *,
             absent: tuple[str, ...] = (), target_s: float = 900, level: float = 0.97,
             extra: dict[str, list[int]] | None = None) -> StaffPlan:
    """Needs, the shortfall of ``roster`` without the ``absent`` clerks, and fixes until none.
    ``extra`` (clerks more, or fewer, per service and slot than the formula's, from the
    simulation check) adjusts the clerks added."""
    services = sorted(fc.rates)
    need = needs(fc, models, target_s=target_s, level=level)
    rows = [r for r in roster if r.clerk not in set(absent)]
    staffed, short0, idle, moves = _shortfall(rows, need, services, fc)
    fixes: list[Fix] = []
    added = {s: [0] * fc.slots for s in services}
    for _ in range(500):
        _, short, idle, _ = _shortfall(rows, need, services, fc)
        gaps = [(i, s) for i in range(fc.slots) for s in services if short[s][i] - added[s][i] >= 0.5]
        if not gaps:
            break
        i, s = gaps[0]
        fix = _train(rows, idle, short, added, s, i, fc) or _extend(rows, s, i, fc)
        if fix is None:
            added[s][i] += 1
            fixes.append(Fix("add", s, None, i * fc.slot_s, (i + 1) * fc.slot_s))
            continue
        fixes.append(fix)
        rows = _apply(rows, fix)
    for s, per in (extra or {}).items():
        for i, n in enumerate(per):
            row = added.setdefault(s, [0] * fc.slots)
            row[i] = max(0, row[i] + n)
    fixes = [f for f in fixes if f.kind != "add"]
    fixes += [Fix("add", s, None, i * fc.slot_s, (i + 1) * fc.slot_s)
              for s, per in added.items() for i, n in enumerate(per) for _ in range(n)]
    fixes = _merge(fixes)
    rows = rows + _extra_rows(added, fc, start_counter=max((r.counter for r in roster), default=0) + 1)
    return StaffPlan(fc, services, need, staffed, short0, moves, fixes, rows, tuple(absent), added)


def _train(rows, idle, short, added, s, i, fc) -> Fix | None:
    if not idle[i]:
        return None
    # the idle clerk who is idle in most of the slots where s is short
    def score(c):
        return sum(1 for j in range(fc.slots) if c in idle[j] and short[s][j] - added[s][j] >= 0.5)
    c = max(sorted(idle[i]), key=score)
    return Fix("train", s, c, i * fc.slot_s, (i + 1) * fc.slot_s)


def _extend(rows, s, i, fc) -> Fix | None:
    a, b = i * fc.slot_s, (i + 1) * fc.slot_s
    busy = {}
    for r in rows:
        busy.setdefault(r.clerk, []).append((r.start_s, r.end_s))
    for r in rows:
        if s not in r.skills:
            continue
        if any(x < b and y > a for x, y in busy[r.clerk]):
            continue                      # on shift (part of) this slot already
        if r.end_s == a or r.start_s == b:
            return Fix("extend", s, r.clerk, a, b)
    return None


def _apply(rows: list[RosterRow], fix: Fix) -> list[RosterRow]:
    out = []
    done = False
    for r in rows:
        if r.clerk != fix.clerk:
            out.append(r)
        elif fix.kind == "train":
            out.append(RosterRow(r.clerk, r.counter, r.skills + ((fix.service,) if fix.service not in r.skills else ()),
                                 r.start_s, r.end_s))
        elif not done and r.end_s == fix.start_s:
            out.append(RosterRow(r.clerk, r.counter, r.skills, r.start_s, fix.end_s))
            done = True
        elif not done and r.start_s == fix.end_s:
            out.append(RosterRow(r.clerk, r.counter, r.skills, fix.start_s, r.end_s))
            done = True
        else:
            out.append(r)
    return out


def apply_move(rows: list[RosterRow], fix: Fix) -> list[RosterRow]:
    """A clerk moved to ``fix.service`` for ``[start_s, end_s)``: their shift rows split, the
    moved part with that service first (their other services after it, so that they are never
    idle while someone waits for them). Only within their shift, and only for a service they are
    trained for (a training in the plan counts); else the rows are as they were."""
    a, b = fix.start_s, fix.end_s
    mine = [r for r in rows if r.clerk == fix.clerk]
    if not any(fix.service in r.skills for r in mine):
        return rows
    out = []
    for r in rows:
        if r.clerk != fix.clerk or r.end_s <= a or r.start_s >= b or fix.service not in r.skills:
            out.append(r)
            continue
        if r.start_s < a:
            out.append(RosterRow(r.clerk, r.counter, r.skills, r.start_s, a))
        first = (fix.service, *(x for x in r.skills if x != fix.service))
        out.append(RosterRow(r.clerk, r.counter, first, max(a, r.start_s), min(b, r.end_s)))
        if r.end_s > b:
            out.append(RosterRow(r.clerk, r.counter, r.skills, b, r.end_s))
    return out


def _merge(fixes: list[Fix]) -> list[Fix]:
    """Trainings once per clerk and service; adjacent moves, extensions and additions joined."""
    out: list[Fix] = []
    seen_train = set()
    for f in sorted(fixes, key=lambda f: (ORDER.index(f.kind), f.service, f.clerk or "", f.start_s)):
        if f.kind == "train":
            if (f.clerk, f.service) in seen_train:
                continue
            seen_train.add((f.clerk, f.service))
            out.append(f)
            continue
        if f.kind in ("extend", "move") and out and out[-1].kind == f.kind and out[-1].service == f.service \
                and out[-1].clerk == f.clerk and out[-1].end_s >= f.start_s:
            out[-1] = Fix(f.kind, f.service, f.clerk, out[-1].start_s, max(out[-1].end_s, f.end_s))
            continue
        out.append(f)
    if any(f.kind == "add" for f in out):
        adds = [f for f in out if f.kind == "add"]
        out = [f for f in out if f.kind != "add"] + _runs(adds)
    return out


def _runs(adds: list[Fix]) -> list[Fix]:
    """Additions as whole shifts: per service (and second services), the k-th extra clerk of
    each slot joined into runs."""
    out = []
    by: dict[tuple[str, tuple[str, ...]], dict[float, int]] = {}
    for f in adds:
        per = by.setdefault((f.service, f.also), {})
        per[f.start_s] = per.get(f.start_s, 0) + 1
    slot = min((f.end_s - f.start_s for f in adds), default=0.0)
    for (s, also), per in sorted(by.items()):
        for k in range(1, max(per.values()) + 1):
            starts = sorted(t for t, n in per.items() if n >= k)
            run = None
            for t in starts:
                if run and math.isclose(run[1], t):
                    run[1] = t + slot
                else:
                    if run:
                        out.append(Fix("add", s, None, run[0], run[1], also))
                    run = [t, t + slot]
            if run:
                out.append(Fix("add", s, None, run[0], run[1], also))
    return out


def _extra_rows(added: dict[str, list[int]], fc: Forecast, *, start_counter: int) -> list[RosterRow]:
    rows = []
    counter = start_counter
    for f in _runs([Fix("add", s, None, i * fc.slot_s, (i + 1) * fc.slot_s)
                    for s, per in added.items() for i, n in enumerate(per) for _ in range(n)]):
        rows.append(RosterRow(f"them{counter}", counter, (f.service, *f.also), f.start_s, f.end_s))
        counter += 1
    return rows
