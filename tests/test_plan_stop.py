"""The plan page's child process (server/insight/plan_view.py, plan_child.py) never outlives the
server: an orderly stop terminates it, a server killed hard (SIGKILL) takes it along, a job
past ``[planning] timeout_s`` is stopped with a clear message, and after a restart the page
plans again. Real processes throughout: a real `qms serve` (gunicorn, gevent worker) running
the real `qms plan` child, and an in-process PlanView whose child is a small Python that
blocks. Pids are watched in /proc until they are gone, with a deadline."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
import requests

from server.insight import plan_child, plan_view
from tests.live_server import LiveServer
from tests.browser import browser  # noqa: F401  (fixture)
from tests.plan_history import history  # noqa: F401  (fixture)
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
# a child that does what plan_child.py does first, then blocks instead of planning
BLOCKER = """
import os, sys, time
from server.insight.plan_child import PARENT_ENV, die_with_parent
assert die_with_parent(int(os.environ[PARENT_ENV]))
time.sleep(300)
"""


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name may hold spaces and parentheses
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie has ended, its parent not yet told


def _named(name: str) -> list[int]:
    """Running processes of that name (``/proc/PID/comm``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm == name and _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        stat = _stat(pid)
        if stat is None:
            return False
        pid = stat[1]
        if pid == ancestor:
            return True
    return False


def _plan_children(ancestor: int) -> list[int]:
    """The plan children under ``ancestor`` that are past their first step: a child takes the
    name qms-plan only once it has asked to die with its parent (plan_child.die_with_parent)."""
    return [pid for pid in _named(plan_child.NAME.decode()) if _descends_from(pid, ancestor)]


@pytest.fixture
def leftovers():
    """Whatever a failed test left running is killed (the test has already failed by then)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


# an in-process PlanView (threads, as the development server and close_app run it) -------------

def _blocking_view(tmp_path, **kw) -> plan_view.PlanView:
    view = plan_view.PlanView(["unused"], None, str(tmp_path), **kw)
    view.command = [sys.executable, "-c", BLOCKER]
    return view


def _ask(view: plan_view.PlanView, day: date) -> tuple[threading.Thread, list]:
    """A request that waits for its plan (30 s at most) in a thread: what it was answered."""
    answers: list = []

    def ask():
        try:
            answers.append(view.request(day, wait_s=30))
        except plan_view.PlanFailed as exc:
            answers.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    return thread, answers


def test_close_terminates_the_running_child_and_tells_the_director(tmp_path, leftovers):
    view = _blocking_view(tmp_path)
    running, said_running = _ask(view, date(2026, 11, 10))
    [child] = wait_for(lambda: _plan_children(os.getpid()), 30, "the child started")
    leftovers.append(child)
    queued, said_queued = _ask(view, date(2026, 11, 11))
    wait_for(lambda: view.request(date(2026, 11, 11), wait_s=0).state == "queued", 30, "the second job queued")
    assert list((tmp_path / "plan-jobs").iterdir())  # the child's answer file, while it runs
    view.close()
    assert not _alive(child)  # close() returns when it is gone
    for thread, said in ((running, said_running), (queued, said_queued)):
        thread.join(30)
        [err] = said
        assert isinstance(err, plan_view.PlanFailed)
        assert err.http_status == 503 and err.message.startswith("Máy chủ đang dừng")
    with pytest.raises(plan_view.PlanFailed):  # and no new job starts
        view.request(date(2026, 11, 12), wait_s=0)
    assert view.wait_idle(30)
    assert list((tmp_path / "plan-jobs").iterdir()) == []  # nothing half-written is left
    view.close()  # again: nothing to do


def test_a_plan_past_the_timeout_is_stopped_with_a_clear_message(tmp_path, leftovers):
    view = _blocking_view(tmp_path, timeout_s=1.0)
    seen: list[int] = []
    watcher = threading.Thread(target=lambda: seen.extend(
        wait_for(lambda: _plan_children(os.getpid()), 30, "the child started")))
    watcher.start()
    with pytest.raises(plan_view.PlanFailed) as err:
        view.plan(date(2026, 11, 10))
    watcher.join()
    leftovers.extend(seen)
    assert err.value.http_status == 503
    assert err.value.message.startswith("Lập kế hoạch quá 1 giây nên đã dừng (giới hạn [planning] timeout_s)")
    vi, en = err.value.message.split("; ", 1)  # how the pages part it
    assert vi.endswith("không kiểm tra bằng mô phỏng") and en.endswith("without the simulated check")
    assert seen and not any(_alive(pid) for pid in seen)
    assert plan_view.timed_out(3600).startswith("Lập kế hoạch quá 60 phút nên đã dừng")


def test_the_child_dies_when_its_server_process_is_killed(tmp_path, leftovers):
    """The parent (a PlanView in its own process, threaded) killed with SIGKILL: nothing of it
    runs any more, and its child goes at once (Linux's parent-death signal)."""
    server = subprocess.Popen([sys.executable, "-c", f"""
import sys, threading
from datetime import date
from server.insight import plan_view
view = plan_view.PlanView(["unused"], None, {str(tmp_path)!r})
view.command = [sys.executable, "-c", {BLOCKER!r}]
view.request(date(2026, 11, 10), wait_s=0)
threading.Event().wait()
"""], cwd=ROOT)
    leftovers.append(server.pid)
    try:
        [child] = wait_for(lambda: _plan_children(server.pid), 30, "the child started")
        leftovers.append(child)
        server.kill()
        server.wait(10)
        wait_for(lambda: not _alive(child), 10, f"the child {child} gone after its parent was killed")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_child_whose_server_died_before_it_started_does_not_run(tmp_path):
    """The moment between the fork and the parent-death call: a child that finds another
    parent than the one named ends at once, and never plans."""
    out = subprocess.run([sys.executable, "-m", "server.insight.plan_child", "plan", "--date", "2026-11-10",
                          "--history", str(tmp_path), "--out", str(tmp_path / "p.json")],
                         cwd=ROOT, env={**os.environ, plan_child.PARENT_ENV: "1"}, capture_output=True, timeout=60)
    assert out.returncode == 1 and not (tmp_path / "p.json").exists() and out.stderr == b""


# a real `qms serve`: gunicorn's master, its gevent worker, and the real `qms plan` child --------

def _director(srv: LiveServer) -> dict:
    r = requests.post(srv.url + "/api/v1/auth/login", json={"username": "giamdoc", "password": "matkhau-123"},
                      timeout=30)
    r.raise_for_status()
    return srv.bearer(r.json()["token"])


def _server(state: Path, history: Path) -> LiveServer:  # noqa: F811
    return LiveServer(state, settings_extra=f'\n[planning]\nhistory = ["{history}"]\n')


def _ask_checked_plan(srv: LiveServer, headers: dict) -> tuple[threading.Thread, list]:
    """A director asks for a checked plan (minutes of CPU); the request waits in a thread."""
    answers: list = []

    def ask():
        try:
            answers.append(requests.get(srv.url + "/api/v1/plan", params={"date": "2026-11-10"}, headers=headers,
                                        timeout=60))
        except requests.RequestException as exc:
            answers.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    return thread, answers


def test_stopping_the_server_stops_the_plan_and_the_director_is_told(tmp_path, history, leftovers):  # noqa: F811
    srv = _server(tmp_path / "state", history).start()
    try:
        srv.add_user("giamdoc", "director")
        thread, answers = _ask_checked_plan(srv, _director(srv))
        [child] = wait_for(lambda: _plan_children(srv.proc.pid), 30, "the plan's child started")
        leftovers.append(child)
        os.kill(srv.proc.pid, signal.SIGTERM)  # gunicorn's master only, as `kill PID` or KillMode=mixed
        wait_for(lambda: not _alive(child), 10, f"the plan's child {child} gone after SIGTERM")
        thread.join(30)
        [answer] = answers
        assert answer.status_code == 503 and answer.json()["message"].startswith("Máy chủ đang dừng")
        assert srv.proc.wait(15) == 0
    finally:
        srv.stop()


def test_a_server_killed_hard_takes_its_plan_along_and_plans_again_after_a_restart(tmp_path, history,  # noqa: F811
                                                                                   leftovers):
    state = tmp_path / "state"
    srv = _server(state, history).start()
    try:
        srv.add_user("giamdoc", "director")
        thread, _ = _ask_checked_plan(srv, _director(srv))
        [child] = wait_for(lambda: _plan_children(srv.proc.pid), 30, "the plan's child started")
        leftovers.append(child)
        worker = _stat(child)[1]
        os.kill(srv.proc.pid, signal.SIGKILL)  # master and worker, each by its pid (not the group)
        os.kill(worker, signal.SIGKILL)
        srv.proc.wait(10)
        wait_for(lambda: not _alive(child), 10, f"the plan's child {child} gone after the server's SIGKILL")
        thread.join(30)
        assert list((state / "plan-jobs").iterdir())  # the killed job's answer file, never read
    finally:
        srv.stop()
    again = _server(state, history).start()  # the same state directory and database
    try:
        r = requests.get(again.url + "/api/v1/plan", params={"date": "2026-11-10", "check": "false"},
                         headers=_director(again), timeout=60)
        while r.status_code == 202:  # a new job: asked again as the page does
            time.sleep(r.json()["retry_after_s"])
            r = requests.get(again.url + "/api/v1/plan", params={"date": "2026-11-10", "check": "false"},
                             headers=_director(again), timeout=60)
        assert r.status_code == 200 and r.json()["date"] == "2026-11-10" and r.json()["slots"]
        assert list((state / "plan-jobs").iterdir()) == []  # what the killed job left is gone
    finally:
        again.stop()


def test_the_plan_page_says_the_server_stopped_its_plan(tmp_path, history, browser, leftovers):  # noqa: F811
    """In Chromium: a director waiting for a checked plan reads why it stopped when the server does."""
    from playwright.sync_api import expect

    from tests.browser import DESK, new_page, sign_in
    srv = _server(tmp_path / "state", history).start()
    try:
        srv.add_user("giamdoc", "director")
        page = new_page(browser, DESK)
        page.goto(srv.url + "/dashboard/plan")
        sign_in(page, "giamdoc")
        page.wait_for_function("() => window.qmsPlan.plan && !window.qmsPlan.busy", timeout=60_000)  # tomorrow's, quick
        page.fill("#plan-date", "2026-11-10")
        page.check("#plan-check")
        page.click("#plan-submit")
        [child] = wait_for(lambda: _plan_children(srv.proc.pid), 30, "the checked plan's child started")
        leftovers.append(child)
        os.kill(srv.proc.pid, signal.SIGTERM)
        expect(page.locator("#error-vi")).to_contain_text("Máy chủ đang dừng nên việc lập kế hoạch đã dừng lại",
                                                          timeout=15_000)
        expect(page.locator("#error-vi")).to_contain_text("hãy mở lại trang khi máy chủ chạy lại")
        expect(page.locator("#error-en")).to_have_text(" the server is stopping: the plan was stopped, "
                                                       "ask again when the server is back")
        page.wait_for_function("() => !window.qmsPlan.busy", timeout=15_000)  # it stopped asking
        assert not _alive(child) and not page.errors
        page.context.close()
    finally:
        srv.stop()
