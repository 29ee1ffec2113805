"""Many tickets' place in line at once (server/engine/positions.py) equals Engine.position's."""
from __future__ import annotations

import random

import pytest

from server.engine.positions import Queues, positions


@pytest.mark.parametrize("seed", range(6))
def test_batched_positions_equal_one_by_one(engine, clock, seed):
    rng = random.Random(seed)
    services = [s.code for s in engine.config.services][:4]
    counters = [c.number for c in engine.config.counters][:3]
    for n in counters:
        engine.sign_in(n, f"clerk-{n}")
    ids = []
    for _ in range(rng.randint(20, 60)):
        clock.advance(rng.uniform(1, 90))
        t = engine.issue(rng.choice(services), priority=rng.random() < 0.2, source="kiosk")
        ids.append(t["id"])
        if rng.random() < 0.3:
            n = rng.choice(counters)
            called = engine.call_next(n, f"clerk-{n}")
            if called is not None:  # start serving, so the next call-next finishes it
                engine.start(called["id"], n, f"clerk-{n}")
    batch = positions(engine, ids + ["no-such-ticket"])
    assert set(batch) == set(ids)
    for tid in ids:
        one = engine.position(tid)
        assert (batch[tid]["state"], batch[tid]["people_ahead_now"], batch[tid]["estimated_wait_s"]) == \
            (one["state"], one["people_ahead_now"], one["estimated_wait_s"])
    assert any(b["people_ahead_now"] > 0 for b in batch.values())  # the queues were not trivial


def test_one_push_reads_one_forecast_while_tickets_are_issued(engine, clock):
    """The live hub's push reads every figure from one state (``WaitEstimator.one_state``):
    tickets issued during it do not make it forecast every waiting citizen again, and a ticket
    issued meanwhile still gets its own estimate, the one ``Engine.position`` gives it."""
    engine.sign_in(1, "clerk-1")
    first = [engine.issue("CT")["id"] for _ in range(3)]
    conn = engine.store.conn()
    with engine.waits.one_state():
        before = engine.waits.all_waiting(conn, "main", engine.roster, clock.now())
        late = engine.issue("CT")["id"]
        assert engine.waits.all_waiting(conn, "main", engine.roster, clock.now()) is before
        assert late not in before.tickets
        batch = positions(engine, first + [late])
    assert batch[late]["people_ahead_now"] == 3
    assert batch[late]["estimated_wait_s"] == engine.position(late)["estimated_wait_s"] > 0
    # those already waiting: from the state the push began with (their places in line: of now)
    assert [batch[t]["estimated_wait_s"] for t in first] == [round(before.tickets[t].wait_s, 1) for t in first]
    assert {batch[t]["forecast_seq"] for t in first} == {batch[late]["seq"] - 1}
    assert batch[late]["forecast_seq"] == batch[late]["seq"] == engine.last_seq()
    after = engine.waits.all_waiting(conn, "main", engine.roster, clock.now())
    assert late in after.tickets  # outside it, the state as it is now


def test_the_chunks_of_one_push_read_each_queue_once_per_state_and_count_a_ticket_issued_between_them(engine, clock):
    """The live hub refreshes hundreds of phones in chunks, each read in its own read transaction,
    and keeps the queues read for the push (``positions(..., queues)``): a later chunk of the same
    state reads no queue again; one after a ticket was issued between them reads its queue anew,
    so its places count that ticket, as ``Engine.position`` does, under its own ``seq``."""
    engine.sign_in(1, "clerk-1")
    first = []
    for _ in range(4):
        clock.advance(10)
        first.append(engine.issue("CT")["id"])
    queues = Queues()
    batch = positions(engine, first[:1], queues)
    read = queues.of[("main", "CT")]
    batch.update(positions(engine, first[1:2], queues))
    assert queues.of[("main", "CT")] is read  # the CT queue as the push's first chunk read it
    assert [batch[t]["people_ahead_now"] for t in first[:2]] == [0, 1]
    clock.advance(10)
    late = engine.issue("CT", priority=True)["id"]  # goes first
    batch = positions(engine, first[2:] + [late], queues)
    assert queues.of[("main", "CT")] is not read  # the state moved: read anew
    assert [batch[t]["people_ahead_now"] for t in first[2:]] == [3, 4]
    assert [engine.position(t)["people_ahead_now"] for t in first[2:]] == [3, 4]
    assert batch[late]["people_ahead_now"] == engine.position(late)["people_ahead_now"] == 0
    assert {b["seq"] for b in batch.values()} == {engine.last_seq()}


def test_a_push_during_a_burst_reads_the_last_forecast_while_young_and_its_places_now(engine, clock):
    """During a burst the live hub's pushes read the last forecast of everyone while it is under
    ``reuse_s`` old (``WaitEstimator.one_state(reuse_s)``, ``FORECAST_EVERY_S``): the estimates
    are that forecast's, seen from now, the places in line are the queue's now, and the pin says
    an earlier state was read, so that the hub pushes the latest state's next; once it is older,
    the push reads the state as it is."""
    engine.sign_in(1, "clerk-1")
    first = []
    for _ in range(3):
        clock.advance(10)
        first.append(engine.issue("CT")["id"])
    conn = engine.store.conn()
    made = engine.waits.all_waiting(conn, "main", engine.roster, clock.now())
    clock.advance(2)
    engine.call_next(1, "clerk-1")  # the first one called: the state moves on
    with engine.waits.one_state(reuse_s=5.0) as pin:
        assert engine.waits.all_waiting(conn, "main", engine.roster, clock.now()) is made
        batch = positions(engine, first[1:])
    assert pin.older
    assert [batch[t]["people_ahead_now"] for t in first[1:]] == [0, 1]  # read now
    assert [batch[t]["estimated_wait_s"] for t in first[1:]] == \
        [round(max(0.0, made.tickets[t].wait_s - 2), 1) for t in first[1:]]  # the forecast's, 2 s later
    with engine.waits.one_state() as pin:  # no reuse: the state as it is
        fresh = engine.waits.all_waiting(conn, "main", engine.roster, clock.now())
    assert fresh is not made and not pin.older and first[0] not in fresh.tickets
    clock.advance(6)
    engine.issue("CT")
    with engine.waits.one_state(reuse_s=5.0) as pin:  # the last one is 6 s old: a new one
        latest = engine.waits.all_waiting(conn, "main", engine.roster, clock.now())
    assert latest is not fresh and not pin.older
