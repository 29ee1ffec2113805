"""One ticket's forecast (the ticket being issued, a status page) plays only what can change it."""
from __future__ import annotations

import random

import pytest

from server.config import Calling, PriorityPolicy
from server.engine import paths as sample_paths
from server.engine.forecast import CounterNow, InHand, Snapshot, WaitingTicket, forecast
from server.engine.learned import Durations, Model

NOW = 10_000.0
DAY = 8 * 3600.0


def _model(**kw) -> Model:
    rng = random.Random(3)
    return Model({code: Durations(mean, [rng.expovariate(1 / mean) for _ in range(500)])
                  for code, mean in (("CT", 600.0), ("HT", 900.0), ("XD", 300.0))}, **kw)


def _waiting(k: int, service: str, start: float = NOW - 600) -> list[WaitingTicket]:
    return [WaitingTicket(f"{service}{i}", service, False, start + i, start + i) for i in range(k)]


def _counter(number: int, *services: str, elapsed: float = 120.0) -> CounterNow:
    return CounterNow(number, f"c{number}", 0, InHand(services[0], True, elapsed), ((NOW, NOW + DAY, services),))


def _draws_read(monkeypatch) -> list[int]:
    read: list[int] = []
    real_used = sample_paths.Draws.used
    monkeypatch.setattr(sample_paths.Draws, "used",
                        lambda self, path, taken, n: (read.append(n), real_used(self, path, taken, n)))
    return read


def test_counters_that_cannot_reach_a_ticket_do_not_change_its_estimate():
    # counters 1 and 2 share CT; counter 2 also serves HT, so HT's queue moves CT's: connected.
    # Counter 3 serves XD alone: its queue, its newcomers and its services change no CT call
    ct = [_counter(1, "CT"), _counter(2, "HT", "CT")]
    arrivals = [(("CT", False), ((NOW, NOW + 3600, 1 / 300),)), (("HT", False), ((NOW, NOW + 3600, 1 / 600),))]
    alone = Snapshot(NOW, _waiting(6, "CT") + _waiting(3, "HT"), ct, Calling(), PriorityPolicy(), ["CT"], arrivals)
    with_xd = Snapshot(NOW, _waiting(6, "CT") + _waiting(3, "HT") + _waiting(20, "XD"), ct + [_counter(3, "XD")],
                       Calling(), PriorityPolicy(), ["CT", "HT", "XD"],
                       arrivals + [(("XD", False), ((NOW, NOW + 3600, 1 / 60),))])
    for only in (("CT", False), "CT4", "HT1"):
        a = forecast(alone, _model(), paths=24, seed=11, only=only)
        b = forecast(with_xd, _model(), paths=24, seed=11, only=only)
        assert a == b, only  # to the last bit: XD's counter, queue and phantoms were never played
    # while the HT counter does change a CT ticket's wait: without it, CT waits longer
    only_one = Snapshot(NOW, _waiting(6, "CT"), ct[:1], Calling(), PriorityPolicy(), ["CT"], arrivals[:1])
    slower = forecast(only_one, _model(), paths=400, only="CT4").tickets["CT4"]
    assert slower.wait_s > forecast(alone, _model(), paths=400, only="CT4").tickets["CT4"].wait_s * 1.1


def test_one_tickets_estimate_is_that_of_the_forecast_of_everyone_in_distribution():
    # the one-ticket forecast plays other sample paths than the forecast of every waiting citizen,
    # not another model: with many paths both give the same wait and interval
    snap = Snapshot(NOW, _waiting(8, "CT") + _waiting(4, "HT") + _waiting(5, "XD"),
                    [_counter(1, "CT"), _counter(2, "HT", "CT"), _counter(3, "XD", elapsed=30.0)],
                    Calling(), PriorityPolicy(), ["CT", "HT", "XD"],
                    [(("CT", True), ((NOW, NOW + 3600, 1 / 900),)), (("XD", False), ((NOW, NOW + 3600, 1 / 200),))])
    everyone = forecast(snap, _model(), paths=2000, seed=1)
    for only, est in (("CT5", everyone.tickets["CT5"]), (("CT", False), everyone.new[("CT", False)]),
                      ("XD2", everyone.tickets["XD2"])):
        one = forecast(snap, _model(), paths=2000, seed=2, only=only)
        mine = one.tickets[only] if isinstance(only, str) else one.new[only]
        assert mine.wait_s == pytest.approx(est.wait_s, rel=0.05), only
        assert mine.high_s == pytest.approx(est.high_s, rel=0.08), only


def test_a_path_ends_once_the_ticket_asked_for_has_left(monkeypatch):
    # one counter, CT before HT (strict preference), 60-second services; 30 CT and 40 HT waiting,
    # half of everyone leaves after 5 minutes. The last CT ticket has left in about half the
    # paths when its turn comes: those paths end there instead of serving the HT queue first
    survival = [1.0] * 5 + [0.5] * 115 + [0.0]
    model = Model({"CT": Durations(60.0, [60.0] * 200), "HT": Durations(60.0, [60.0] * 200)}, p_no_show=0.0,
                  survival=survival)
    waiting = ([WaitingTicket(f"CT{i}", "CT", False, NOW + i / 100, NOW) for i in range(30)]
               + [WaitingTicket(f"HT{i}", "HT", False, NOW - 60 + i / 100, NOW - 60) for i in range(40)])
    counter = [CounterNow(1, "c1", 0, InHand("CT", True, 30.0), ((NOW, NOW + DAY, ("CT", "HT")),))]
    snap = Snapshot(NOW, waiting, counter, Calling(rule="strict_preference"), PriorityPolicy(), ["CT"])
    read = _draws_read(monkeypatch)
    one = forecast(snap, model, paths=24, only="CT29").tickets["CT29"]
    assert 0.2 < one.called_share < 0.8
    assert max(read) < 70  # a path that went on to the HT queue reads 100 draws or more
    read.clear()
    everyone = forecast(snap, model, paths=24).tickets["CT29"]
    assert min(read) > 100  # the forecast of everyone plays each path to its end
    assert 0.2 < everyone.called_share < 0.8


def test_the_server_lets_others_run_within_a_path_and_the_forecast_is_the_same(monkeypatch):
    """Under gevent the forecast yields (``pause``) between its paths and, every
    ``paths.PAUSE_EVERY`` steps, within each: one path of a thousand waiting held the server's
    loop ~36 ms (docs/performance.md, section 8). Where it yields changes no estimate."""
    monkeypatch.setattr(sample_paths, "PAUSE_EVERY", 5)
    snap = Snapshot(NOW, _waiting(40, "CT") + _waiting(20, "HT"), [_counter(1, "CT"), _counter(2, "HT", "CT")],
                    Calling(), PriorityPolicy(), ["CT", "HT"], [(("CT", False), ((NOW, NOW + 3600, 1 / 300),))])
    pauses: list[int] = []
    slow = forecast(snap, _model(), paths=6, seed=4, pause=lambda: pauses.append(1))
    assert slow == forecast(snap, _model(), paths=6, seed=4)  # to the last bit
    assert len(pauses) > 6 * 5  # not only between two paths (5 of them): within each one


def test_the_samples_kept_are_what_the_estimate_sums_up_and_change_no_estimate():
    # bench/estimates.py --points compares points of a ticket's predictive distribution: the call
    # waits it keeps are those the printed mean is taken over, and asking for them changes no bit
    ct = [_counter(1, "CT"), _counter(2, "HT", "CT")]
    arrivals = [(("CT", False), ((NOW, NOW + 3600, 1 / 300),))]
    snap = Snapshot(NOW, _waiting(6, "CT") + _waiting(3, "HT"), ct, Calling(), PriorityPolicy(), ["CT"], arrivals)
    for only in (None, "CT4", ("CT", False)):
        plain = forecast(snap, _model(), paths=24, seed=5, only=only)
        kept = forecast(snap, _model(), paths=24, seed=5, only=only, samples=True)
        assert (kept.tickets, kept.new) == (plain.tickets, plain.new) and plain.samples == {}
        for key, est in [*kept.tickets.items(), *kept.new.items()]:
            xs = kept.samples[key]
            assert xs == sorted(xs) and len(xs) == round(est.called_share * 24)
            assert est.wait_s == pytest.approx(max(0.0, sum(xs) / len(xs)))
