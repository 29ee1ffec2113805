"""Closed engine.io sockets are let go within a second (``server/eio_sweep.py``), open ones are
left to engine.io's own service task (pings, timeouts)."""
from __future__ import annotations

from types import SimpleNamespace

import engineio
import pytest

from server.eio_sweep import run_sweeper, sweep


def test_the_sweep_removes_closed_sockets_and_only_those():
    eio = engineio.Server(async_mode="threading")
    for n in range(6):
        eio.sockets[f"s{n}"] = SimpleNamespace(closed=n % 2 == 0, closing=False)
    assert sweep(eio) == 3
    assert sorted(eio.sockets) == ["s1", "s3", "s5"]
    assert sweep(eio) == 0


def test_the_sweeper_sweeps_every_interval_and_outlives_a_failed_sweep(caplog):
    eio = SimpleNamespace(sockets={"a": SimpleNamespace(closed=True)})
    rounds = []

    class Stop(Exception):
        pass

    def sleep(seconds):
        rounds.append(seconds)
        if len(rounds) == 2:
            eio.sockets = None  # the next sweep fails: logged, and the sweeper goes on
        if len(rounds) == 3:
            raise Stop

    socketio = SimpleNamespace(sleep=sleep, server=SimpleNamespace(eio=eio))
    with pytest.raises(Stop):
        run_sweeper(socketio, every_s=0.5)
    assert rounds == [0.5, 0.5, 0.5]
    assert "sweeping closed engine.io sockets failed" in caplog.text
