"""The dashboard's plan page: exactly ``qms plan --date D [--absent ...] --format json``.

It runs the command's own function (``server/planning/command.py``, ``run_plan``) with the
history and roster of the ``[planning]`` settings, so the page and the command can never
disagree. Plans are kept (a day's plan depends only on its inputs) and computed one at a time.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from argparse import Namespace
from collections import OrderedDict
from datetime import date

from qms_common.errors import NotFound, QmsError

KEEP = 16


class PlanView:
    def __init__(self, history: list[str], staff: str | None, state_dir: str) -> None:
        self.history = list(history)
        self.staff = staff
        self.state_dir = state_dir
        self._cache: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def plan(self, day: date, absent: tuple[str, ...] = (), check: bool = True, runner=None) -> dict:
        """The plan; ``runner(fn, *args)`` runs the computation (``server.blocking.run_blocking``)."""
        if not self.history:
            raise NotFound("Chưa cấu hình lịch sử để lập kế hoạch ([planning] history trong server.toml, "
                           "docs/configuration.md); no planning history is configured", setting="planning.history")
        key = (day.isoformat(), tuple(sorted(set(absent))), check)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            result = (runner or (lambda fn, *a: fn(*a)))(self._run, day, key[1], check)
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
        from ..planning.command import run_plan
        os.makedirs(self.state_dir, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="plan-", suffix=".json", dir=self.state_dir)
        os.close(fd)
        try:
            args = Namespace(date=day.isoformat(), history=self.history, staff=self.staff, absent=",".join(absent),
                             format="json", no_check=not check, out=path)
            try:
                run_plan(args)
            except QmsError:
                raise
            except ValueError as exc:   # the forecast refuses a history without an earlier day
                raise QmsError(str(exc)) from None
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        finally:
            os.unlink(path)
