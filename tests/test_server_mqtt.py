"""The server's MQTT link against a real Mosquitto, a real engine on a temporary database and
a FakeClock: streams, calls, offline tickets, print results, counter keypads, presence."""
from __future__ import annotations

import threading
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from qms_common import wire
from qms_common.wait_words import wait_range_phrase
from tests.mosquitto_fixture import MqttProbe, require_mosquitto
from tests.server_mqtt_kit import (
    CENTER, DevicesHook, EngineEvents, anon_broker, decoded, request, response, start_link,
)

pytestmark = pytest.mark.broker


@pytest.fixture
def broker(tmp_path):
    require_mosquitto()
    b = anon_broker(tmp_path)
    with b:
        yield b


@pytest.fixture
def port(broker):
    return broker.port(1883)


@pytest.fixture
def devices_hook():
    return DevicesHook()


@pytest.fixture
def link(engine, clock, port, devices_hook):
    lk = start_link(engine, clock, port, on_devices=devices_hook, stream_interval_s=30, silent_after_s=60)
    yield lk
    lk.stop()


@pytest.fixture
def probe(port):
    p = MqttProbe.connect(port, client_id="probe-main")
    yield p
    p.close()


def counter_topic(n: int) -> str:
    return wire.COUNTER_SERVING.topic(center=CENTER, n=n)


def service_topic(code: str) -> str:
    return wire.SERVICE_WAIT.topic(center=CENTER, service=code)


# --- streams ------------------------------------------------------------------------------------

def test_retained_streams_on_change_and_late_subscriber(engine, clock, link, probe, port):
    probe.subscribe(counter_topic(2))
    probe.subscribe(service_topic("HT"))
    # the first full publication (on connect) reaches a subscriber as retained state
    probe.wait(lambda: probe.received(counter_topic(2)) and probe.received(service_topic("HT")), 10,
               "initial retained state")
    engine.sign_in(2, "clerk-a")
    engine.issue("HT")
    engine.issue("HT")
    probe.wait(lambda: any(w.waiting == 2 for w in decoded(probe, service_topic("HT"), wire.SERVICE_WAIT)),
               10, "HT waiting 2")
    called = engine.call_next(2, "clerk-a")
    call_seq = engine.last_seq()

    def serving():
        return [c for c in decoded(probe, counter_topic(2), wire.COUNTER_SERVING) if c.ticket == called["code"]]

    probe.wait(lambda: serving(), 10, "counter 2 serving HT-001")
    c = serving()[-1]
    assert (c.state, c.service, c.call_seq, c.called_at) == ("open", "HT", call_seq, clock.now())
    probe.wait(lambda: decoded(probe, service_topic("HT"), wire.SERVICE_WAIT)[-1].waiting == 1, 10, "HT waiting 1")

    # unchanged state is not re-published on every event, only what changed
    before = len(probe.received(service_topic("CT")))
    assert before == 0  # not subscribed: sanity of the filter
    n_counter = len(probe.received(counter_topic(2)))
    engine.sign_in(3, "clerk-b")  # counter 3 changes, counter 2 does not
    assert link.sync()
    assert len(probe.received(counter_topic(2))) == n_counter

    # a late subscriber gets the current state at once, retained
    late = MqttProbe.connect(port, client_id="probe-late")
    try:
        late.subscribe(counter_topic(2))
        late.subscribe(service_topic("HT"))
        late.wait(lambda: late.received(counter_topic(2)) and late.received(service_topic("HT")), 10, "retained")
        msg = late.received(counter_topic(2))[0]
        assert msg.retain
        assert wire.decode(wire.COUNTER_SERVING, msg.payload).ticket == called["code"]
        wait = late.received(service_topic("HT"))[0]
        assert wait.retain and wire.decode(wire.SERVICE_WAIT, wait.payload).waiting == 1
    finally:
        late.close()

    # at least every stream_interval_s everything is published again (FakeClock)
    clock.advance(31)
    assert link.sync()
    probe.wait(lambda: len(probe.received(counter_topic(2))) > n_counter, 10, "periodic re-publication")
    latest = decoded(probe, service_topic("HT"), wire.SERVICE_WAIT)[-1]
    assert latest.at == clock.now() and latest.longest_wait_s >= 31


def test_service_wait_carries_the_range_citizens_read(engine, clock, link, probe):
    """The wait stream says what the wall display says: the 80% interval and its words."""
    probe.subscribe(service_topic("HT"))
    engine.sign_in(2, "clerk-a")
    for _ in range(4):
        engine.issue("HT")
    engine.call_next(2, "clerk-a")
    assert link.sync()
    stats = next(s for s in engine.service_stats() if s["service"] == "HT")
    low, high = stats["estimated_wait_range_s"]
    assert high > 0, "three people ahead of one counter: the interval is not [0, 0]"

    def latest():
        got = decoded(probe, service_topic("HT"), wire.SERVICE_WAIT)
        return got[-1] if got else None
    # 3 waiting twice: after the third ticket and after the call. The first one's message may still
    # be the last in when the second's is on its way: wait for the message of the state the engine
    # reads now (a stream that never sends it fails here; one message mixing two states is
    # test_mqtt_outbound_consistent.py's)
    probe.wait(lambda: latest() is not None and latest().waiting == 3
               and latest().estimated_wait_range_s == [low, high], 10,
               f"the stream's HT message: 3 waiting, the engine's range {[low, high]}")
    msg = latest()
    assert (msg.estimated_wait_text, msg.estimated_wait_text_en) == wait_range_phrase(low, high)
    assert (msg.estimated_wait_text, msg.estimated_wait_text_en) == (stats["estimated_wait_text"],
                                                                      stats["estimated_wait_text_en"])
    assert msg.estimated_wait_text.startswith(("khoảng", "dưới", "hơn"))


def test_calls_from_two_counters_are_published_in_order(engine, link, probe):
    probe.subscribe(wire.CALL.topic(center=CENTER))
    engine.sign_in(1, "clerk-1")
    engine.sign_in(4, "clerk-4")
    for _ in range(10):
        engine.issue("CT")
        engine.issue("HT")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(counter: int, clerk: str) -> None:
        try:
            barrier.wait(5)
            for _ in range(10):
                t = engine.call_next(counter, clerk)
                engine.start(t["id"], counter, clerk)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(1, "clerk-1")), threading.Thread(target=work, args=(4, "clerk-4"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    calls = [e for e in engine.events_after(0, 10000) if e["type"] == "ticket_call"]
    assert len(calls) == 20
    topic = wire.CALL.topic(center=CENTER)
    probe.wait(lambda: len(probe.received(topic)) >= 20, 15, "20 calls")
    got = decoded(probe, topic, wire.CALL)
    assert [c.seq for c in got] == [e["seq"] for e in calls]  # every call, once, in commit order
    assert {c.counter for c in got} == {1, 4}
    assert all(not m.retain for m in probe.received(topic))
    assert [(c.ticket, c.counter) for c in got] == [(e["data"]["code"], e["counter"]) for e in calls]

    # a recall is a call with recall=true and its own seq
    # counter 1 is serving: "next" finishes that ticket and calls the new one
    engine.issue("CT")
    t = engine.call_next(1, "clerk-1")
    engine.recall(t["id"], 1, "clerk-1")
    probe.wait(lambda: len(probe.received(topic)) >= 22, 10, "call and recall")
    last = decoded(probe, topic, wire.CALL)[-2:]
    assert (last[0].recall, last[1].recall) == (False, True) and last[1].seq > last[0].seq
    assert last[0].ticket == last[1].ticket == t["code"]


# --- kiosk messages --------------------------------------------------------------------------------

def test_offline_ticket_merged_once_despite_duplicate_delivery(engine, clock, link, port):
    block = engine.reserve_block("k1", "HT", 10)
    kiosk = MqttProbe.connect(port, client_id="kiosk-k1")
    try:
        resp_topic = wire.RESPONSE.topic(center=CENTER, cls="kiosk", device="k1")
        kiosk.subscribe(resp_topic)
        offline = wire.OfflineTicket(client_ref="k1-20261123-0001", service="HT", number=block["first"],
                                     day=block["day"], issued_at=clock.now() - 30)
        topic = wire.TICKET_OFFLINE.topic(center=CENTER, device="k1")
        # the same message twice, as a QoS 1 redelivery would bring it
        request(kiosk, topic, offline, response_topic=resp_topic, correlation=b"c-1")
        request(kiosk, topic, offline, response_topic=resp_topic, correlation=b"c-2")
        first, second = response(kiosk, resp_topic, b"c-1"), response(kiosk, resp_topic, b"c-2")
        code = f"HT-{block['first']:03d}"
        assert first.status == second.status == "ok"
        assert first.data["ticket"] == second.data["ticket"] == code
        tickets = [t for t in engine.tickets() if t["client_ref"] == offline.client_ref]
        assert len(tickets) == 1 and tickets[0]["source"] == "offline" and tickets[0]["device"] == "k1"
        assert sum(1 for e in engine.events_after(0) if e["type"] == "ticket_issued") == 1

        # a number outside the kiosk's block is refused with a reason, and nothing is merged
        stray = offline.model_copy(update={"client_ref": "k1-20261123-0002", "number": block["last"] + 5})
        request(kiosk, topic, stray, response_topic=resp_topic, correlation=b"c-3")
        refused = response(kiosk, resp_topic, b"c-3")
        assert refused.status == "error" and "k1" in refused.error and refused.data["reason"] == "forbidden"
        # an answer is sent only to the requester's own response topic
        other = wire.RESPONSE.topic(center=CENTER, cls="kiosk", device="k2")
        kiosk.subscribe(other)
        request(kiosk, topic, offline, response_topic=other, correlation=b"c-4")
        assert link.sync()
        request(kiosk, topic, offline, response_topic=resp_topic, correlation=b"c-5")
        response(kiosk, resp_topic, b"c-5")
        assert kiosk.received(other) == []
    finally:
        kiosk.close()


def test_print_result_marks_ticket_and_reprint_goes_to_the_kiosk(engine, link, port):
    events = EngineEvents(engine)
    ticket = engine.issue("CT", source="kiosk", device="k1")
    kiosk = MqttProbe.connect(port, client_id="kiosk-k1")
    try:
        command_topic = wire.KIOSK_COMMAND.topic(center=CENTER, device="k1")
        kiosk.subscribe(command_topic)
        kiosk.publish(wire.PRINT_RESULT.topic(center=CENTER, device="k1"),
                      wire.encode(wire.PrintResult(ticket_id=ticket["id"], printed=False, fault="printer_no_paper")))
        events.wait(lambda e: e["type"] == "ticket_print_result", what="print result")
        t = engine.ticket(ticket["id"])
        assert (t["printed"], t["print_fault"]) == (0, "printer_no_paper")

        # another kiosk may not report for k1's ticket
        kiosk.publish(wire.PRINT_RESULT.topic(center=CENTER, device="k2"),
                      wire.encode(wire.PrintResult(ticket_id=ticket["id"], printed=True)))
        assert link.sync()
        assert engine.ticket(ticket["id"])["printed"] == 0

        engine.request_reprint(ticket["id"], actor="clerk-a")
        kiosk.wait(lambda: kiosk.received(command_topic), 10, "reprint command")
        cmd = decoded(kiosk, command_topic, wire.KIOSK_COMMAND)[0]
        assert cmd.action == "reprint" and cmd.ticket.ticket_id == ticket["id"] and cmd.ticket.code == "CT-001"
        assert cmd.ticket.status_url == f"{engine.config.center.public_url}/s/{ticket['status_token']}"
        assert cmd.ticket.offline is False

        kiosk.publish(wire.PRINT_RESULT.topic(center=CENTER, device="k1"),
                      wire.encode(wire.PrintResult(ticket_id=ticket["id"], printed=True)))
        events.wait(lambda e: e["type"] == "ticket_print_result" and e["data"]["printed"], what="printed")
        assert engine.ticket(ticket["id"])["printed"] == 1
    finally:
        kiosk.close()


# --- counter keypads -------------------------------------------------------------------------------

def test_counter_device_next_recall_and_refusals(engine, link, port):
    engine.sign_in(5, "clerk-5")
    ticket = engine.issue("DD")
    pad = MqttProbe.connect(port, client_id="counter-5")
    try:
        resp = wire.RESPONSE.topic(center=CENTER, cls="counter", device="counter-5")
        call_topic = wire.CALL.topic(center=CENTER)
        pad.subscribe(resp)
        pad.subscribe(call_topic)
        req = wire.COUNTER_REQUEST.topic(center=CENTER, device="counter-5")

        request(pad, req, wire.CounterRequest(action="next"), response_topic=resp, correlation=b"n1")
        r = response(pad, resp, b"n1")
        assert r.status == "ok" and r.data["ticket"] == ticket["code"] and r.data["state"] == "called"
        t = engine.ticket(ticket["id"])
        assert (t["counter"], t["clerk"], t["state"]) == (5, "clerk-5", "called")

        request(pad, req, wire.CounterRequest(action="recall"), response_topic=resp, correlation=b"r1")
        assert response(pad, resp, b"r1").status == "ok"
        pad.wait(lambda: len(pad.received(call_topic)) >= 2, 10, "call + recall")
        assert [c.recall for c in decoded(pad, call_topic, wire.CALL)] == [False, True]

        # finish while only called: the engine refuses; the keypad gets the reason, nothing changes
        request(pad, req, wire.CounterRequest(action="finish"), response_topic=resp, correlation=b"f1")
        refused = response(pad, resp, b"f1")
        assert refused.status == "error" and refused.data["reason"] == "invalid_transition"
        assert "HT" not in refused.error and ticket["code"] in refused.error
        assert engine.ticket(ticket["id"])["state"] == "called"

        request(pad, req, wire.CounterRequest(action="start"), response_topic=resp, correlation=b"s1")
        assert response(pad, resp, b"s1").data["state"] == "serving"
        request(pad, req, wire.CounterRequest(action="finish"), response_topic=resp, correlation=b"f2")
        assert response(pad, resp, b"f2").data["state"] == "done"
        request(pad, req, wire.CounterRequest(action="next"), response_topic=resp, correlation=b"n2")
        empty = response(pad, resp, b"n2")
        assert empty.status == "ok" and empty.data["ticket"] is None

        # a rating from the keypad goes to the ticket just served
        pad.publish(wire.RATING.topic(center=CENTER, device="counter-5"),
                    wire.encode(wire.Rating(score=4, at=0)))
        assert link.sync()
        rated = [e for e in engine.events_after(0) if e["type"] == "ticket_rated"]
        assert len(rated) == 1 and rated[0]["ticket_id"] == ticket["id"] and rated[0]["data"]["score"] == 4
    finally:
        pad.close()

    # a closed counter and a device bound to no counter are refused, not crashed
    other = MqttProbe.connect(port, client_id="counter-6")
    try:
        for device, corr, reason in (("counter-6", b"x1", "conflict"), ("counter-99", b"x2", "not_found"),
                                     ("keypad-a", b"x3", "not_found")):
            resp = wire.RESPONSE.topic(center=CENTER, cls="counter", device=device)
            other.subscribe(resp)
            request(other, wire.COUNTER_REQUEST.topic(center=CENTER, device=device),
                    wire.CounterRequest(action="next"), response_topic=resp, correlation=corr)
            r = response(other, resp, corr)
            assert r.status == "error" and r.data["reason"] == reason, r
    finally:
        other.close()
    assert link.alive() and link.inbound.stats.failed == 0


# --- presence and the registry ---------------------------------------------------------------------

def test_last_will_flips_presence_and_silent_device_is_flagged(engine, clock, link, port, devices_hook):
    import paho.mqtt.client as mqtt

    avail = wire.AVAILABILITY.topic(center=CENTER, cls="display", device="d1")
    device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="display-d1", protocol=mqtt.MQTTv5)
    device.will_set(avail, wire.OFFLINE, qos=1, retain=True)
    connected = threading.Event()
    device.on_connect = lambda c, u, f, rc, p: connected.set()
    device.connect("127.0.0.1", port, keepalive=10)
    device.loop_start()
    try:
        assert connected.wait(10)
        device.publish(avail, wire.ONLINE, qos=1, retain=True).wait_for_publish(5)
        health = wire.Health(at=clock.now(), uptime_s=5, faults=["printer_paper_low"], printer="paper_low",
                             outbox=3)
        device.publish(wire.HEALTH.topic(center=CENTER, cls="display", device="d1"), wire.encode(health),
                       qos=1, retain=True).wait_for_publish(5)

        def d1(devices):
            return next((d for d in devices if d["id"] == "d1"), None)

        seen = devices_hook.wait(lambda ds: d1(ds) is not None and d1(ds)["online"] and d1(ds)["faults"])
        assert d1(seen)["kind"] == "display" and d1(seen)["health"]["outbox"] == 3
        assert d1(seen)["health"]["printer"] == "paper_low" and d1(seen)["silent"] is False
        assert d1(seen)["last_seen"] == clock.now()
        registry = link.registry

        # nothing heard for longer than device_silent_after_s: flagged silent (timer and list())
        clock.advance(61)
        link.wake()
        flagged = devices_hook.wait(lambda ds: d1(ds) is not None and d1(ds)["silent"])
        assert d1(flagged)["online"] is True
        assert registry.get("display", "d1")["silent"] is True

        # it speaks again: no longer silent
        device.publish(wire.HEALTH.topic(center=CENTER, cls="display", device="d1"),
                       wire.encode(health.model_copy(update={"faults": []})), qos=1).wait_for_publish(5)
        devices_hook.wait(lambda ds: d1(ds) is not None and not d1(ds)["silent"] and not d1(ds)["faults"])

        # the device dies without a goodbye: the broker publishes its last will
        device.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
        gone = devices_hook.wait(lambda ds: d1(ds) is not None and d1(ds)["online"] is False)
        assert d1(gone)["silent"] is False  # offline is not "silent"
        clock.advance(600)
        assert registry.get("display", "d1")["silent"] is False
    finally:
        device.loop_stop()

    # the server itself is online, retained, and says offline when it stops
    watcher = MqttProbe.connect(port, client_id="watcher")
    try:
        own = wire.AVAILABILITY.topic(center=CENTER, cls="server", device="main")
        watcher.subscribe(own)
        watcher.wait(lambda: watcher.received(own), 10, "server availability")
        assert watcher.received(own)[0].payload == b"online" and watcher.received(own)[0].retain
        assert all(d["kind"] != "server" for d in registry.list())
        link.stop()
        watcher.wait(lambda: watcher.received(own)[-1].payload == b"offline", 10, "server offline")
    finally:
        watcher.close()


def test_create_app_starts_and_stops_the_link_only_when_enabled(tmp_path, port, monkeypatch):
    from server.app import create_app
    from server.settings import MqttSettings, ServerSettings

    monkeypatch.setenv("QMS_SECRET_KEY", "test")
    off = create_app(ServerSettings(state_dir=str(tmp_path / "off")))
    assert "qms_mqtt" not in off.extensions and off.extensions["qms_devices"].list() == []

    settings = ServerSettings(state_dir=str(tmp_path / "on"),
                              mqtt=MqttSettings(enabled=True, port=port, username=None, server_id="main"))
    app = create_app(settings)
    link = app.extensions["qms_mqtt"]
    try:
        assert link.connected.wait(10)
        auth = app.extensions["qms"].auth
        auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
        token = auth.login("giamdoc", "matkhau-123")[0]
        client = app.extensions["qms_socketio"].test_client(app, auth={"token": token})
        assert client.is_connected()
        pad = MqttProbe.connect(port, client_id="k9")
        try:
            pad.publish(wire.AVAILABILITY.topic(center=CENTER, cls="kiosk", device="k9"), wire.ONLINE, retain=True)
            events = []
            deadline = time.monotonic() + 10
            while not events and time.monotonic() < deadline:
                link.sync()
                events = [e for e in client.get_received() if e["name"] == "devices"]
            assert events, "no socket.io devices event"
            devices = events[-1]["args"][0]["devices"]
            assert devices[0]["id"] == "k9" and devices[0]["online"] is True
        finally:
            pad.close()
            client.disconnect()
    finally:
        link.stop()
    assert not link.alive()


def test_devices_act_only_on_their_own_tickets(engine, link, port):
    """A keypad rates only its own counter's citizens; a kiosk reports prints only of the
    tickets it issued (not another kiosk's, not one issued at a desk)."""
    engine.sign_in(4, "clerk-4")
    served = engine.issue("HT")
    engine.call_next(4, "clerk-4")
    engine.start(served["id"], 4, "clerk-4")
    engine.finish(served["id"], 4, "clerk-4")
    at_desk = engine.issue("HT", source="clerk", actor="clerk-4")
    pad = MqttProbe.connect(port, client_id="counter-3")
    try:
        resp = wire.RESPONSE.topic(center=CENTER, cls="counter", device="counter-3")
        pad.subscribe(resp)
        request(pad, wire.RATING.topic(center=CENTER, device="counter-3"),
                wire.Rating(ticket=served["code"], score=1, at=0), response_topic=resp, correlation=b"r1")
        r = response(pad, resp, b"r1")
        assert r.status == "error" and r.data["reason"] == "forbidden" and served["code"] in r.error
        kiosk_resp = wire.RESPONSE.topic(center=CENTER, cls="kiosk", device="k2")
        pad.subscribe(kiosk_resp)
        request(pad, wire.PRINT_RESULT.topic(center=CENTER, device="k2"),
                wire.PrintResult(ticket_id=at_desk["id"], printed=False, fault="printer_no_paper"),
                response_topic=kiosk_resp, correlation=b"p1")
        r = response(pad, kiosk_resp, b"p1")
        assert r.status == "error" and r.data["reason"] == "forbidden"
    finally:
        pad.close()
    assert not [e for e in engine.events_after(0) if e["type"] in ("ticket_rated", "ticket_print_result")]
    assert engine.ticket(at_desk["id"])["printed"] is None
