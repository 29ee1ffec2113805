"""Many tickets' place in line at once (server/engine/positions.py) equals Engine.position's."""
from __future__ import annotations

import random

import pytest

from server.engine.positions import positions


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
