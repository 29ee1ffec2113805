"""Bridges with REAL Mosquitto brokers and the shipped configuration files.

* satellite.conf: a satellite reception point's broker bridged over TLS to the center's
  broker (center.conf). While the center broker is down, a satellite kiosk hands QoS 1
  offline tickets to its local broker; when the center comes back, a persistent-session
  subscriber on the center receives every ticket exactly once and in order. The server's
  answer on the kiosk's ``response`` topic and a ``command`` to it come back to the
  satellite, once, with no loop.
* province.conf: the center's bridge to the province sends only the wait-time stream and
  availability; what the province publishes never enters the center.

No sleeps: every wait is on a received message or a listening port, with a deadline. Only
the bridge's reconnect delay (``restart_timeout``) is shortened to 1 s for the test.
"""
from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import pytest

from qms_common import wire
from tests.mosquitto_fixture import (CENTER, CONF_DIR, Broker, MqttProbe, center_setup, free_port, make_certs,
                                     make_credentials, render_conf, require_mosquitto)

pytestmark = [pytest.mark.broker, pytest.mark.slow]

C = CENTER
N_TICKETS = 40


def satellite_broker(tmp_path, center) -> tuple[Broker, dict[str, str]]:
    """The shipped satellite.conf, bridged to ``center``'s TLS listener as the ``bridge`` user
    ``sat-diem-1`` (which must be among the center's devices)."""
    workdir = tmp_path / "satellite"
    (workdir / "data").mkdir(parents=True)
    shutil.copy(CONF_DIR / "acl", workdir / "acl")
    passwords = {"k9": make_credentials(workdir, "kiosk", "k9")}
    bridge_password = center.passwords["sat-diem-1"]
    ports = {1883: free_port()}
    text = render_conf((CONF_DIR / "satellite.conf").read_text(encoding="utf-8"), ports=ports, options={
        "persistence_location": f"{workdir / 'data'}/",
        "password_file": str(workdir / "passwd"),
        "acl_file": str(workdir / "acl"),
        # The address the test listener is bound to, which the certificate names (IP:127.0.0.1).
        # Not the host name: it may resolve to ::1 first, and Mosquitto 2.0's bridge does not
        # fall back to 127.0.0.1 (tests/test_addresses.py).
        "address": f"127.0.0.1:{center.broker.port(8883)}",
        "bridge_cafile": str(center.certdir / "ca.crt"),
        "remote_password": bridge_password,
        "restart_timeout": "1",
    })
    return Broker(text, workdir, ports, "satellite"), passwords


def ticket(n: int) -> bytes:
    return wire.encode(wire.OfflineTicket(client_ref=f"k9-2026-11-23-{n:05d}", service="HT", number=n,
                                          day="2026-11-23", issued_at=1795400000.0 + n, site="diem-1"))


def test_offline_tickets_cross_the_bridge_after_center_outage(tmp_path):
    require_mosquitto()
    center = center_setup(tmp_path, [("bridge", "sat-diem-1")])
    center.broker.start()
    satellite, sat_passwords = satellite_broker(tmp_path, center)
    satellite.start()
    probes: list[MqttProbe] = []
    try:
        offline_topic = wire.TICKET_OFFLINE.topic(center=C, device="k9")
        # The server's persistent session on the center broker.
        server = MqttProbe.connect(center.broker.port(1883), "server", center.passwords["server"],
                                   client_id="qms-server-main", clean_start=False, session_expiry=3600,
                                   auto_reconnect=True)
        probes.append(server)
        assert not server.refused
        server.subscribe(wire.TICKET_OFFLINE.filter(center=C), qos=1)
        kiosk = MqttProbe.connect(satellite.port(1883), "k9", sat_passwords["k9"], client_id="kiosk-k9",
                                  clean_start=False, session_expiry=3600)
        probes.append(kiosk)
        assert not kiosk.refused
        kiosk.subscribe(wire.RESPONSE.topic(center=C, cls="kiosk", device="k9"))
        kiosk.subscribe(wire.KIOSK_COMMAND.topic(center=C, device="k9"))

        # 1. The bridge is up: a marker crosses it (queued by the satellite until the bridge connects).
        marker = f"qms/{C}/kiosk/k9/health"
        server.subscribe(marker)
        first = wire.encode(wire.Health(at=time.time(), uptime_s=1))
        assert not kiosk.publish(marker, first).is_failure
        try:
            server.wait(lambda: any(m.payload == first for m in server.messages), 15, "the bridge to come up")
        except TimeoutError:
            raise AssertionError(f"bridge not up\n--- satellite\n{satellite.log()[-2000:]}\n--- center\n"
                                 f"{center.broker.log()[-2000:]}") from None

        # 2. The center broker goes down; the kiosk keeps handing tickets to its local broker.
        center.broker.stop()
        server.wait(lambda: server.disconnected.is_set(), 10, "the server client to see the outage")
        for n in range(1, N_TICKETS + 1):
            code = kiosk.publish(offline_topic, ticket(n), qos=1)
            assert not code.is_failure, f"ticket {n}: {code}"  # PUBACK from the satellite broker
        assert not server.received(offline_topic)

        # 3. The center comes back (same ports, same persistence): all tickets arrive.
        center.broker.start()
        end_marker = wire.encode(wire.Health(at=time.time(), uptime_s=2, detail={"end": True}))
        assert not kiosk.publish(marker, end_marker).is_failure
        server.wait(lambda: any(m.payload == end_marker for m in server.messages), 30,
                    f"the tickets and end marker after the center restart\n{satellite.log()[-1500:]}")
        numbers = [wire.decode(wire.TICKET_OFFLINE, m.payload).number for m in server.received(offline_topic)]
        print(f"\ncenter received {len(numbers)} offline tickets after the outage: {numbers[:5]} ... {numbers[-3:]}")
        assert numbers == list(range(1, N_TICKETS + 1)), numbers  # all, once each, in order

        # 4. The server's answer reaches the satellite kiosk once, and is not echoed back.
        server.subscribe(wire.RESPONSE.filter(center=C, cls="kiosk"))
        answer = wire.encode(wire.Response(status="ok", data={"accepted": N_TICKETS}))
        response_topic = wire.RESPONSE.topic(center=C, cls="kiosk", device="k9")
        assert not server.publish(response_topic, answer).is_failure
        command_topic = wire.KIOSK_COMMAND.topic(center=C, device="k9")
        command = wire.encode(wire.KioskCommand(action="reprint", request_id="rq-9", ticket=wire.TicketInfo(
            ticket_id="t-9", code="HT-009", service="HT", priority=False, issued_at=time.time(), people_ahead=0,
            estimated_wait_s=0, status_url="http://qms.local/t/9", offline=True)))
        assert not server.publish(command_topic, command).is_failure
        kiosk.wait(lambda: any(m.payload == command for m in kiosk.messages), 15, "response and command at the satellite")
        # A round trip after it: had the response looped back over the bridge, it would be here.
        done = wire.encode(wire.Health(at=time.time(), uptime_s=3, detail={"done": True}))
        assert not kiosk.publish(marker, done).is_failure
        server.wait(lambda: any(m.payload == done for m in server.messages), 15, "the final marker")
        assert [m.payload for m in kiosk.received(response_topic)] == [answer]
        assert [m.payload for m in server.received(response_topic)] == [answer]
        assert [m.payload for m in kiosk.received(command_topic)] == [command]
    finally:
        for probe in probes:
            probe.close()
        satellite.stop()
        center.broker.stop()


def test_province_bridge_is_read_only(tmp_path):
    require_mosquitto()
    # The province's broker (not ours; a minimal stand-in with TLS and two users).
    pdir = tmp_path / "province"
    (pdir / "data").mkdir(parents=True)
    certs = make_certs(pdir / "certs")
    passwd = pdir / "passwd"
    passwd.touch()
    province_passwords = {"center-phuong-mau": uuid.uuid4().hex, "dashboard": uuid.uuid4().hex}
    for user, password in province_passwords.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True, timeout=30)
    pports = {8883: free_port()}
    province_conf = render_conf("\n".join([
        "per_listener_settings false", f"persistence_location {pdir / 'data'}/", "persistence false",
        "allow_anonymous false", f"password_file {passwd}", "log_dest stderr",
        "listener 8883", f"certfile {certs / 'server.crt'}", f"keyfile {certs / 'server.key'}",
    ]), ports=pports)
    province = Broker(province_conf, pdir, pports, "province")

    center = center_setup(tmp_path, [("kiosk", "k1")])
    (center.workdir / "conf.d" / "province.conf").write_text(render_conf(
        (CONF_DIR / "province.conf").read_text(encoding="utf-8"), ports={}, fragment=True, options={
            "address": f"127.0.0.1:{pports[8883]}",  # as the listener is bound (see satellite_broker)
            "bridge_cafile": str(certs / "ca.crt"),
            "remote_password": province_passwords["center-phuong-mau"],
            "restart_timeout": "1",
        }))
    probes = []
    with province, center.broker:
        dash = MqttProbe.connect(pports[8883], "dashboard", province_passwords["dashboard"],
                                 tls_ca=str(certs / "ca.crt"), host="127.0.0.1")
        probes.append(dash)
        dash.subscribe("qms/#")
        server = MqttProbe.connect(center.broker.port(1883), "server", center.passwords["server"])
        probes.append(server)
        server.subscribe("qms/#")
        kiosk = MqttProbe.connect(center.broker.port(1883), "k1", center.passwords["k1"])
        probes.append(kiosk)
        try:
            wait_topic = wire.SERVICE_WAIT.topic(center=C, service="HT")
            first = wire.encode(wire.ServiceWait(service="HT", waiting=1, longest_wait_s=5, estimated_wait_s=60,
                                                 at=time.time()))
            server.publish(wait_topic, first, retain=True)
            dash.wait(lambda: any(m.topic == wait_topic for m in dash.messages), 15, "the bridge to the province")

            # The province tries to publish a call into the center: it must not get in.
            fake_call = wire.encode(wire.CallEvent(seq=999, ticket="XX-999", counter=1, at=time.time()))
            dash.publish(wire.CALL.topic(center=C), fake_call)
            dash.publish(wait_topic, b'{"forged": true}', retain=True)

            # What leaves the center: wait stream and availability, not health or calls.
            kiosk.publish(wire.HEALTH.topic(center=C, cls="kiosk", device="k1"),
                          wire.encode(wire.Health(at=time.time(), uptime_s=1)))
            server.publish(wire.CALL.topic(center=C), wire.encode(wire.CallEvent(seq=1, ticket="HT-001",
                                                                                 counter=2, at=time.time())))
            kiosk.publish(wire.AVAILABILITY.topic(center=C, cls="kiosk", device="k1"), b"online", retain=True)
            last = wire.encode(wire.ServiceWait(service="HT", waiting=2, longest_wait_s=9, estimated_wait_s=90,
                                                at=time.time()))
            server.publish(wait_topic, last, retain=True)
            dash.wait(lambda: any(m.payload == last for m in dash.messages), 15, "the last wait update")
            at_province = {m.topic.split("/", 2)[2] for m in dash.received()
                           if m.topic.startswith(f"qms/{C}/") and m.payload not in (fake_call, b'{"forged": true}')}
            print(f"\nprovince received topics: {sorted(at_province)}")
            assert "kiosk/k1/availability" in at_province
            assert "server/service/HT" in at_province
            assert "kiosk/k1/health" not in at_province
            assert "server/call" not in at_province
            assert [m.payload for m in dash.received(wire.CALL.topic(center=C))] == [fake_call]  # only its own

            # Nothing from the province reached the center (the last update came after the forgeries).
            server.wait(lambda: any(m.payload == last for m in server.messages), 10, "the server's own update")
            assert not any(m.payload == fake_call for m in server.received())
            assert not any(m.payload == b'{"forged": true}' for m in server.received())
        finally:
            for probe in probes:
                probe.close()
