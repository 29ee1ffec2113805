"""The worker's schedule for Python's garbage collector (server/collector.py): the heap is frozen
every few seconds, so collections walk only what is new, and a cycle that died while frozen is
still freed at the next full collection; a live server with it answers and stops cleanly."""
from __future__ import annotations

import gc
import time
import weakref

import pytest
import requests

from qms_common.clock import FakeClock
from server.collector import Collector
from tests.live_server import LiveServer
from tests.test_realtime import Probe


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def collector_state():
    """The test process's collector as it was (these tests freeze and unfreeze it)."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_heap_is_frozen_every_few_seconds_and_fully_collected_every_few_minutes(collector_state):
    clock = FakeClock(1000.0)
    collector = Collector(clock.now, freeze_every_s=2, thaw_every_s=60)
    collector.start()
    node = _Node()
    dead = weakref.ref(node)
    before = gc.get_freeze_count()
    clock.advance(1)
    collector.tick()
    assert gc.get_freeze_count() == before  # not yet
    clock.advance(1)
    collector.tick()
    assert gc.get_freeze_count() > before  # the cycle is frozen with the rest
    del node
    gc.collect()
    assert dead() is not None, "frozen: even a full collection does not walk it (the price)"
    clock.advance(58)
    collector.tick()  # 60 s since the start: unfreeze, collect everything, freeze again
    assert collector.thaws == 1
    assert dead() is None, "the cycle that died while frozen is freed at the full collection"
    assert gc.get_freeze_count() > 0


def test_a_server_freezing_its_heap_every_second_serves_and_stops_cleanly(tmp_path):
    """Frozen and fully collected several times while a screen and a kiosk use it, the server
    still answers, pushes, and stops without a SIGKILL (the restart path)."""
    srv = LiveServer(tmp_path, settings_extra="\n[connections]\nfreeze_every_s = 0.5\nfull_collection_every_s = 10\n")
    srv.start()
    screen = None
    try:
        display = srv.add_device("display-gc", "display", site="main")
        kiosk = srv.add_device("kiosk-gc", "kiosk", site="main")
        screen = Probe(srv.url, auth={"token": display})
        screen.next("snapshot")
        deadline = time.monotonic() + 60
        i = 0
        # the worker ticks about once a second: issue and hear each ticket until a full
        # collection (every 10 s here) has happened between them, then a few more
        while "full collection took" not in srv.log_path.read_text() or i < 3:
            assert time.monotonic() < deadline, "no full collection logged within 60 s"
            if "full collection took" in srv.log_path.read_text():
                i += 1
            r = requests.post(srv.url + "/api/v1/tickets", json={"service": "CT", "client_ref": f"gc-{time.time()}"},
                              headers={"Authorization": f"Bearer {kiosk}"}, timeout=10)
            assert r.status_code == 201
            code = r.json()["code"]
            event = screen.wait_for("event", lambda e: e["type"] == "ticket_issued" and e["data"]["code"] == code)
            screen.wait_for("snapshot", lambda s: s["seq"] >= event["seq"], timeout=15)  # the push follows
        assert requests.get(srv.url + "/healthz", timeout=10).ok
        srv.stop()
        assert srv.proc.returncode == 0
        log = srv.log_path.read_text()
        assert "Worker exiting" in log and "SIGKILL" not in log
    finally:
        if screen is not None:
            screen.close()
        if srv.proc.poll() is None:
            srv.stop()
