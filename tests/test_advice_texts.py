"""The advice shown on the alerts (``Advisor.texts``) is computed at most once a minute, except
when a queue has grown well past what it saw: ten citizens arriving in a burst at a service with
no counter must not keep, for a minute, the advice made when the first two had come (the
director would be told nothing about the eight others), but no sooner than ``GROWTH_SPACING_S``
after the last advice: a kiosk's burst of hundreds made it a dozen times in 20 s."""
from __future__ import annotations

import pytest

from server.advice import live


@pytest.fixture
def made(monkeypatch) -> list[int]:
    """The KD queue's length seen by each advice made (``recommend`` called)."""
    seen: list[int] = []
    real = live.recommend

    def counted(inp, **kw):
        seen.append(sum(1 for t in inp.snap.waiting if t.service == "KD"))
        return real(inp, **kw)
    monkeypatch.setattr(live, "recommend", counted)
    return seen


def test_a_queue_that_grows_within_the_minute_gets_new_advice_not_the_cached_one(engine, clock, made):
    engine.sign_in(4, "binh")
    for _ in range(2):
        engine.issue("KD")  # household business: its only counter (7) is closed
    engine.advisor.texts("main")
    assert made == [2]
    engine.issue("HT")      # another event, the KD queue as it was: the minute's advice holds
    engine.advisor.texts("main")
    assert made == [2]
    for _ in range(8):
        engine.issue("KD")
    clock.advance(live.GROWTH_SPACING_S)
    engine.advisor.texts("main")
    assert made == [2, 10]  # the queue grew from 2 to 10 within the minute: advised again
    clock.advance(60)
    engine.advisor.texts("main")
    assert made == [2, 10, 10]  # and once a minute in any case


def test_a_burst_gets_new_advice_at_most_every_growth_spacing(engine, clock, made):
    engine.sign_in(4, "binh")
    for _ in range(2):
        engine.issue("KD")
    engine.advisor.texts("main")
    assert made == [2]
    for n in range(3, 31):  # a burst: one more every 0.25 s, the queue grows 15-fold in 7 s
        clock.advance(0.25)
        engine.issue("KD")
        engine.advisor.texts("main")
    assert made == [2]  # grown well past what the advice saw, but it was made under 30 s ago
    clock.advance(live.GROWTH_SPACING_S - 7.0)
    engine.advisor.texts("main")
    assert made == [2, 30]  # once the spacing has passed, the queue as it is now
