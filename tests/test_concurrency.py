"""Several processes issuing and calling on one database at once: no duplicate, no gap,
no error. And a server killed with SIGKILL keeps every ticket whose issue returned success."""
from __future__ import annotations

import multiprocessing as mp
import threading
import uuid
from collections import Counter

import pytest
import requests

from tests.live_server import LiveServer

ISSUERS = 4
PER_ISSUER = 60
CALLERS = 3  # counters 1, 2, 9 all serve CT


def _engine(db: str):
    from qms_common.clock import SystemClock
    from server.config import load_center
    from server.engine import Engine
    from server.store import Store
    center = load_center()
    center.hours.enforce = False
    return Engine(Store(db), center, SystemClock())


def _issuer(db: str, n: int, start: mp.Event, out: mp.Queue) -> None:
    engine = _engine(db)
    start.wait()
    codes, errors = [], []
    for _ in range(n):
        try:
            codes.append(engine.issue("CT")["code"])
        except Exception as exc:  # noqa: BLE001 - the test reports any error
            errors.append(repr(exc))
    out.put(("issued", codes, errors))


def _caller(db: str, counter: int, start: mp.Event, stop: mp.Event, out: mp.Queue) -> None:
    engine = _engine(db)
    engine.sign_in(counter, f"clerk{counter}")
    start.wait()
    called, errors = [], []
    idle_rounds = 0
    while idle_rounds < 200:
        try:
            t = engine.call_next(counter, f"clerk{counter}")
            if t is None:
                if stop.is_set():
                    idle_rounds += 1
                continue
            called.append(t["code"])
            engine.start(t["id"], counter, f"clerk{counter}")
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
    out.put(("called", called, errors))


@pytest.mark.slow
def test_processes_issuing_and_calling_at_once(tmp_path):
    db = str(tmp_path / "shared.db")
    _engine(db)  # create the schema once
    ctx = mp.get_context("spawn")
    start, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    issuers = [ctx.Process(target=_issuer, args=(db, PER_ISSUER, start, out)) for _ in range(ISSUERS)]
    callers = [ctx.Process(target=_caller, args=(db, c, start, stop, out)) for c in (1, 2, 9)]
    for p in issuers + callers:
        p.start()
    start.set()
    results = []
    for _ in issuers:
        results.append(out.get(timeout=120))
    stop.set()
    for _ in callers:
        results.append(out.get(timeout=120))
    for p in issuers + callers:
        p.join(30)
        assert p.exitcode == 0

    issued = [c for kind, codes, _ in results if kind == "issued" for c in codes]
    called = [c for kind, codes, _ in results if kind == "called" for c in codes]
    errors = [e for _, _, errs in results for e in errs]
    assert errors == []
    total = ISSUERS * PER_ISSUER
    assert len(issued) == total
    # no duplicate, no gap
    assert sorted(issued) == [f"CT-{i:03d}" for i in range(1, total + 1)]
    # every ticket called exactly once, by exactly one counter
    assert Counter(called).most_common(1)[0][1] == 1
    assert sorted(called) == sorted(issued)


@pytest.mark.slow
def test_kill_9_while_issuing_loses_no_acknowledged_ticket(tmp_path):
    srv = LiveServer(tmp_path / "srv").start()
    try:
        token = srv.add_device("kiosk-1", "kiosk")
        acknowledged: list[dict] = []
        lock = threading.Lock()
        enough = threading.Event()
        stopped = threading.Event()

        def issue_until_dead() -> None:
            session = requests.Session()
            while not stopped.is_set():
                ref = uuid.uuid4().hex
                try:
                    r = session.post(srv.url + "/api/v1/tickets", json={"service": "HT", "client_ref": ref},
                                     headers=srv.bearer(token), timeout=5)
                except requests.RequestException:
                    return  # the server is gone
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json())
                        if len(acknowledged) >= 150:
                            enough.set()

        threads = [threading.Thread(target=issue_until_dead) for _ in range(4)]
        for t in threads:
            t.start()
        assert enough.wait(60), "the server did not issue 150 tickets"
        srv.kill()  # SIGKILL to gunicorn master and worker, mid-stream
        stopped.set()
        for t in threads:
            t.join(10)
        srv.start()
        director = srv.add_user("giamdoc", "director")
        r = requests.get(srv.url + "/api/v1/tickets", params={"limit": 2000}, headers=srv.bearer(director), timeout=10)
        on_server = {t["id"]: t for t in r.json()["tickets"]}
        missing = [t["code"] for t in acknowledged if t["id"] not in on_server]
        assert missing == []
        # numbers stay unique and contiguous after the restart
        more = requests.post(srv.url + "/api/v1/tickets", json={"service": "HT"}, headers=srv.bearer(token), timeout=5)
        numbers = sorted(int(t["code"].split("-")[1]) for t in on_server.values()) + [int(more.json()["code"][3:])]
        assert numbers == list(range(1, len(numbers) + 1))
    finally:
        srv.stop()
