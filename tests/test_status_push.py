"""A citizen's phone is pushed a status only when what its page shows changes (server/realtime.py,
``realtime_views.status_fingerprint``), and the same state always gives the same estimate."""
from __future__ import annotations

import pytest

from server.engine.positions import positions
from server.engine.waits import WaitEstimator
from server.realtime_views import status_fingerprint


def _status(**over) -> dict:
    st = {"seq": 10, "at": 1000.0, "state": "waiting", "people_ahead": 4, "estimated_wait_s": 612.0,
          "estimated_wait_text": "khoảng 5–15 phút", "estimated_wait_text_en": "about 5–15 min",
          "counter": None, "called_at": None, "service": "CT", "recalls": 0, "waited_s": 120.0}
    st.update(over)
    return st


def test_the_fingerprint_counts_the_words_of_the_estimate_not_its_seconds():
    base = status_fingerprint(_status(), 900)
    # sampling noise in the seconds, a later seq and time: the page would show the same
    assert status_fingerprint(_status(estimated_wait_s=655.0, seq=11, at=1002.0), 900) == base
    # what the page shows: each of these changes it
    assert status_fingerprint(_status(estimated_wait_text="khoảng 10–15 phút",
                                      estimated_wait_text_en="about 10–15 min"), 900) != base
    assert status_fingerprint(_status(people_ahead=3), 900) != base
    assert status_fingerprint(_status(state="called", counter=2, called_at=1001.0), 900) != base


def test_past_the_promise_the_minutes_of_the_apology_count():
    """Past 15 minutes of waiting the page apologises with the estimate in whole minutes."""
    late = status_fingerprint(_status(waited_s=950.0, estimated_wait_s=612.0), 900)
    assert status_fingerprint(_status(waited_s=952.0, estimated_wait_s=600.0), 900) == late  # 10 min both
    assert status_fingerprint(_status(waited_s=952.0, estimated_wait_s=545.0), 900) != late  # 9 min
    # crossing the promise is itself a change, so the page gets the minutes it will show
    assert status_fingerprint(_status(waited_s=890.0), 900) != status_fingerprint(_status(waited_s=901.0), 900)


@pytest.fixture
def hub_app(tmp_path, center, clock):
    from server.app import create_app
    from server.settings import ServerSettings
    return create_app(ServerSettings(state_dir=str(tmp_path), password_profile="cheapest-for-tests"),
                      center=center, clock=clock)


def test_a_phone_gets_a_push_only_when_its_page_would_change(hub_app, monkeypatch):
    import server.realtime_push as realtime  # the pusher reads citizen_statuses there
    sio = hub_app.extensions["qms_socketio"]
    hub = hub_app.extensions["qms_realtime"]
    hub._worker = object()  # no pusher thread: this test pushes itself, when it means to
    engine = hub_app.extensions["qms"].engine
    engine.sign_in(1, "clerk-1")
    for _ in range(3):
        engine.issue("CT")
    mine = engine.issue("CT")
    phone = sio.test_client(hub_app, auth={"status": mine["status_token"]})
    assert phone.is_connected()
    first = [p["args"][0] for p in phone.get_received() if p["name"] == "status"]
    assert len(first) == 1 and first[0]["people_ahead"] == 3

    real = realtime.citizen_statuses
    noise = {"s": 0.0, "words": None}

    def noisy(engine, ids, queues=None):  # the forecast's noise: other seconds, maybe other words
        out = real(engine, ids, queues)
        for st in out.values():
            st["estimated_wait_s"] += noise["s"]
            if noise["words"]:
                st["estimated_wait_text"], st["estimated_wait_text_en"] = noise["words"]
        return out

    monkeypatch.setattr(realtime, "citizen_statuses", noisy)
    sent_words = (first[0]["estimated_wait_text"], first[0]["estimated_wait_text_en"])
    for shift in (7.0, -11.0, 20.0):  # the seconds move, the words stay: nothing is sent
        noise["s"] = shift
        hub.push_views(full=True)
        got = [p["args"][0] for p in phone.get_received() if p["name"] == "status"]
        assert got == []
    noise["words"] = ("khoảng 55–60 phút", "about 55–60 min")  # the words change: pushed, once
    assert noise["words"] != sent_words
    hub.push_views(full=True)
    got = [p["args"][0] for p in phone.get_received() if p["name"] == "status"]
    assert [g["estimated_wait_text"] for g in got] == ["khoảng 55–60 phút"]
    hub.push_views(full=True)
    assert [p for p in phone.get_received() if p["name"] == "status"] == []
    engine.call_next(1, "clerk-1")  # one ahead is called: the place in line changes, pushed
    hub.push_views(full=True)
    got = [p["args"][0] for p in phone.get_received() if p["name"] == "status"]
    assert [g["people_ahead"] for g in got] == [2]
    phone.disconnect()


def test_the_same_state_gives_the_same_estimate(engine, clock):
    """Asked again for an unchanged state (a fresh estimator, nothing cached), every waiting
    citizen gets the same figures: the paths are seeded by the state, not by the moment asked."""
    engine.sign_in(1, "clerk-1")
    engine.sign_in(2, "clerk-2")
    ids = []
    for i in range(40):
        clock.advance(20)
        ids.append(engine.issue("CT" if i % 3 else "HT")["id"])
    first = positions(engine, ids)
    engine.waits = WaitEstimator(engine.config)
    again = positions(engine, ids)
    assert {t: (r["estimated_wait_s"], r["estimated_wait_range_s"]) for t, r in first.items()} == \
        {t: (r["estimated_wait_s"], r["estimated_wait_range_s"]) for t, r in again.items()}
    assert len({r["estimated_wait_s"] for r in first.values()}) > 10  # real, different estimates


def test_a_page_just_opened_reads_the_last_push_s_forecast_not_a_new_one(engine, clock, monkeypatch):
    """During a burst each event is a new state: a status page (or a phone's socket) opened then
    reads the last forecast of everyone, as the screens' connect does, instead of forecasting a
    thousand waiting for one citizen (docs/performance.md, section 8); once that forecast is over
    ``PAGE_RECENT_S`` old, the page forecasts the state it sees."""
    from server.engine import waits as waits_mod
    from server.realtime_views import citizen_status
    engine.sign_in(1, "clerk-1")
    ids = []
    for _ in range(5):
        clock.advance(30)
        ids.append(engine.issue("CT")["id"])
    pushed = positions(engine, ids)  # what the last push showed: the forecast of everyone
    clock.advance(2)
    engine.issue("CT")  # another citizen takes a ticket: a new state
    played = []
    real = waits_mod.forecast
    monkeypatch.setattr(waits_mod, "forecast", lambda *a, **k: (played.append(k.get("only")), real(*a, **k))[1])
    status = citizen_status(engine, ids[2])
    assert played == []  # nothing forecast for the page
    assert status["estimated_wait_range_s"] == [max(0.0, round(x - 2, 1)) for x in pushed[ids[2]]["estimated_wait_range_s"]]
    assert status["people_ahead"] == 2  # the place in line is read now, as always
    clock.advance(waits_mod.PAGE_RECENT_S + 1)
    citizen_status(engine, ids[2])
    assert played == [None]  # too old: the state as it is now


def test_during_a_burst_a_phone_gets_its_place_at_once_and_the_latest_estimate_with_the_next_fresh_push(
        hub_app, clock):
    """A push during a burst (``push_views(reuse=True)``: the pusher asks for it within
    ``FORECAST_EVERY_S`` of its last fresh forecast) reads the last forecast of everyone: the
    phone's place in line is the queue's now, the hub marks that it showed an earlier state's
    estimates (so that its pusher pushes the latest one's next), and a push without reuse gives
    the estimate a fresh hub would give."""
    hub = hub_app.extensions["qms_realtime"]
    hub._worker = object()  # no pusher thread: this test pushes itself
    sio = hub_app.extensions["qms_socketio"]
    engine = hub_app.extensions["qms"].engine
    engine.sign_in(1, "clerk-1")
    for _ in range(3):
        clock.advance(30)
        engine.issue("CT")
    clock.advance(30)
    mine = engine.issue("CT")
    phone = sio.test_client(hub_app, auth={"status": mine["status_token"]})
    hub.push_views(full=True)  # the latest state's forecast
    assert not hub._reused
    phone.get_received()
    engine.call_next(1, "clerk-1")
    hub.push_views(full=True, reuse=True)
    got = [p["args"][0] for p in phone.get_received() if p["name"] == "status"]
    assert [g["people_ahead"] for g in got] == [2]  # the place in line: now
    assert hub._reused  # the estimate: the forecast made before the call
    hub._status_sent.clear()  # so that the next push is sent whatever it shows
    hub.push_views(full=True)
    got = [p["args"][0] for p in phone.get_received() if p["name"] == "status"]
    assert not hub._reused and [g["people_ahead"] for g in got] == [2]
    assert got[0]["estimated_wait_s"] == engine.position(mine["id"])["estimated_wait_s"]
    phone.disconnect()
