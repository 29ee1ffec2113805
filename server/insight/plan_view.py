"""The dashboard's plan page: exactly ``qms plan --date D [--absent ...] --format json``.

It runs the command itself with the history and roster of the ``[planning]`` settings, so the
page and the command can never disagree. Plans are kept (a day's plan depends only on its inputs) and computed one at a time.

The computation runs in a child process (``server.cli``'s ``qms plan ... --format json``, at a
lower CPU priority), never in the server: a checked plan is one to several minutes of pure-Python
CPU (hundreds of simulated days, ``docs/performance.md`` §11), which on the event loop would stop
every kiosk, and on a pool thread would hold the GIL against it (the convoy measured in §8).
Under gevent the wait for the child is cooperative (``subprocess`` is patched): only the director
who asked waits.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from datetime import date
from pathlib import Path

from qms_common.errors import NotFound, QmsError

KEEP = 16
TIMEOUT_S = 1200.0  # a checked plan took 47-723 s on the reference machine, loaded (§11)
# the child: the command itself, niced so that the server's own work goes first
CHILD = ("import os, sys; os.nice(10); from server.cli import main; sys.exit(main(sys.argv[1:]))",)


class PlanFailed(QmsError):
    """The child process could not make the plan."""
    http_status = 503


class PlanView:
    def __init__(self, history: list[str], staff: str | None, state_dir: str) -> None:
        self.history = list(history)
        self.staff = staff
        self.state_dir = state_dir
        self._cache: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def plan(self, day: date, absent: tuple[str, ...] = (), check: bool = True) -> dict:
        """The plan, made in a child process (``_run``) unless it is kept."""
        if not self.history:
            raise NotFound("Chưa cấu hình lịch sử để lập kế hoạch ([planning] history trong server.toml, "
                           "docs/configuration.md); no planning history is configured", setting="planning.history")
        key = (day.isoformat(), tuple(sorted(set(absent))), check)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            result = self._run(day, key[1], check)
            self._cache[key] = result
            while len(self._cache) > KEEP:
                self._cache.popitem(last=False)
            return result

    def roster(self) -> dict:
        """The clerks of the roster the plan uses (for the what-if form), and the history's days."""
        if not self.history:
            raise NotFound("Chưa cấu hình lịch sử để lập kế hoạch ([planning] history trong server.toml, "
                           "docs/configuration.md); no planning history is configured", setting="planning.history")
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
        os.makedirs(self.state_dir, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="plan-", suffix=".json", dir=self.state_dir)
        os.close(fd)
        argv = ["plan", "--date", day.isoformat(), "--history", *self.history, "--absent", ",".join(absent),
                "--format", "json", "--out", path]
        if self.staff:
            argv += ["--staff", self.staff]
        if not check:
            argv.append("--no-check")
        try:
            try:
                out = subprocess.run([sys.executable, "-c", *CHILD, *argv], capture_output=True, timeout=TIMEOUT_S,
                                     cwd=Path(__file__).resolve().parents[2])
            except subprocess.TimeoutExpired:
                raise PlanFailed(f"Lập kế hoạch quá {TIMEOUT_S / 60:.0f} phút; the plan took too long") from None
            if out.returncode != 0:
                # the command's own clear message ("qms: ..."), as `qms plan` prints it
                lines = [ln for ln in out.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
                said = next((ln[len("qms: "):] for ln in reversed(lines) if ln.startswith("qms: ")), None)
                if out.returncode == 2 and said:
                    raise QmsError(said)
                raise PlanFailed(f"Không lập được kế hoạch ({lines[-1] if lines else out.returncode}); "
                                 "the plan could not be made")
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        finally:
            os.unlink(path)
