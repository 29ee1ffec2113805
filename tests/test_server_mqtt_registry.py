"""The device registry on its own (FakeClock), and the whole server in a subprocess with MQTT
enabled against the shipped Mosquitto configuration and ACL."""
from __future__ import annotations

import pytest
import requests

from qms_common import wire
from qms_common.clock import FakeClock
from server.devices import DeviceRegistry, Registrations
from tests.conftest import MONDAY_9AM


def health(**kw) -> wire.Health:
    return wire.Health(at=MONDAY_9AM, uptime_s=1, **kw)


def test_registry_names_devices_as_registered():
    clock = FakeClock(MONDAY_9AM)
    rows = [{"id": "kiosk-hall", "kind": "kiosk", "name": "Ki-ốt sảnh chính", "site": "main"}]
    loads: list[int] = []

    def load() -> list[dict]:
        loads.append(1)
        return list(rows)

    reg = DeviceRegistry(clock, describe=Registrations(load, clock, ttl_s=30))
    reg.health("kiosk", "kiosk-hall", health(faults=["printer_stuck"], printer="error"))
    assert (reg.get("kiosk", "kiosk-hall")["name"], reg.get("kiosk", "kiosk-hall")["site"]) == ("Ki-ốt sảnh chính", "main")
    # a device registered a moment ago is looked up again (at most once a second), not after the TTL
    rows.append({"id": "kiosk-2", "kind": "kiosk", "name": "Ki-ốt tầng 2", "site": None})
    reg.presence("kiosk", "kiosk-2", True)
    assert reg.get("kiosk", "kiosk-2")["name"] == "kiosk-2" and len(loads) == 1
    clock.advance(1.5)
    assert reg.get("kiosk", "kiosk-2")["name"] == "Ki-ốt tầng 2" and len(loads) == 2
    # an unregistered device is listed by its id
    reg.presence("display", "d9", True)
    assert reg.get("display", "d9")["name"] == "d9"


def test_registry_presence_health_silence_and_change_notifications():
    clock = FakeClock(MONDAY_9AM)
    changes: list[int] = []
    reg = DeviceRegistry(clock, silent_after_s=60, on_change=lambda: changes.append(1))
    reg.presence("kiosk", "k1", True)
    reg.health("kiosk", "k1", health(faults=["printer_no_paper"], printer="no_paper", outbox=2, battery_pct=None))
    assert len(changes) == 2
    [k1] = reg.list()
    assert k1 == {"id": "k1", "kind": "kiosk", "name": "k1", "site": None, "online": True, "last_seen": MONDAY_9AM,
                  "faults": ["printer_no_paper"], "silent": False,
                  "health": {"at": MONDAY_9AM, "uptime_s": 1.0, "printer": "no_paper", "outbox": 2}}
    # the same health again (only its clock moved): no change to announce
    clock.advance(10)
    reg.health("kiosk", "k1", health(faults=["printer_no_paper"], printer="no_paper", outbox=2))
    assert len(changes) == 2 and reg.get("kiosk", "k1")["last_seen"] == MONDAY_9AM + 10

    clock.advance(60)
    assert reg.get("kiosk", "k1")["silent"] is False  # exactly at the threshold: not yet
    clock.advance(1)
    assert reg.list()[0]["silent"] is True and len(changes) == 3
    assert reg.check_silent() is False  # no flip twice

    reg.seen("kiosk", "k1")  # any message is a sign of life
    assert reg.get("kiosk", "k1")["silent"] is False

    # a retained message delivered after a restart makes a device known but is not a sign of life
    reg.presence("display", "d9", True, retained=True)
    clock.advance(30)
    reg.health("display", "d9", health(), retained=True)
    d9 = reg.get("display", "d9")
    assert d9["last_seen"] == MONDAY_9AM + 71
    clock.advance(31)
    assert reg.get("display", "d9")["silent"] is True

    # offline is not silent; robots' telemetry lands in health; ordering is by (kind, id)
    reg.presence("display", "d9", False)
    assert reg.get("display", "d9")["silent"] is False
    reg.robot_telemetry("r1", wire.RobotTelemetry(state="fault", battery_pct=12, at=0))
    assert reg.get("robot", "r1")["faults"] == ["robot_fault"] and reg.get("robot", "r1")["health"]["battery_pct"] == 12
    reg.robot_telemetry("r1", wire.RobotTelemetry(state="idle", battery_pct=12, at=0))
    assert reg.get("robot", "r1")["faults"] == []
    assert [(d["kind"], d["id"]) for d in reg.list()] == [("display", "d9"), ("kiosk", "k1"), ("robot", "r1")]
    assert reg.forget("robot", "r1") and reg.get("robot", "r1") is None


@pytest.mark.broker
def test_live_server_with_mqtt_and_the_shipped_acl(tmp_path):
    """gunicorn + create_app with [mqtt] enabled, the shipped center.conf and ACL, device users."""
    from tests.live_server import LiveServer
    from tests.mosquitto_fixture import MqttProbe, center_setup
    from tests.server_mqtt_kit import CENTER, request, response

    setup = center_setup(tmp_path, devices=[("kiosk", "k1"), ("counter", "counter-2"), ("display", "d1")], tls=False)
    (tmp_path / "mqtt-password").write_text(setup.passwords["server"] + "\n")
    with setup.broker:
        port = setup.broker.port(1883)
        extra = (f'[mqtt]\nenabled = true\nport = {port}\nusername = "server"\n'
                 f'password_file = "{tmp_path / "mqtt-password"}"\nstream_interval_s = 5\n')
        display = MqttProbe.connect(port, "d1", setup.passwords["d1"], client_id="d1")
        pad = MqttProbe.connect(port, "counter-2", setup.passwords["counter-2"], client_id="counter-2")
        try:
            assert not display.refused and not pad.refused
            own = wire.AVAILABILITY.topic(center=CENTER, cls="server", device="main")
            wait_ht = wire.SERVICE_WAIT.topic(center=CENTER, service="HT")
            call = wire.CALL.topic(center=CENTER)
            for topic in (own, wait_ht, call):
                display.subscribe(topic)
            resp = wire.RESPONSE.topic(center=CENTER, cls="counter", device="counter-2")
            pad.subscribe(resp)
            with LiveServer(tmp_path / "srv", settings_extra=extra) as srv:
                display.wait(lambda: any(m.payload == b"online" for m in display.received(own)), 20, "server online")
                kiosk = srv.add_device("k1", "kiosk")
                clerk = srv.add_user("clerk-a")
                r = requests.post(srv.url + "/api/v1/tickets", json={"service": "HT"}, headers=srv.bearer(kiosk),
                                  timeout=10)
                assert r.status_code == 201, r.text
                code = r.json()["code"]
                display.wait(lambda: any(wire.decode(wire.SERVICE_WAIT, m.payload).waiting == 1
                                         for m in display.received(wait_ht)), 20, "HT waiting 1")
                signed = requests.post(srv.url + "/api/v1/counters/2/sign-in", headers=srv.bearer(clerk), timeout=10)
                assert signed.ok, signed.text
                request(pad, wire.COUNTER_REQUEST.topic(center=CENTER, device="counter-2"),
                        wire.CounterRequest(action="next"), response_topic=resp, correlation=b"live-1")
                answer = response(pad, resp, b"live-1", timeout=20)
                assert answer.status == "ok" and answer.data["ticket"] == code, answer
                display.wait(lambda: display.received(call), 20, "call")
                assert wire.decode(wire.CALL, display.received(call)[-1].payload).ticket == code
            # stopped: the server said goodbye (or the broker said it for it)
            display.wait(lambda: display.received(own)[-1].payload == b"offline", 20, "server offline")
        finally:
            display.close()
            pad.close()
