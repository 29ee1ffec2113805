"""What the wait estimate has learned from the event log, kept per day: the model of service
times, no-shows and patience (``learned.learn``) from the last ``HISTORY_DAYS`` days and today
(today relearned at most every ``RELEARN_S``), and the calibration of its 80 % interval
(``calibration.py``) from the raw intervals printed on earlier tickets.

``Learning`` is mixed into :class:`~server.engine.waits.WaitEstimator`, whose ``__init__`` sets
what it reads and keeps: ``config``, ``_lock``, ``_history``, ``_model``, ``_history_rows`` and
``_calibration``.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Sequence

from qms_common.clock import local_datetime

from .calibration import Calibration, learn_calibration
from .forecast import Estimate, Forecast
from .learned import Model, Observations, learn
from .states import END_OF_DAY

HISTORY_DAYS = 28
RELEARN_S = 60.0


def _observations(conn: sqlite3.Connection, where: str, args: Sequence, now: float) -> Observations:
    obs = Observations()
    rows = conn.execute(f"SELECT service, clerk, finished_at - started_at, started_at - called_at FROM tickets "
                        f"WHERE {where} AND state = 'done' AND started_at IS NOT NULL "
                        "AND finished_at > started_at", args).fetchall()  # a clock stepped back: no time
    obs.durations = [(r[0], r[1], r[2]) for r in rows]
    obs.walks = [r[3] for r in rows if r[3] is not None]
    obs.running = [(r[0], now - r[1]) for r in conn.execute(
        f"SELECT service, started_at FROM tickets WHERE {where} AND state = 'serving' AND started_at IS NOT NULL",
        args)]
    obs.calls = conn.execute(f"SELECT count(*) FROM tickets WHERE {where} AND first_called_at IS NOT NULL",
                             args).fetchone()[0]
    holds = conn.execute(f"SELECT e.at - t.called_at FROM events e JOIN tickets t ON t.id = e.ticket_id "
                         f"WHERE e.type = 'ticket_no_show' AND {where.replace('day', 't.day')}", args).fetchall()
    obs.holds = [h[0] for h in holds if h[0] is not None]
    obs.no_shows = len(holds)
    for state, reason, wait_from, first_called, finished in conn.execute(
            f"SELECT state, reason, wait_from, first_called_at, finished_at FROM tickets WHERE {where}", args):
        if first_called is not None:
            obs.stayed.append(first_called - wait_from)
        elif state == "abandoned" and reason != END_OF_DAY and finished is not None:
            obs.left.append(finished - wait_from)
        elif state in ("waiting", "called", "parked"):
            obs.stayed.append(now - wait_from)
        elif finished is not None:
            obs.stayed.append(finished - wait_from)
    return obs


def _interval_rows(conn: sqlite3.Connection, first: str, last: str, *, waiting_at: float | None = None
                   ) -> list[tuple[float, float, float, float]]:
    """(raw estimate, raw low, raw high, actual wait) of the tickets of days ``first`` to before
    ``last`` that were called, from their ``ticket_issued`` events; with ``waiting_at``, of those
    still waiting then, with their wait so far."""
    if waiting_at is None:
        sql, args = "t.first_called_at IS NOT NULL", ()
        wait = "t.first_called_at - t.issued_at"
    else:
        sql, args = "t.state = 'waiting' AND t.first_called_at IS NULL", ()
        wait = f"{float(waiting_at)!r} - t.issued_at"
    out = []
    for raw, actual in conn.execute(
            f"SELECT json_extract(e.data, '$.predicted_raw_s'), {wait} FROM tickets t "
            "JOIN events e ON e.ticket_id = t.id AND e.type = 'ticket_issued' "
            f"WHERE t.day >= ? AND t.day < ? AND {sql}", (first, last, *args)):
        if raw is None or actual is None:
            continue
        try:
            mean, low, high = (float(x) for x in json.loads(raw))
        except (ValueError, TypeError):
            continue
        out.append((mean, low, high, max(0.0, actual)))
    return out


class Learning:
    def model(self, conn: sqlite3.Connection, now: float) -> Model:
        day = local_datetime(now, self.config.tz).date()
        key = day.isoformat()
        with self._lock:
            if self._model and self._model[0] == key and now - self._model[1] < RELEARN_S:
                return self._model[2]
            if not self._history or self._history[0] != key:
                first = (day - timedelta(days=HISTORY_DAYS)).isoformat()
                self._history = (key, _observations(conn, "day >= ? AND day < ?", (first, key), now))
            today = _observations(conn, "day = ?", (key,), now)
            priors = {s.code: s.mean_service_min * 60 for s in self.config.services}
            model = learn(self._history[1].extend(today), priors)
            self._model = (key, now, model)
            return model

    def calibration(self, conn: sqlite3.Connection, now: float) -> Calibration:
        """How far to widen the sample paths' interval (``calibration.py``), relearned with the model."""
        day = local_datetime(now, self.config.tz).date()
        key = day.isoformat()
        with self._lock:
            if self._calibration and self._calibration[0] == key and now - self._calibration[1] < RELEARN_S:
                return self._calibration[2]
            if not self._history_rows or self._history_rows[0] != key:
                first = (day - timedelta(days=HISTORY_DAYS)).isoformat()
                rows = _interval_rows(conn, first, key)
                self._history_rows = (key, learn_calibration(rows, weight=0.0) if rows else Calibration())
            tomorrow = (day + timedelta(days=1)).isoformat()
            cal = learn_calibration(_interval_rows(conn, key, tomorrow),
                                    still_waiting=_interval_rows(conn, key, tomorrow, waiting_at=now),
                                    prior=self._history_rows[1])
            self._calibration = (key, now, cal)
            return cal

    @staticmethod
    def _calibrated(result: Forecast, cal: Calibration, only=None) -> Forecast:
        """The forecast with calibrated intervals; with ``only``, just that one estimate (the
        others of such a forecast are cut short and never read)."""
        def one(e: Estimate) -> Estimate:
            low, high = cal.apply(e.wait_s, e.low_s, e.high_s)
            return Estimate(e.wait_s, low, high, e.called_share, e.low_s, e.high_s, e.split)
        out = Forecast(result.now)
        if only is None:
            out.tickets = {k: one(e) for k, e in result.tickets.items()}
            out.new = {k: one(e) for k, e in result.new.items()}
        elif isinstance(only, tuple):
            out.new = {k: one(e) for k, e in result.new.items() if k == only}
        else:
            out.tickets = {k: one(e) for k, e in result.tickets.items() if k == only}
        return out
