"""The live hub over a real server: who may connect, what each gets, bad input refused.

python-socketio clients against tests.live_server.LiveServer (gunicorn, gevent); the
in-process tests at the end use a separate app instance and Flask-SocketIO's test client.
"""
from __future__ import annotations

import queue
import threading

import pytest
import requests
import socketio

from tests.commit_during import issue_during_prepare
from tests.live_server import LiveServer

WAIT = 10  # seconds: every wait below is on an event, this is only the give-up time


class Probe:
    """A socket.io client that records what it receives, by event name."""

    def __init__(self, url: str, auth: dict | None = None, **kwargs) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.queues: dict[str, queue.Queue] = {n: queue.Queue() for n in ("snapshot", "event", "status", "devices")}
        for name, q in self.queues.items():
            self.sio.on(name, q.put)
        self.sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=WAIT, **kwargs)

    def next(self, name: str, timeout: float = WAIT) -> dict:
        return self.queues[name].get(timeout=timeout)

    def wait_for(self, name: str, pred, timeout: float = WAIT) -> dict:
        import time
        deadline = time.monotonic() + timeout
        while True:
            item = self.queues[name].get(timeout=max(0.01, deadline - time.monotonic()))
            if pred(item):
                return item

    def call(self, event: str, *data) -> dict:
        return self.sio.call(event, data[0] if len(data) == 1 else data, timeout=WAIT) if data else \
            self.sio.call(event, timeout=WAIT)

    def close(self) -> None:
        self.sio.disconnect()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("rt")) as server:
        server.tokens = {
            "display": server.add_device("display-main", "display", site="main"),
            "kiosk": server.add_device("kiosk-main", "kiosk", site="main"),
            "clerk": server.add_user("clerk-rt", "clerk"),
            "clerk2": server.add_user("clerk-rt2", "clerk"),
            "director": server.add_user("director-rt", "director"),
        }
        yield server


def _issue(srv, service="HT") -> dict:
    r = requests.post(srv.url + "/api/v1/tickets", json={"service": service}, headers=srv.bearer(srv.tokens["kiosk"]),
                      timeout=WAIT)
    r.raise_for_status()
    return r.json()


def _post(srv, path: str, who: str = "clerk", json: dict | None = None) -> dict:
    r = requests.post(srv.url + "/api/v1" + path, json=json, headers=srv.bearer(srv.tokens[who]), timeout=WAIT)
    assert r.ok, r.text
    return r.json()


def _refused(srv, auth) -> str:
    """Connect and expect a refusal; returns the server's reason."""
    client = socketio.Client(reconnection=False)
    reasons: list = []
    client.on("connect_error", reasons.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(srv.url, auth=auth, transports=["websocket"], wait_timeout=WAIT)
    assert reasons, "no connect_error received"
    return reasons[0]["message"]


def test_display_gets_a_snapshot_with_the_database_sequence(srv):
    probe = Probe(srv.url, auth={"token": srv.tokens["display"]})
    try:
        snap = probe.next("snapshot")
        assert snap["seq"] == requests.get(srv.url + "/healthz", timeout=WAIT).json()["seq"]
        assert snap["site"] == "main"  # from the device registration
        assert {c["site"] for c in snap["counters"]} == {"main"}
        assert snap["client"]["kind"] == "device" and snap["client"]["role"] == "display"
        assert "devices" not in snap  # only directors see the device panel
        t = _issue(srv, "CT")
        ev = probe.wait_for("event", lambda e: e["ticket_id"] == t["id"])
        assert ev["type"] == "ticket_issued" and ev["seq"] > snap["seq"] and ev["data"]["code"] == t["code"]
        pushed = probe.wait_for("snapshot", lambda s: s["seq"] >= ev["seq"])  # the coalesced refresh
        assert next(s for s in pushed["services"] if s["service"] == "CT")["waiting"] >= 1
    finally:
        probe.close()


@pytest.mark.parametrize("auth, why", [
    (None, "no token at all"),
    ({"token": "not-a-real-token-000000"}, "unknown token"),
    ({"token": 12345}, "token of the wrong type"),
    ({"token": "x", "evil": True}, "unknown key"),
    ({"status": "guessed-status-token-0000"}, "guessed citizen token"),
    ({"status": ["list"]}, "citizen token of the wrong type"),
])
def test_connect_refused(srv, auth, why):
    reason = _refused(srv, auth)
    assert "; " in reason and reason.split("; ")[0] != reason.split("; ")[1]  # "Tiếng Việt; English"
    assert requests.get(srv.url + "/healthz", timeout=WAIT).ok, why


def test_connect_refused_for_another_center_or_site(srv):
    assert _refused(srv, {"token": srv.tokens["display"], "center": "phuong-khac"}).startswith("Sai trung tâm")
    _refused(srv, {"token": srv.tokens["display"], "site": "diem-1"})  # registered to main
    _refused(srv, {"token": srv.tokens["clerk"], "site": "nowhere"})
    _refused(srv, {"token": srv.tokens["clerk"], "site": "main", "counters": [21]})  # 21 is at diem-1
    _refused(srv, {"token": srv.tokens["clerk"], "counters": "1,2"})
    log = (srv.state_dir / "server.log").read_text(encoding="utf-8")
    assert "socket connect refused (other center 'phuong-khac')" in log


def test_bad_events_are_refused_logged_and_the_server_keeps_serving(srv):
    probe = Probe(srv.url, auth={"token": srv.tokens["display"]})
    try:
        probe.next("snapshot")
        for payload in ("hello", 42, ["x"], {"seq": -1}, {"seq": "7"}, {"center": "phuong-khac"}, {"what": 1}):
            ack = probe.call("resync", payload)
            assert ack["ok"] is False and ack["error"] == "refused", payload
        assert probe.call("resync")["ok"] is False  # no payload at all
        assert probe.call("subscribe", {"center": "phuong-mau", "site": "diem-1"})["ok"] is False  # bound to main
        assert probe.call("subscribe", {"site": "main", "counters": [999]})["ok"] is False
        assert probe.call("join", {"room": "center:phuong-khac"})["error"] == "unknown_event"
        # the same connection still works, and so does everyone else's
        ack = probe.call("resync", {"center": "phuong-mau", "seq": 0})
        assert ack["ok"] is True
        assert probe.wait_for("snapshot", lambda s: s["seq"] == ack["seq"])
        t = _issue(srv)
        assert probe.wait_for("event", lambda e: e["ticket_id"] == t["id"])
    finally:
        probe.close()
    log = (srv.state_dir / "server.log").read_text(encoding="utf-8")
    assert "refused _on_resync" in log and "unknown event 'join'" in log
    assert requests.get(srv.url + "/healthz", timeout=WAIT).ok


def test_citizen_sees_only_its_own_ticket(srv):
    mine, other = _issue(srv, "KD"), _issue(srv, "KD")
    token = mine["status_url"].rsplit("/", 1)[1]
    phone = Probe(srv.url, auth={"status": token})
    try:
        first = phone.next("status")
        assert first["code"] == mine["code"] and first["state"] == "waiting"
        assert set(first) == {"seq", "forecast_seq", "at", "code", "service", "service_name", "service_name_en", "state", "priority",
                              "issued_at", "people_ahead", "estimated_wait_s", "estimated_wait_range_s",
                              "estimated_wait_text", "estimated_wait_text_en", "counter", "called_at", "waited_s",
                              "recalls"}
        # a range, or (no counter open for KD yet) "may not be served today", never a made-up range
        assert first["estimated_wait_text"].startswith(("dưới", "khoảng", "hơn", "Có thể không kịp"))
        # it may not watch anything else
        assert phone.call("subscribe", {"site": "main"})["ok"] is False
        assert phone.call("resync", {})["ok"] is True
        phone.next("status")
        _post(srv, "/counters/7/sign-in", "clerk2")
        called = _post(srv, "/counters/7/call-next", "clerk2")["ticket"]
        assert called["code"] == mine["code"]  # KD waits only for these two; the first goes first
        st = phone.wait_for("status", lambda s: s["state"] == "called")
        assert st["counter"] == 7
        _post(srv, f"/tickets/{called['id']}/start", "clerk2", {"counter": 7})
        phone.wait_for("status", lambda s: s["state"] == "serving")
        _post(srv, "/counters/7/call-next", "clerk2")  # finishes mine, calls the other one
        phone.wait_for("status", lambda s: s["state"] == "done")
    finally:
        phone.close()
    # a citizen never received a screen event, a snapshot or another ticket
    assert phone.queues["event"].empty() and phone.queues["snapshot"].empty()
    _post(srv, f"/tickets/{other['id']}/no-show", "clerk2", {"counter": 7})
    _post(srv, "/counters/7/sign-out", "clerk2")


def test_events_arrive_once_in_sequence_when_two_counters_call_at_once(srv):
    for _ in range(4):
        _issue(srv, "CT")
        _issue(srv, "HT")
    probe = Probe(srv.url, auth={"token": srv.tokens["director"]})
    try:
        snap = probe.next("snapshot")
        assert snap["devices"] == [] or isinstance(snap["devices"], list)  # a director gets the devices
        _post(srv, "/counters/1/sign-in", "clerk")
        _post(srv, "/counters/4/sign-in", "clerk2")
        start = threading.Barrier(2)
        results: dict[int, dict] = {}

        def call(counter: int, who: str) -> None:
            start.wait()
            for _ in range(3):
                t = _post(srv, f"/counters/{counter}/call-next", who)["ticket"]
                _post(srv, f"/tickets/{t['id']}/start", who, {"counter": counter})
                results.setdefault(counter, []).append(t["code"])

        threads = [threading.Thread(target=call, args=(1, "clerk")), threading.Thread(target=call, args=(4, "clerk2"))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(WAIT * 2)
        last = requests.get(srv.url + "/healthz", timeout=WAIT).json()["seq"]
        seqs = []
        while not seqs or seqs[-1] < last:
            seqs.append(probe.next("event")["seq"])
        assert seqs == list(range(seqs[0], last + 1)), "every event once, in order, no gap"
    finally:
        probe.close()
    assert len(results[1]) == 3 and len(results[4]) == 3


# --- in-process: the hub fills a gap from the event log ----------------------------------------

def test_hub_fills_gaps_from_the_event_log(tmp_path, center, clock):
    from server.app import create_app
    from server.settings import ServerSettings
    from server.engine import Engine

    app = create_app(ServerSettings(state_dir=str(tmp_path)), center=center, clock=clock)  # open hours, any hour
    sio = app.extensions["qms_socketio"]
    services = app.extensions["qms"]
    services.auth.add_device("display-x", "display", site="main")
    token = services.auth.add_device("display-y", "display", site="main")
    client = sio.test_client(app, auth={"token": token})
    assert client.is_connected()
    snap = next(p for p in client.get_received() if p["name"] == "snapshot")["args"][0]
    # another process (here: a second engine on the same database) writes events this hub never hears
    other = Engine(services.engine.store, services.engine.config, services.engine.clock)
    other.issue("HT")
    other.issue("CT")
    services.engine.issue("DD")  # the hub hears this one and sends the two before it first
    events = [p["args"][0] for p in client.get_received() if p["name"] == "event"]
    assert [e["seq"] for e in events] == [snap["seq"] + 1, snap["seq"] + 2, snap["seq"] + 3]
    assert [e["data"]["service"] for e in events] == ["HT", "CT", "DD"]
    client.disconnect()


def _hub_without_pusher(tmp_path, center, clock, monkeypatch):
    """An in-process app whose snapshot pusher never runs by itself: the test pushes."""
    from server.app import create_app
    from server.realtime import Realtime
    from server.settings import ServerSettings
    monkeypatch.setattr(Realtime, "_start_worker", lambda self: None)
    app = create_app(ServerSettings(state_dir=str(tmp_path)), center=center, clock=clock)
    services = app.extensions["qms"]
    return app, app.extensions["qms_socketio"], app.extensions["qms_realtime"], services


def test_a_screen_connecting_gets_the_last_pushed_snapshot_then_every_event_since(tmp_path, center, clock,
                                                                                  monkeypatch):
    """No forecast of everyone per connect: the snapshot the hub pushed last, with its seq, then the
    events broadcast since (from the event log, in order), then the next event as it happens."""
    import server.realtime as realtime
    app, sio, hub, services = _hub_without_pusher(tmp_path, center, clock, monkeypatch)
    engine = services.engine
    token = services.auth.add_device("display-k", "display", site="main")
    first = sio.test_client(app, auth={"token": token})  # a screen watching the view already
    engine.issue("CT")
    hub.push_views(full=True)  # the push after a burst: kept for the next connect
    pushed_seq = engine.last_seq()
    engine.issue("HT")
    engine.issue("CT")  # broadcast to the screens already there; this one is not yet
    made = []
    real = realtime.screen_snapshot
    monkeypatch.setattr(realtime, "screen_snapshot", lambda *a: (made.append(a), real(*a))[1])
    client = sio.test_client(app, auth={"token": token})
    assert client.is_connected() and made == [] and hub.keeper.served == 1
    got = client.get_received()
    assert [p["name"] for p in got] == ["snapshot", "event", "event"]
    snap = got[0]["args"][0]
    assert snap["seq"] == pushed_seq
    assert next(s for s in snap["services"] if s["service"] == "HT")["waiting"] == 0  # the figures of its seq
    assert snap["client"]["id"] == "display-k" and snap["sent_at"] == clock.now()
    assert [(p["args"][0]["seq"], p["args"][0]["data"]["service"]) for p in got[1:]] == [
        (pushed_seq + 1, "HT"), (pushed_seq + 2, "CT")]
    engine.issue("DD")
    assert [(p["name"], p["args"][0]["seq"]) for p in client.get_received()] == [("event", pushed_seq + 3)]
    client.disconnect()
    first.disconnect()


def test_a_kept_snapshot_too_old_or_too_far_behind_is_made_anew(tmp_path, center, clock, monkeypatch):
    from server import realtime_connect
    from server.realtime_connect import MAX_AGE_S, SnapshotKeeper
    app, sio, hub, services = _hub_without_pusher(tmp_path, center, clock, monkeypatch)
    engine = services.engine
    mono = [100.0]
    hub.keeper = SnapshotKeeper(monotonic=lambda: mono[0])
    token = services.auth.add_device("display-o", "display", site="main")
    first = sio.test_client(app, auth={"token": token})
    engine.issue("CT")
    hub.push_views(full=True)
    engine.issue("HT")
    mono[0] += MAX_AGE_S + 1  # no push since: the screens' views are refreshed at least every 30 s
    client = sio.test_client(app, auth={"token": token})
    got = client.get_received()
    assert [p["name"] for p in got] == ["snapshot"] and got[0]["args"][0]["seq"] == engine.last_seq()
    assert hub.keeper.served == 0
    client.disconnect()
    # more events behind than MAX_EVENTS: a fresh one too
    monkeypatch.setattr(realtime_connect, "MAX_EVENTS", 1)
    hub.push_views(full=True)
    engine.issue("CT")
    engine.issue("CT")
    client = sio.test_client(app, auth={"token": token})
    got = client.get_received()
    assert [p["name"] for p in got] == ["snapshot"] and got[0]["args"][0]["seq"] == engine.last_seq()
    client.disconnect()
    first.disconnect()


def test_a_screen_connecting_while_a_ticket_commits_gets_the_state_of_its_seq_then_that_ticket(
        tmp_path, center, clock, monkeypatch):
    """Sockets that cannot lie: a kiosk's ticket commits (another thread) while the connect's fresh
    snapshot is being read, between its counts and its forecast. The screen gets the snapshot of
    one state, the one of its ``seq`` (3 waiting, the estimate of 3: what a screen there got), and
    then that ticket as the event after ``seq``; never the fourth in the snapshot and again as the
    next event, nor 3 waiting with the estimate of 4."""
    app, sio, hub, services = _hub_without_pusher(tmp_path, center, clock, monkeypatch)
    engine = services.engine
    engine.sign_in(2, "clerk-a")
    for _ in range(3):
        engine.issue("HT")
    token = services.auth.add_device("display-c", "display", site="main")
    first = sio.test_client(app, auth={"token": token})  # the view as a screen there sees it now
    of_three = next(p for p in first.get_received() if p["name"] == "snapshot")["args"][0]
    first.disconnect()
    hub.keeper = type(hub.keeper)()  # nothing kept: the next connect reads a fresh snapshot
    issued = issue_during_prepare(engine, monkeypatch)
    client = sio.test_client(app, auth={"token": token})
    got = client.get_received()
    assert issued and [p["name"] for p in got] == ["snapshot", "event"]
    snap, event = got[0]["args"][0], got[1]["args"][0]
    assert snap["seq"] == snap["forecast_seq"] == of_three["seq"]
    ht = next(s for s in snap["services"] if s["service"] == "HT")
    assert ht == next(s for s in of_three["services"] if s["service"] == "HT") and ht["waiting"] == 3
    assert (event["seq"], event["type"], event["ticket_id"]) == (snap["seq"] + 1, "ticket_issued", issued[0]["id"])
    client.disconnect()
