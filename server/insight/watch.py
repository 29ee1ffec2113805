"""The dashboard's watch over the day: reads the engine, runs the pure cores, keeps the alert log.

One per app (``app.extensions["qms_watch"]``). :meth:`Watch.observe` is called by the dashboard's
API and by the MQTT link's worker every cycle, so the log's times are those of the first look
after a change (within the link's tick, a second, when MQTT runs; within the dashboard's refresh
otherwise). Nothing starts at construction.
"""
from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from typing import Any

from qms_common.clock import Clock, local_timestamp

from ..engine.controls import control_message
from .alert_log import AlertLog
from .charts import day_charts, history_from_events
from .overload import current_rates, overload_flags

HISTORY_DAYS = 70         # the forecast reads up to ten weeks of earlier days
MIN_OBSERVE_S = 1.0       # several callers within a second share one look (unless an event came)


def _rows(rows) -> list[dict]:
    return [{**dict(r), "data": json.loads(r["data"])} for r in rows]


class Watch:
    def __init__(self, engine: Any, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.log = AlertLog(store=engine.store)   # on disk: survives a restart
        self._lock = threading.Lock()
        self._last: dict | None = None
        self._last_mono = -1e9
        self._last_seq = -1
        self._history: tuple[date, list] | None = None

    # --- reading the log ---------------------------------------------------------------------
    def today_events(self, day: date | None = None) -> list[dict]:
        """The day's ticket events and the counters' events of that day, in order."""
        day = day or self.engine.today()
        cfg = self.engine.config
        lo, hi = day.strftime("%Y%m%d"), (day + timedelta(days=1)).strftime("%Y%m%d")
        start = local_timestamp(day, "00:00", cfg.tz)
        end = local_timestamp(day + timedelta(days=1), "00:00", cfg.tz)
        rows = self.engine.store.conn().execute(
            "SELECT * FROM events WHERE (ticket_id >= ? AND ticket_id < ?) OR "
            "(ticket_id IS NULL AND type LIKE 'counter_%' AND at >= ? AND at < ?) ORDER BY seq",
            (lo, hi, start, end)).fetchall()
        return _rows(rows)

    def log_of_today(self, after: int = 0) -> list[dict]:
        """The log's entries after ``after`` made today (the center's day, from local midnight):
        the dashboard's "Nhật ký … hôm nay" shows times only, so yesterday's evening must not
        read as this morning's. The MQTT stream reads the whole log (``self.log.after``)."""
        start = local_timestamp(self.engine.today(), "00:00", self.engine.config.tz)
        return [e for e in self.log.after(after) if e["at"] >= start]

    def history(self, day: date) -> list:
        """Earlier days' arrivals from the event log (read once a day)."""
        if self._history is None or self._history[0] != day:
            lo = (day - timedelta(days=HISTORY_DAYS)).strftime("%Y%m%d")
            rows = self.engine.store.conn().execute(
                "SELECT * FROM events WHERE type = 'ticket_issued' AND ticket_id >= ? AND ticket_id < ? ORDER BY seq",
                (lo, day.strftime("%Y%m%d"))).fetchall()
            self._history = (day, history_from_events(_rows(rows), self.engine.config, day))
        return self._history[1]

    # --- the figures ----------------------------------------------------------------------------
    def controls(self) -> list[dict]:
        """Today's changes the director applied or undid (``counter_control_*`` events), oldest first."""
        out = []
        for e in self.today_events():
            if e["type"] not in ("counter_control_applied", "counter_control_undone"):
                continue
            d = e["data"] or {}
            before, after = d.get("before"), d.get("after")
            message = (control_message(self.engine.config, d.get("action") or "", before, after)
                       if isinstance(before, dict) and isinstance(after, dict) else None)
            out.append({"seq": e["seq"], "at": e["at"], "event": "applied" if e["type"].endswith("applied") else "undone",
                        "change_id": d.get("change_id"), "counter": d.get("counter", e.get("counter")),
                        "action": d.get("action"), "before": before, "after": after, "message": message,
                        "by": d.get("by") or e.get("actor")})
        return out

    def charts(self) -> dict:
        day = self.engine.today()
        return day_charts(self.today_events(day), self.engine.config, day=day, now=self.clock.now(),
                          history=self.history(day))

    def observe(self, force: bool = False) -> dict:
        """The alerts and overload flags now, with the changes this look found (each consumer of
        the log reads it by number, ``self.log.after(last_id)``, so none misses a change)."""
        with self._lock:
            mono = self.clock.monotonic()
            engine = self.engine
            if (not force and self._last is not None and engine.last_seq() == self._last_seq
                    and mono - self._last_mono < MIN_OBSERVE_S):
                return {**self._last, "changes": []}
            snap = engine.snapshot()  # the figures and the alerts of one state, the seq they reflect
            seq, services, counters, alerts = snap["seq"], snap["services"], snap["counters"], snap["alerts"]
            # the time of the look is read after the alerts: the engine judged them at its own
            # clock reading, and the log must not stamp a change earlier than that (an injected
            # clock moved meanwhile made a clear look 900 s shorter than it was)
            now = self.clock.now()
            rates = current_rates(self.today_events(), now)
            flags = overload_flags(engine.config, services, counters, rates, now)
            as_alerts = [{"kind": f"overload_{f['kind']}", "severity": c["severity"], "site": c["site"],
                          "service": f["service"], "counter": c["counter"], "message": f["message"]}
                         for c in flags for f in c["flags"] if f["kind"] != "service_overrun"]  # already an alert
            changes = self.log.update([*alerts, *as_alerts], now)
            self._last = {"at": now, "alerts": alerts, "overload": flags, "active": self.log.active_list()}
            self._last_mono, self._last_seq = mono, seq
            return {**self._last, "changes": changes}
