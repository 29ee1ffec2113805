"""Status pages that cannot lie: a citizen's status (its place in line, the people ahead, its
estimate and range, its state) is of one state, the one of the ``seq`` it claims, whatever commits
while it is read (``server/engine/positions.py`` and ``Engine.position``: one read transaction,
the forecast played after).

The status once read its ``seq``, then the ticket, then its queue, then the forecast's inputs, each
as the database was at that statement: a ticket issued or called between them was half in it (the
people ahead of one state with the estimate of another, under a ``seq`` that said neither). The
ticket or call here commits from another thread, just as the forecast starts reading its inputs
(``WaitEstimator.snapshot``), as a kiosk's would."""
from __future__ import annotations

import pytest

from server.realtime_views import citizen_status, citizen_statuses
from tests.commit_during import commit_first


FIGURES = ("people_ahead", "estimated_wait_s", "estimated_wait_range_s", "estimated_wait_text", "state", "counter",
           "seq", "forecast_seq")


@pytest.fixture
def mine(engine, clock):
    """Three waiting for HT, a clerk at counter 2; the citizen watches the third ticket."""
    engine.sign_in(2, "clerk-a")
    ids = []
    for _ in range(3):
        clock.advance(20)
        ids.append(engine.issue("HT")["id"])
    return ids[2]


def _act(engine, action):
    return (lambda: engine.issue("HT", priority=True)) if action == "issue_priority" else \
        (lambda: engine.call_next(2, "clerk-a"))


@pytest.mark.parametrize("action", ["issue_priority", "call"])
@pytest.mark.parametrize("recent", [False, True], ids=["push", "page"])
def test_a_status_read_while_a_ticket_commits_is_the_state_of_its_seq(engine, mine, monkeypatch, action, recent):
    """A priority ticket issued ahead (3 ahead after it) or the first one called (1 ahead after):
    the status read meanwhile is the one of its ``seq``, whole (2 ahead with the estimate of 2
    ahead), and what committed is the next event after that ``seq``."""
    of_state = citizen_statuses(engine, [mine])[mine]  # what a status of that state shows
    assert of_state["people_ahead"] == 2 and of_state["estimated_wait_s"] > 0
    engine.waits._cache.clear()  # nothing at hand: the next status reads the forecast's inputs anew
    done = commit_first(monkeypatch, engine.waits, "snapshot", _act(engine, action))
    during = citizen_status(engine, mine) if recent else citizen_statuses(engine, [mine])[mine]
    assert done
    assert {k: during.get(k) for k in FIGURES} == {k: of_state.get(k) for k in FIGURES}
    assert during["seq"] == during["forecast_seq"]
    kind = "ticket_issued" if action == "issue_priority" else "ticket_call"
    assert [(e["seq"], e["type"], e["ticket_id"]) for e in engine.events_after(during["seq"])] == [
        (during["seq"] + 1, kind, done[0]["id"])]
    after = citizen_statuses(engine, [mine])[mine]
    assert after["seq"] == during["seq"] + 1
    assert after["people_ahead"] == (3 if action == "issue_priority" else 1)
    assert after["estimated_wait_s"] != during["estimated_wait_s"]


def test_each_chunk_of_a_push_is_of_one_state_and_says_its_own_seq(engine, mine, clock):
    """The live hub reads each chunk of phones in its own short read transaction: a ticket issued
    between two chunks is in every place in line of the later chunk and in none of the earlier,
    each chunk says its ``seq``, and both show the push's one forecast (``forecast_seq``) but for a
    ticket that forecast does not know, which gets its own estimate of its chunk's state."""
    from server.engine.positions import Queues
    first = sorted(t["id"] for t in engine.tickets(state="waiting"))
    queues = Queues()
    with engine.waits.one_state():
        early = citizen_statuses(engine, first[:1], queues)
        clock.advance(5)
        late = engine.issue("HT", priority=True)["id"]
        later = citizen_statuses(engine, first[1:] + [late], queues)
    (e,) = early.values()
    assert (e["people_ahead"], e["seq"], e["forecast_seq"]) == (0, e["seq"], e["seq"])
    assert [later[t]["people_ahead"] for t in first[1:]] == [2, 3]  # the priority ticket ahead
    assert {later[t]["seq"] for t in later} == {e["seq"] + 1}
    assert [later[t]["forecast_seq"] for t in first[1:]] == [e["seq"]] * 2  # the push's forecast
    assert later[late]["forecast_seq"] == later[late]["seq"] and later[late]["people_ahead"] == 0
    assert later[late]["estimated_wait_s"] >= 0


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


@pytest.mark.parametrize("action", ["issue_priority", "call"])
def test_engine_position_read_while_a_ticket_commits_is_the_state_of_its_seq(engine, mine, monkeypatch, action):
    """``Engine.position`` (``GET /tickets/<id>``, the status JSON, a kiosk's reprint): the people
    ahead and the estimate of one state, the one of its ``seq``."""
    of_state = engine.position(mine)
    assert of_state["people_ahead_now"] == 2 and of_state["estimated_wait_s"] > 0
    engine.waits._cache.clear()
    done = commit_first(monkeypatch, engine.waits, "snapshot", _act(engine, action))
    during = engine.position(mine)
    assert done
    keys = ("people_ahead_now", "estimated_wait_s", "estimated_wait_range_s", "estimated_wait_text", "state")
    assert {k: during[k] for k in keys} == {k: of_state[k] for k in keys}
    assert during["seq"] == of_state["seq"]
    assert [e["ticket_id"] for e in engine.events_after(during["seq"])] == [done[0]["id"]]
    after = engine.position(mine)
    assert after["seq"] == during["seq"] + 1
    assert after["people_ahead_now"] == (3 if action == "issue_priority" else 1)
    assert after["estimated_wait_s"] != during["estimated_wait_s"]


@pytest.mark.parametrize("url", ["ticket", "status"])
def test_the_rest_answers_read_while_a_ticket_commits_are_the_state_of_their_seq(app, client, monkeypatch, url):
    """``GET /api/v1/tickets/<id>`` (staff) and ``GET /api/v1/status/<token>`` (the QR code's JSON)
    are of one state too, and say their ``seq``: a priority ticket issued while they are read is
    not in their people ahead nor in their estimate."""
    engine = app.extensions["qms"].engine
    auth = app.extensions["qms"].auth
    auth.add_user("lan", "Lan", "clerk", "matkhau-123")
    token = app.test_client().post("/api/v1/auth/login", json={"username": "lan", "password": "matkhau-123"}).json["token"]
    engine.sign_in(2, "clerk-a")
    mine = [engine.issue("HT") for _ in range(3)][2]
    path, ahead = ((f"/api/v1/tickets/{mine['id']}", "people_ahead_now") if url == "ticket"
                   else (f"/api/v1/status/{mine['status_token']}", "people_ahead"))
    get = lambda: client.get(path, headers={"Authorization": f"Bearer {token}"})  # noqa: E731
    of_state = get().json
    engine.waits._cache.clear()
    done = commit_first(monkeypatch, engine.waits, "snapshot", lambda: engine.issue("HT", priority=True))
    r = get()
    assert r.status_code == 200 and done
    during = r.json
    keys = (ahead, "estimated_wait_s", "estimated_wait_range_s", "estimated_wait_text", "state")
    assert {k: during[k] for k in keys} == {k: of_state[k] for k in keys}
    assert during[ahead] == 2
    assert during["seq"] == of_state["seq"]
    assert [e["ticket_id"] for e in engine.events_after(during["seq"])] == [done[0]["id"]]


def test_no_read_transaction_is_open_while_a_status_forecast_plays(engine, mine, monkeypatch, clock):
    """The forecasts of the statuses (everyone's; one ticket's, for ``Engine.position`` and for a
    ticket the push's forecast does not know) are played after their read transaction: their
    paths yield, and a WAL snapshot held across them kept the log from being checkpointed."""
    import threading

    import server.engine.waits as waits
    real, open_then, me = waits.forecast, [], threading.get_ident()

    def forecast(*a, **kw):
        # this test's calls only: another app's pusher left running in this process (an earlier
        # test's) may call the patched forecast meanwhile, while this thread is inside a read
        if threading.get_ident() == me:
            open_then.append((kw.get("only"), [c for c in engine.store._all if c.in_transaction]))
        return real(*a, **kw)
    monkeypatch.setattr(waits, "forecast", forecast)
    engine.waits._cache.clear()
    citizen_statuses(engine, [mine])  # everyone's
    engine.waits._cache.clear()
    engine.position(mine)  # one ticket's
    with engine.waits.one_state():
        citizen_statuses(engine, [mine])
        clock.advance(1)
        late = engine.issue("HT")["id"]
        citizen_statuses(engine, [late])  # one the push's forecast does not know
    assert {only for only, _ in open_then} >= {None, mine, late}
    assert all(not conns for _, conns in open_then)
