"""Status pages that cannot lie: a citizen's status (its place in line, the people ahead, its
estimate and range, its state) is of one state, the one of the ``seq`` it claims, whatever commits
while it is read (``server/engine/positions.py``: one read transaction, the forecast played after).

The status once read its ``seq``, then the ticket, then its queue, then the forecast's inputs, each
as the database was at that statement: a ticket issued or called between them was half in it (the
people ahead of one state with the estimate of another, under a ``seq`` that said neither). The
ticket or call here commits from another thread, just as the forecast starts reading its inputs
(``WaitEstimator.snapshot``), as a kiosk's would."""
from __future__ import annotations

import threading

import pytest

from server.realtime_views import citizen_status, citizen_statuses


def _from_another_thread(fn):
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def _inject(monkeypatch, engine, action, done: list) -> None:
    """When the forecast first reads its inputs, ``action`` commits first, on another thread."""
    real = engine.waits.snapshot

    def wrapped(*a, **kw):
        if not done:
            done.append(None)  # the action's own forecast (an issue's estimate) reads inputs too
            done[0] = _from_another_thread(action)
        return real(*a, **kw)
    monkeypatch.setattr(engine.waits, "snapshot", wrapped)


FIGURES = ("seq", "forecast_seq", "state", "people_ahead", "estimated_wait_s", "estimated_wait_range_s",
           "estimated_wait_text", "counter")


@pytest.fixture
def mine(engine, clock):
    """Three waiting for HT, a clerk at counter 2; the citizen watches the third ticket."""
    engine.sign_in(2, "clerk-a")
    ids = []
    for _ in range(3):
        clock.advance(20)
        ids.append(engine.issue("HT")["id"])
    return ids[2]


@pytest.mark.parametrize("action", ["issue_priority", "call"])
@pytest.mark.parametrize("recent", [False, True], ids=["push", "page"])
def test_a_status_read_while_a_ticket_commits_is_the_state_of_its_seq(engine, mine, monkeypatch, action, recent):
    """A priority ticket issued ahead (3 ahead after it) or the first one called (1 ahead after):
    the status read meanwhile is the one of its ``seq``, whole (2 ahead with the estimate of 2
    ahead), and what committed is the next event after that ``seq``."""
    of_state = citizen_statuses(engine, [mine])[mine]  # what a status of that state shows
    assert of_state["people_ahead"] == 2 and of_state["estimated_wait_s"] > 0
    engine.waits._cache.clear()  # nothing at hand: the next status reads the forecast's inputs anew
    done: list = []
    act = ((lambda: engine.issue("HT", priority=True)) if action == "issue_priority"
           else (lambda: engine.call_next(2, "clerk-a")))
    _inject(monkeypatch, engine, act, done)
    during = citizen_status(engine, mine) if recent else citizen_statuses(engine, [mine])[mine]
    assert done
    assert {k: during[k] for k in FIGURES} == {k: of_state[k] for k in FIGURES}
    assert during["seq"] == during["forecast_seq"]
    kind = "ticket_issued" if action == "issue_priority" else "ticket_call"
    assert [(e["seq"], e["type"], e["ticket_id"]) for e in engine.events_after(during["seq"])] == [
        (during["seq"] + 1, kind, done[0]["id"])]
    after = citizen_statuses(engine, [mine])[mine]
    assert after["seq"] == during["seq"] + 1
    assert after["people_ahead"] == (3 if action == "issue_priority" else 1)
    assert after["estimated_wait_s"] != during["estimated_wait_s"]


def test_a_page_reading_the_last_forecast_says_which_state_its_estimate_is_of(engine, mine, clock):
    """A page just opened reads the last forecast of everyone while recent (not a new one per page
    during a burst): its places in line are of its ``seq``, its estimate of ``forecast_seq``, and
    a ticket that forecast does not know gets its own estimate of ``seq``."""
    made = citizen_statuses(engine, [mine])[mine]
    clock.advance(1)
    late = engine.issue("HT")["id"]  # the state moves on; the forecast at hand does not know it
    clock.advance(2)
    page = citizen_status(engine, mine)
    assert page["seq"] == made["seq"] + 1 and page["forecast_seq"] == made["seq"]
    assert page["people_ahead"] == 2
    assert page["estimated_wait_s"] == round(max(0.0, made["estimated_wait_s"] - 3), 1)  # that forecast's, 3 s later
    other = citizen_status(engine, late)
    assert other["seq"] == other["forecast_seq"] == page["seq"]
    assert other["people_ahead"] == 3 and other["estimated_wait_s"] > 0


def test_the_rest_status_read_while_a_ticket_commits_is_the_state_of_its_seq(app, client, monkeypatch):
    """``GET /api/v1/status/<token>`` (the QR code's JSON) is of one state too, and says its ``seq``:
    a priority ticket issued while it is read is not in its people ahead nor in its estimate."""
    engine = app.extensions["qms"].engine
    engine.sign_in(2, "clerk-a")
    mine = [engine.issue("HT") for _ in range(3)][2]
    url = f"/api/v1/status/{mine['status_token']}"
    of_state = client.get(url).json
    engine.waits._cache.clear()
    done: list = []
    _inject(monkeypatch, engine, lambda: engine.issue("HT", priority=True), done)
    during = client.get(url).json
    assert done
    keys = ("seq", "forecast_seq", "state", "people_ahead", "estimated_wait_s", "estimated_wait_range_s",
            "estimated_wait_text")
    assert {k: during[k] for k in keys} == {k: of_state[k] for k in keys}
    assert during["seq"] == during["forecast_seq"] and during["people_ahead"] == 2
    assert [e["ticket_id"] for e in engine.events_after(during["seq"])] == [done[0]["id"]]
