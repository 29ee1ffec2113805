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
"""
from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Callable, Sequence

from ..config import Calling, PriorityPolicy
from .learned import Model
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


@dataclass(frozen=True)
class Estimate:
    wait_s: float
    low_s: float
    high_s: float
    called_share: float  # in how many paths the ticket was called at all
    # the sample paths' own interval, before calibration (``calibration.py``); None: not calibrated
    raw_low_s: float | None = None
    raw_high_s: float | None = None


@dataclass
class Forecast:
    now: float
    tickets: dict[str, Estimate] = field(default_factory=dict)
    new: dict[tuple[str, bool], Estimate] = field(default_factory=dict)


def _quantile(sorted_xs: list[float], q: float) -> float:
    """The order statistic whose expected coverage is ``q`` (position q (n + 1), 1-based): with
    24 paths, plain interpolation would give an "80%" interval that holds about 74%."""
    if len(sorted_xs) == 1:
        return sorted_xs[0]
    x = min(max(q * (len(sorted_xs) + 1) - 1, 0.0), len(sorted_xs) - 1.0)
    i = int(x)
    j = min(i + 1, len(sorted_xs) - 1)
    return sorted_xs[i] + (sorted_xs[j] - sorted_xs[i]) * (x - i)


class _Uniforms:
    """Uniform draws in antithetic pairs: an odd path replays ``1 - u`` of the even path before
    it, as far as it goes (then fresh draws). A path with long services is paired with one with
    short ones, which halves the noise of the mean for the same number of paths."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.tape, self.i, self.mirror = rng, [], 0, False

    def start(self, path: int) -> None:
        self.mirror, self.i = path % 2 == 1, 0
        if not self.mirror:
            self.tape = []

    def __call__(self) -> float:
        if self.mirror:
            i = self.i
            if i < len(self.tape):
                self.i = i + 1
                return 1.0 - self.tape[i]
            return self.rng.random()
        u = self.rng.random()
        self.tape.append(u)
        return u


def _next_arrival(pieces, i: int, x: float, expo) -> tuple[float, int] | None:
    """The next Poisson arrival after ``x`` of piecewise-constant rates (memoryless: a piece's
    end restarts the draw in the next piece)."""
    while i < len(pieces):
        a, b, rate = pieces[i]
        x = max(x, a) + expo(rate)
        if x < b:
            return x, i
        i += 1
        x = pieces[i][0] if i < len(pieces) else b
    return None


def forecast(snap: Snapshot, model: Model, *, paths: int = PATHS, seed: int = 0,
             only: str | tuple[str, bool] | None = None, pause: Callable[[], object] | None = None) -> Forecast:
    """Estimates for every waiting ticket and every phantom; with ``only`` (a ticket id or a
    phantom ``(service, priority)``), each path stops once that one is called, and only its
    estimate is given."""
    now = snap.now
    calling, policy = snap.calling, snap.priority
    # streams: one per (service, priority class), and one per counter for tickets sent to it
    keys: dict[object, int] = {}

    def kid(key) -> int:
        if key not in keys:
            keys[key] = len(keys)
        return keys[key]

    ids: list = []       # ticket index -> id (phantoms: ("new", service, priority))
    qks: list[float] = []
    waited: list[float] = []
    services_of: list[str] = []
    prio_of: list[bool] = []
    phantom: list[bool] = []
    queue: dict[int, list[int]] = {}
    for w in sorted(snap.waiting, key=lambda w: (w.queue_key, w.id)):
        k = kid(("to", w.target_counter)) if w.target_counter is not None else kid((w.service, bool(w.priority)))
        queue.setdefault(k, []).append(len(ids))
        ids.append(w.id), qks.append(w.queue_key), waited.append(now - w.wait_from)
        services_of.append(w.service), prio_of.append(bool(w.priority)), phantom.append(False)
    for service in snap.new_services:
        for prio in (False, True):
            queue.setdefault(kid((service, prio)), []).append(len(ids))
            ids.append(("new", service, prio)), qks.append(now), waited.append(0.0)
            services_of.append(service), prio_of.append(prio), phantom.append(True)
    streams = [(kid(key), pieces) for key, pieces in snap.arrivals if pieces]
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
    qlen = [len(q) for q in qlist]
    # a path is over once every ticket some counter can call has been called or has left: the
    # others (a service no counter works today) are called in no path, however long it runs.
    # Without this, one such ticket kept every path going to the end of the day, simulating
    # every newcomer the open counters would serve (bench/connections.py: 0.5 s of CPU per
    # issue with one fast counter open; docs/performance.md, section 8)
    callable_keys = {k for _, wins in counters for _, _, streams_of in wins for k, _, _ in streams_of}
    reachable = sum(qlen[k] for k in callable_keys)
    if stop_at >= 0 and not any(stop_at in qlist[k] for k in callable_keys):
        reachable = 0  # the one asked for can never be called: no path would stop
    calls: list[list[float]] = [[] for _ in range(n_tickets)]
    rng = random.Random(seed)
    rand = _Uniforms(rng)

    def expo(rate: float) -> float:
        return -math.log(max(1e-12, 1.0 - rand())) / rate
    normal = NormalDist()
    leave_after = model.leave_after
    p_ns, hold, walk = model.p_no_show, model.hold_s, model.walk_s
    samplers: dict[tuple[str | None, str], object] = {}
    scale: dict[str, float] = {}
    all_services = set(services_of) | set(snap.new_services) | {c.in_hand.service for c in snap.counters if c.in_hand}
    for _, key in sorted((k, key) for key, k in keys.items()):
        if key[0] != "to":
            all_services.add(key[0])
    spread = {svc: model.durations(svc).spread() for svc in sorted(all_services)}

    def sampler(clerk, svc):
        f = samplers.get((clerk, svc))
        if f is None:
            f = samplers[(clerk, svc)] = model.sampler(svc, clerk, scale.get(svc, 1.0))
        return f
    stream_pieces = [None] * n_keys
    for k, pieces in streams:
        stream_pieces[k] = pieces
    max_in_row = policy.max_in_row
    guard = policy.normal_guard_s
    use_priority = policy.enabled
    inf = math.inf
    leaves = bool(model.survival)
    for path in range(paths):
        if pause is not None and path:
            pause()  # the server lets other greenlets run between paths; the result does not change
        rand.start(path)
        # when each citizen would leave, drawn the first time they reach the head of a line
        leave = [None if leaves else inf] * n_tickets
        pos = [0] * n_keys
        nxt = [None] * n_keys
        for k, pieces in streams:
            nxt[k] = _next_arrival(pieces, 0, max(now, pieces[0][0]), expo)
        # this path's draw of each service's true mean, around the learned one (lognormal, mean 1)
        for svc, sd in spread.items():
            z = normal.inv_cdf(min(max(rand(), 1e-9), 1 - 1e-9))
            scale[svc] = math.exp(-sd * sd / 2 + sd * z)
        samplers.clear()
        in_row = {}
        wpos = {}
        heap = []
        for c, wins in counters:
            free = now
            h = c.in_hand
            if h is not None:
                if h.started:
                    free += model.durations(h.service).residual(h.elapsed_s, rand()) * scale.get(h.service, 1.0)
                elif h.elapsed_s < walk:
                    free += walk - h.elapsed_s + model.service_sample(h.service, rand(), c.clerk,
                                                                      scale.get(h.service, 1.0))
                else:
                    free += max(0.0, hold - h.elapsed_s)
            heap.append((free, c.number, c, wins))
            in_row[c.number] = c.priority_in_row
            wpos[c.number] = 0
        heapq.heapify(heap)
        remaining = reachable
        while heap and remaining > 0:
            t, n, c, wins = heapq.heappop(heap)
            wi = wpos[n]
            while wi < len(wins) and t >= wins[wi][1]:
                wi += 1
            if wi >= len(wins):
                continue
            wpos[n] = wi
            start, end, streams_of = wins[wi]
            if t < start:
                t = start
            # the best head of each class: (score, queue key, ticket index or -1 for a newcomer, stream)
            best_p = best_n = None
            wake = inf
            for k, off, prio in streams_of:
                i = pos[k]
                ql = qlen[k]
                if i < ql:
                    q = qlist[k]
                    while i < ql:
                        j = q[i]
                        lv = leave[j]
                        if lv is None:
                            lv = leave[j] = now + leave_after(waited[j], rand())
                        if lv > t:
                            break
                        i += 1
                        remaining -= 1
                    pos[k] = i
                if i < ql:
                    j = qlist[k][i]
                    head = (qks[j] + off, qks[j], j, k)
                else:
                    a = nxt[k]
                    if a is None:
                        continue
                    if a[0] > t:
                        if a[0] < wake:
                            wake = a[0]
                        continue
                    head = (a[0] + off, a[0], -1, k)
                if off == -inf:  # sent to this counter: before anything else
                    best_p, best_n = None, head
                    break
                if prio and use_priority:
                    if best_p is None or head < best_p:
                        best_p = head
                elif best_n is None or head < best_n:
                    best_n = head
            if best_p is None and best_n is None:
                if wake < end:
                    heapq.heappush(heap, (wake, n, c, wins))
                elif wi + 1 < len(wins):
                    heapq.heappush(heap, (wins[wi + 1][0], n, c, wins))
                continue
            if best_p is None:
                chosen = best_n
            elif best_n is None:
                chosen = best_p
            elif in_row[n] >= max_in_row or (t - best_n[1] > guard and best_n[1] < best_p[1]):
                chosen = best_n   # selection.normal_goes_first, inlined
            else:
                chosen = best_p
            j, k = chosen[2], chosen[3]
            if j < 0:  # a newcomer: draw the next of that stream
                a = nxt[k]
                nxt[k] = _next_arrival(stream_pieces[k], a[1], a[0], expo)
                svc, is_prio = key_service[k]
            else:
                pos[k] += 1
                remaining -= 1
                calls[j].append(t)
                if j == stop_at:
                    break
                if phantom[j]:
                    heapq.heappush(heap, (t, n, c, wins))
                    continue
                svc, is_prio = services_of[j], prio_of[j]
            in_row[n] = in_row[n] + 1 if is_prio else 0
            u = rand()
            if u < p_ns:
                busy = hold
            else:
                busy = walk + sampler(c.clerk, svc)((u - p_ns) / (1.0 - p_ns))
            heapq.heappush(heap, (t + busy, n, c, wins))
    out = Forecast(now)
    horizon = max((w[1] for c in snap.counters for w in c.windows), default=now)
    # with ``only``, the paths were cut short for the others: their figures would mean nothing
    for j in (range(n_tickets) if stop_at < 0 else (stop_at,)):
        ts = sorted(calls[j])
        if ts:
            mean = sum(ts) / len(ts) - now
            at_once = sum(1 for x in ts if x <= now) / len(ts)
            # with a good chance of being called at once, the 80% interval starts at 0
            lo, hi = (0.0, 0.8) if at_once >= 0.1 else (0.1, 0.9)
            est = Estimate(max(0.0, mean), max(0.0, _quantile(ts, lo) - now), max(0.0, _quantile(ts, hi) - now),
                           len(ts) / paths)
        else:  # called in no path: nobody will call it today as things stand
            rest = max(0.0, horizon - now)
            est = Estimate(rest, rest, rest, 0.0)
        if phantom[j]:
            out.new[(services_of[j], prio_of[j])] = est
        else:
            out.tickets[ids[j]] = est
    return out
