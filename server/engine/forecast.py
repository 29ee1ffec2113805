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
from typing import Sequence

from ..config import Calling, PriorityPolicy
from .learned import Model
from .selection import choose_next

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


@dataclass
class Forecast:
    now: float
    tickets: dict[str, Estimate] = field(default_factory=dict)
    new: dict[tuple[str, bool], Estimate] = field(default_factory=dict)


class _T:
    """A ticket in the paths (the attributes ``choose_next`` reads)."""
    __slots__ = ("id", "service", "priority", "queue_key", "target_counter", "wait_from", "index", "phantom")

    def __init__(self, id, service, priority, queue_key, target_counter, wait_from, index, phantom):
        self.id, self.service, self.priority, self.queue_key = id, service, priority, queue_key
        self.target_counter, self.wait_from, self.index, self.phantom = target_counter, wait_from, index, phantom


def _quantile(sorted_xs: list[float], q: float) -> float:
    if len(sorted_xs) == 1:
        return sorted_xs[0]
    x = q * (len(sorted_xs) - 1)
    i = int(x)
    j = min(i + 1, len(sorted_xs) - 1)
    return sorted_xs[i] + (sorted_xs[j] - sorted_xs[i]) * (x - i)


def forecast(snap: Snapshot, model: Model, *, paths: int = PATHS, seed: int = 0,
             only: str | tuple[str, bool] | None = None) -> Forecast:
    """Estimates for every waiting ticket and every phantom; with ``only`` (a ticket id or a
    phantom ``(service, priority)``), each path stops once that one is called."""
    now = snap.now
    tickets: list[_T] = []
    queues: dict[tuple[str, bool], list[_T]] = {}
    targeted: dict[int, list[_T]] = {}
    for w in sorted(snap.waiting, key=lambda w: (w.queue_key, w.id)):
        t = _T(w.id, w.service, bool(w.priority), w.queue_key, w.target_counter, w.wait_from, len(tickets), False)
        tickets.append(t)
        if w.target_counter is not None:
            targeted.setdefault(w.target_counter, []).append(t)
        else:
            queues.setdefault((w.service, t.priority), []).append(t)
    n_real = len(tickets)
    for service in snap.new_services:
        for prio in (False, True):
            t = _T(("new", service, prio), service, prio, now, None, now, len(tickets), True)
            tickets.append(t)
            queues.setdefault((service, prio), []).append(t)
    stop_at = None
    if only is not None:
        key = only if isinstance(only, tuple) else None
        for t in tickets:
            if (t.phantom and key == (t.service, t.priority)) or (not t.phantom and t.id == only):
                stop_at = t.index
    calls: list[list[float]] = [[] for _ in tickets]
    rng = random.Random(seed)
    calling, prio_policy = snap.calling, snap.priority
    counters = {c.number: c for c in snap.counters}
    leave_after = model.leave_after
    p_ns, hold, walk = model.p_no_show, model.hold_s, model.walk_s
    anyone_leaves = bool(model.survival)
    expo = rng.expovariate
    for _ in range(paths):
        leave = [math.inf] * len(tickets)
        if anyone_leaves:
            for t in tickets:
                leave[t.index] = now + leave_after(now - t.wait_from, rng.random())
        coming: dict[tuple[str, bool], list[_T]] = {}
        for key, pieces in snap.arrivals:
            out_list = []
            for a, b, rate in pieces:
                if rate <= 0:
                    continue
                x = a + expo(rate)
                while x < b:
                    out_list.append(_T(None, key[0], key[1], x, None, x, -1, False))
                    x += expo(rate)
            if out_list:
                coming[key] = out_list
        cpos = {k: 0 for k in coming}
        pos = {k: 0 for k in queues}
        tpos = {k: 0 for k in targeted}
        in_row = {n: c.priority_in_row for n, c in counters.items()}
        wpos = {n: 0 for n in counters}
        heap: list[tuple[float, int]] = []
        for c in snap.counters:
            if not c.windows:
                continue
            free = now
            h = c.in_hand
            if h is not None:
                if h.started:
                    free += model.durations(h.service).residual(h.elapsed_s, rng.random())
                elif h.elapsed_s < walk:
                    free += walk - h.elapsed_s + model.service_sample(h.service, rng.random(), c.clerk, rng.random())
                else:
                    free += max(0.0, hold - h.elapsed_s)
            heap.append((free, c.number))
        heapq.heapify(heap)
        remaining = len(tickets)
        while heap and remaining:
            t, n = heapq.heappop(heap)
            c = counters[n]
            win, wi = c.windows, wpos[n]
            while wi < len(win) and t >= win[wi][1]:
                wi += 1
            if wi >= len(win):
                continue
            wpos[n] = wi
            start, _end, services = win[wi]
            if t < start:
                t = start
            cands = []
            own = targeted.get(n)
            if own:
                i = tpos[n]
                while i < len(own) and leave[own[i].index] <= t:
                    i += 1
                    remaining -= 1
                tpos[n] = i
                if i < len(own):
                    cands.append(own[i])
            wake = math.inf
            for svc in services:
                for p in (True, False):
                    key = (svc, p)
                    q = queues.get(key)
                    if q is not None:
                        i = pos[key]
                        while i < len(q) and leave[q[i].index] <= t:
                            i += 1
                            remaining -= 1
                        pos[key] = i
                        if i < len(q):
                            cands.append(q[i])
                            continue
                    a = coming.get(key)
                    if a is not None:
                        j = cpos[key]
                        if j < len(a):
                            if a[j].queue_key <= t:
                                cands.append(a[j])
                            elif a[j].queue_key < wake:
                                wake = a[j].queue_key
            if not cands:
                if wake < _end:
                    heapq.heappush(heap, (wake, n))
                elif wi + 1 < len(win):
                    heapq.heappush(heap, (win[wi + 1][0], n))
                continue
            chosen = cands[0] if len(cands) == 1 else choose_next(
                cands, counter=n, services=services, calling=calling, priority=prio_policy,
                priority_in_row=in_row[n], now=t)
            if chosen.index < 0:  # someone who came after now
                cpos[(chosen.service, chosen.priority)] += 1
            else:
                if chosen.target_counter is not None:
                    tpos[n] += 1
                else:
                    pos[(chosen.service, chosen.priority)] += 1
                remaining -= 1
                calls[chosen.index].append(t)
            if chosen.index == stop_at:
                break
            if chosen.phantom:
                heapq.heappush(heap, (t, n))
                continue
            in_row[n] = in_row[n] + 1 if chosen.priority else 0
            if rng.random() < p_ns:
                busy = hold
            else:
                busy = walk + model.service_sample(chosen.service, rng.random(), c.clerk, rng.random())
            heapq.heappush(heap, (t + busy, n))
    out = Forecast(now)
    horizon = max((w[1] for c in snap.counters for w in c.windows), default=now)
    for t in tickets:
        ts = sorted(calls[t.index])
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
        if t.phantom:
            out.new[(t.service, t.priority)] = est
        elif t.index < n_real:
            out.tickets[t.id] = est
    return out
