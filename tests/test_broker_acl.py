"""The shipped broker configuration (center.conf + acl + make-device-credentials) enforced
by a REAL Mosquitto: authentication, the per-device ACL, the TLS listener.

How a forbidden publish is shown not to be delivered, without sleeping: Mosquitto 2 drops
an unauthorised PUBLISH (QoS 1 gets a PUBACK with reason 0x87 "Not authorized" under MQTT v5,
QoS 0 gets nothing). Right after it, the same client publishes a marker on a topic it may use.
A broker delivers one client's messages to a subscriber in order, so once the marker has
reached the ``server`` user's ``qms/#`` subscription, the forbidden message would have
arrived before it had it been let through. Reads are checked the same way: the server
publishes to every device's own ``response`` topic last, and each device's received list is
inspected once that marker has arrived.

Run with ``-s`` to see the outcome table.
"""
from __future__ import annotations

import ssl
import subprocess
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from qms_common import wire
from tests.mosquitto_fixture import (CENTER, MAKE_CREDENTIALS, MqttProbe, center_setup, reason_name,
                                     require_mosquitto)

pytestmark = pytest.mark.broker

C = CENTER
DEVICES = [("kiosk", "k1"), ("kiosk", "k2"), ("display", "d1"), ("announcer", "a1"),
           ("counter", "c1"), ("robot", "r1"), ("robot", "r2")]
ROWS: list[tuple[str, str, str, str, str, str, str]] = []


def row(actor, action, topic, expected, code, delivered, ok) -> None:
    ROWS.append((actor, action, topic, expected, code, delivered, "ok" if ok else "FAIL"))


def print_table(title: str, rows) -> None:
    head = ("actor", "action", "topic", "expected", "broker answer", "delivered", "result")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print(f"\n{title}")
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)))


@pytest.fixture(scope="module")
def center(tmp_path_factory):
    require_mosquitto()
    setup = center_setup(tmp_path_factory.mktemp("acl"), DEVICES)
    setup.broker.start()
    yield setup
    setup.broker.stop()


def _connect(setup, user, password=None, **kw) -> MqttProbe:
    port = setup.broker.port(1883)
    return MqttProbe.connect(port, user, setup.passwords.get(user) if password is None else password, **kw)


def call_payload(seq=1) -> bytes:
    return wire.encode(wire.CallEvent(seq=seq, ticket="HT-042", counter=5, at=time.time()))


def offline_payload(n=1) -> bytes:
    return wire.encode(wire.OfflineTicket(client_ref=f"k1-{uuid.uuid4().hex[:12]}", service="HT", number=n,
                                          day="2026-11-23", issued_at=time.time()))


def health_payload() -> bytes:
    return wire.encode(wire.Health(at=time.time(), uptime_s=12.0))


def test_acl_matrix(center):
    """Connections, publishes and reads of every device class, printed as a table."""
    ROWS.clear()
    failures: list[str] = []
    port = center.broker.port(1883)

    # --- connecting ------------------------------------------------------------------------
    for actor, user, password, expect_ok in [
        ("anonymous", None, None, False),
        ("k1, wrong password", "k1", "not-the-password", False),
        ("unknown user", "intruder", "whatever", False),
        ("k1, its password", "k1", None, True),
    ]:
        probe = MqttProbe.connect(port, user, center.passwords.get(user) if password is None and user else password)
        ok = probe.refused != expect_ok
        row(actor, "CONNECT", "-", "accepted" if expect_ok else "refused", reason_name(probe.connack), "-", ok)
        if not ok:
            failures.append(f"connect {actor}: {reason_name(probe.connack)}")
        probe.close()

    # --- publishing ------------------------------------------------------------------------
    server = _connect(center, "server")
    assert not server.refused
    server.subscribe("qms/#")
    devices = {dev: _connect(center, dev) for _cls, dev in DEVICES}
    for dev, probe in devices.items():
        assert not probe.refused, f"{dev}: {reason_name(probe.connack)}"

    own_marker = {"k1": f"qms/{C}/kiosk/k1/health", "d1": f"qms/{C}/display/d1/health",
                  "c1": f"qms/{C}/counter/c1/health", "r1": f"qms/{C}/robot/r1/health",
                  "server": f"qms/{C}/server/main/health"}
    cases = [  # (publisher, topic, payload, qos, retain, allowed)
        ("k1", f"qms/{C}/kiosk/k1/availability", b"online", 1, True, True),
        ("k1", f"qms/{C}/kiosk/k1/health", health_payload(), 1, True, True),
        ("k1", f"qms/{C}/kiosk/k1/ticket/offline", offline_payload(), 1, False, True),
        ("k1", f"qms/{C}/server/call", call_payload(), 1, False, False),
        ("k1", f"qms/{C}/server/call", call_payload(2), 0, False, False),
        ("k1", f"qms/{C}/server/counter/5", b"{}", 1, True, False),
        ("k1", f"qms/{C}/server/service/HT", b"{}", 1, True, False),
        ("k1", f"qms/{C}/kiosk/k2/ticket/offline", offline_payload(2), 1, False, False),
        ("k1", f"qms/{C}/kiosk/k2/availability", b"offline", 1, True, False),
        ("k1", f"qms/{C}/display/k1/health", health_payload(), 1, False, False),
        ("k1", f"qms/other-center/kiosk/k1/health", health_payload(), 1, False, False),
        ("d1", f"qms/{C}/display/d1/availability", b"online", 1, True, True),
        ("d1", f"qms/{C}/server/call", call_payload(3), 1, False, False),
        ("c1", f"qms/{C}/counter/c1/request", b'{"v":1,"action":"next"}', 1, False, True),
        ("c1", f"qms/{C}/server/counter/1", b"{}", 1, True, False),
        ("r1", f"qms/{C}/robot/r1/telemetry", b"{}", 1, True, True),
        ("r1", f"qms/{C}/robot/r2/command", b"{}", 1, False, False),
        ("server", f"qms/{C}/server/call", call_payload(4), 1, False, True),
    ]
    for publisher, topic, payload, qos, retain, allowed in cases:
        client = server if publisher == "server" else devices[publisher]
        body = b'{"unique":"%s"}' % uuid.uuid4().hex.encode() if payload == b"{}" else payload
        code = client.publish(topic, body, qos=qos, retain=retain)
        marker = uuid.uuid4().hex.encode()
        client.publish(own_marker[publisher], marker, qos=1)
        server.wait(lambda: any(m.payload == marker for m in server.messages), 10, f"marker after {topic}")
        delivered = any(m.topic == topic and m.payload == body for m in server.received())
        puback_ok = (qos == 0 or (code is not None and code.is_failure != allowed))
        ok = delivered == allowed and puback_ok
        row(publisher, f"PUBLISH q{qos}{' r' if retain else ''}", topic, "allowed" if allowed else "denied",
            reason_name(code) if qos else "(QoS 0: no PUBACK)", "yes" if delivered else "no", ok)
        if not ok:
            failures.append(f"{publisher} -> {topic}: puback {reason_name(code)}, delivered={delivered}")

    # --- reading ---------------------------------------------------------------------------
    for probe in devices.values():
        probe.subscribe("qms/#")  # granted; what a device may read is filtered per message
    sent = {
        "service wait": (f"qms/{C}/server/service/HT",
                         wire.encode(wire.ServiceWait(service="HT", waiting=3, longest_wait_s=60,
                                                      estimated_wait_s=300, at=time.time()))),
        "call": (f"qms/{C}/server/call", call_payload(5)),
        "counter serving": (f"qms/{C}/server/counter/5",
                            wire.encode(wire.CounterServing(counter=5, state="open", ticket="HT-042"))),
        "k1's response": (f"qms/{C}/kiosk/k1/response", wire.encode(wire.Response(status="ok"))),
        "k2's response": (f"qms/{C}/kiosk/k2/response", wire.encode(wire.Response(status="ok"))),
        "k1's command": (f"qms/{C}/kiosk/k1/command", wire.encode(wire.KioskCommand(
            action="reprint", request_id="rq-1", ticket=wire.TicketInfo(
                ticket_id="t-1", code="HT-042", service="HT", priority=False, issued_at=time.time(),
                people_ahead=2, estimated_wait_s=600, status_url="http://qms.local/t/1")))),
        "r1's command": (f"qms/{C}/robot/r1/command",
                         wire.encode(wire.RobotCommand(task_id="t1", action="greet"))),
        "k1's health": (f"qms/{C}/kiosk/k1/health", health_payload()),  # k1 may read its own
    }
    for _name, (topic, payload) in sent.items():
        assert not server.publish(topic, payload).is_failure
    markers = {}
    for (cls, dev) in DEVICES:
        markers[dev] = uuid.uuid4().hex.encode()
        server.publish(f"qms/{C}/{cls}/{dev}/response", markers[dev])
    may_read = {
        "k1": {"service wait", "k1's response", "k1's command", "k1's health"},
        "k2": {"service wait", "k2's response"},
        "d1": {"service wait", "call", "counter serving"},
        "a1": {"service wait", "call", "counter serving"},
        "c1": {"call", "counter serving"},
        "r1": {"r1's command"},
        "r2": set(),
    }
    for dev, probe in devices.items():
        probe.wait(lambda: any(m.payload == markers[dev] for m in probe.messages), 10, f"marker for {dev}")
        got = {name for name, (topic, payload) in sent.items()
               if any(m.topic == topic and m.payload == payload for m in probe.received())}
        for name, (topic, _payload) in sent.items():
            expected = name in may_read[dev]
            ok = (name in got) == expected
            interesting = {"call", "r1's command"} | ({"k2's response"} if dev == "k1" else set())
            if expected or name in interesting or not ok:  # keep the printed table short
                row(dev, "RECEIVE", topic, "allowed" if expected else "denied", "-",
                    "yes" if name in got else "no", ok)
            if not ok:
                failures.append(f"{dev} read {name}: got={name in got}, expected={expected}")

    for probe in [server, *devices.values()]:
        probe.close()
    print_table("ACL test (real Mosquitto 2, shipped center.conf + acl + make-device-credentials):", ROWS)
    assert not failures, "\n".join(failures)


def test_tls_listener_with_generated_ca(center):
    """The 8883 listener serves the certificate made by make-certs; a client trusting the
    generated CA connects (as k1) and its publish reaches the server on the plain listener."""
    assert center.certdir is not None
    ca = str(center.certdir / "ca.crt")
    server = _connect(center, "server")
    server.subscribe(f"qms/{C}/kiosk/+/health")
    for host in ("localhost", "127.0.0.1"):  # both names are in the certificate
        tls = MqttProbe.connect(center.broker.port(8883), "k1", center.passwords["k1"], tls_ca=ca, host=host)
        assert not tls.refused, reason_name(tls.connack)
        cipher = tls.client.socket().cipher()
        body = health_payload()
        assert not tls.publish(f"qms/{C}/kiosk/k1/health", body).is_failure
        server.wait(lambda: any(m.payload == body for m in server.messages), 10, "TLS publish at the server")
        print(f"\nTLS {host}:{center.broker.port(8883)} OK, cipher {cipher[0]} {cipher[1]}")
        tls.close()
    server.close()

    # Without the generated CA the certificate is not trusted.
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="untrusted", protocol=mqtt.MQTTv5)
    client.tls_set()  # system CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect("127.0.0.1", center.broker.port(8883))


def test_reload_picks_up_a_new_device(center):
    """make-device-credentials on a running broker + SIGHUP (what `systemctl reload` sends)."""
    password = center.add_device("kiosk", "k-new")
    center.broker.reload()
    deadline = time.monotonic() + 10
    while True:  # each attempt is a real CONNECT; the reload is asynchronous
        probe = MqttProbe.connect(center.broker.port(1883), "k-new", password)
        if not probe.refused:
            break
        probe.close()
        assert time.monotonic() < deadline, f"k-new still refused after reload:\n{center.broker.log()[-2000:]}"
    assert not probe.publish(f"qms/{C}/kiosk/k-new/availability", b"online", retain=True).is_failure
    assert probe.publish(f"qms/{C}/kiosk/k1/availability", b"offline", retain=True).is_failure
    probe.close()


@pytest.mark.parametrize("args, message", [
    (["kiosk", "k/1"], "invalid device id"),
    (["kiosk", "#"], "invalid device id"),
    (["kiosk", "kiosk+1"], "invalid device id"),
    (["kiosk", "Quầy-1"], "invalid device id"),
    (["kiosk", "x" * 41], "invalid device id"),
    (["kiosk", ""], "invalid device id"),
    (["kiosk", "server"], "reserved"),
    (["display", "k1"], "already registered as a kiosk"),
    (["--center", "bad/center", "kiosk", "k5"], "invalid center id"),
    (["toaster", "t1"], "invalid choice"),
])
def test_credential_script_refuses_bad_ids(center, args, message):
    before = (center.workdir / "passwd").read_bytes(), (center.workdir / "acl").read_bytes()
    center_args = [] if "--center" in args else ["--center", C]
    result = subprocess.run([str(MAKE_CREDENTIALS), *center_args, "--passwd-file", str(center.workdir / "passwd"),
                             "--acl-file", str(center.workdir / "acl"), *args],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result
    assert message in result.stderr, result.stderr
    assert result.stdout == ""  # no password printed
    assert ((center.workdir / "passwd").read_bytes(), (center.workdir / "acl").read_bytes()) == before


def test_credential_script_rotates_password(center):
    """Running it again for the same device replaces the password and keeps one ACL block."""
    old = center.passwords["k2"]
    new = center.add_device("kiosk", "k2")
    assert new != old and len(new) >= 24
    assert (center.workdir / "acl").read_text().count("# BEGIN qms kiosk k2\n") == 1
    assert sum(1 for line in (center.workdir / "passwd").read_text().splitlines() if line.startswith("k2:")) == 1
    center.broker.reload()
    deadline = time.monotonic() + 10
    while True:
        probe = MqttProbe.connect(center.broker.port(1883), "k2", old)
        if probe.refused:
            break
        probe.close()
        assert time.monotonic() < deadline, "old password still accepted after reload"
    probe.close()
    probe = MqttProbe.connect(center.broker.port(1883), "k2", new)
    assert not probe.refused
    probe.close()
