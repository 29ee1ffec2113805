"""Views that cannot lie: a snapshot (or the services' figures) read while a ticket commits is of
one state, the one of the ``seq`` it claims, and the ticket is the event after that ``seq``.

``Engine.snapshot`` reads the sequence, the counters, the counts, the forecast, the calls and the
alerts in several statements; each once read the database as it was at that statement, so a
ticket committed between two of them was half in a snapshot (its count without its estimate, or
after a ``seq`` that said it was not there). The engine now reads them in one read transaction
(``Store.read``; ``server/engine/views.py``), the forecast's inputs included, and plays the
forecast after it. The tickets here commit from another thread, or another greenlet sharing the
thread's connection as under ``qms serve``."""
from __future__ import annotations

import pytest

from tests.commit_during import commit_first


def _ht(stats):
    return next(s for s in stats if s["service"] == "HT")


@pytest.fixture
def three_waiting(engine):
    engine.sign_in(2, "clerk-a")
    for _ in range(3):
        engine.issue("HT")
    return engine


def test_a_ticket_issued_between_the_counts_and_the_forecast_is_not_half_in_the_stats(three_waiting, monkeypatch):
    engine = three_waiting
    before = _ht(engine.service_stats())
    issued = commit_first(monkeypatch, engine.waits, "prepare", lambda: engine.issue("HT"))
    during = _ht(engine.service_stats())
    assert issued
    assert during == before  # 3 waiting with the estimate of 3, not the range of 4
    after = _ht(engine.service_stats())
    assert after["waiting"] == 4 and after["estimated_wait_range_s"] != before["estimated_wait_range_s"]


@pytest.mark.parametrize("where, action", [
    ("counter_notices", "issue"),  # after the seq and the counters' rows, before the counts
    ("prepare", "issue"),  # after the counts, before the forecast's inputs
    ("recent_calls", "call"),  # after the counters and the counts, before the calls
])
def test_a_snapshot_read_while_the_state_moves_is_the_state_of_its_seq(three_waiting, monkeypatch, where, action):
    """Whichever of its reads a ticket (or a call) commits before, the snapshot is the one of its
    seq, whole, and what committed is the next event after that seq."""
    engine = three_waiting
    before = engine.snapshot()
    act = (lambda: engine.issue("HT")) if action == "issue" else (lambda: engine.call_next(2, "clerk-a"))
    done = commit_first(monkeypatch, engine.waits if where == "prepare" else engine, where, act)
    during = engine.snapshot()
    assert done
    assert during["seq"] == during["forecast_seq"] == before["seq"]
    assert during == before  # counts, counters, estimates, calls and alerts: all of that seq
    kind = "ticket_issued" if action == "issue" else "ticket_call"
    assert [(e["seq"], e["type"], e["ticket_id"]) for e in engine.events_after(during["seq"])] == [
        (before["seq"] + 1, kind, done[0]["id"])]
    after = engine.snapshot()
    assert after["seq"] == before["seq"] + 1 and after != before


def test_the_read_of_one_greenlet_does_not_hold_the_reads_of_the_others(three_waiting):
    """Under gevent every greenlet of the loop shares the thread's reader connection: the read
    transaction has a connection of its own, so while one greenlet's snapshot waits (its forecast
    yields), another issues a ticket and finds it, and the first still reads its own state."""
    gevent = pytest.importorskip("gevent")
    from gevent.event import Event
    engine = three_waiting
    seq = engine.last_seq()
    paused, issued = Event(), Event()
    seen: dict = {}

    def reader():
        with engine.store.read():
            seen["conn"] = engine.store.conn()
            seen["first"] = _ht(engine.service_stats())["waiting"]
            paused.set()
            issued.wait()  # yields to the other greenlet, the read transaction open
            seen["then"] = (engine.last_seq(), _ht(engine.service_stats())["waiting"])
        seen["after"] = _ht(engine.service_stats())["waiting"]

    def kiosk():
        paused.wait()
        ticket = engine.issue("HT")
        seen["kiosk_conn"] = engine.store.conn()
        seen["found"] = engine.ticket(ticket["id"])["code"] == ticket["code"]
        seen["kiosk_sees"] = _ht(engine.service_stats())["waiting"]
        issued.set()

    gevent.joinall([gevent.spawn(reader), gevent.spawn(kiosk)], raise_error=True)
    assert seen["found"] and seen["kiosk_sees"] == 4 and seen["kiosk_conn"] is not seen["conn"]
    assert seen["first"] == 3 and seen["then"] == (seq, 3)  # the reader's one state throughout
    assert seen["after"] == 4
    assert not seen["conn"].in_transaction  # the snapshot was let go at the end of the read


def test_a_read_inside_a_write_sees_its_own_rows(engine):
    """``Store.read()`` inside a write transaction reads that transaction (its rows not committed yet)."""
    with engine.store.write() as conn:
        conn.execute("INSERT INTO counters (number, site) VALUES (99, 'main')")
        with engine.store.read() as inner:
            assert inner is conn
            assert inner.execute("SELECT count(*) FROM counters WHERE number = 99").fetchone()[0] == 1
        conn.execute("DELETE FROM counters WHERE number = 99")


def test_no_read_transaction_is_open_while_the_forecast_plays(three_waiting, monkeypatch):
    """The forecast of everyone yields to other greenlets between its paths: a WAL read snapshot
    held across it (every screen's push, every connect) kept the write-ahead log from being
    checkpointed (the demo's grew past 100 MB). Its inputs are read in the snapshot's transaction,
    its paths played after it, with the same figures as a forecast made outside any view."""
    import server.engine.waits as waits
    engine = three_waiting
    outside = engine.waits.all_waiting(engine.store.conn(), "main", engine.roster, engine.clock.now())
    engine.waits._cache.clear()  # the snapshot's forecast is played anew
    real, open_then = waits.forecast, []

    def forecast(*a, **kw):
        open_then.append([c for c in engine.store._all if c.in_transaction])
        return real(*a, **kw)
    monkeypatch.setattr(waits, "forecast", forecast)
    snap = engine.snapshot()
    assert open_then and all(not conns for conns in open_then)
    assert _ht(snap["services"])["estimated_wait_s"] == round(
        engine.waits.new_estimate(outside, "HT", False, engine.clock.now()).wait_s, 1)


def test_a_push_during_a_burst_says_its_estimates_are_of_an_earlier_state(three_waiting, clock):
    """The one deliberate exception: during a burst the live hub's pushes reuse the last forecast of
    everyone (``one_state(reuse_s)``, realtime.FORECAST_EVERY_S). The snapshot's counts are of its
    ``seq``; its ``forecast_seq`` says which earlier state the estimates are of. Without reuse, the
    estimates are of ``seq`` again."""
    engine = three_waiting
    made = engine.snapshot()
    clock.advance(2)
    engine.issue("HT")
    with engine.waits.one_state(reuse_s=5.0) as pin:
        burst = engine.snapshot()
    assert pin.older and burst["seq"] == made["seq"] + 1 and burst["forecast_seq"] == made["seq"]
    assert _ht(burst["services"])["waiting"] == 4  # the counts: of its seq
    with engine.waits.one_state() as pin:
        settled = engine.snapshot()
    assert not pin.older and settled["seq"] == settled["forecast_seq"] == burst["seq"]
    assert _ht(settled["services"])["estimated_wait_range_s"] != _ht(burst["services"])["estimated_wait_range_s"]
