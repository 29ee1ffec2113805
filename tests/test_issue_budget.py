"""The ticket being issued: its estimate is computed before and outside the write transaction, within
a cost budget; over it, from the last forecast of everyone (server/engine/one_budget.py)."""
from __future__ import annotations

import json

from qms_common.wait_words import wait_range_phrase
from server.engine import one_budget
from server.engine.forecast import CounterNow, Snapshot, WaitingTicket


def _ct_step(engine, clock) -> float:
    """One more CT citizen's service over the open counters that call CT (counters 2 and 3 here)."""
    return engine.waits.model(engine.store.conn(), clock.now()).mean_service_s("CT") / 2


def test_a_small_queue_prints_the_forecast_it_always_did(engine, clock):
    engine.sign_in(2, "clerk-a")
    for _ in range(10):
        engine.issue("CT")
    # what the issue computed inside its write transaction before this change
    with engine.store.write() as conn:
        before = engine.waits.for_new(conn, "CT", "main", False, engine.roster, clock.now())
    ticket = engine.issue("CT")
    assert ticket["estimated_wait_s"] == round(before.wait_s, 1) and before.wait_s > 0
    assert engine.waits.over_budget == 0


def test_an_issue_over_the_budget_gets_its_ticket_and_an_estimate_from_the_cached_forecast(
        engine, clock, monkeypatch):
    monkeypatch.setattr(one_budget, "BUDGET", 24 * 5)  # 24 paths with 5 waiting: so 30 waiting are over it
    engine.sign_in(2, "clerk-a")
    engine.sign_in(3, "clerk-b")
    for _ in range(30):
        engine.issue("CT")
    engine.warm_estimates()  # the background forecast of everyone, as after each pause of the events
    cached = engine.waits._cache["main"][2]
    last = engine.tickets(state="waiting", service="CT")[-1]
    base = cached.tickets[last["id"]]
    clock.advance(5)
    first, second, third = engine.issue("CT"), engine.issue("CT"), engine.issue("CT")
    # the first finds the forecast of the state it was made in, 5 s old: its new ticket's figure
    assert first["estimated_wait_s"] == round(cached.new[("CT", False)].wait_s - 5, 1)
    assert engine.waits.over_budget == 2
    step = _ct_step(engine, clock)
    # the others: the nearest citizen ahead the cached forecast knows, 5 s later, plus a service of
    # CT over the two counters for each one between them and for themselves
    assert second["estimated_wait_s"] == round(base.wait_s - 5 + 2 * step, 1)
    assert third["estimated_wait_s"] == round(base.wait_s - 5 + 3 * step, 1)
    low, high = second["estimated_wait_range_s"]
    assert low == round(base.low_s - 5 + 2 * step, 1) and high == round(base.high_s - 5 + 2 * step, 1) and low < high
    assert (second["estimated_wait_text"], second["estimated_wait_text_en"]) == wait_range_phrase(low, high)
    # committed and numbered like any other, the estimate recorded with it
    assert [first["number"], second["number"], third["number"]] == [31, 32, 33]
    issued = engine.store.conn().execute("SELECT data FROM events WHERE type = 'ticket_issued' AND ticket_id = ?",
                                         (second["id"],)).fetchone()[0]
    assert json.loads(issued)["predicted_wait_s"] == second["estimated_wait_s"]
    assert engine.ticket(second["id"])["predicted_wait_s"] == second["estimated_wait_s"]
    # the status page of a ticket the cached forecast knows: its own figure, seen 5 s later
    seen = engine.position(last["id"])
    assert seen["estimated_wait_s"] == round(base.wait_s - 5, 1)


def test_before_any_cached_forecast_an_issue_over_the_budget_plays_the_fewest_paths(engine, monkeypatch):
    from server.engine import waits
    monkeypatch.setattr(one_budget, "BUDGET", 24 * 5)
    engine.sign_in(2, "clerk-a")
    for _ in range(12):
        engine.issue("CT")
    engine.waits._cache.clear()
    played = []
    real = waits.forecast
    monkeypatch.setattr(waits, "forecast", lambda *a, **kw: (played.append(kw["paths"]), real(*a, **kw))[1])
    ticket = engine.issue("CT")
    assert played == [waits.ONE_PATHS_MIN] and engine.waits.over_budget == 0
    assert 0 < ticket["estimated_wait_range_s"][0] < ticket["estimated_wait_range_s"][1]


def test_the_work_of_a_path_counts_the_queues_its_counters_link():
    day = (0.0, 10_000.0)
    counters = [CounterNow(1, "a", 0, None, ((*day, ("CT",)),)), CounterNow(2, "b", 0, None, ((*day, ("CT", "HT")),)),
                CounterNow(3, "c", 0, None, ((*day, ("DD",)),))]
    waiting = ([WaitingTicket(f"c{i}", "CT", False, i, i) for i in range(5)]
               + [WaitingTicket(f"h{i}", "HT", False, i, i) for i in range(3)]
               + [WaitingTicket(f"d{i}", "DD", False, i, i) for i in range(7)]
               + [WaitingTicket("x", "XD", False, 1, 1, target_counter=2)])
    snap = Snapshot(100.0, waiting, counters, None, None)
    assert one_budget.reach(snap, "HT") == 5 + 3 + 1   # CT and HT share counter 2, and one sent to it
    assert one_budget.reach(snap, "DD") == 7
    assert one_budget.within(24, snap, "XH")  # no counter works it: its forecast plays nothing
    # the budget: 2,400 ticket plays (24 paths with 100 waiting); 300 paths of CT's 9 are over it, of DD's 7 not
    assert one_budget.BUDGET == 24 * 100
    assert one_budget.within(300, snap, "DD") and not one_budget.within(300, snap, "CT")


def test_priority_citizens_issued_since_the_cached_forecast_lengthen_a_normal_estimate(engine, clock, monkeypatch):
    """Over the budget, a normal ticket's estimate counts the priority citizens of its service who
    came after the cached forecast: they are called first, so each adds one service ahead."""
    monkeypatch.setattr(one_budget, "BUDGET", 24 * 5)
    engine.sign_in(2, "clerk-a")
    engine.sign_in(3, "clerk-b")
    for _ in range(30):
        engine.issue("CT")
    engine.warm_estimates()
    cached = engine.waits._cache["main"][2]
    last = engine.tickets(state="waiting", service="CT")[-1]
    base = cached.tickets[last["id"]]
    clock.advance(5)
    engine.issue("CT", priority=True)
    engine.issue("CT", priority=True)
    normal = engine.issue("CT")
    step = _ct_step(engine, clock)
    # the nearest known citizen ahead, 5 s later, plus itself and the two priority citizens
    assert normal["estimated_wait_s"] == round(base.wait_s - 5 + 3 * step, 1)
