"""The scheduled reports: by default every Thursday at 07:00 (center time) the past week's,
optionally each morning the day before's; written to the reports folder and announced on MQTT
(``qms/{center}/server/report``, :data:`qms_common.wire.REPORT_READY`).

What is due is decided from the clock and the folder alone (:func:`due`): the latest scheduled
moment that has passed, whose files are not in the folder yet. A server that was down on Thursday
morning writes the week's report when it starts; one restarted twice writes it once.
"""
from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Callable

from qms_common import wire

from . import isolated, period as periods

log = logging.getLogger(__name__)


def _moment(day: date, hhmm: str, tz) -> float:
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, dtime(h, m), tz).timestamp()


def due(now: float, schedule, tz, folder: Path) -> list[tuple[str, periods.Period]]:
    """(kind, period) of the scheduled reports that should exist by ``now`` and do not."""
    today = datetime.fromtimestamp(now, tz).date()
    out = []
    if schedule.weekly:
        day = today - timedelta(days=(today.isoweekday() - schedule.weekly_day) % 7)
        if _moment(day, schedule.weekly_at, tz) > now:
            day -= timedelta(days=7)
        out.append(("weekly", periods.week_of(day - timedelta(days=7))))
    if schedule.daily:
        day = today if _moment(today, schedule.daily_at, tz) <= now else today - timedelta(days=1)
        out.append(("daily", periods.days(day - timedelta(days=1))))
    fmt = schedule.formats[0]
    return [(k, p) for k, p in out if not (folder / f"bao-cao-{p.slug}.{fmt}").exists()]


class ReportScheduler:
    """Runs :func:`due` every minute on its own thread and makes what is due."""

    def __init__(self, engine, schedule, folder: Path, *, publish: Callable[[str, wire.Message], object] | None = None,
                 interval_s: float = 60.0) -> None:
        self.engine = engine
        self.schedule = schedule
        self.folder = Path(folder)
        self.publish = publish
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._empty: set[tuple[str, str]] = set()

    def run_due(self) -> list[Path]:
        written: list[Path] = []
        for kind, period in due(self.engine.clock.now(), self.schedule, self.engine.config.tz, self.folder):
            # the first format is the one due() looks for: write it last, once the others are there
            order = [*self.schedule.formats[1:], self.schedule.formats[0]]
            # built in a child process (isolated.py): the server's loop keeps serving meanwhile. A
            # period without any ticket is found out here, by one indexed query, not by starting a
            # child every minute (a late satellite's events may still fill it: asked again each time)
            report, paths = ((None, []) if not self._has_tickets(period) else
                             isolated.write_all(self.engine, period, self.folder, order, skip_empty=True))
            if report is None or not report["totals"]["issued"]:
                if (kind, period.slug) not in self._empty:
                    log.info("report %s %s: no tickets in the period, nothing written", kind, period.slug)
                    self._empty.add((kind, period.slug))
                continue
            written += paths
            log.info("report %s %s written to %s", kind, period.slug, self.folder)
            if self.publish is not None:
                center = self.engine.config.center.id
                self.publish(wire.REPORT_READY.topic(center=center), wire.ReportReady(
                    kind=kind, period=period.slug, first=period.first.isoformat(), last=period.last.isoformat(),
                    files=[p.name for p in paths], folder=str(self.folder), at=self.engine.clock.now()))
        return written

    def _has_tickets(self, period: periods.Period) -> bool:
        """Any event of a ticket issued in the period (the report's own selection, ``events_of_days``)."""
        lo, hi = period.first.strftime("%Y%m%d"), (period.last + timedelta(days=1)).strftime("%Y%m%d")
        return self.engine.store.conn().execute(
            "SELECT 1 FROM events WHERE ticket_id >= ? AND ticket_id < ? LIMIT 1", (lo, hi)).fetchone() is not None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:  # noqa: BLE001 - a failed report must not stop the next attempt
                log.exception("scheduled report failed; trying again in %.0f s", self.interval_s)
            self._stop.wait(self.interval_s)

    def start(self) -> "ReportScheduler":
        self._thread = threading.Thread(target=self._loop, name="qms-reports", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)


def start_for_app(app, settings) -> ReportScheduler | None:
    """Start the schedule for a running server (``qms serve``), announcing on its MQTT link."""
    if not settings.reports.enabled or not (settings.reports.weekly or settings.reports.daily):
        return None
    link = app.extensions.get("qms_mqtt")
    scheduler = ReportScheduler(app.extensions["qms"].engine, settings.reports, settings.reports_folder,
                                publish=link.publish if link is not None else None).start()
    app.extensions["qms_reports"] = scheduler
    return scheduler
