"""Run a real Mosquitto with the project's own configuration files, for tests.

Reusable by any test that needs a broker::

    from tests.mosquitto_fixture import Broker, MqttProbe, center_setup, require_mosquitto

    def test_something(tmp_path):
        require_mosquitto()
        setup = center_setup(tmp_path, devices=[("kiosk", "k1")])
        with setup.broker:
            probe = MqttProbe.connect(setup.broker.port(1883), "k1", setup.passwords["k1"])

What it does:

* :func:`render_conf` copies a configuration from ``firmware_config/mosquitto/`` and
  rewrites what cannot be used in a test: each ``listener`` port becomes a free port on
  127.0.0.1, and options naming system paths (``persistence_location``, ``password_file``,
  ``acl_file``, certificates, ``include_dir``...) point into a temporary directory. Everything
  else (authentication, ACL, persistence, bridge topics) is the shipped configuration.
* :class:`Broker` starts ``mosquitto -c <conf>``, waits until every listener accepts a TCP
  connection (polling with a deadline, never a blind sleep; it fails at once with the log if
  mosquitto exits), and on stop sends SIGTERM and waits (Mosquitto then writes its
  persistence database). The same ports are kept across :meth:`Broker.restart`.
* :func:`require_mosquitto` skips the test, with the reason, only when the mosquitto binary
  is absent (``apt-get install mosquitto mosquitto-clients``).
* Credentials are made with the shipped ``make-device-credentials`` script, so the tests
  exercise it as well.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "firmware_config" / "mosquitto"
MAKE_CREDENTIALS = CONF_DIR / "make-device-credentials"
MAKE_CERTS = CONF_DIR / "make-certs"
CENTER = "phuong-mau"  # the center id written in the shipped satellite/province configs


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def require_mosquitto() -> str:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto binary not found (apt-get install mosquitto mosquitto-clients)")
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd not found (apt-get install mosquitto)")
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def render_conf(text: str, *, ports: dict[int, int], options: dict[str, str] | None = None,
                drop: tuple[str, ...] = (), extra: tuple[str, ...] = (), fragment: bool = False) -> str:
    """Rewrite a shipped configuration for a test.

    ``ports`` maps a shipped listener port to a test port (bound to 127.0.0.1); every listener
    must be mapped. ``options`` replaces the value of each line whose option name matches;
    ``drop`` removes lines; ``extra`` lines are appended (e.g. a test bridge's settings).
    ``fragment`` is for a file included by another (no global ``user`` line added).
    """
    options = options or {}
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            out.append(line)
            continue
        key, _, _value = stripped.partition(" ")
        if key == "listener":
            shipped = int(_value.split()[0])
            if shipped not in ports:
                raise ValueError(f"listener {shipped} has no test port")
            out.append(f"listener {ports[shipped]} 127.0.0.1")
        elif key in drop:
            continue
        elif key in options:
            out.append(f"{key} {options[key]}")
        else:
            out.append(line)
    if os.geteuid() == 0 and not fragment:
        # As root Mosquitto would switch to the `mosquitto` user, which cannot read the
        # test's private temporary directory.
        out.append("user root")
    out.extend(extra)
    return "\n".join(out) + "\n"


class Broker:
    """One mosquitto process; ``ports`` maps shipped listener ports to test ports."""

    def __init__(self, conf_text: str, workdir: Path, ports: dict[int, int], name: str = "broker"):
        self.binary = require_mosquitto()
        self.workdir = workdir
        self.ports = ports
        self.name = name
        self.conf_path = workdir / f"{name}.conf"
        self.conf_path.write_text(conf_text, encoding="utf-8")
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def port(self, shipped: int) -> int:
        return self.ports[shipped]

    def start(self, timeout: float = 10.0) -> "Broker":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf_path)], stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout
        pending = set(self.ports.values())
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: mosquitto exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{self.name}: ports {sorted(pending)} not accepting after {timeout} s:\n"
                                   f"{self.log()}")
            pending = {p for p in pending if not port_accepts(p)}
            if pending:
                time.sleep(0.02)  # poll interval, bounded by the deadline above
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # mosquitto saves its persistence db on SIGTERM
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> "Broker":
        self.stop()
        return self.start()

    def reload(self) -> None:
        """SIGHUP: Mosquitto re-reads the password and ACL files."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- credentials and certificates made with the shipped scripts ---------------------------

def make_credentials(workdir: Path, cls: str, device: str, center: str = CENTER) -> str:
    """Run make-device-credentials against files in ``workdir``; return the printed password."""
    result = subprocess.run(
        [str(MAKE_CREDENTIALS), "--center", center, "--passwd-file", str(workdir / "passwd"),
         "--acl-file", str(workdir / "acl"), cls, device],
        capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"make-device-credentials {cls} {device} failed: {result.stderr}")
    password = result.stdout.strip()
    assert password and "\n" not in password, result.stdout
    return password


def make_certs(certdir: Path, *names: str) -> Path:
    result = subprocess.run([str(MAKE_CERTS), "--dir", str(certdir), *(names or ("localhost", "127.0.0.1"))],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"make-certs failed: {result.stderr}")
    return certdir


@dataclass
class BrokerSetup:
    broker: Broker
    workdir: Path
    passwords: dict[str, str] = field(default_factory=dict)
    certdir: Path | None = None

    def add_device(self, cls: str, device: str, center: str = CENTER) -> str:
        self.passwords[device] = make_credentials(self.workdir, cls, device, center)
        return self.passwords[device]


def center_setup(tmp_path: Path, devices: list[tuple[str, str]] = (), *, name: str = "center",
                 tls: bool = True, center: str = CENTER, server_user: bool = True,
                 extra: tuple[str, ...] = ()) -> BrokerSetup:
    """The shipped center.conf + acl in ``tmp_path/name`` with fresh credentials (not started).

    ``tls`` makes a CA and server certificate with the shipped make-certs (names localhost
    and 127.0.0.1). ``server_user`` creates the ``server`` user's password.
    """
    require_mosquitto()
    workdir = tmp_path / name
    (workdir / "data").mkdir(parents=True)
    (workdir / "conf.d").mkdir()
    shutil.copy(CONF_DIR / "acl", workdir / "acl")
    certdir = make_certs(workdir / "certs") if tls else None
    ports = {1883: free_port(), 8883: free_port()}
    options = {
        "persistence_location": f"{workdir / 'data'}/",
        "password_file": str(workdir / "passwd"),
        "acl_file": str(workdir / "acl"),
        "include_dir": str(workdir / "conf.d"),
    }
    if certdir is not None:
        options.update(certfile=str(certdir / "server.crt"), keyfile=str(certdir / "server.key"),
                       cafile=str(certdir / "ca.crt"))
    text = (CONF_DIR / "center.conf").read_text(encoding="utf-8")
    if certdir is None:
        text = _without_listener(text, 8883)
        del ports[8883]
    broker = Broker(render_conf(text, ports=ports, options=options, extra=extra), workdir, ports, name)
    setup = BrokerSetup(broker, workdir, certdir=certdir)
    if server_user:
        setup.add_device("server", "server", center)
    for cls, device in devices:
        setup.add_device(cls, device, center)
    return setup


def _without_listener(text: str, port: int) -> str:
    """Remove one listener section (up to the next listener or include_dir)."""
    out, skipping = [], False
    for line in text.splitlines():
        key = line.strip().split(" ", 1)[0]
        if key == "listener":
            skipping = line.strip().split()[1] == str(port)
        elif key == "include_dir":
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


# --- a small MQTT v5 client that records what happens -------------------------------------

class MqttProbe:
    """paho-mqtt v5 client recording CONNACK, PUBACK reason codes and received messages.

    Every wait has a deadline and wakes on the event itself (no sleep-and-hope).
    """

    def __init__(self, client_id: str, *, clean_start: bool = True, session_expiry: int = 0):
        import paho.mqtt.client as mqtt

        self._mqtt = mqtt
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.clean_start = clean_start
        self.session_expiry = session_expiry
        self.cond = threading.Condition()
        self.connack = None  # ReasonCode of the last CONNACK
        self.connects = 0
        self.messages: list = []  # paho MQTTMessage, in arrival order
        self.pubacks: dict[int, object] = {}  # mid -> ReasonCode
        self.subacks: dict[int, list] = {}
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.disconnected = threading.Event()

    # callbacks (paho's network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self.cond:
            self.connack = reason_code
            if not reason_code.is_failure:
                self.connects += 1
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnected.set()
        with self.cond:
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self.cond:
            self.pubacks[mid] = reason_code
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self.cond:
            self.subacks[mid] = reason_codes
            self.cond.notify_all()

    def wait(self, predicate, timeout: float = 10.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
                self.cond.wait(remaining)

    @classmethod
    def connect(cls, port: int, username: str | None = None, password: str | None = None, *,
                client_id: str | None = None, tls_ca: str | None = None, host: str = "127.0.0.1",
                clean_start: bool = True, session_expiry: int = 0, timeout: float = 10.0,
                expect_failure: bool = False, auto_reconnect: bool = False) -> "MqttProbe":
        """Connect and wait for the CONNACK (success or refusal); the loop keeps running."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        probe = cls(client_id or f"probe-{username or 'anon'}-{os.getpid()}-{time.monotonic_ns()}",
                    clean_start=clean_start, session_expiry=session_expiry)
        if username is not None:
            probe.client.username_pw_set(username, password)
        if tls_ca:
            probe.client.tls_set(ca_certs=tls_ca)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry
        probe.client.reconnect_delay_set(0.1, 0.5)
        probe.client.connect_async(host, port, keepalive=10, clean_start=clean_start, properties=props)
        probe.client.loop_start()
        probe.wait(lambda: probe.connack is not None, timeout, f"CONNACK from port {port}")
        if not auto_reconnect and (probe.connack.is_failure or expect_failure):
            probe.client.loop_stop()  # no reconnect attempts with refused credentials
        return probe

    @property
    def refused(self) -> bool:
        return self.connack is not None and self.connack.is_failure

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 10.0) -> list:
        result, mid = self.client.subscribe(topic, qos=qos)
        assert result == self._mqtt.MQTT_ERR_SUCCESS, result
        self.wait(lambda: mid in self.subacks, timeout, f"SUBACK for {topic}")
        return self.subacks[mid]

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False,
                timeout: float = 10.0):
        """Publish; for QoS 1 wait for the PUBACK and return its reason code."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return None
        self.wait(lambda: info.mid in self.pubacks, timeout, f"PUBACK for {topic}")
        return self.pubacks[info.mid]

    def received(self, topic: str | None = None) -> list:
        with self.cond:
            return [m for m in self.messages if topic is None or m.topic == topic]

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def reason_name(code) -> str:
    """'Success (0x00)' style text for a paho ReasonCode (or None)."""
    if code is None:
        return "-"
    return f"{code.getName()} (0x{code.value:02x})"
