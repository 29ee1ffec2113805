"""The dashboard's plan page: exactly ``qms plan --date D [--absent ...] --format json``.

It runs the command itself with the history and roster of the ``[planning]`` settings, so the
page and the command can never disagree. Plans are kept (a day's plan depends only on its inputs).

The computation runs in a child process (``server.cli``'s ``qms plan ... --format json``, at a
lower CPU priority), never in the server: a checked plan is one to several minutes of pure-Python
CPU (hundreds of simulated days, ``docs/performance.md`` §11), which on the event loop would stop
every kiosk, and on a pool thread would hold the GIL against it (the convoy measured in §8).

It is a job, not a request: a director's request waits at most ``WAIT_S`` for it (a plan without
the simulated check, and any mistake the command finds, is usually back by then), then hears
"being made" (``PlanPending``: queued or running, for how long, how many ahead) and asks again;
the plan is made once whoever asks, and kept. Jobs run one at a time, in the order asked, in one
background worker (a greenlet under gevent, whose wait for the child is cooperative:
``subprocess`` is patched). A job that failed answers its error to the next request, once; the
request after that starts it again.

The child never outlives the server: ``close()`` (the worker told to stop, ``server/worker.py``;
the development server ending; ``close_app``) terminates it, then kills it after
``STOP_GRACE_S``; a server killed hard takes it along (``plan_child.py``: Linux's parent-death
signal). Its answer file is in ``<state_dir>/plan-jobs/``, emptied when the first job of a server
starts, so a job cut by a stop leaves nothing read later: plans are kept in memory only, and
after a restart the next request starts a new job. ``[planning] timeout_s`` bounds each job.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from qms_common.errors import NotFound, QmsError

from .plan_child import PARENT_ENV

KEEP = 16
TIMEOUT_S = 3600.0  # the default of [planning] timeout_s (server/settings.py says why)
WAIT_S = 15.0  # a request waits this long for its plan before it is told "being made"
RETRY_AFTER_S = 3  # ... and to ask again after this long
STOP_GRACE_S = 2.0  # a child told to stop (SIGTERM) is killed after this; gunicorn gives the worker 3 s
JOBS_DIR = "plan-jobs"  # in the state directory: the children's answer files
ROOT = Path(__file__).resolve().parents[2]
# Vietnamese, "; ", English: the pages show the part before the first "; " as the Vietnamese
STOPPING = ("Máy chủ đang dừng nên việc lập kế hoạch đã dừng lại, hãy mở lại trang khi máy chủ chạy lại; "
            "the server is stopping: the plan was stopped, ask again when the server is back")


def child_command() -> list[str]:
    """The child: ``qms plan`` that dies with the server and runs niced (``plan_child.py``)."""
    return [sys.executable, "-m", "server.insight.plan_child"]


def timed_out(timeout_s: float) -> str:
    """What the director reads when a plan took longer than ``[planning] timeout_s``."""
    vi, en = ((f"{timeout_s / 60:.0f} phút", f"{timeout_s / 60:.0f} min") if timeout_s >= 60 else
              (f"{timeout_s:.0f} giây", f"{timeout_s:.0f} s"))
    return (f"Lập kế hoạch quá {vi} nên đã dừng (giới hạn [planning] timeout_s), hãy thử lại lúc máy chủ ít "
            f"việc hơn, hoặc lập kế hoạch không kiểm tra bằng mô phỏng; the plan took more than {en} and was "
            f"stopped ([planning] timeout_s): try again when the server is less busy, or without the simulated "
            f"check")


class PlanFailed(QmsError):
    """The child process could not make the plan."""
    http_status = 503


@dataclass
class _Job:
    key: tuple
    asked: float = field(default_factory=time.monotonic)
    started: float | None = None
    result: dict | None = None
    error: Exception | None = None
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class PlanPending:
    """A plan being made: ``state`` queued or running, for ``running_s``, ``ahead`` jobs before it."""
    state: str
    running_s: float
    ahead: int

    def as_dict(self) -> dict:
        running = self.state == "running"
        vi = (f"Đang lập kế hoạch… (đã {self.running_s:.0f} giây)" if running else
              f"Đang chờ lập kế hoạch: {self.ahead} kế hoạch đang làm trước")
        en = (f"the plan is being made ({self.running_s:.0f} s so far)" if running else
              f"waiting for {self.ahead} plan(s) being made first")
        return {"state": self.state, "running_s": round(self.running_s, 1), "ahead": self.ahead,
                "retry_after_s": RETRY_AFTER_S, "message": f"{vi}; {en}"}


class PlanView:
    def __init__(self, history: list[str], staff: str | None, state_dir: str,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.history = list(history)
        self.staff = staff
        self.state_dir = state_dir
        self.timeout_s = timeout_s
        self.command = child_command()
        self._cache: OrderedDict[tuple, dict] = OrderedDict()
        self._jobs: dict[tuple, _Job] = {}   # asked and not kept: queued, running, or failed
        self._queue: list[tuple] = []        # the keys still to run, in the order asked
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._child: subprocess.Popen | None = None  # the running job's process
        self._swept = False                  # the answer files of an earlier server removed
        self._closed = False

    def _check_history(self) -> None:
        if not self.history:
            raise NotFound("Chưa cấu hình lịch sử để lập kế hoạch ([planning] history trong server.toml, "
                           "docs/configuration.md); no planning history is configured", setting="planning.history")

    def request(self, day: date, absent: tuple[str, ...] = (), check: bool = True,
                wait_s: float | None = None) -> dict | PlanPending:
        """The plan if kept or made within ``wait_s``; else what is being done about it. A job
        that failed raises its error (once)."""
        self._check_history()
        key = (day.isoformat(), tuple(sorted(set(absent))), check)
        with self._lock:
            if self._closed:
                raise PlanFailed(STOPPING)
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            job = self._jobs.get(key)
            if job is None:
                job = self._jobs[key] = _Job(key)
                self._queue.append(key)
                if self._worker is None:
                    self._worker = threading.Thread(target=self._work, name="qms-plan", daemon=True)
                    self._worker.start()
        job.done.wait(WAIT_S if wait_s is None else wait_s)
        with self._lock:
            if job.done.is_set():
                if job.error is not None:
                    if self._jobs.get(key) is job:
                        del self._jobs[key]  # told once: the next request starts it again
                    raise job.error
                return job.result
            if job.started is not None:
                return PlanPending("running", time.monotonic() - job.started, 0)
            running = sum(1 for j in self._jobs.values() if j.started is not None and not j.done.is_set())
            return PlanPending("queued", time.monotonic() - job.asked, self._queue.index(key) + running)

    def plan(self, day: date, absent: tuple[str, ...] = (), check: bool = True) -> dict:
        """The plan, waiting for it however long it takes (``timeout_s`` bounds the child)."""
        result = self.request(day, absent, check, wait_s=self.timeout_s + 60)
        if isinstance(result, PlanPending):
            raise PlanFailed(timed_out(self.timeout_s))
        return result

    def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop for good: the queued jobs fail with "the server is stopping", the running child
        is terminated (SIGTERM), then killed if still there after ``grace_s``. Returns when it is
        gone. Safe to call again, from any thread or greenlet."""
        with self._lock:
            self._closed = True
            for key in self._queue:
                job = self._jobs.pop(key)
                job.error = PlanFailed(STOPPING)
                job.done.set()
            self._queue.clear()
            child = self._child
        if child is not None:
            _stop(child, grace_s)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no job is queued or running (tests), or ``timeout`` seconds."""
        with self._lock:
            jobs = list(self._jobs.values())
        deadline = time.monotonic() + timeout
        return all(j.done.wait(max(0.0, deadline - time.monotonic())) for j in jobs)

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._worker = None
                    return
                key = self._queue.pop(0)
                job = self._jobs[key]
                job.started = time.monotonic()
            day, absent, check = key
            try:
                job.result = self._run(date.fromisoformat(day), absent, check)
                with self._lock:
                    self._cache[key] = job.result
                    while len(self._cache) > KEEP:
                        self._cache.popitem(last=False)
                    del self._jobs[key]
            except QmsError as exc:
                job.error = exc
            except Exception as exc:  # noqa: BLE001 - the director hears it, the worker goes on
                job.error = PlanFailed(f"Không lập được kế hoạch ({exc}); the plan could not be made")
            finally:
                job.done.set()

    def roster(self) -> dict:
        """The clerks of the roster the plan uses (for the what-if form), and the history's days."""
        self._check_history()
        from ..simulator import history_days
        days = [sc for sc in history_days(self.history) if sc.center.date is not None]
        if not days:
            raise NotFound("Lịch sử không có ngày nào; the planning history has no day", setting="planning.history")
        days.sort(key=lambda sc: sc.center.date)
        if self.staff:
            import csv
            try:
                with open(self.staff, encoding="utf-8", newline="") as f:
                    clerks = sorted({r["clerk"] for r in csv.DictReader(f)})
            except (OSError, KeyError) as exc:
                raise QmsError(f"Không đọc được lịch trực {self.staff}; cannot read the roster ({exc})") from None
        else:
            clerks = sorted({r.clerk for r in days[-1].shifts})
        return {"clerks": clerks, "history_days": len(days), "first_day": days[0].center.date.isoformat(),
                "last_day": days[-1].center.date.isoformat()}

    def _run(self, day: date, absent: tuple[str, ...], check: bool) -> dict:
        folder = Path(self.state_dir) / JOBS_DIR
        if not self._swept:  # what a job cut by a hard stop of an earlier server left
            shutil.rmtree(folder, ignore_errors=True)
            self._swept = True
        folder.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="plan-", suffix=".json", dir=folder)
        os.close(fd)
        argv = ["plan", "--date", day.isoformat(), "--history", *self.history, "--absent", ",".join(absent),
                "--format", "json", "--out", path]
        if self.staff:
            argv += ["--staff", self.staff]
        if not check:
            argv.append("--no-check")
        try:
            returncode, stderr = self._child_run(argv)
            if returncode != 0:
                # the command's own clear message ("qms: ..."), as `qms plan` prints it
                lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
                said = next((ln[len("qms: "):] for ln in reversed(lines) if ln.startswith("qms: ")), None)
                if returncode == 2 and said:
                    raise QmsError(said)
                raise PlanFailed(f"Không lập được kế hoạch ({lines[-1] if lines else returncode}); "
                                 "the plan could not be made")
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        finally:
            os.unlink(path)

    def _child_run(self, argv: list[str]) -> tuple[int, bytes]:
        """Run the child to its end, ``timeout_s`` at most; its exit status and stderr."""
        with self._lock:
            if self._closed:
                raise PlanFailed(STOPPING)
            # stdin: nothing to read; its stdout (empty: the plan goes to the answer file) and
            # stderr are read to the end, so that a chatty child never blocks on a full pipe
            child = self._child = subprocess.Popen(
                [*self.command, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=ROOT, env={**os.environ, PARENT_ENV: str(os.getpid())})
        try:
            try:
                _, stderr = child.communicate(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                _stop(child, STOP_GRACE_S)
                child.communicate()  # what is left in its pipes, and close them
                raise PlanFailed(timed_out(self.timeout_s)) from None
        finally:
            with self._lock:
                self._child = None
                closed = self._closed
        if closed:  # terminated by close(): whatever it wrote is not a plan
            raise PlanFailed(STOPPING)
        return child.returncode, stderr


def _stop(child: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; returns when the process has ended."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(grace_s)
            return
        except subprocess.TimeoutExpired:
            child.kill()
    child.wait()
