"""The wait estimate: the forecaster's rules, what it learns, and the engine using it."""
from __future__ import annotations

import random

import pytest

from server.config import Calling, PriorityPolicy
from server.engine.forecast import CounterNow, InHand, Snapshot, WaitingTicket, forecast
from server.engine.learned import Durations, Model, kaplan_meier, redistribute
from server.scenario import load_scenario
from server.simulator import Simulation

NOW = 10_000.0
DAY = 8 * 3600.0


def _model(mean_s: float = 600.0, n: int = 2000, **kw) -> Model:
    rng = random.Random(3)
    return Model({"CT": Durations(mean_s, [rng.expovariate(1 / mean_s) for _ in range(n)])}, **kw)


def _waiting(k: int, service: str = "CT", priority: bool = False, start: float = NOW - 300) -> list[WaitingTicket]:
    return [WaitingTicket(f"{service}{i}", service, priority, start + i, start + i) for i in range(k)]


def _busy(n: int, windows=None) -> list[CounterNow]:
    rng = random.Random(4)
    return [CounterNow(i, f"c{i}", 0, InHand("CT", True, rng.uniform(0, 900)),
                       windows or ((NOW, NOW + DAY, ("CT",)),)) for i in range(1, n + 1)]


def test_ten_busy_counters_give_the_textbook_wait():
    # M/M/10 with everyone busy: the (k+1)-th call comes after (k+1) x mean / 10 on average
    for k in (0, 5, 20):
        snap = Snapshot(NOW, _waiting(k), _busy(10), Calling(), PriorityPolicy(), ["CT"])
        est = forecast(snap, _model(), paths=400).new[("CT", False)]
        assert est.wait_s == pytest.approx((k + 1) * 60, rel=0.08)
        assert est.low_s < est.wait_s < est.high_s


def test_nobody_is_called_during_a_break_or_after_the_last_shift():
    # one counter: free now, works 100 s, then a break until +1000, then until +1500
    windows = ((NOW, NOW + 100, ("CT",)), (NOW + 1000, NOW + 1500, ("CT",)))
    counter = CounterNow(1, "c1", 0, None, windows)
    model = Model({"CT": Durations(300.0, [300.0] * 5000)}, p_no_show=0.0)
    snap = Snapshot(NOW, _waiting(4), [counter], Calling(), PriorityPolicy())
    est = forecast(snap, model, paths=50).tickets
    assert est["CT0"].wait_s == 0                      # called at once
    assert est["CT1"].wait_s == pytest.approx(1000, rel=0.02)   # after the break, not at +300
    assert est["CT2"].wait_s == pytest.approx(1300, rel=0.02)
    assert est["CT3"].called_share == 0               # +1600 is after the last shift: never called


def test_a_ticket_no_counter_can_call_does_not_keep_every_path_going_to_the_end_of_the_day(monkeypatch):
    """One fast CT counter working six more hours, CT citizens still coming, and one HT ticket that
    no counter works: a path ends once the 20 CT tickets are called. It used to play out every
    newcomer of the six hours (about 10,000 services a path; in bench/connections.py 0.5 s of CPU
    for each ticket issued, on the event loop: docs/performance.md, section 8)."""
    from server.engine import paths as sample_paths
    window = ((NOW, NOW + 6 * 3600, ("CT",)),)
    counter = [CounterNow(1, "c1", 0, None, window)]
    arrivals = [(("CT", False), ((NOW, NOW + 6 * 3600, 0.5),))]
    waiting = _waiting(20) + [WaitingTicket("HT0", "HT", False, NOW - 600, NOW - 600)]
    snap = Snapshot(NOW, waiting, counter, Calling(), PriorityPolicy(), ["HT"], arrivals)
    read = []  # the random draws each path read: one or two per event it played
    real_used = sample_paths.Draws.used
    monkeypatch.setattr(sample_paths.Draws, "used", lambda self, path, taken, n: (read.append(n),
                                                                                  real_used(self, path, taken, n)))
    model = Model({"CT": Durations(2.0, [2.0] * 100)}, p_no_show=0.0)
    result = forecast(snap, model, paths=24)
    assert len(read) == 24 and max(read) < 60  # each path served the 20 waiting, and few after them
    assert result.tickets["CT19"].called_share == 1
    assert result.tickets["HT0"].called_share == 0  # and the one nobody serves still says so
    assert result.tickets["HT0"].wait_s == pytest.approx(6 * 3600, abs=1)
    assert result.new[("HT", False)].called_share == 0
    # asked for that one ticket alone (or a new HT ticket, as an issue does): nothing to play out
    for only in ("HT0", ("HT", False)):
        read.clear()
        one = forecast(snap, model, paths=24, only=only)
        assert max(read, default=0) <= 3  # the path's own set-up draws, no event (a new HT ticket: no path)
        assert (one.tickets.get("HT0") or one.new[("HT", False)]).called_share == 0
    # and the estimate printed on a new HT ticket is the one every path of the whole forecast gives it
    assert one.new[("HT", False)] == result.new[("HT", False)]
    assert forecast(snap, model, paths=24, only=("HT", True)).new[("HT", True)] == result.new[("HT", True)]


def test_priority_and_the_normal_guard_are_the_engines():
    # one counter, 100-second services, free in 50 s: a priority citizen who came last goes first,
    # unless the normal ones have waited past the guard (12 min)
    model = Model({"CT": Durations(100.0, [100.0] * 5000), "HT": Durations(100.0, [100.0] * 5000)}, p_no_show=0.0)
    counters = [CounterNow(1, "c1", 0, InHand("CT", True, 50.0), ((NOW, NOW + DAY, ("CT", "HT")),))]
    fresh = _waiting(3, start=NOW - 30) + [WaitingTicket("P", "CT", True, NOW - 5, NOW - 5)]
    est = forecast(Snapshot(NOW, fresh, counters, Calling(), PriorityPolicy()), model, paths=20).tickets
    assert est["P"].wait_s == pytest.approx(50, abs=1) and est["CT0"].wait_s == pytest.approx(150, abs=1)
    old = _waiting(3, start=NOW - 1000) + [WaitingTicket("P", "CT", True, NOW - 5, NOW - 5)]
    est = forecast(Snapshot(NOW, old, counters, Calling(), PriorityPolicy()), model, paths=20).tickets
    assert est["CT0"].wait_s == pytest.approx(50, abs=1) and est["P"].wait_s == pytest.approx(350, abs=1)
    # longest_wait with the preference penalty (300 s): the counter's first service (CT) waited
    # 100 s, its second (HT) 350 s: 350 - 300 < 100, so CT goes first
    mixed = [WaitingTicket("H", "HT", False, NOW - 350, NOW - 350), WaitingTicket("C", "CT", False, NOW - 100, NOW - 100)]
    est = forecast(Snapshot(NOW, mixed, counters, Calling(), PriorityPolicy()), model, paths=20).tickets
    assert est["C"].wait_s < est["H"].wait_s


def test_those_ahead_who_give_up_shorten_the_wait():
    snap = Snapshot(NOW, _waiting(8, start=NOW - 3000), _busy(1), Calling(), PriorityPolicy(), ["CT"])
    stays = forecast(snap, _model(), paths=200).new[("CT", False)]
    # everyone leaves within an hour of waiting
    survival = kaplan_meier(left=[60.0 * m for m in range(1, 61)], stayed=[])
    leaves = forecast(snap, _model(survival=survival), paths=200).new[("CT", False)]
    assert leaves.wait_s < 0.5 * stays.wait_s


def test_citizens_still_to_come_with_priority_go_first():
    counters = _busy(1)
    snap = Snapshot(NOW, _waiting(3), counters, Calling(), PriorityPolicy(), ["CT"])
    alone = forecast(snap, _model(), paths=200).new[("CT", False)]
    rush = Snapshot(NOW, _waiting(3), counters, Calling(), PriorityPolicy(), ["CT"],
                    arrivals=[(("CT", True), [(NOW, NOW + 3600, 1 / 600)])])
    # about one priority citizen every 10 minutes goes before the normal ones who have waited
    # less than the guard (12 min)
    assert forecast(rush, _model(), paths=400).new[("CT", False)].wait_s > alone.wait_s * 1.05


def test_a_ticket_sent_to_a_counter_is_called_there_before_anyone_else():
    # two counters, 100-second services: counter 1 free in 40 s, counter 2 in 70 s. "T" came last
    # and was sent to counter 2: it goes before the three who waited longer, at +70 s; counter 1
    # takes CT0 at +40 s and CT1 at +140 s, counter 2 takes CT2 after T, at +170 s
    model = Model({"CT": Durations(100.0, [100.0] * 5000)}, p_no_show=0.0)
    counters = [CounterNow(1, "c1", 0, InHand("CT", True, 60.0), ((NOW, NOW + DAY, ("CT",)),)),
                CounterNow(2, "c2", 0, InHand("CT", True, 30.0), ((NOW, NOW + DAY, ("CT",)),))]
    waiting = _waiting(3) + [WaitingTicket("T", "CT", False, NOW - 1, NOW - 1, target_counter=2)]
    est = forecast(Snapshot(NOW, waiting, counters, Calling(), PriorityPolicy()), model, paths=10).tickets
    assert est["T"].wait_s == pytest.approx(70, abs=1)
    assert [round(est[f"CT{i}"].wait_s) for i in range(3)] == [40, 140, 170]
    alone = forecast(Snapshot(NOW, waiting, counters, Calling(), PriorityPolicy()), model, paths=10, only="T")
    assert alone.tickets["T"] == est["T"] and list(alone.tickets) == ["T"]  # only: that one's estimate


def test_the_same_state_and_seed_give_the_same_estimate_to_the_last_digit():
    # the printed figure is reproducible (a forecast is seeded by the event sequence), also when a
    # path reads more random draws than the first list it was given (a rush of newcomers)
    rush = Snapshot(NOW, _waiting(6), _busy(2), Calling(), PriorityPolicy(), ["CT"],
                    arrivals=[(("CT", False), [(NOW, NOW + 3 * 3600, 1 / 5)]),
                              (("CT", True), [(NOW, NOW + 3600, 1 / 60)])])
    for only in (None, ("CT", False), "CT3"):
        a = forecast(rush, _model(), paths=6, seed=7, only=only)
        assert a == forecast(rush, _model(), paths=6, seed=7, only=only)
        assert a != forecast(rush, _model(), paths=6, seed=8, only=only)


def test_the_sample_paths_come_in_antithetic_pairs_from_one_seeded_sequence():
    from server.engine.paths import Draws
    draws, rng = Draws(5), random.Random(5)
    first = draws.take(0, 8)
    assert first == [rng.random() for _ in range(8)]
    draws.used(0, first, 3)                     # path 0 read three draws
    twin = draws.take(1, 4)
    assert twin[:3] == [1.0 - u for u in first[:3]] and twin[3:] == first[3:7]  # then fresh ones
    draws.used(1, twin, 5)                      # path 1 read its three mirrored draws and two fresh
    assert draws.take(2, 2) == first[5:7]       # path 2 goes on from there


def test_services_still_running_count_as_longer_than_so_far():
    values, weights = redistribute([100.0, 200.0], [150.0])
    assert sum(v * w for v, w in zip(values, weights)) / sum(weights) == pytest.approx((100 + 200 * 2) / 3)
    values, weights = redistribute([100.0], [400.0])   # running past all finished: counts as ending now
    assert values == [100.0, 400.0] and weights == [1.0, 1.0]


def test_kaplan_meier_counts_who_stayed_as_censored():
    s = kaplan_meier(left=[90.0], stayed=[30.0, 150.0, 150.0])
    assert s[0] == 1.0 and s[1] == 1.0          # nobody left in the first minute
    assert s[2] == pytest.approx(1 - 1 / 3)     # of the three still there at 1 min, one left
    assert kaplan_meier(left=[], stayed=[10.0]) == []


# --- in the engine, through the simulator ------------------------------------------------------
def _day(tmp_path, name, service_s_last: float):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "center.json").write_text('{"name": "t", "close_s": 4000, "services": [{"code": "HT", "name": "HT"}]}')
    (folder / "staff.csv").write_text("clerk,counter,skills,start_s,end_s\nc1,1,HT,0,4000\n")
    rows = [(10, 300), (20, 300), (30, service_s_last), (40, 300), (50, 300)]
    (folder / "arrivals.csv").write_text("arrival_s,service,priority,service_s,patience_s,no_show\n" + "".join(
        f"{t},HT,0,{d},,0\n" for t, d in rows))
    return load_scenario(folder)


def test_the_estimate_never_reads_a_service_time_before_it_ends(tmp_path):
    # two days that differ only in how long the third citizen's service will take: every estimate
    # printed before that service ends is the same
    short = Simulation(_day(tmp_path, "short", 60)).run().records
    long = Simulation(_day(tmp_path, "long", 1800)).run().records
    third_done = short[2].finished_s
    assert [r.predicted_wait_s for r in short if r.arrival_s < third_done] == \
           [r.predicted_wait_s for r in long if r.arrival_s < third_done]
    assert all(0 <= r.predicted_low_s <= r.predicted_high_s for r in short)


def test_history_teaches_the_service_times(tmp_path):
    # earlier days of 20-minute services: the first wait of the day is estimated from them,
    # cold it starts from the configured 8 minutes
    hist = []
    for i in range(3):
        folder = tmp_path / f"h{i}"
        folder.mkdir()
        (folder / "center.json").write_text(
            f'{{"name": "t", "close_s": 20000, "date": "2026-11-0{i + 2}", "services": [{{"code": "HT", "name": "HT"}}]}}')
        (folder / "staff.csv").write_text("clerk,counter,skills,start_s,end_s\nc1,1,HT,0,20000\n")
        (folder / "arrivals.csv").write_text("arrival_s,service,priority,service_s,patience_s,no_show\n" + "".join(
            f"{t},HT,0,1200,,0\n" for t in range(0, 18000, 1300)))
        hist.append(load_scenario(folder))
    today = _day(tmp_path, "today", 1200)
    cold = Simulation(today).run().records
    warm = Simulation(_day(tmp_path, "today2", 1200), history=hist).run().records
    # the second citizen waits for the first one's service (1200 s, all but 10 s of it)
    assert abs(warm[1].predicted_wait_s - 1190) < abs(cold[1].predicted_wait_s - 1190)
    assert warm[1].predicted_wait_s == pytest.approx(1190, rel=0.3)


def test_a_clerk_with_enough_services_of_their_own_is_expected_at_their_pace():
    from server.engine.learned import Observations, learn
    obs = Observations(durations=[("HT", "fast", 200.0)] * 60 + [("HT", "slow", 800.0)] * 60)
    model = learn(obs, {"HT": 480.0})
    draws = [i / 400 for i in range(400)]
    fast = sum(model.sampler("HT", "fast")(u) for u in draws) / 400
    slow = sum(model.sampler("HT", "slow")(u) for u in draws) / 400
    anyone = sum(model.sampler("HT", None)(u) for u in draws) / 400
    assert fast < anyone < slow
    # the two clerks' times differ far beyond chance: each is expected at their own pace
    assert model.own_share("HT", "fast") == model.own_share("HT", "slow") == 1.0
    assert fast == pytest.approx(200, rel=0.05) and slow == pytest.approx(800, rel=0.05)  # (their own prior: 3 of 63)


def test_clerks_who_do_not_differ_are_expected_at_the_services_pace():
    """Four clerks whose times come from one distribution (a lognormal, CV 0.8): their means vary
    only by chance, so a draw for any of them is the service's, all their times together (a clerk's
    own 40 would be a noisier copy, thinner in the tail). A clerk who is really twice as slow, among
    the same, keeps most of their own weight."""
    import math
    import random
    from server.engine.learned import Observations, clerk_shares, learn
    rng = random.Random(7)
    sigma = math.sqrt(math.log(1 + 0.8 ** 2))

    def times(mean: float, n: int) -> list[float]:
        return [rng.lognormvariate(math.log(mean) - sigma ** 2 / 2, sigma) for _ in range(n)]
    same = [("HT", f"c{k}", d) for k in range(4) for d in times(600, 40)]
    model = learn(Observations(durations=same), {"HT": 480.0})
    shares = [model.own_share("HT", f"c{k}") for k in range(4)]
    assert max(shares) < 0.2, shares                 # the service's times, nearly all of each draw
    # over many such centers the weight given to chance stays small on average
    weights = []
    for seed in range(200):
        rng.seed(seed)
        weights.append(clerk_shares([("HT", f"c{k}", d) for k in range(4) for d in times(600, 40)])[("HT", "c0")])
    assert sum(weights) / len(weights) < 0.25
    slow = same + [("HT", "slow", d) for d in times(1200, 40)]
    assert clerk_shares(slow)[("HT", "slow")] > 0.8


def test_after_an_event_the_next_ticket_finds_its_estimate_already_forecast(tmp_path):
    from qms_common.clock import FakeClock
    from server.engine import Engine
    from server.engine.warmer import EstimateWarmer
    from server.store import Store
    sc = load_scenario("ward-weekday")
    sim = Simulation(sc)
    engine = Engine(Store(tmp_path / "w.db", synchronous="OFF"), sim.config, FakeClock(sim.t0))
    warmer = EstimateWarmer(engine).start()
    try:
        engine.sign_in(1, "c1", services=["CT"])
        engine.issue("CT")
        engine.issue("CT")

        def forecast_of_now():
            cached = engine.waits._cache.get("main")
            return cached is not None and cached[0] == engine.last_seq()
        assert warmer.wait_for(forecast_of_now, timeout=10)
        cached = engine.waits._cache["main"]
        # the estimate the next ticket prints is that forecast's (the same number the issue would compute)
        expected = cached[2].new[("CT", False)].wait_s
        assert engine.issue("CT")["estimated_wait_s"] == round(expected, 1)
    finally:
        warmer.stop()


def test_a_center_that_issues_at_any_hour_estimates_after_its_closing_time(tmp_path, center):
    """hours.enforce = false (the demo, an evening session): at 18:30 an open counter still serves,
    so the wait is a number, not zero and not 'unknown'."""
    from datetime import datetime
    from zoneinfo import ZoneInfo
    from qms_common.clock import FakeClock
    from server.engine import Engine
    from server.store import Store
    evening = datetime(2026, 11, 23, 18, 30, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).timestamp()
    anyhour = center.model_copy(update={"hours": center.hours.model_copy(update={"enforce": False})})
    engine = Engine(Store(tmp_path / "e.db", synchronous="OFF"), anyhour, FakeClock(evening))
    engine.sign_in(5, "lan", services=["DD"])
    for _ in range(4):
        engine.issue("DD")
    estimate, low, high = engine.estimate_new_range("DD")
    assert 0 < low <= estimate <= high < 6 * 3600
    closing = Engine(Store(tmp_path / "c.db", synchronous="OFF"), center, FakeClock(evening))
    assert closing.config.hours.enforce  # the same center with its hours: no ticket at 18:30
    with pytest.raises(Exception, match="ngoài giờ"):
        closing.issue("DD")


def test_a_service_no_counter_will_call_today_says_so_not_a_range(engine):
    """Every counter is closed at 9:00: the screens say no counter serves it, not a made-up wait."""
    from qms_common.wait_words import NO_COUNTER
    engine.issue("HT")
    ht = next(s for s in engine.service_stats() if s["service"] == "HT")
    assert (ht["estimated_wait_text"], ht["estimated_wait_text_en"]) == NO_COUNTER
    engine.sign_in(2, "clerk-a")
    ht = next(s for s in engine.service_stats() if s["service"] == "HT")
    assert ht["estimated_wait_text"] != NO_COUNTER[0]
    assert ht["estimated_wait_text"].startswith(("dưới", "khoảng"))


def test_a_counter_still_open_after_hours_is_expected_to_call_who_waits(engine, clock):
    """Past closing and its half hour, a counter left open still serves: three ahead of a new
    ticket at one counter is not "under 5 minutes"."""
    engine.sign_in(2, "clerk-a")
    for _ in range(4):
        engine.issue("HT")
    engine.call_next(2, "clerk-a")
    clock.advance(10 * 3600)  # 19:00, long after 17:00 + 30 min
    ht = next(s for s in engine.service_stats() if s["service"] == "HT")
    assert ht["waiting"] == 3 and ht["estimated_wait_s"] > 10 * 60
    assert ht["estimated_wait_text"].startswith(("khoảng", "hơn"))


def test_a_ticket_no_counter_will_call_today_is_told_so_not_a_range(engine):
    """Every counter is closed: the ticket (paper, API, status page) says it may not be served
    today instead of a range; once a counter opens for it, a range again."""
    from qms_common.wait_words import NOT_SURE_TODAY
    ticket = engine.issue("HT")
    assert (ticket["estimated_wait_text"], ticket["estimated_wait_text_en"]) == NOT_SURE_TODAY
    assert engine.position(ticket["id"])["estimated_wait_text"] == NOT_SURE_TODAY[0]
    from server.engine.positions import positions
    assert positions(engine, [ticket["id"]])[ticket["id"]]["estimated_wait_text"] == NOT_SURE_TODAY[0]
    engine.sign_in(2, "clerk-a")
    now = engine.position(ticket["id"])
    assert now["estimated_wait_text"].startswith(("dưới", "khoảng")), now["estimated_wait_text"]
    fresh = engine.issue("HT")
    assert fresh["estimated_wait_text"].startswith(("dưới", "khoảng"))


def test_the_warmer_and_the_pusher_asking_for_the_same_state_share_one_forecast(tmp_path, monkeypatch):
    """After an event the background warmer and the live hub's pusher both want every waiting
    citizen's forecast of the new state: while one computes it, the other waits for that one
    instead of computing it a second time beside it (docs/performance.md, section 8)."""
    import threading
    from qms_common.clock import FakeClock
    from server.engine import Engine, waits
    from server.store import Store
    sim = Simulation(load_scenario("ward-weekday"))
    engine = Engine(Store(tmp_path / "w.db", synchronous="OFF"), sim.config, FakeClock(sim.t0))
    engine.sign_in(1, "c1", services=["CT"])
    engine.issue("CT")
    engine.issue("CT")
    engine.waits._cache.clear()
    started, gate, second_waits = threading.Event(), threading.Event(), threading.Event()
    computed = []
    real = waits.forecast

    def held_forecast(*args, **kw):
        computed.append(kw.get("only"))
        started.set()
        assert gate.wait(10)
        return real(*args, **kw)
    monkeypatch.setattr(waits, "forecast", held_forecast)
    results = {}

    def ask(name):
        results[name] = engine.waits.all_waiting(engine.store.conn(), "main", None, engine.clock.now())
    first = threading.Thread(target=ask, args=("warmer",))
    first.start()
    assert started.wait(10)
    seq, done = engine.waits._computing["main"]

    class Noticed:  # the first one's "done", telling us when someone waits on it
        def wait(self, timeout=None):
            second_waits.set()
            return done.wait(timeout)
    engine.waits._computing["main"] = (seq, Noticed())
    second = threading.Thread(target=ask, args=("pusher",))
    second.start()
    try:
        assert second_waits.wait(10), "the second one did not wait for the forecast under way"
    finally:
        gate.set()
        first.join(10)
        second.join(10)
    assert computed == [None]  # one forecast of every waiting citizen
    assert results["pusher"] is results["warmer"]


_FULL = "SELECT id, service, priority, queue_key, wait_from, target_counter FROM tickets WHERE state = 'waiting' AND site = ?"


def test_the_waiting_list_kept_between_snapshots_is_what_reading_everyone_gives(engine, clock):
    """The estimator keeps who waits and re-reads only the tickets that events since then name
    (``StateReader.waiting``, ``snapshots.py``: with a thousand waiting, a full read was most of an issue's
    cost). After each of 200 random operations (issue, call, start, finish, no-show, park,
    resume, transfer, requeue, cancel) the kept list is the full read; so it is after a
    transaction rolled back, and after a change that came without its event."""
    from qms_common.errors import QmsError
    rng = random.Random(11)
    conn = engine.store.conn()

    def full():
        return {r[0]: (r[1], bool(r[2]), r[3], r[4], r[5]) for r in conn.execute(_FULL, ("main",))}

    def kept(c=None):
        return {w.id: (w.service, w.priority, w.queue_key, w.wait_from, w.target_counter)
                for w in engine.waits.reader.waiting(c or conn, "main")}

    clerks = {1: "a", 2: "b", 4: "c"}
    for n, clerk in clerks.items():
        engine.sign_in(n, clerk)
    services = ["CT", "HT", "XD"]
    kept()
    for _ in range(200):
        clock.advance(rng.uniform(1, 40))
        r = rng.random()
        try:
            if r < 0.4:
                engine.issue(rng.choice(services), priority=rng.random() < 0.15)
            elif r < 0.55:
                n = rng.choice(list(clerks))
                t = engine.call_next(n, clerks[n])
                if t is not None and rng.random() < 0.7:
                    engine.start(t["id"], n, clerks[n])
            else:
                live = engine.tickets(state=rng.choice(["waiting", "called", "serving", "parked"]))
                if not live:
                    continue
                t = rng.choice(live)
                n = t["counter"]
                if t["state"] == "serving":
                    engine.finish(t["id"], n, clerks[n])
                elif t["state"] == "called":
                    rng.choice([lambda: engine.no_show(t["id"], n, clerks[n]),
                                lambda: engine.park(t["id"], n, clerks[n])])()
                elif t["state"] == "parked":
                    engine.resume(t["id"], rng.choice(list(clerks)), None)
                elif r < 0.75:
                    engine.transfer(t["id"], service=rng.choice(services))
                elif r < 0.85:
                    engine.requeue(t["id"])
                else:
                    engine.cancel(t["id"], reason="left")
        except QmsError:
            pass  # a move the rules refuse: nothing changed
        assert kept() == full()
    assert len(full()) > 10
    # a write rolled back: seen inside its transaction, never kept
    gone = next(iter(full()))
    with pytest.raises(RuntimeError):
        with engine.store.write() as c:
            c.execute("UPDATE tickets SET state = 'cancelled' WHERE id = ?", (gone,))
            c.execute("INSERT INTO events (at, type, ticket_id) VALUES (?, 'ticket_cancel', ?)", (clock.now(), gone))
            assert gone not in kept(c)
            raise RuntimeError("rolled back")
    assert gone in kept() and kept() == full()
    # a change without its event (another program, a bug): the count disagrees, everyone is read
    with engine.store.write() as c:
        c.execute("UPDATE tickets SET state = 'cancelled' WHERE id = ?", (gone,))
    assert gone not in kept() and kept() == full()


def test_one_ticket_s_forecast_plays_fewer_paths_only_when_many_wait():
    """Up to 100 waiting the ticket being issued gets its 24 paths, so every figure there is as
    before; with a thousand waiting each path plays a thousand calls, and fewer paths give the
    same relative noise (the spread of a long wait is relatively smaller): an even number, at least 4."""
    from server.engine.waits import ONE_PATHS, one_ticket_paths
    assert [one_ticket_paths(n) for n in (0, 30, 100)] == [ONE_PATHS] * 3
    many = [one_ticket_paths(n) for n in (101, 200, 400, 1300, 100_000)]
    assert many == sorted(many, reverse=True) and all(p % 2 == 0 and 4 <= p < ONE_PATHS for p in many)
    assert one_ticket_paths(200) * 200 <= ONE_PATHS * 100       # about the work of 24 paths at 100


def test_the_warmer_waits_twice_its_last_round_before_the_next_during_a_burst():
    """A round of 0.5 s (a thousand waiting) is followed by at least 1 s without a new one, however
    the events pause; rounds of a few milliseconds (a small center) wait only for the pause."""
    from server.engine.warmer import QUIET_S, SPACING, quiet_window
    assert SPACING == 2.0
    assert quiet_window(now=100.1, ended=100.0, took=0.5) == pytest.approx(0.9)   # until 101.0
    assert quiet_window(now=100.9, ended=100.0, took=0.5) == QUIET_S               # then a pause as always
    assert quiet_window(now=100.0, ended=100.0, took=0.004) == QUIET_S
