"""The director's view on MQTT for the province, against a real Mosquitto: the overload flag per
counter and the active alerts (retained), each alert raised and cleared, and the director's
applied changes (``counter_control_*`` events), with a FakeClock and a real engine."""
from __future__ import annotations

import pytest

from qms_common import wire
from server.engine.alerts import RULE
from server.insight.watch import Watch
from tests.mosquitto_fixture import MqttProbe, require_mosquitto
from tests.server_mqtt_kit import CENTER, anon_broker, decoded, start_link

pytestmark = pytest.mark.broker


@pytest.fixture
def port(tmp_path):
    require_mosquitto()
    b = anon_broker(tmp_path)
    with b:
        yield b.port(1883)


@pytest.fixture
def link(engine, clock, port):
    lk = start_link(engine, clock, port, stream_interval_s=30, watch=Watch(engine, clock))
    yield lk
    lk.stop()


@pytest.fixture
def probe(port):
    p = MqttProbe.connect(port, client_id="probe-province")
    yield p
    p.close()


def test_the_overload_flag_is_retained_per_counter(engine, clock, link, probe, port):
    topic = wire.COUNTER_OVERLOAD.topic(center=CENTER, n=4)
    probe.subscribe(topic)
    probe.wait(lambda: any(not m.overloaded for m in decoded(probe, topic, wire.COUNTER_OVERLOAD)), 10,
               "counter 4 not overloaded")
    engine.sign_in(4, "lan")
    for _ in range(3):
        engine.issue("HT")
    clock.advance(2)
    link.wake()
    probe.wait(lambda: any(m.overloaded for m in decoded(probe, topic, wire.COUNTER_OVERLOAD)), 10,
               "counter 4 overloaded")
    flagged = [m for m in decoded(probe, topic, wire.COUNTER_OVERLOAD) if m.overloaded][-1]
    assert [f.kind for f in flagged.flags] == ["cannot_clear"] and flagged.flags[0].service == "HT"
    assert flagged.flags[0].message.startswith("Quầy 4: Hộ tịch còn 3 người chờ")
    late = MqttProbe.connect(port, client_id="probe-late")     # the province connects later
    try:
        late.subscribe(topic)
        late.wait(lambda: late.received(topic), 10, "retained overload")
        assert decoded(late, topic, wire.COUNTER_OVERLOAD)[-1].overloaded
    finally:
        late.close()


def test_alerts_raised_and_cleared_with_the_retained_state(engine, clock, link, probe):
    events, state = wire.ALERT_EVENT.topic(center=CENTER), wire.ALERTS.topic(center=CENTER)
    probe.subscribe(events)
    probe.subscribe(state)
    engine.sign_in(4, "binh")
    tickets = [engine.issue("HT") for _ in range(6)]           # 6 x 8 min at one counter: ~48 min
    link.wake()

    def breach(entry):
        return [m for m in decoded(probe, events, wire.ALERT_EVENT)
                if m.alert.kind == "predicted_breach" and m.alert.service == "HT" and m.event == entry]

    probe.wait(lambda: breach("raised"), 30, "predicted breach raised")
    probe.wait(lambda: any(a.service == "HT" for m in decoded(probe, state, wire.ALERTS) for a in m.alerts), 10,
               "retained alerts with HT")
    raised = breach("raised")[0]
    assert "Hộ tịch" in raised.alert.message and raised.alert.since == raised.at
    clock.advance(120)
    for t in tickets:
        engine.cancel(t["id"], actor="giamdoc", reason="test")
    # the queue is empty: the alert clears once that has lasted the rule's calm time, not at once
    assert any(a["kind"] == "predicted_breach" for a in engine.alerts())
    clock.advance(RULE.clear_after_s)
    link.wake()
    # made in the background after the wake: beside another test worker it took over 10 s once
    probe.wait(lambda: breach("cleared"), 30, "predicted breach cleared")
    cleared = breach("cleared")[0]
    assert cleared.duration_s == pytest.approx(120 + RULE.clear_after_s, abs=2) and cleared.id > raised.id
    probe.wait(lambda: not any(a.kind == "predicted_breach" for a in decoded(probe, state, wire.ALERTS)[-1].alerts),
               10, "retained alerts without the breach")


def test_a_directors_change_goes_to_the_province(engine, clock, link, probe):
    topic = wire.CONTROL_CHANGE.topic(center=CENTER)
    probe.subscribe(topic)
    # the event as the director's controls write it (h-advice: counter_control_applied / _undone)
    written: list[dict] = []
    with engine.store.write() as conn:
        engine._event(conn, written, "counter_control_applied", counter=3, actor="giamdoc", change_id="chg-1",
                      action="set_services", before=["HT", "CT"], after=["CT", "HT"], by="giamdoc")
    engine._emit(written)
    probe.wait(lambda: decoded(probe, topic, wire.CONTROL_CHANGE), 10, "control change")
    (m,) = decoded(probe, topic, wire.CONTROL_CHANGE)
    assert (m.event, m.change_id, m.counter, m.action, m.before, m.after, m.by) == (
        "applied", "chg-1", 3, "set_services", ["HT", "CT"], ["CT", "HT"], "giamdoc")
    assert m.seq == written[0]["seq"]
