"""Erlang C and Erlang A: traffic in, positions out (in the spirit of pyworkforce's queuing API).

Erlang C (M/M/c): nobody leaves. Erlang A (M/M/c+M): a citizen not called within an
exponential patience of mean ``patience_s`` leaves; the share called within ``t`` counts
those who wait, computed exactly on the birth-death chain. Both are pure functions.
"""
from __future__ import annotations

import math


def erlang_b(traffic: float, positions: int) -> float:
    """Blocking probability of M/M/c/c, by the stable recursion B(n) = A B(n-1) / (n + A B(n-1))."""
    b = 1.0
    for n in range(1, positions + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(traffic: float, positions: int) -> float:
    """Probability that an arrival waits (M/M/c); 1 when the queue is unstable."""
    if positions <= 0 or traffic >= positions:
        return 1.0
    if traffic <= 0:
        return 0.0
    b = erlang_b(traffic, positions)
    return positions * b / (positions - traffic * (1 - b))


def service_level_c(rate_per_s: float, mean_service_s: float, positions: int, target_s: float) -> float:
    """Share called within ``target_s`` under Erlang C: 1 - C exp(-(c - A) t / AHT)."""
    traffic = rate_per_s * mean_service_s
    if traffic <= 0:
        return 1.0
    if positions <= traffic:
        return 0.0
    return 1 - erlang_c(traffic, positions) * math.exp(-(positions - traffic) * target_s / mean_service_s)


def service_level_a(rate_per_s: float, mean_service_s: float, positions: int, target_s: float,
                    patience_s: float | None) -> float:
    """Share of arrivals called within ``target_s`` under Erlang A (M/M/c+M).

    Exact on the chain: with n in the system (n >= c), the waiting time to the next start is
    exponential with rate c mu + (n - c + 1) theta for the head, and a tagged arrival moves up
    one place at each start or departure ahead of it. Those who abandon count as not called in
    time (conservative, as the promise is about being called). ``patience_s`` None is Erlang C.
    """
    if rate_per_s <= 0:
        return 1.0
    if patience_s is None or patience_s <= 0:
        return service_level_c(rate_per_s, mean_service_s, positions, target_s)
    if positions <= 0:
        return 0.0
    lam, mu, theta, c = rate_per_s, 1 / mean_service_s, 1 / patience_s, positions
    # stationary distribution, truncated where it is negligible
    probs = [1.0]
    n = 0
    while True:
        n += 1
        death = min(n, c) * mu + max(n - c, 0) * theta
        probs.append(probs[-1] * lam / death)
        if n > c and (probs[-1] < 1e-12 * sum(probs) or n > c + 5000):
            break
    total = sum(probs)
    p_wait = sum(probs[c:]) / total
    if p_wait < 1e-15:
        return 1.0
    # an arrival who finds k waiting ahead (k = n - c) must see k+1 moves ahead of it in time t,
    # moves at rate c mu + j theta with j the ones ahead still there (j = k..0), while it may
    # itself abandon at theta: P(called <= t) by uniformised transient analysis
    within = 1 - p_wait
    for k in range(len(probs) - c):
        pk = probs[c + k] / total
        if pk < 1e-12:
            continue
        within += pk * _called_within(k, c * mu, theta, target_s)
    return min(max(within, 0.0), 1.0)


def _called_within(ahead: int, service_rate: float, theta: float, t: float) -> float:
    """P(the tagged citizen is called by t, before abandoning): a pure-death chain of the
    ``ahead`` citizens before it (each move at service_rate + j theta), racing its own patience."""
    # states j = ahead..0 (ones ahead), then "called"; own abandonment absorbs at rate theta
    rates = [service_rate + j * theta + theta for j in range(ahead, -1, -1)]
    up = max(rates)
    # uniformisation: vector over states j index 0..ahead (+ called, + abandoned)
    m = ahead + 1
    vec = [0.0] * m
    vec[0] = 1.0
    called = 0.0
    poisson = math.exp(-up * t)
    k = 0
    acc_called = 0.0
    # P(called by t) = sum_k Pois(k; up t) * called_after_k_steps
    limit = int(up * t + 10 * math.sqrt(up * t + 1) + 20)
    while k <= limit:
        acc_called += poisson * called
        k += 1
        nxt = [0.0] * m
        for i, p in enumerate(vec):
            if p == 0.0:
                continue
            j = ahead - i
            move = (service_rate + j * theta) / up
            leave = theta / up
            stay = 1 - move - leave
            nxt[i] += p * stay
            if i + 1 < m:
                nxt[i + 1] += p * move
            else:
                called += p * move
        vec = nxt
        poisson *= up * t / k
    return acc_called


def positions_needed(rate_per_s: float, mean_service_s: float, *, target_s: float = 900, level: float = 0.97,
                     patience_s: float | None = None, max_positions: int = 200) -> int:
    """The fewest positions whose share called within ``target_s`` is at least ``level``."""
    if rate_per_s <= 0:
        return 0
    c = max(1, math.floor(rate_per_s * mean_service_s))
    while c < max_positions:
        if service_level_a(rate_per_s, mean_service_s, c, target_s, patience_s) >= level:
            return c
        c += 1
    return max_positions
