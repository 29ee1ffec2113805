"""The wait of every waiting citizen, by simulating the rest of the day from now. Pure.

From a :class:`Snapshot` of what the server knows at this moment (who waits in which queue and
since when, each counter's clerk, services and ticket in hand and for how long, when each counter
works for the rest of the day, the calling and priority rules) and a learned :class:`Model`
(service times, no-shows, patience), ``forecast`` plays the day forward ``paths`` times with the
engine's own selection rule (``selection.choose_next``): counters call as their hands free up
and only inside their working windows (nobody is called after a window ends; a counter on a break
calls again when its next window starts); each called citizen takes a service time drawn from the
model, or the no-show hold; citizens ahead may leave, their patience drawn from the model given how
long they have already waited. Citizens still to come arrive as Poisson streams at the learned
rates: a later ticket never goes before an earlier one of its own service and class, but a
priority citizen, or one of a counter's preferred service, may go before you.

The estimate of a ticket is the mean of its call times over the paths in which it was called
(the wait that counts is that of citizens who are called), with the 10th and 90th percentiles
as its 80% interval. A "new ticket" of each service (normal and priority) rides along as a
phantom that takes no counter time, so the estimate for someone taking a ticket now comes from
the same paths without changing anyone else's.

This module reads the snapshot into plain lists (``paths.Plan``) and sums the paths up;
``paths.play`` plays each path (the loop that costs: ``docs/performance.md`` §9).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..config import Calling, PriorityPolicy
from .learned import STEP_S, Model
from .paths import Draws, Plan, play, plan_tables
from .selection import rank_offset

PATHS = 24


@dataclass(frozen=True)
class Shift:
    """One row of the day's roster: a clerk at a counter, serving these services, from..to (epoch s)."""
    counter: int
    clerk: str
    services: tuple[str, ...]
    start: float
    end: float


@dataclass(frozen=True)
class WaitingTicket:
    id: str
    service: str
    priority: bool
    queue_key: float
    wait_from: float
    target_counter: int | None = None


@dataclass(frozen=True)
class InHand:
    service: str
    started: bool      # serving (True) or called and not yet at the counter
    elapsed_s: float   # since the start (serving) or since the call


@dataclass(frozen=True)
class CounterNow:
    number: int
    clerk: str | None
    priority_in_row: int
    in_hand: InHand | None
    # when it will call, from now on: (start, end, services in order of preference)
    windows: tuple[tuple[float, float, tuple[str, ...]], ...]
    # who calls in each window: (clerk, whether it begins with a sign-in: the priority count from
    # 0), one per window (a roster row ahead is its own clerk's); () for every window the clerk
    # above, the count carried (no roster: who signs in after a break is not known)
    window_clerks: tuple[tuple[str | None, bool], ...] = ()

    def clerks_per_window(self) -> list[tuple[str | None, bool]]:
        """``window_clerks`` for every window: without them, the clerk on now, the count carried."""
        if len(self.window_clerks) == len(self.windows):
            return list(self.window_clerks)
        return [(self.clerk, False)] * len(self.windows)


@dataclass(frozen=True)
class Snapshot:
    now: float
    waiting: Sequence[WaitingTicket]
    counters: Sequence[CounterNow]
    calling: Calling
    priority: PriorityPolicy
    new_services: Sequence[str] = ()   # the phantoms: a new ticket of each
    # citizens still to come: ((service, priority), ((start, end, per second), ...)), Poisson
    arrivals: Sequence[tuple[tuple[str, bool], Sequence[tuple[float, float, float]]]] = ()
    # the earlier days the arrivals were learned from; 0: a cold day, today's recent rate held
    history_days: int = 0


@dataclass(frozen=True)
class Estimate:
    wait_s: float
    low_s: float
    high_s: float
    called_share: float  # in how many paths the ticket was called at all
    # the sample paths' own interval, before calibration (``calibration.py``); None: not calibrated
    raw_low_s: float | None = None
    raw_high_s: float | None = None
    # the paths part in two across a closure (lunch, a counter's break): (the last call before it,
    # the first after it: engine clock seconds; the share of paths called before): ``split_of``
    split: tuple[float, float, float] | None = None


@dataclass
class Forecast:
    now: float
    tickets: dict[str, Estimate] = field(default_factory=dict)
    new: dict[tuple[str, bool], Estimate] = field(default_factory=dict)
    # with ``forecast(..., samples=True)``: each estimate's call waits over the paths in which it
    # was called (seconds from now, sorted), by ticket id or (service, priority); for the benches
    samples: dict = field(default_factory=dict)


# a ticket's calls over the paths fall in two groups this far apart or more (a closure: lunch,
# a counter's break), each with at least this share of the paths: its words say both
SPLIT_GAP_S = 40 * 60.0
SPLIT_SHARE = 0.2


def split_of(ts: list[float]) -> tuple[float, float, float] | None:
    """Of the sorted call times ``ts`` over the paths: the widest gap, if at least ``SPLIT_GAP_S``
    with ``SPLIT_SHARE`` of the paths on either side, as (last before, first after, share before).
    A ticket taken minutes before the lunch closure is called within minutes or after lunch: its
    mean falls between the two and is true of neither (docs/performance.md, section 9)."""
    n = len(ts)
    if n < 5:
        return None
    lo, hi = max(1, math.ceil(SPLIT_SHARE * n)), n - max(1, math.ceil(SPLIT_SHARE * n))
    if hi < lo or ts[hi] - ts[lo - 1] < SPLIT_GAP_S:
        return None  # most tickets: no room for such a gap (one comparison)
    best = None
    for i in range(lo, hi + 1):  # a gap between ts[i - 1] and ts[i]: i paths before it
        gap = ts[i] - ts[i - 1]
        if gap >= SPLIT_GAP_S and (best is None or gap > best[1] - best[0]):
            best = (ts[i - 1], ts[i], i / n)
    return best


def _quantile(sorted_xs: list[float], q: float) -> float:
    """The order statistic whose expected coverage is ``q`` (position q (n + 1), 1-based): with
    24 paths, plain interpolation would give an "80%" interval that holds about 74%."""
    if len(sorted_xs) == 1:
        return sorted_xs[0]
    x = min(max(q * (len(sorted_xs) + 1) - 1, 0.0), len(sorted_xs) - 1.0)
    i = int(x)
    j = min(i + 1, len(sorted_xs) - 1)
    return sorted_xs[i] + (sorted_xs[j] - sorted_xs[i]) * (x - i)


def _what_can_matter(stop_at: int, counters: list, qlist: list[list[int]], streams: list, phantom: list[bool]
                     ) -> tuple[list, list, set[int]]:
    """For one ticket's forecast: the counters and streams that can change when it is called,
    the rest taken out (``qlist`` in place). That is the counters that call from its stream,
    those that share a stream with them, and so on, with their streams; the others' calls never
    touch a queue these counters call from. The other phantoms go too: a phantom takes no
    counter time, so it changes nobody's call (only which random draw each event reads: the
    estimate is the same in distribution, its sample paths are others). Returns the counters, the
    streams of citizens still to come and the streams kept."""
    scans = [{k for _, _, streams_of in wins for k, _, _ in streams_of} for _, wins in counters]
    mine = {k for k, q in enumerate(qlist) if stop_at in q}
    kept = [False] * len(counters)
    grew = True
    while grew:
        grew = False
        for ci, scan in enumerate(scans):
            if not kept[ci] and scan & mine:
                kept[ci] = grew = True
                mine |= scan
    for k, q in enumerate(qlist):
        qlist[k] = [j for j in q if not phantom[j] or j == stop_at] if k in mine else []
    return [c for ci, c in enumerate(counters) if kept[ci]], [(k, p) for k, p in streams if k in mine], mine


def forecast(snap: Snapshot, model: Model, *, paths: int = PATHS, seed: int = 0,
             only: str | tuple[str, bool] | None = None, pause: Callable[[], object] | None = None,
             samples: bool = False) -> Forecast:
    """Estimates for every waiting ticket and every phantom; with ``only`` (a ticket id or a
    phantom ``(service, priority)``), the paths play only what can change that one
    (``_what_can_matter``), each stops once it is called or has left, and the forecast holds that
    one's estimate alone. With ``samples``, it keeps the paths' call waits too (``Forecast.samples``:
    what the estimate sums up; nothing else changes)."""
    now = snap.now
    if isinstance(only, tuple) and only[0] in snap.new_services and not any(
            only[0] in services for c in snap.counters for _, _, services in c.windows):
        # a new ticket of a service no counter works today is called in no path: its answer needs
        # no plan (a kiosk's issue built one of a thousand waiting for it: docs/performance.md §8)
        rest = max(0.0, max((w[1] for c in snap.counters for w in c.windows), default=now) - now)
        return Forecast(now, new={(only[0], bool(only[1])): Estimate(rest, rest, rest, 0.0)})
    calling, policy = snap.calling, snap.priority
    # streams: one per (service, priority class), and one per counter for tickets sent to it
    keys: dict[object, int] = {}

    def kid(key) -> int:
        if key not in keys:
            keys[key] = len(keys)
        return keys[key]

    queue: dict[int, list[int]] = {}
    ws = sorted(snap.waiting, key=lambda w: (w.queue_key, w.id))
    for j, w in enumerate(ws):
        k = kid(("to", w.target_counter)) if w.target_counter is not None else kid((w.service, bool(w.priority)))
        queue.setdefault(k, []).append(j)
    ids: list = [w.id for w in ws]  # ticket index -> id (phantoms: ("new", service, priority))
    qks = [w.queue_key for w in ws]
    waited = [now - w.wait_from for w in ws]
    services_of = [w.service for w in ws]
    prio_of = [bool(w.priority) for w in ws]
    phantom = [False] * len(ws)
    for service in snap.new_services:
        for prio in (False, True):
            queue.setdefault(kid((service, prio)), []).append(len(ids))
            ids.append(("new", service, prio)), qks.append(now), waited.append(0.0)
            services_of.append(service), prio_of.append(prio), phantom.append(True)
    streams = [(kid(key), list(pieces)) for key, pieces in snap.arrivals if pieces]
    n_keys = len(keys)
    key_service = [None] * n_keys
    for key, k in keys.items():
        key_service[k] = key
    stop_at = -1
    if only is not None:
        target = ("new", *only) if isinstance(only, tuple) else only
        stop_at = ids.index(target) if target in ids else -1
    # each counter's windows with, per window, the streams it may call from: (kid, offset, priority)
    counters = []
    for c in snap.counters:
        if not c.windows:
            continue
        wins = []
        for start, end, services in c.windows:
            streams_of = [(keys[("to", c.number)], -math.inf, False)] if ("to", c.number) in keys else []
            for rank, svc in enumerate(services):
                off = rank_offset(calling, rank)
                for prio in (True, False):
                    if (svc, prio) in keys:
                        streams_of.append((keys[(svc, prio)], off, prio))
            wins.append((start, end, streams_of))
        counters.append((c, wins))
    n_tickets = len(ids)
    qlist = [queue.get(k, []) for k in range(n_keys)]
    if stop_at >= 0:
        counters, streams, kept = _what_can_matter(stop_at, counters, qlist, streams, phantom)
        # each path draws every service's true mean: of these services alone
        all_services = ({services_of[j] for k in kept for j in qlist[k]}
                        | {key_service[k][0] for k in kept if key_service[k][0] != "to"}
                        | {c.in_hand.service for c, _ in counters if c.in_hand})
    else:
        all_services = (set(services_of) | set(snap.new_services)
                        | {c.in_hand.service for c in snap.counters if c.in_hand}
                        | {key[0] for key in keys if key[0] != "to"})
    codes = sorted(all_services)
    sx = {code: i for i, code in enumerate(codes)}
    leaves = bool(model.survival)
    survival = model.survival
    leave_k = [min(len(survival) - 1, int(w / STEP_S)) for w in waited] if leaves else []
    # a path is over once every ticket some counter can call has been called or has left: the
    # others (a service no counter works today) are called in no path, however long it runs.
    # Without this, one such ticket kept every path going to the end of the day, simulating
    # every newcomer the open counters would serve (bench/connections.py: 0.5 s of CPU per
    # issue with one fast counter open; docs/performance.md, section 8)
    callable_keys = {k for _, wins in counters for _, _, streams_of in wins for k, _, _ in streams_of}
    reachable = sum(len(qlist[k]) for k in callable_keys)
    if stop_at >= 0 and not any(stop_at in qlist[k] for k in callable_keys):
        reachable = 0  # the one asked for can never be called: no path would stop
    plan = Plan(now=now, model=model, n_tickets=n_tickets, n_keys=n_keys,
                qlist=qlist, qks=qks, phantom=phantom, reachable=reachable,
                t_sx=[sx.get(s, -1) for s in services_of], t_prio=prio_of,  # -1: a ticket no path calls
                key_sx=[-1 if key[0] == "to" else sx.get(key[0], -1) for key in key_service],
                key_prio=[bool(key[1]) if key[0] != "to" else False for key in key_service],
                streams=streams, spread=[(code, model.durations(code).spread()) for code in codes],
                counters=counters, stop_at=stop_at, max_in_row=policy.max_in_row, guard=policy.normal_guard_s,
                use_priority=policy.enabled, waited=waited, leave_k=leave_k,
                leave_s=[survival[k] for k in leave_k], leaves=leaves, record_all=only is None)
    tables = plan_tables(plan)
    calls: list[list[float]] = [[] for _ in range(n_tickets)]
    draws = Draws(seed)
    size = 2 * n_tickets + 256  # draws one path reads, about (then as many as the last path read, twice)
    for path in range(paths):
        if pause is not None and path:
            pause()  # the server lets other greenlets run between paths; the result does not change
        while True:
            taken = draws.take(path, size)
            it = iter(taken)
            try:
                made = play(plan, tables, it.__next__, pause)
                break
            except StopIteration:  # more draws than this list: the same path again with a longer one
                size *= 2
        n = len(taken) - it.__length_hint__()
        draws.used(path, taken, n)
        size = max(size, 2 * n)
        for j, t in made:
            calls[j].append(t)
    out = Forecast(now)
    horizon = max((w[1] for c in snap.counters for w in c.windows), default=now)
    for j in range(n_tickets) if only is None else [stop_at] if stop_at >= 0 else []:
        if pause is not None and j % 50 == 0:
            pause()
        ts = sorted(calls[j])
        if ts:
            mean = sum(ts) / len(ts) - now
            at_once = sum(1 for x in ts if x <= now) / len(ts)
            # with a good chance of being called at once, the 80% interval starts at 0
            lo, hi = (0.0, 0.8) if at_once >= 0.1 else (0.1, 0.9)
            est = Estimate(max(0.0, mean), max(0.0, _quantile(ts, lo) - now), max(0.0, _quantile(ts, hi) - now),
                           len(ts) / paths, split=split_of(ts))
        else:  # called in no path: nobody will call it today as things stand
            rest = max(0.0, horizon - now)
            est = Estimate(rest, rest, rest, 0.0)
        key = (services_of[j], prio_of[j]) if phantom[j] else ids[j]
        if phantom[j]:
            out.new[key] = est
        else:
            out.tickets[key] = est
        if samples:
            out.samples[key] = [x - now for x in ts]
    return out
