"""Connections: the server keeps serving with hundreds held open, cuts slow ones, shares fairly.

A real server (``qms serve``: gunicorn, one gevent worker, ``server/worker.py``) and light
clients (``tests/idle_clients.py``) from many loopback addresses (127.0.0.x), as phones on
the center's Wi-Fi. Timings are in bench/connections.py, not here; the only clock these
tests read is the lower bound of a documented timeout (a server cannot cut a connection
*before* its timer, however loaded the machine is).
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import MONDAY_9AM
from tests.idle_clients import Crowd
from tests.live_server import LiveServer
from tests.test_realtime import Probe

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
WAIT = 20  # seconds: give-up time of every wait below


def _source(i: int) -> str:
    """10 connections an address: 127.0.1.2, 127.0.1.3, ..."""
    n = i // 10
    return f"127.0.{1 + n // 250}.{n % 250 + 2}"


def _conn(srv: LiveServer, src: str, timeout: float = WAIT) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout, source_address=(src, 0))
    return s


def _read_all(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def _get_keepalive(s: socket.socket) -> bytes:
    """GET /healthz on a keep-alive connection; the head and body of the answer."""
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: qms\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += s.recv(4096)
    return head + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    # idle and half-sent connections are not cut during this test (that is the next test's)
    with LiveServer(tmp_path_factory.mktemp("crowd"),
                    settings_extra="\n[connections]\nidle_timeout_s = 300\n") as srv:
        srv.kiosk = srv.add_device("kiosk-crowd", "kiosk", site="main")
        srv.display = srv.add_device("display-crowd", "display", site="main")
        srv.clerk = srv.add_user("clerk-crowd", "clerk")
        yield srv


def test_hundreds_of_idle_connections_leave_issue_healthz_and_calls_working(crowded):
    srv = crowded
    kiosk = LiveServer.bearer(srv.kiosk)
    status = [requests.post(srv.url + "/api/v1/tickets", json={"service": "CT"}, headers=kiosk,
                            timeout=WAIT).json()["status_url"].rsplit("/", 1)[1] for _ in range(20)]
    want = {"screen": 150, "phone": 150, "keepalive": 150, "halfsent": 150}  # 600, more than the old 200 threads
    specs = []
    for kind, n in want.items():
        for i in range(n):
            auth = {"token": srv.display} if kind == "screen" else {"status": status[i % 20]} if kind == "phone" else None
            specs.append((kind, _source(len(specs)), auth))
    crowd = Crowd("127.0.0.1", srv.port, specs)
    try:
        assert crowd.wait_open(want, timeout=90), crowd.stats.open
        # the kiosk issues a ticket and the monitor's /healthz answers
        r = requests.post(srv.url + "/api/v1/tickets", json={"service": "HT"}, headers=kiosk, timeout=WAIT)
        assert r.status_code == 201 and r.json()["code"].startswith("HT-")
        health = requests.get(srv.url + "/healthz", timeout=WAIT)
        assert health.status_code == 200 and health.json()["ok"] is True
        # a clerk calls: the call reaches every connected screen
        clerk = LiveServer.bearer(srv.clerk)
        requests.post(srv.url + "/api/v1/counters/1/sign-in", headers=clerk, timeout=WAIT).raise_for_status()
        called = requests.post(srv.url + "/api/v1/counters/1/call-next", headers=clerk, timeout=WAIT).json()["ticket"]
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            reached = sum(1 for tid, _ in list(crowd.stats.arrivals) if tid == called["id"])
            if reached >= want["screen"]:
                break
            time.sleep(0.05)
        assert reached == want["screen"]
        # and nothing was dropped or refused meanwhile
        assert {k: crowd.open(k) for k in want} == want
        assert crowd.stats.refused == 0 and crowd.stats.reopened == 0
    finally:
        crowd.close()


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("strict"), settings_extra=(
            "\n[connections]\nidle_timeout_s = 2\nio_timeout_s = 2\nper_address = 20\n")) as srv:
        srv.kiosk = srv.add_device("kiosk-strict", "kiosk", site="main")
        srv.display = srv.add_device("display-strict", "display", site="main")
        srv.clerk = srv.add_user("clerk-strict", "clerk")
        yield srv


def test_half_sent_requests_and_idle_connections_are_cut_after_the_timeout(strict):
    srv = strict
    screen = Probe(srv.url, auth={"token": srv.display})  # a websocket is exempt: it must survive all this
    try:
        screen.next("snapshot")
        # headers that never end: closed after idle_timeout_s (2 s here), with nothing answered
        s = _conn(srv, "127.0.0.2")
        t0 = time.monotonic()
        s.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: qms\r\n")
        assert _read_all(s) == b""
        assert time.monotonic() - t0 >= 1.9
        s.close()
        # a body that stops arriving: 408 with the reason, after io_timeout_s
        s = _conn(srv, "127.0.0.2")
        t0 = time.monotonic()
        s.sendall(f"POST /api/v1/tickets HTTP/1.1\r\nHost: qms\r\nAuthorization: Bearer {srv.kiosk}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"service\":".encode())
        answer = _read_all(s)
        assert time.monotonic() - t0 >= 1.9
        head, body = answer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 408")
        message = json.loads(body)["message"]
        assert message.startswith("Yêu cầu gửi quá chậm") and "stalled" in message
        s.close()
        # an idle keep-alive connection: served, then closed after idle_timeout_s
        s = _conn(srv, "127.0.0.2")
        assert _get_keepalive(s).startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        assert _read_all(s) == b""
        assert time.monotonic() - t0 >= 1.9
        s.close()
        # no ticket came out of the stalled request, and the screen, idle for > 6 s, still hears calls
        assert requests.get(srv.url + "/healthz", timeout=WAIT).json()["seq"] == 0
        kiosk = LiveServer.bearer(srv.kiosk)
        requests.post(srv.url + "/api/v1/tickets", json={"service": "CT"}, headers=kiosk, timeout=WAIT).raise_for_status()
        event = screen.wait_for("event", lambda e: e["type"] == "ticket_issued")
        assert event["data"]["service"] == "CT"
    finally:
        screen.close()


def test_one_address_cannot_take_every_connection(strict):
    srv = strict
    held = [_conn(srv, "127.0.0.5") for _ in range(20)]  # per_address = 20
    try:
        for s in held:  # each one served (so the server has counted it), then kept open
            assert _get_keepalive(s).startswith(b"HTTP/1.1 200")
        one_more = _conn(srv, "127.0.0.5")
        one_more.sendall(b"GET /healthz HTTP/1.1\r\nHost: qms\r\n\r\n")
        answer = _read_all(one_more).decode()
        one_more.close()
        assert answer.startswith("HTTP/1.1 503")
        assert "Quá nhiều kết nối từ một địa chỉ" in answer and "too many connections" in answer
        # everyone else is still served: another address, and the kiosk issuing a ticket
        other = _conn(srv, "127.0.0.6")
        assert _get_keepalive(other).startswith(b"HTTP/1.1 200")
        other.close()
        r = requests.post(srv.url + "/api/v1/tickets", json={"service": "HT"},
                          headers=LiveServer.bearer(srv.kiosk), timeout=WAIT)
        assert r.status_code == 201
        # the share comes back when the address closes a connection
        held.pop().close()
        deadline = time.monotonic() + WAIT
        while True:
            again = _conn(srv, "127.0.0.5")
            ok = _get_keepalive(again).startswith(b"HTTP/1.1 200")
            again.close()
            if ok or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert ok
    finally:
        for s in held:
            s.close()


def test_stop_with_screens_connected_is_clean(tmp_path):
    srv = LiveServer(tmp_path).start()
    display = srv.add_device("display-stop", "display", site="main")
    screen = Probe(srv.url, auth={"token": display})
    idle = _conn(srv, "127.0.0.7")
    assert _get_keepalive(idle).startswith(b"HTTP/1.1 200")
    try:
        screen.next("snapshot")
        srv.stop()
        assert srv.proc.returncode == 0
        log = srv.log_path.read_text()
        assert "Worker exiting" in log and "SIGKILL" not in log
    finally:
        idle.close()
        screen.close()


GEVENT_STORE = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import os, sys, gevent
    from qms_common.clock import FakeClock
    from server.blocking import gevent_active, run_blocking
    from server.config import load_center
    from server.engine import Engine
    from server.store import Store

    assert gevent_active()
    path = sys.argv[1]
    engine = Engine(Store(path), load_center(), FakeClock(float(sys.argv[2])))  # a Monday morning, at any hour
    codes = []
    def citizen(i):
        t = engine.issue("HT", client_ref=f"ref-{i}", source="kiosk")
        codes.append(engine.position(t["id"])["code"])
    gevent.joinall([gevent.spawn(citizen, i) for i in range(100)], raise_error=True)
    connections = sum(1 for fd in os.listdir("/proc/self/fd")
                      if os.path.realpath(f"/proc/self/fd/{fd}") == os.path.realpath(path))
    real_ident = monkey.get_original("_thread", "get_ident")
    print(len(codes), len(set(codes)), connections, run_blocking(real_ident) != real_ident())
""")


def test_store_under_gevent_shares_connections_and_commits_on_a_real_thread(tmp_path):
    """100 concurrent greenlets: 100 distinct numbers, three SQLite connections (the loop's reader,
    the writer, and one for read transactions: ``Engine.position`` reads its place and its forecast's
    inputs in one, ``Store.read``, and nothing yields inside it, so one serves all 100), not one per
    greenlet; the commit ran on another OS thread."""
    out = subprocess.run([sys.executable, "-c", GEVENT_STORE, str(tmp_path / "qms.db"), str(MONDAY_9AM)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    issued, distinct, connections, other_thread = out.stdout.split()
    assert (issued, distinct, connections, other_thread) == ("100", "100", "3", "True")


def test_the_gevent_worker_tells_systemd_it_is_ready_and_feeds_the_watchdog(tmp_path, monkeypatch):
    """Type=notify and WatchdogSec under gevent: the watchdog greenlet pings while the loop runs."""
    import tempfile
    short = Path(tempfile.mkdtemp(prefix="qms-sd-", dir="/tmp"))  # AF_UNIX paths are short
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(short / "notify"))
    sock.settimeout(WAIT)
    monkeypatch.setenv("NOTIFY_SOCKET", str(short / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # WatchdogSec=1: a ping every half second
    srv = LiveServer(tmp_path).start()
    try:
        got = []
        while got.count("WATCHDOG=1") < 3:
            got += sock.recv(4096).decode().split("\n")
        assert "READY=1" in got and got.index("READY=1") < got.index("WATCHDOG=1")
    finally:
        srv.stop()
        sock.close()
        (short / "notify").unlink()
        short.rmdir()


def test_the_worker_keeps_no_spawning_stack_per_greenlet(monkeypatch):
    """Every connection is a greenlet; gevent would keep the stack that spawned each one for its
    whole life, objects the garbage collector walks on every collection (docs/performance.md,
    section 8). The worker turns that off before it serves."""
    import gevent
    from server.worker import untrack_greenlet_tree
    monkeypatch.setattr(gevent.config, "track_greenlet_tree", True)
    assert gevent.Greenlet(lambda: None).spawning_stack is not None  # gevent's default: kept
    untrack_greenlet_tree()
    assert gevent.Greenlet(lambda: None).spawning_stack is None


@pytest.mark.parametrize("upgrade", [False, True], ids=["polling", "websocket"])
def test_a_socketio_handler_s_request_context_routes_without_a_404_cycle(app, upgrade):
    """Flask-SocketIO runs each handler in a request context of the handshake's environ. Without
    a rule for /socket.io/ each one held a NotFound and its traceback, a reference cycle the
    collector had to free for every connect, event and disconnect of a thousand sockets."""
    import gc

    from werkzeug.test import EnvironBuilder

    headers = {"Upgrade": "websocket", "Connection": "Upgrade"} if upgrade else {}
    environ = EnvironBuilder(path="/socket.io/", query_string="EIO=4&transport=websocket",
                             headers=headers).get_environ()
    from flask import request
    with app.request_context(environ):
        assert request.routing_exception is None
    gc.collect()
    gc.disable()
    try:
        with app.request_context(environ):
            pass
        assert gc.collect() < 20          # was ~40 objects with the NotFound's traceback
    finally:
        gc.enable()
    client = app.test_client()            # the path is still Socket.IO's, other paths still 404
    opened = client.get("/socket.io/?EIO=4&transport=polling")
    assert opened.status_code == 200 and opened.get_data(as_text=True).startswith("0{")
    assert client.get("/socket.io-not").status_code == 404


def test_the_worker_shortens_the_gil_switch_interval_so_a_commit_thread_is_not_kept_waiting(monkeypatch):
    """A pool thread's commit waited up to 5 ms for the GIL at each step while the loop ran a
    forecast (docs/performance.md, section 8, "The commit's thread and the loop's rounds")."""
    from server.worker import SWITCH_INTERVAL_S, shorten_switch_interval
    before = sys.getswitchinterval()
    try:
        monkeypatch.delenv("QMS_SWITCH_S", raising=False)
        assert shorten_switch_interval() == SWITCH_INTERVAL_S == 0.0005
        assert abs(sys.getswitchinterval() - 0.0005) < 1e-9
        monkeypatch.setenv("QMS_SWITCH_S", "0.005")  # the bench's A/B
        shorten_switch_interval()
        assert abs(sys.getswitchinterval() - 0.005) < 1e-9
    finally:
        sys.setswitchinterval(before)
