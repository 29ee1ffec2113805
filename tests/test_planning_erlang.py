"""Erlang C and A (server/planning/erlang.py) against published values and a simulation."""
import heapq
import math
import random

import pytest

from server.planning.erlang import erlang_b, erlang_c, positions_needed, service_level_a, service_level_c


def test_erlang_b_and_c_textbook_values():
    assert erlang_b(1.0, 1) == pytest.approx(0.5)
    assert erlang_c(0.5, 1) == pytest.approx(0.5)          # M/M/1: P(wait) = rho
    assert erlang_c(1.0, 2) == pytest.approx(1 / 3)
    assert erlang_c(10.0, 11) == pytest.approx(0.6821, abs=1e-4)
    assert erlang_c(10.0, 10) == 1.0                       # unstable: everyone waits


def test_pyworkforce_readme_example():
    # pyworkforce ErlangC: 100 transactions per 30 min, AHT 3 min, 80% within 20 s ->
    # 14 raw positions, service level 0.8883, waiting probability 0.1741
    rate, aht = 100 / 1800, 180
    assert positions_needed(rate, aht, target_s=20, level=0.8) == 14
    assert service_level_c(rate, aht, 14, 20) == pytest.approx(0.8883, abs=1e-4)
    assert erlang_c(rate * aht, 14) == pytest.approx(0.1741, abs=1e-4)


def test_erlang_a_tends_to_erlang_c_with_endless_patience():
    rate, aht = 100 / 1800, 180
    for c in (11, 12, 14):
        assert service_level_a(rate, aht, c, 20, 1e9) == pytest.approx(service_level_c(rate, aht, c, 20), abs=1e-4)


def _simulate_mmc_m(lam, mu, theta, c, t, n=40000, seed=3):
    """Share of arrivals called within t in M/M/c+M (FCFS), by direct event simulation."""
    rng = random.Random(seed)
    now, free_at, called_in_time = 0.0, [0.0] * c, 0
    heapq.heapify(free_at)
    for _ in range(n):
        now += rng.expovariate(lam)
        patience = rng.expovariate(theta)
        # FCFS with abandonment: the earliest free server takes the next one who is still there
        start = max(now, free_at[0])
        if start - now > patience:
            continue                                  # gave up before a clerk was free
        heapq.heapreplace(free_at, start + rng.expovariate(mu))
        called_in_time += start - now <= t
    return called_in_time / n


def test_erlang_a_against_a_simulation():
    lam, mu, theta, c, t = 1 / 60, 1 / 480, 1 / 600, 9, 300
    exact = service_level_a(lam, 1 / mu, c, t, 1 / theta)
    assert exact == pytest.approx(_simulate_mmc_m(lam, mu, theta, c, t), abs=0.015)
    # abandonment shortens the queue of those who stay: more are called in time than in Erlang C
    assert exact > service_level_c(lam, 1 / mu, c, t)


def test_positions_needed_grow_with_traffic_and_level():
    small = positions_needed(10 / 1800, 600, level=0.97)
    assert positions_needed(20 / 1800, 600, level=0.97) > small
    assert positions_needed(10 / 1800, 600, level=0.8) <= small
    assert positions_needed(0.0, 600) == 0
    assert small >= math.ceil(10 / 1800 * 600)
