"""qms_common.sd against a real unix datagram socket standing in for systemd's NOTIFY_SOCKET.

The watchdog's "no ping while unhealthy" is shown without sleeping: the health check records
each answer, the test waits (with a deadline) for the watchdog thread to have asked a given
number of times, and only then reads the socket. Pings are sent on the watchdog's thread
right after the check, so once the next check has begun, every ping of the earlier rounds
is already in the socket.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import pytest

from qms_common import sd


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    yield sock
    sock.close()


def recv(sock, timeout=5.0) -> str:
    sock.settimeout(timeout)
    return sock.recv(4096).decode()


def drain(sock) -> list[str]:
    sock.setblocking(False)
    out = []
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        return out
    finally:
        sock.setblocking(True)


def test_ready_watchdog_status(notify_socket):
    assert sd.notify_ready()
    assert recv(notify_socket) == "READY=1"
    assert sd.notify_ready("serving 3 counters")
    assert recv(notify_socket) == "READY=1\nSTATUS=serving 3 counters"
    assert sd.notify_watchdog()
    assert recv(notify_socket) == "WATCHDOG=1"
    assert sd.notify_status("máy in: bị treo; printer stuck")  # systemd reads STATUS= as UTF-8
    assert notify_socket.recv(4096).decode("utf-8") == "STATUS=máy in: bị treo; printer stuck"
    assert sd.notify_stopping()
    assert recv(notify_socket) == "STOPPING=1"


def test_abstract_socket(monkeypatch):
    name = f"qms-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)  # how systemd names abstract sockets
    try:
        assert sd.notify_ready()
        assert recv(sock) == "READY=1"
    finally:
        sock.close()


def test_noop_without_notify_socket(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    assert sd.notify_ready() is False
    assert sd.notify_watchdog() is False
    dog = sd.Watchdog().start()
    assert not dog.running
    dog.stop()


def test_watchdog_interval_from_environment(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert sd.watchdog_interval() == 30.0
    assert sd.Watchdog().interval == 15.0
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    assert sd.watchdog_interval() is None
    assert not sd.Watchdog().start().running  # no WatchdogSec: no thread


def test_watchdog_pings_only_while_healthy(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # WatchdogSec=0.1 s: pings every 0.05 s
    state = {"healthy": True}
    answers: list[bool] = []
    cond = threading.Condition()

    def healthy() -> bool:
        with cond:
            answers.append(state["healthy"])
            cond.notify_all()
            return state["healthy"]

    def wait_answers(predicate, what, timeout=5.0):
        deadline = time.monotonic() + timeout
        with cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"timed out waiting for {what}"
                cond.wait(remaining)

    dog = sd.Watchdog(healthy)
    assert dog.interval == pytest.approx(0.05)
    dog.start()
    try:
        # Healthy: WATCHDOG=1 arrives repeatedly.
        assert [recv(notify_socket) for _ in range(3)] == ["WATCHDOG=1"] * 3

        # Unhealthy: after the first False answer and the start of the next round, drain
        # what was sent before; then three more False rounds must send no WATCHDOG=1.
        with cond:
            state["healthy"] = False
            start = len(answers)
        wait_answers(lambda: False in answers[start:] and len(answers) > answers.index(False, start) + 1,
                     "the first unhealthy round")
        drain(notify_socket)
        with cond:
            mark = len(answers)
        wait_answers(lambda: len(answers) >= mark + 4, "three unhealthy rounds")
        left = drain(notify_socket)
        assert "WATCHDOG=1" not in left, left
        assert dog.missed >= 3

        # Healthy again: pings resume.
        with cond:
            state["healthy"] = True
        deadline = time.monotonic() + 5
        while True:
            message = recv(notify_socket, max(0.01, deadline - time.monotonic()))
            if message == "WATCHDOG=1":
                break
    finally:
        dog.stop()
    assert not dog.running


def test_failing_health_check_counts_as_unhealthy(notify_socket, monkeypatch):
    calls = threading.Event()

    def broken() -> bool:
        calls.set()
        raise RuntimeError("printer driver crashed")

    dog = sd.Watchdog(broken, interval_s=0.05).start()
    try:
        assert calls.wait(5)
        # The first unhealthy round announces itself with a STATUS line, never WATCHDOG=1.
        assert recv(notify_socket).startswith("STATUS=unhealthy")
    finally:
        dog.stop()
    assert "WATCHDOG=1" not in drain(notify_socket)


def test_heartbeat():
    beat = sd.Heartbeat(max_age_s=60)
    assert beat.fresh()
    beat._at -= 61
    assert not beat.fresh()
    beat.beat()
    assert beat.fresh()


def test_notify_socket_change_is_followed(tmp_path, monkeypatch):
    socks = []
    for name in ("a.sock", "b.sock"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(str(tmp_path / name))
        socks.append(s)
    try:
        for s, name in zip(socks, ("a.sock", "b.sock")):
            monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / name))
            assert sd.notify_ready()
            assert recv(s) == "READY=1"
    finally:
        for s in socks:
            s.close()
    assert os.environ["NOTIFY_SOCKET"].endswith("b.sock")
