"""One sample path of the forecast (``forecast.py``), played as cheaply as pure Python allows. Pure.

``forecast`` turns a :class:`~server.engine.forecast.Snapshot` into a :class:`Plan` once (streams,
queues and counters as integer indexes, each service's duration table, each waiting citizen's
place on the patience curve) and ``play`` runs one path of it. The rules are those described in
``forecast.py`` and ``docs/queue-rules.md``; this module only plays them with fewer Python
operations per call: no objects or dictionaries per event, the random draws read from a list by
a C iterator, the service-time and patience look-ups inlined.

The draws are the forecast's one seeded sequence, so a forecast is the same to the last bit for
the same seed (``bench/forecast_identity.py`` checks a faster version against captured ones):
``Draws`` hands each path its list, an odd path replaying ``1 - u`` of the even path before it
(antithetic pairs) and then fresh draws. With ``stop_at`` (one ticket's forecast) a path ends
once that ticket is called or has left.
"""
from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from heapq import heapify, heappop, heapreplace
from itertools import repeat, starmap
from operator import sub
from statistics import NormalDist
from typing import Callable

from .learned import _QUANTILES, PRIOR_WEIGHT, Model

_normal_inv_cdf = NormalDist().inv_cdf
# steps of a path (or citizens passed who had left) between two calls of ``pause``, which gives the
# loop back every 2 ms of running (server/blocking.py): 200 steps were ~5 ms, but late in a path
# one step can pass hundreds who left (11-19 ms at a time with 1,300 waiting)
PAUSE_EVERY = 20


class Draws:
    """The seeded uniforms, path by path: ``take(path, size)`` is the list a path reads (an even
    path: the next fresh draws; an odd path: ``1 - u`` of the even path's, then fresh ones) and
    ``used(n)`` says how many it read, so the next path starts where this one stopped."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed).random
        self._fresh: list[float] = []   # drawn from the generator, not read yet by any path
        self._tape: list[float] = []    # what the last even path read
        self._mirror = 0                # how many mirrored draws head the current path's list

    def take(self, path: int, size: int) -> list[float]:
        fresh, rnd = self._fresh, self._random
        if len(fresh) < size:  # the generator called in a C loop, the mirror made by one (the same values)
            fresh.extend(starmap(rnd, repeat((), size - len(fresh))))
        if path % 2:
            head = list(map(sub, repeat(1.0), self._tape))
            self._mirror = len(head)
            return head + fresh[:size]
        self._mirror = 0
        return fresh[:size]

    def used(self, path: int, taken: list[float], n: int) -> None:
        if path % 2 == 0:
            self._tape = taken[:n]
        del self._fresh[:max(0, n - self._mirror)]


def _next_arrival(pieces, i: int, x: float, nx) -> tuple[float, int] | None:
    """The next Poisson arrival after ``x`` of piecewise-constant rates (memoryless: a piece's
    end restarts the draw in the next piece)."""
    while i < len(pieces):
        a, b, rate = pieces[i]
        x = max(x, a) + -math.log(max(1e-12, 1.0 - nx())) / rate
        if x < b:
            return x, i
        i += 1
        x = pieces[i][0] if i < len(pieces) else b
    return None


@dataclass
class Plan:
    """A snapshot as plain lists, built once per forecast (see ``forecast.forecast``)."""
    now: float
    model: Model
    n_tickets: int
    n_keys: int
    qlist: list[list[int]]            # per stream: ticket indexes in queue order
    qks: list[float]                  # per ticket: queue key
    phantom: list[bool]
    t_sx: list[int]                   # per ticket: service index
    t_prio: list[bool]
    key_sx: list[int]                 # per stream: service index (-1: a counter's own stream)
    key_prio: list[bool]
    streams: list[tuple[int, list]]   # (stream, arrival pieces) of citizens still to come
    spread: list[tuple[str, float]]   # per service index, sorted by code: (code, spread)
    counters: list                    # (CounterNow, windows: [(start, end, [(stream, offset, prio)])])
    stop_at: int
    reachable: int                    # tickets some counter can call: a path ends once they are decided
    max_in_row: int
    guard: float
    use_priority: bool
    # patience: each ticket's step on the survival curve and S there (used when ``leaves``)
    waited: list[float]
    leave_k: list[int]
    leave_s: list[float]
    leaves: bool = False
    record_all: bool = True           # every call (False: the ``stop_at`` ticket's alone)


@dataclass
class Tables:
    """What every path reads and no path changes, derived from a :class:`Plan` once."""
    base: list[tuple]          # per service index: its ``Durations.sample_table``
    # per counter: (start, end, [(stream, offset, class)], index, next start or None, own, fresh), where
    # own is, per service index, (share, the window's clerk's sample table) or None, and fresh says
    # the window begins with a sign-in (the priority count from 0)
    windows: list[list[tuple]]
    # per counter: how it frees up, with the draws it reads: (0, table, i, m, elapsed, tail, service index) of a
    # service in hand, (1, None, ...) of a citizen called and still walking, (2, time still held) otherwise
    in_hand: list[tuple]
    qlen: list[int]            # per stream: how many wait in it now
    pieces: list               # per stream: its arrival pieces (None: nobody comes)
    spread: list[tuple[float, float]]  # per service index: (-sd * sd / 2, sd) of its mean's lognormal draw


def plan_tables(plan: Plan) -> Tables:
    model = plan.model
    codes = [code for code, _ in plan.spread]
    sx_of = {code: i for i, code in enumerate(codes)}
    base = [model.durations(code).sample_table() for code in codes]
    windows, in_hand = [], []
    own_of: dict[str | None, list] = {}  # per clerk, per service index: (share, their sample table) or None

    def own(clerk: str | None) -> list:
        if clerk not in own_of:
            row = own_of[clerk] = []
            for code in codes:
                d = model.clerks.get((code, clerk)) if clerk is not None else None
                share = model.own_share(code, clerk) if d is not None else 0.0
                row.append(None if d is None or share <= 0.0 else (share, d.sample_table()))
        return own_of[clerk]
    for c, wins in plan.counters:
        who = c.clerks_per_window()  # one per window: the plan's wins are c.windows, in order
        out = []
        for wi, (start, end, streams_of) in enumerate(wins):
            # (stream, offset, class): 0 normal, 1 priority, 2 sent to this counter (first in the list)
            scan = [(k, off, 2 if off == -math.inf else 1 if prio and plan.use_priority else 0)
                    for k, off, prio in streams_of]
            clerk, fresh = who[wi]
            out.append((start, end, scan, wi, wins[wi + 1][0] if wi + 1 < len(wins) else None, own(clerk), fresh))
        windows.append(out)
        h = c.in_hand
        if h is None:
            spec = (2, 0.0)
        elif h.started:  # Durations.residual, its path-independent part
            d = model.durations(h.service)
            table = d.residual_table()
            i = bisect_right(table, h.elapsed_s)
            m = len(table) - i
            spec = (0, table, i, m, h.elapsed_s, None if m >= 10 else d.tail_mean(table), sx_of.get(h.service, -1))
        elif h.elapsed_s < model.walk_s:
            spec = (1, sx_of.get(h.service, -1))
        else:
            spec = (2, max(0.0, model.hold_s - h.elapsed_s))
        in_hand.append(spec)
    pieces: list = [None] * plan.n_keys
    for k, ps in plan.streams:
        pieces[k] = ps
    return Tables(base, windows, in_hand, [len(q) for q in plan.qlist], pieces,
                  [(-sd * sd / 2, sd) for _, sd in plan.spread])


def play(plan: Plan, tables: Tables, nx: Callable[[], float],
         pause: Callable[[], object] | None = None) -> list[tuple[int, float]]:
    """One sample path: (ticket index, call time) of each call, in order (with ``record_all``
    false, of the ``stop_at`` ticket's alone); ``nx`` gives the draws. ``pause``, if given, is
    called every ``PAUSE_EVERY`` steps (the server's: let the other greenlets run; a path with a
    thousand waiting is ~36 ms of CPU); it changes nothing in the path.
    Raises ``StopIteration`` when ``nx`` runs out (the caller retries with a longer list)."""
    now = plan.now
    inf = math.inf
    log, exp = math.log, math.exp
    _heapreplace, _heappop, _bisect_left = heapreplace, heappop, bisect_left
    prior_weight, quantiles = PRIOR_WEIGHT, _QUANTILES
    n_keys = plan.n_keys
    qlist, qks, phantom, t_sx, t_prio = plan.qlist, plan.qks, plan.phantom, plan.t_sx, plan.t_prio
    key_sx, key_prio = plan.key_sx, plan.key_prio
    stop_at, max_in_row, guard, record_all = plan.stop_at, plan.max_in_row, plan.guard, plan.record_all
    waited, leave_k, leave_s = plan.waited, plan.leave_k, plan.leave_s
    base, windows, qlen, pieces_of = tables.base, tables.windows, tables.qlen, tables.pieces
    model = plan.model
    p_ns, hold, walk = model.p_no_show, model.hold_s, model.walk_s
    not_ns = 1.0 - p_ns
    # when each citizen would leave, drawn the first time they reach the head of a line
    if plan.leaves:
        survival, first_below, step, levels = model.patience_table()
        n_steps = len(survival)
        leave = [None] * plan.n_tickets
    else:
        leave = [inf] * plan.n_tickets
    pos = [0] * n_keys
    nxt = [None] * n_keys
    for k, pieces in plan.streams:  # _next_arrival, its first piece inlined
        p0, p1, rate = pieces[0]
        x = max(now, p0) + -log(max(1e-12, 1.0 - nx())) / rate
        nxt[k] = (x, 0) if x < p1 else _next_arrival(pieces, 1, pieces[1][0] if len(pieces) > 1 else p1, nx)
    # this path's draw of each service's true mean, around the learned one (lognormal, mean 1)
    scl = [exp(a + sd * _normal_inv_cdf(min(max(nx(), 1e-9), 1 - 1e-9))) for a, sd in tables.spread]
    heap = []
    in_row = []
    current = []
    for ci, (c, wins) in enumerate(plan.counters):
        spec = tables.in_hand[ci]
        if spec[0] == 0:  # serving: Durations.residual, inlined
            _, table, i, m, elapsed, tail, sx = spec
            u = nx()
            if m >= 10:
                r = table[i + min(m - 1, int(u * m))] - elapsed
            else:
                r = -log(1.0 - u * 0.999) * tail
            free = now + r * (scl[sx] if sx >= 0 else 1.0)
        elif spec[0] == 1:  # called, still walking to the counter
            h, sx = c.in_hand, spec[1]
            free = now + (walk - h.elapsed_s + model.service_sample(h.service, nx(), c.clerk,
                                                                     scl[sx] if sx >= 0 else 1.0))
        else:
            free = now + spec[1]
        heap.append((free, c.number, ci))
        current.append(windows[ci][0])
        in_row.append(0 if current[ci][6] else c.priority_in_row)  # a window that begins with a sign-in: from 0
    heapify(heap)
    # each stream's head that a counter may call: valid until (it leaves then), queue key, ticket
    # index (-1: a newcomer); valid until -inf: to be found again
    hlv = [-inf] * n_keys
    hkey = [0.0] * n_keys
    hj = [0] * n_keys
    calls = []
    remaining = plan.reachable
    steps = 0
    while heap and remaining > 0:
        if pause is not None:
            steps += 1
            if steps % PAUSE_EVERY == 0:
                pause()
        # the counter free first; its entry is replaced (or popped) once it is known what it does
        t, n, ci = heap[0]
        win = current[ci]
        if t >= win[1]:
            wins = windows[ci]
            wi = win[3] + 1
            while wi < len(wins) and t >= wins[wi][1]:
                wi += 1
            if wi >= len(wins):
                _heappop(heap)
                continue
            win = current[ci] = wins[wi]
            if win[6]:  # its clerk signs in (after a sign-out, which the engine resets the count at)
                in_row[ci] = 0
        start, end, scan, _, next_start, own, _ = win
        if t < start:
            t = start
        # the best head of each class (its score and stream)
        bpk = bnk = -1
        bps = bns = wake = inf
        for k, off, cls in scan:
            if hlv[k] <= t:  # the head changed, or has left: find it (drawing patience as the engine meets it)
                i = pos[k]
                ql = qlen[k]
                if i < ql:
                    q = qlist[k]
                    while True:
                        j = q[i]
                        lv = leave[j]
                        if lv is None:  # Model.leave_after, inlined (max() as comparisons: the same values)
                            f = first_below[int(leave_s[j] * nx() * levels)]
                            if f >= n_steps:
                                lv = inf
                            else:
                                lk = leave_k[j]
                                y = (f if f > lk else lk) * step - waited[j]
                                lv = now + y if y > 0.0 else now + 0.0
                            leave[j] = lv
                        if lv > t:
                            break
                        if j == stop_at:  # the one asked for has left: nothing after can change its estimate
                            return calls
                        i += 1
                        remaining -= 1
                        if pause is not None:
                            steps += 1
                            if steps % PAUSE_EVERY == 0:
                                pause()
                        if i >= ql:
                            break
                    pos[k] = i
                if i < ql:
                    hlv[k] = lv
                    hkey[k] = qk = qks[j]
                    hj[k] = j
                else:
                    a = nxt[k]
                    if a is None:  # nobody, now or later
                        continue
                    qk = a[0]
                    if qk > t:  # the next newcomer is still to come (looked at again each time)
                        if qk < wake:
                            wake = qk
                        continue
                    hlv[k] = inf
                    hkey[k] = qk
                    hj[k] = -1
            else:
                qk = hkey[k]
            sc = qk + off
            if cls == 0:
                if sc <= bns and (sc < bns or (qk, hj[k], k) < (hkey[bnk], hj[bnk], bnk)):
                    bns, bnk = sc, k
            elif cls == 1:
                if sc <= bps and (sc < bps or (qk, hj[k], k) < (hkey[bpk], hj[bpk], bpk)):
                    bps, bpk = sc, k
            else:  # sent to this counter: before anything else
                bpk, bnk = -1, k
                break
        if bpk < 0:
            if bnk < 0:
                if wake < end:
                    _heapreplace(heap, (wake, n, ci))
                elif next_start is not None:
                    _heapreplace(heap, (next_start, n, ci))
                else:
                    _heappop(heap)
                continue
            k = bnk
        elif bnk < 0:
            k = bpk
        else:
            bnq = hkey[bnk]
            if in_row[ci] >= max_in_row or (t - bnq > guard and bnq < hkey[bpk]):
                k = bnk   # selection.normal_goes_first, inlined
            else:
                k = bpk
        j = hj[k]
        hlv[k] = -inf
        if j < 0:  # a newcomer: draw the next of that stream (_next_arrival, its first piece inlined)
            x, i = nxt[k]
            pieces = pieces_of[k]
            p0, p1, rate = pieces[i]
            x = max(x, p0) + -log(max(1e-12, 1.0 - nx())) / rate
            if x < p1:
                nxt[k] = (x, i)
            else:
                i += 1
                nxt[k] = _next_arrival(pieces, i, pieces[i][0] if i < len(pieces) else p1, nx)
            sx, is_prio = key_sx[k], key_prio[k]
        else:
            pos[k] += 1
            remaining -= 1
            if j == stop_at:
                calls.append((j, t))
                break
            if record_all:
                calls.append((j, t))
            if phantom[j]:
                _heapreplace(heap, (t, n, ci))
                continue
            sx, is_prio = t_sx[j], t_prio[j]
        in_row[ci] = in_row[ci] + 1 if is_prio else 0
        u = nx()
        if u < p_ns:
            busy = hold
        else:
            v = (u - p_ns) / not_ns
            mine = own[sx]  # Model.sampler: the window's clerk's own times for a share of the draws
            if mine is None:
                tab = base[sx]
            elif v < mine[0]:
                tab, v = mine[1], v / mine[0]
            else:
                tab, v = base[sx], (v - mine[0]) / (1.0 - mine[0])
            npw, below, prior, samples, cum = tab  # Durations.sample, inlined (its lists padded: no min())
            x = v * npw
            if x < below:
                d = prior[int(v * quantiles)]
            else:
                d = samples[_bisect_left(cum, x - prior_weight)]
            busy = walk + d * scl[sx]
        _heapreplace(heap, (t + busy, n, ci))
    return calls
