"""The next hour or so played forward, to compare ways of running the counters. Pure.

The same world as the wait estimator's forward simulation (``server/engine/forecast.py``): the
estimator's :class:`~server.engine.forecast.Snapshot` (who waits, each counter's working windows
and services, the calling and priority rules, the forecast arrivals as Poisson streams) and its
learned :class:`~server.engine.learned.Model` (service times per service and clerk, no-shows,
patience). What differs is what is counted: here every citizen of the *cohort* (waiting now, or
arriving within ``horizon_s``) is followed until it is decided whether they are called within the
target, and each path's draws (arrivals, service times, no-shows, patience) are fixed by the
path's seed alone, so two versions of the counters are compared on the same citizens (common
random numbers): the difference between them is the change, not the dice.
"""
from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..engine.forecast import CounterNow, Snapshot
from ..engine.learned import Model
from ..engine.selection import rank_offset

# The wait estimator draws, per path, how far each service's true mean may be from the learned one
# (for honest 80% intervals). For the expected share within the target that draw makes the
# prediction pessimistic (waits grow faster than linearly with service time): measured on the
# shared days, -7.6 points of bias with it, about +1 without (bench/advice.py). Off here.
MEAN_SPREAD = False
# a playout with a thousand waiting is ~50 ms a path: with ``pause`` (the server's, which gives
# the loop back every 2 ms of running: server/blocking.py) it is asked every this many calls,
# drawn citizens (those waiting and those to come) or citizens passed who had left, and between
# paths, so that a kiosk's request never waits behind much of a path (docs/performance.md,
# section 8). The result does not change. 250 held the loop up to 48 ms at a time with 1,300
# waiting (a citizen drawn costs more than a call played)
PAUSE_EVERY = 25
Windows = tuple[tuple[float, float, tuple[str, ...]], ...]


@dataclass
class Outcome:
    """Per service: citizens of the cohort called within the target, and those not (called late,
    or still waiting past it at the end), summed over the paths. Those already past the target
    now are not in the cohort (nothing can bring them back within it): their waits are summed
    apart, so that serving them sooner still counts."""
    paths: int
    within: dict[str, float] = field(default_factory=dict)
    late: dict[str, float] = field(default_factory=dict)
    overdue_wait_s: float = 0.0   # summed waits of those already past the target now (lost for the share)
    per_path: list[float] = field(default_factory=list)  # each path's late citizens + overdue s / 600
    per_path_share: list[float | None] = field(default_factory=list)  # each path's share within the target

    def share(self, service: str | None = None) -> float | None:
        keys = [service] if service else sorted(set(self.within) | set(self.late))
        w = sum(self.within.get(k, 0.0) for k in keys)
        n = w + sum(self.late.get(k, 0.0) for k in keys)
        return w / n if n else None

    def late_per_path(self, service: str | None = None) -> float:
        keys = [service] if service else list(self.late)
        return sum(self.late.get(k, 0.0) for k in keys) / self.paths

    def counted_per_path(self, service: str) -> float:
        return (self.within.get(service, 0.0) + self.late.get(service, 0.0)) / self.paths


@dataclass(frozen=True)
class _Path:
    """One path's citizens: per ticket (service, priority, queue key, wait_from, arrives at,
    leaves at, uniform for the service, stream key), in queue order per stream."""
    tickets: list[tuple]
    queues: dict[object, list[int]]
    scale: dict[str, float]


def _arrivals(pieces, until: float, now: float, rng: random.Random,
              pause: Callable[[], object] | None = None) -> list[float]:
    out = []
    for a, b, rate in pieces:
        if rate <= 0:
            continue
        x = max(a, now)
        end = min(b, until)
        while True:
            x += rng.expovariate(rate)
            if x >= end:
                break
            out.append(x)
            if pause is not None and len(out) % PAUSE_EVERY == 0:
                pause()
    return out


def draw_paths(snap: Snapshot, model: Model, *, paths: int, horizon_s: float, seed: int = 0,
               pause: Callable[[], object] | None = None) -> list[_Path]:
    """The citizens of each path, drawn once and shared by every candidate."""
    now = snap.now
    out = []
    services = {w.service for w in snap.waiting} | {k[0] for k, _ in snap.arrivals}
    waiting = sorted(snap.waiting, key=lambda w: (w.queue_key, w.id))
    streams = sorted(snap.arrivals, key=lambda kp: (kp[0][0], kp[0][1]))
    for p in range(paths):
        if pause is not None and p:
            pause()
        rng = random.Random(seed * 1_000_003 + p)
        scale = {}
        for svc in sorted(services):
            sd = model.durations(svc).spread()
            scale[svc] = math.exp(-sd * sd / 2 + sd * rng.gauss(0.0, 1.0)) if MEAN_SPREAD else 1.0
        tickets: list[tuple] = []
        queues: dict[object, list[int]] = {}
        for w in waiting:
            key = ("to", w.target_counter) if w.target_counter is not None else (w.service, bool(w.priority))
            leave = now + model.leave_after(now - w.wait_from, rng.random())
            queues.setdefault(key, []).append(len(tickets))
            tickets.append((w.service, bool(w.priority), w.queue_key, w.wait_from, now, leave, rng.random(), key))
            if pause is not None and len(tickets) % PAUSE_EVERY == 0:
                pause()
        for key, pieces in streams:
            for at in _arrivals(pieces, now + horizon_s, now, rng, pause):
                leave = at + model.leave_after(0.0, rng.random())
                queues.setdefault(key, []).append(len(tickets))
                tickets.append((key[0], bool(key[1]), at, at, at, leave, rng.random(), key))
                if pause is not None and len(tickets) % PAUSE_EVERY == 0:
                    pause()
        out.append(_Path(tickets, queues, scale))
    return out


def runner(snap: Snapshot, model: Model, *, seed: int, paths: int, horizon_s: float, target_s: float,
           pause: Callable[[], object] | None = None) -> tuple[Callable[[Sequence[CounterNow]], Outcome], Outcome]:
    """Draw ``paths`` paths with ``seed`` once; answer a player of counters on them, and things as
    they are (``snap.counters``) played there. ``pause`` (the server's: let other greenlets run)
    is called between playouts and within them (``PAUSE_EVERY``), on every draw alike."""
    drawn = draw_paths(snap, model, paths=paths, horizon_s=horizon_s, seed=seed, pause=pause)

    def run(counters: Sequence[CounterNow]) -> Outcome:
        if pause is not None:
            pause()
        return play(snap, model, counters, drawn, target_s=target_s, horizon_s=horizon_s, pause=pause)
    return run, run(snap.counters)


def play(snap: Snapshot, model: Model, counters: Sequence[CounterNow], drawn: list[_Path], *,
         target_s: float, horizon_s: float, pause: Callable[[], object] | None = None) -> Outcome:
    """Play every drawn path with these counters; count the cohort's outcomes. ``pause``, if
    given, is called between paths and every ``PAUSE_EVERY`` calls within one."""
    now, calling, policy = snap.now, snap.calling, snap.priority
    stop = now + horizon_s + target_s
    p_ns, hold, walk = model.p_no_show, model.hold_s, model.walk_s
    use_priority, max_in_row, guard = policy.enabled, policy.max_in_row, policy.normal_guard_s
    out = Outcome(len(drawn))
    within, late = out.within, out.late
    steps = 0
    for pi, path in enumerate(drawn):
        if pause is not None and pi:
            pause()
        late_before, overdue_before = sum(late.values()), out.overdue_wait_s
        within_before = sum(within.values())
        tickets, queues = path.tickets, path.queues
        pos = {k: 0 for k in queues}
        called = [False] * len(tickets)
        heap = []
        plans = {}
        for c in counters:
            if not c.windows:
                continue
            wins = []
            # who calls in each window, and whether it begins with a sign-in (the priority count
            # from 0), as the estimator's paths play it (``paths.plan_tables``, ``play``): a roster
            # row ahead is its own clerk's, with that clerk's service times
            for (start, end, svcs), (clerk, fresh) in zip(c.windows, c.clerks_per_window()):
                streams = [(("to", c.number), -math.inf, False)] if ("to", c.number) in queues else []
                for rank, svc in enumerate(svcs):
                    off = rank_offset(calling, rank)
                    for prio in (True, False):
                        if (svc, prio) in queues:
                            streams.append(((svc, prio), off, prio))
                wins.append((start, end, streams, clerk, fresh))
            free = now
            h = c.in_hand
            if h is not None:
                u = ((c.number * 7919 + pi * 104729) % 1000 + 0.5) / 1000.0
                if h.started:
                    free += model.durations(h.service).residual(h.elapsed_s, u)
                else:
                    free += max(0.0, max(walk, hold) - h.elapsed_s) + (
                        model.service_sample(h.service, u, c.clerk) if h.elapsed_s < walk else 0.0)
            plans[c.number] = (c, wins)
            heap.append((free, c.number, 0, 0 if wins[0][4] else c.priority_in_row))
        heapq.heapify(heap)
        while heap:
            t, n, wi, in_row = heapq.heappop(heap)
            if t > stop:
                break
            c, wins = plans[n]
            entered = wi
            while wi < len(wins) and t >= wins[wi][1]:
                wi += 1
            if wi >= len(wins):
                continue
            if wi != entered and wins[wi][4]:  # its clerk signs in (the engine's sign-out set the count to 0)
                in_row = 0
            start, end, streams, clerk, _ = wins[wi]
            if t < start:
                t = start
            best_p = best_n = None
            wake = math.inf
            for key, off, prio in streams:
                q = queues[key]
                i = pos[key]
                while i < len(q):
                    j = q[i]
                    tk = tickets[j]
                    if tk[4] > t:   # not yet arrived
                        wake = min(wake, tk[4])
                        break
                    if tk[5] <= t:  # left before being called
                        i += 1
                        if pause is not None:
                            steps += 1
                            if steps % PAUSE_EVERY == 0:
                                pause()
                        continue
                    head = (tk[2] + off, tk[2], j, key)
                    if off == -math.inf:
                        best_p, best_n = None, head
                    elif prio and use_priority:
                        if best_p is None or head < best_p:
                            best_p = head
                    elif best_n is None or head < best_n:
                        best_n = head
                    break
                pos[key] = i
                if off == -math.inf and best_n is not None:
                    break
            if best_p is None and best_n is None:
                nxt = wake if wake < end else (wins[wi + 1][0] if wi + 1 < len(wins) else math.inf)
                if nxt < math.inf:
                    heapq.heappush(heap, (nxt, n, wi, in_row))
                continue
            if best_p is None:
                chosen = best_n
            elif best_n is None:
                chosen = best_p
            elif in_row >= max_in_row or (t - best_n[1] > guard and best_n[1] < best_p[1]):
                chosen = best_n
            else:
                chosen = best_p
            j, key = chosen[2], chosen[3]
            pos[key] += 1
            steps += 1
            if pause is not None and steps % PAUSE_EVERY == 0:
                pause()
            called[j] = True
            svc, is_prio, _, wait_from, _, _, u, _ = tickets[j]
            if now - wait_from > target_s:
                out.overdue_wait_s += t - wait_from
            else:
                bucket = within if t - wait_from <= target_s else late
                bucket[svc] = bucket.get(svc, 0.0) + 1.0
            if u < p_ns:
                busy = hold
            else:
                busy = walk + model.service_sample(svc, (u - p_ns) / (1.0 - p_ns), clerk, path.scale.get(svc, 1.0))
            heapq.heappush(heap, (t + busy, n, wi, in_row + 1 if is_prio else 0))
        # not called by the end: late if they are past the target by then and still there
        for j, tk in enumerate(tickets):
            if pause is not None and j % (4 * PAUSE_EVERY) == 0:
                pause()
            if called[j] or tk[5] <= stop:
                continue
            if now - tk[3] > target_s:
                out.overdue_wait_s += stop - tk[3]
            elif stop - tk[3] > target_s:
                late[tk[0]] = late.get(tk[0], 0.0) + 1.0
        n_late = sum(late.values()) - late_before
        n_within = sum(within.values()) - within_before
        out.per_path.append(n_late + (out.overdue_wait_s - overdue_before) / 600.0)
        out.per_path_share.append(n_within / (n_within + n_late) if n_within + n_late else None)
    return out
