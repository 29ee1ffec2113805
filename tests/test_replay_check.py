"""``qms replay --check``: the live state rebuilt from the events is compared with the live
tables; every difference is named (Vietnamese, then English) and the exit status is 1. Tested
on a clean day, on tampered tables, and after a kill -9 of a real server under load."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import requests

from server.cli import main
from server.engine import Engine
from server.store import Store
from tests.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def day(tmp_path, center, clock):
    """A morning at the sample ward: issued, called, served, transferred, parked, cancelled."""
    store = Store(tmp_path / "qms.db")
    engine = Engine(store, center, clock)
    t = [engine.issue(s, priority=(i == 3)) for i, s in enumerate(("HT", "HT", "CT", "HT", "DD", "HT"))]
    engine.sign_in(4, "binh")
    engine.sign_in(2, "an")
    engine.call_next(4, "binh")
    engine.recall(t[3]["id"], 4, "binh")  # the priority ticket went first
    engine.start(t[3]["id"], 4, "binh")
    engine.call_next(2, "an")
    engine.transfer(t[2]["id"], service="HT", to_counter=4, counter=2, actor="an", role="clerk")
    engine.cancel(t[4]["id"], actor="giamdoc", role="director")
    engine.call_next(4, "binh")
    engine.no_show(engine.counter(4)["ticket_id"], 4, "binh")
    engine.pause(2, "an")
    yield store, engine, t
    store.close()


def _check(tmp_path, capsys) -> tuple[int, str]:
    code = main(["--state-dir", str(tmp_path), "replay", "--check"])
    return code, capsys.readouterr().out


def test_a_clean_database_is_consistent(tmp_path, capsys, day):
    code, out = _check(tmp_path, capsys)
    assert code == 0, out
    assert out.startswith("Khớp: trạng thái dựng lại từ") and "6 tickets" in out


def test_every_difference_is_named_and_the_exit_status_is_1(tmp_path, capsys, day):
    store, engine, t = day
    with store.write() as conn:  # what a crash between two writes, a bad restore or a hand edit leaves
        conn.execute("UPDATE tickets SET state = 'done' WHERE id = ?", (t[0]["id"],))
        conn.execute("UPDATE tickets SET service = 'KD', recalls = 7 WHERE id = ?", (t[3]["id"],))
        conn.execute("UPDATE counters SET clerk = 'ai-do' WHERE number = 2")
        conn.execute("DELETE FROM tickets WHERE id = ?", (t[5]["id"],))
    code, out = _check(tmp_path, capsys)
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[-1].startswith("KHÔNG khớp: 5 khác biệt")
    assert (f"Vé {t[0]['id']}, trạng thái: bảng trực tiếp 'done', theo nhật ký sự kiện 'waiting'; "
            f"ticket {t[0]['id']}, state: live table 'done', event log 'waiting'") in lines
    assert any(line.startswith(f"Vé {t[3]['id']}, lĩnh vực: bảng trực tiếp 'KD'") for line in lines)
    assert any(line.startswith(f"Vé {t[3]['id']}, số lần gọi lại") for line in lines)
    assert any(line.startswith("Quầy 2, cán bộ: bảng trực tiếp 'ai-do', theo nhật ký sự kiện 'an'")
               for line in lines)
    assert any(line.startswith(f"Vé {t[5]['id']}: có sự kiện phát số nhưng không có trong bảng") for line in lines)


def test_without_check_it_only_counts_and_a_missing_database_is_a_clear_error(tmp_path, capsys, day):
    assert main(["--state-dir", str(tmp_path), "replay"]) == 0
    assert "events" in capsys.readouterr().out
    assert main(["--state-dir", str(tmp_path / "nowhere"), "replay", "--check"]) == 2
    assert "Không có cơ sở dữ liệu" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()  # checking creates nothing


@pytest.mark.slow
def test_consistent_after_kill_9_of_a_real_server_under_load(tmp_path):
    srv = LiveServer(tmp_path / "srv").start()
    try:
        kiosk = srv.add_device("kiosk-1", "kiosk")
        clerks = {4: srv.add_user("binh", "clerk"), 3: srv.add_user("chi", "clerk")}
        for number, token in clerks.items():
            requests.post(f"{srv.url}/api/v1/counters/{number}/sign-in", headers=srv.bearer(token),
                          timeout=10).raise_for_status()
        stop = threading.Event()
        served = threading.Semaphore(0)
        issued = threading.Semaphore(0)

        def issue() -> None:
            session = requests.Session()
            while not stop.is_set():
                try:
                    r = session.post(srv.url + "/api/v1/tickets", json={"service": "HT", "client_ref": uuid.uuid4().hex},
                                     headers=srv.bearer(kiosk), timeout=5)
                except requests.RequestException:
                    return
                if r.status_code == 201:
                    issued.release()

        def work(number: int, token: str) -> None:
            session = requests.Session()
            while not stop.is_set():
                try:
                    r = session.post(f"{srv.url}/api/v1/counters/{number}/call-next", headers=srv.bearer(token),
                                     timeout=5)
                    ticket = r.json().get("ticket") if r.ok else None
                    if ticket:
                        session.post(f"{srv.url}/api/v1/tickets/{ticket['id']}/start", json={"counter": number},
                                     headers=srv.bearer(token), timeout=5)
                        served.release()
                except (requests.RequestException, ValueError):
                    return

        threads = [threading.Thread(target=issue) for _ in range(3)]
        threads += [threading.Thread(target=work, args=item) for item in clerks.items()]
        for th in threads:
            th.start()
        for _ in range(40):  # the load is really running: tickets issued and served
            assert served.acquire(timeout=60), "the counters served nothing"
        for _ in range(150):
            assert issued.acquire(timeout=60), "the kiosk issued too little"
        srv.kill()  # SIGKILL to gunicorn master and worker, mid-stream
        stop.set()
        for th in threads:
            th.join(10)
        env = {**os.environ, "QMS_SECRET_KEY": "test-secret-key"}
        r = subprocess.run([sys.executable, "-m", "server.cli", "--settings", str(srv.settings_file),
                            "replay", "--check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("Khớp:")
    finally:
        srv.stop()
