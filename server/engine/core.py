"""The queue engine: tickets, counters and the append-only event log.

Every state change is one short ``BEGIN IMMEDIATE`` transaction that updates the live
tables and appends an event; listeners (sockets, MQTT) hear about it only after the commit,
so nothing is ever shown that a power cut could take back.
"""
from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from datetime import date
from typing import Any, Callable

from qms_common.clock import Clock, local_datetime, local_timestamp
from qms_common.errors import InvalidTransition, LimitReached, NotFound, QmsError

from ..config import CenterConfig
from ..store import Store
from .alerts import RULE
from .controls import CounterControls
from .day_end import DayEnd
from ..sites import refuse_remote
from .offline import OFFLINE_FIRST, OfflineHandover, format_code
from .idempotency import check_replay
from .forecast import Estimate
from .positions import estimate_fields
from .waits import WaitEstimator
from .ratings import Ratings
from .calling import Calling
from .counters import Counters
from .lifecycle import TicketLifecycle
from .views import Views
from .states import FINAL, State

log = logging.getLogger(__name__)

Listener = Callable[[dict], None]


class CenterClosed(QmsError):
    code = "center_closed"
    http_status = 409


class Engine(OfflineHandover, Ratings, CounterControls, DayEnd, Counters, Calling, TicketLifecycle, Views):
    """The center's queue. Thread-safe; several processes may share the database file."""

    def __init__(self, store: Store, config: CenterConfig, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._listeners: list[Listener] = []
        self._open_day: date | None = None
        self.roster: list | None = None  # today's shifts (engine.waits.Shift); None: the configured hours
        self.waits = WaitEstimator(config)
        self._held_alerts: dict[str, dict[str, dict]] = {}  # per site: each service's memory for the alert rule
        self.alert_rule = RULE  # when a predicted breach is raised and cleared (server/engine/alerts.py)
        self._advisor = None
        self._sync_counters()

    @property
    def advisor(self):
        """The live advice (``server/advice/``), made on first use."""
        if self._advisor is None:
            from ..advice.live import Advisor
            self._advisor = Advisor(self)
        return self._advisor

    # --- plumbing ---------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, events: list[dict]) -> None:
        for event in events:
            for fn in list(self._listeners):
                try:
                    fn(event)
                except Exception:  # a broken screen must never break the queue
                    log.exception("event listener failed for %s", event.get("type"))

    def _event(self, conn: sqlite3.Connection, out: list[dict], type_: str, *, ticket_id: str | None = None,
               counter: int | None = None, actor: str | None = None, device: str | None = None,
               **data: Any) -> dict:
        at = self.clock.now()
        payload = json.dumps(data, ensure_ascii=False, sort_keys=True)
        seq = conn.execute(
            "INSERT INTO events (at, type, ticket_id, counter, actor, device, data) VALUES (?,?,?,?,?,?,?)"
            " RETURNING seq", (at, type_, ticket_id, counter, actor, device, payload)).fetchone()[0]
        event = {"seq": seq, "at": at, "type": type_, "ticket_id": ticket_id, "counter": counter,
                 "actor": actor, "device": device, "data": data}
        out.append(event)
        return event

    def _sync_counters(self) -> None:
        """Make the counters table match the configuration (new counters start closed)."""
        with self.store.write() as conn:
            for c in self.config.counters:
                conn.execute("INSERT INTO counters (number, site) VALUES (?, ?) "
                             "ON CONFLICT (number) DO UPDATE SET site = excluded.site", (c.number, c.site))

    def today(self) -> date:
        return local_datetime(self.clock.now(), self.config.tz).date()

    def _roll_day(self) -> None:
        """On the first operation of a new local day, close what the last day left open, so
        that yesterday's waiting tickets are never called today; and once today's hours and
        their grace are over with no clerk left, end today's for those still waiting
        (``engine/day_end.py``: in the server only)."""
        today = self.today()
        if self._open_day != today:
            self.close_day(today)
            self._open_day = today
        self._end_day_if_over(today)

    def _ticket_row(self, conn: sqlite3.Connection, ticket_id: str) -> dict:
        row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise NotFound(f"Không tìm thấy vé {ticket_id}; no ticket {ticket_id}", ticket=ticket_id)
        return dict(row)

    def ticket(self, ticket_id: str) -> dict:
        return self._ticket_row(self.store.conn(), ticket_id)

    def find_ticket(self, code: str, day: date | None = None) -> dict:
        """A ticket by its printed code (``HT-042``) on a day (today by default)."""
        day = day or self.today()
        row = self.store.conn().execute("SELECT * FROM tickets WHERE day = ? AND code = ?",
                                        (day.isoformat(), code.upper())).fetchone()
        if row is None:
            raise NotFound(f"Không tìm thấy vé {code} ngày {day:%d/%m/%Y}; no ticket {code} on {day}")
        return dict(row)

    def ticket_by_token(self, token: str) -> dict | None:
        row = self.store.conn().execute("SELECT * FROM tickets WHERE status_token = ?", (token,)).fetchone()
        return dict(row) if row else None

    # --- opening hours ------------------------------------------------------------------
    def _check_open(self, now: float) -> None:
        hours = self.config.hours
        if not hours.enforce:
            return
        local = local_datetime(now, self.config.tz)
        hhmm = local.strftime("%H:%M")
        if local.isoweekday() not in hours.work_days or not (hours.opens <= hhmm < hours.closes):
            raise CenterClosed(
                f"Trung tâm ngoài giờ cấp số (mở {hours.opens}–{hours.closes}); "
                f"the center issues tickets {hours.opens}–{hours.closes} on working days",
                opens=hours.opens, closes=hours.closes)

    def seconds_until_open(self, now: float) -> float:
        """Seconds until counters are expected to work (0 during working hours)."""
        hours = self.config.hours
        local = local_datetime(now, self.config.tz)
        hhmm = local.strftime("%H:%M")
        if hhmm < hours.opens:
            return local_timestamp(local.date(), hours.opens, self.config.tz) - now
        if hours.lunch and hours.lunch[0] <= hhmm < hours.lunch[1]:
            return local_timestamp(local.date(), hours.lunch[1], self.config.tz) - now
        return 0.0

    # --- issuing ------------------------------------------------------------------------
    def issue(self, service: str, *, priority: bool = False, site: str | None = None,
              client_ref: str | None = None, source: str = "console", device: str | None = None,
              actor: str | None = None) -> dict:
        """Issue a ticket. The same ``client_ref`` always returns the same ticket."""
        return self.issue_once(service, priority=priority, site=site, client_ref=client_ref, source=source,
                               device=device, actor=actor)[0]

    def issue_once(self, service: str, *, priority: bool = False, site: str | None = None,
                   client_ref: str | None = None, source: str = "console", device: str | None = None,
                   actor: str | None = None) -> tuple[dict, bool]:
        """Issue a ticket; answer ``(ticket, created)``. A replay of the same request (same
        ``client_ref``, service, priority, site and device) is ``(the first ticket, False)``;
        the same ``client_ref`` with a different request raises :class:`Conflict`."""
        svc = self.config.service(service)
        if svc is None:
            raise NotFound(f"Không có lĩnh vực '{service}'; unknown service {service!r}",
                           service=service, known=[s.code for s in self.config.services])
        site = site or self.config.main_site
        if site not in {s.id for s in self.config.sites}:
            raise NotFound(f"Không có điểm tiếp nhận '{site}'; unknown site {site!r}", site=site)
        refuse_remote(self.config, site, "Vé", "the ticket")
        if client_ref:
            existing = self._by_client_ref(client_ref)
            if existing:
                check_replay(existing, service=svc.code, priority=priority, site=site, device=device)
                return self._with_position(existing), False
        now = self.clock.now()
        self._check_open(now)
        self._roll_day()
        day = local_datetime(now, self.config.tz).date().isoformat()
        events: list[dict] = []
        # the wait printed on the ticket, before the write transaction and outside it: its forecast
        # holds no lock while it plays (and yields to other greenlets), and is bounded
        # (engine/one_budget.py); the number and the estimate are then committed together
        est = self.waits.for_new(self.store.conn(), svc.code, site, priority, self.roster, now)

        def work(conn: sqlite3.Connection) -> dict:
            events.clear()
            if svc.daily_cap is not None:
                issued = conn.execute("SELECT count(*) FROM tickets WHERE day = ? AND service = ?",
                                      (day, svc.code)).fetchone()[0]
                if issued >= svc.daily_cap:
                    raise LimitReached(
                        f"Lĩnh vực {svc.name} đã hết số hôm nay ({svc.daily_cap} vé); "
                        f"{svc.code} reached its daily cap of {svc.daily_cap}", service=svc.code)
            number = conn.execute(
                "INSERT INTO daily_sequence (day, prefix, last) VALUES (?, ?, 1) "
                "ON CONFLICT (day, prefix) DO UPDATE SET last = last + 1 RETURNING last",
                (day, svc.prefix)).fetchone()[0]
            if number >= OFFLINE_FIRST:  # a very busy day has reached the offline range: jump the blocks
                while (block := conn.execute(
                        "SELECT last FROM offline_blocks WHERE day = ? AND prefix = ? AND ? BETWEEN first AND last",
                        (day, svc.prefix, number)).fetchone()) is not None:
                    number = block[0] + 1
                conn.execute("UPDATE daily_sequence SET last = ? WHERE day = ? AND prefix = ?",
                             (number, day, svc.prefix))
            # a wall clock stepped back (NTP) must not put a newcomer ahead of those already waiting
            latest = conn.execute("SELECT max(queue_key) FROM tickets WHERE day = ? AND source != 'offline'",
                                  (day,)).fetchone()[0]
            return self._insert_ticket(conn, events, day=day, service=svc.code, prefix=svc.prefix,
                                       number=number, priority=priority, site=site, issued_at=now,
                                       source=source, device=device, client_ref=client_ref, actor=actor,
                                       queue_key=max(now, latest or now), estimate=est)

        try:
            ticket = self.store.transact(work)
        except sqlite3.IntegrityError:
            # two requests with the same client_ref raced; the first one won
            existing = self._by_client_ref(client_ref) if client_ref else None
            if existing is None:
                raise
            check_replay(existing, service=svc.code, priority=priority, site=site, device=device)
            return self._with_position(existing), False
        self._emit(events)
        return ticket, True

    def _by_client_ref(self, client_ref: str) -> dict | None:
        row = self.store.conn().execute("SELECT * FROM tickets WHERE client_ref = ?", (client_ref,)).fetchone()
        return dict(row) if row else None

    def _insert_ticket(self, conn: sqlite3.Connection, events: list[dict], *, day: str, service: str,
                       prefix: str, number: int, priority: bool, site: str, issued_at: float, source: str,
                       device: str | None, client_ref: str | None, actor: str | None,
                       printed: bool | None = None, status_token: str | None = None,
                       queue_key: float | None = None, estimate: Estimate | None = None) -> dict:
        code = format_code(prefix, number)
        ticket_id = f"{day.replace('-', '')}-{code}"
        queue_key = issued_at if queue_key is None else queue_key
        ahead = self._people_ahead(conn, service, site, priority, queue_key)
        est = estimate or self.waits.for_new(conn, service, site, priority, self.roster, self.clock.now())
        shown = estimate_fields(est, self.config.center.timezone)
        predicted, wait_range = shown["estimated_wait_s"], shown["estimated_wait_range_s"]
        raw = [predicted, round(est.raw_low_s if est.raw_low_s is not None else est.low_s, 1),
               round(est.raw_high_s if est.raw_high_s is not None else est.high_s, 1)]
        token = status_token or secrets.token_urlsafe(16)
        conn.execute(
            "INSERT INTO tickets (id, day, service, prefix, number, code, priority, site, state, issued_at,"
            " queue_key, wait_from, source, device, client_ref, status_token, predicted_wait_s, people_ahead,"
            " printed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (ticket_id, day, service, prefix, number, code, int(priority), site, State.WAITING.value, issued_at,
             queue_key, issued_at, source, device, client_ref, token, predicted, ahead,
             None if printed is None else int(printed)))
        self._event(conn, events, "ticket_issued", ticket_id=ticket_id, actor=actor, device=device,
                    code=code, service=service, priority=bool(priority), site=site, number=number,
                    day=day, source=source, issued_at=issued_at, predicted_wait_s=predicted,
                    predicted_range_s=wait_range, predicted_raw_s=raw, people_ahead=ahead)
        ticket = self._ticket_row(conn, ticket_id)
        ticket.update(shown)
        return ticket

    def _people_ahead(self, conn: sqlite3.Connection, service: str, site: str, priority: bool,
                      queue_key: float) -> int:
        if priority:
            sql = ("SELECT count(*) FROM tickets WHERE state = 'waiting' AND site = ? AND service = ? "
                   "AND priority = 1 AND queue_key <= ?")
        else:
            sql = ("SELECT count(*) FROM tickets WHERE state = 'waiting' AND site = ? AND service = ? "
                   "AND (priority = 1 OR queue_key <= ?)")
        return conn.execute(sql, (site, service, queue_key)).fetchone()[0]

    def _with_position(self, ticket: dict) -> dict:
        """The ticket as it is now, with its place in line and estimated wait, all of one state,
        the one of its ``seq``: the row, the people ahead and the forecast's inputs read in one
        read transaction (``Views._reading``), the forecast played after it (``WaitEstimator.play``:
        its paths yield, and must not hold a WAL snapshot), as ``engine/positions.py`` does."""
        pending = None
        with self._reading() as conn:
            ticket = self._ticket_row(conn, ticket["id"])
            ticket["seq"] = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            if ticket["state"] == State.WAITING:
                ahead = self._people_ahead(conn, ticket["service"], ticket["site"], bool(ticket["priority"]),
                                           ticket["queue_key"]) - 1
                ticket["people_ahead_now"] = max(0, ahead)
                pending = self.waits.prepare_one(conn, ticket, self.roster, self.clock.now())
        if pending is None:
            ticket["people_ahead_now"] = 0
            ticket.update(estimate_fields(None))
        else:
            est = self.waits.ticket_estimate(pending, ticket["id"]) or Estimate(0.0, 0.0, 0.0, 0.0)
            ticket.update(estimate_fields(est, self.config.center.timezone))
        return ticket

    def position(self, ticket_id: str) -> dict:
        """The ticket with its current place in line and estimated wait, of one state (its ``seq``)."""
        self._roll_day()
        return self._with_position({"id": ticket_id})

    # --- wait estimates (engine/waits.py) --------------------------------------------------
    def estimate_new(self, service: str, site: str | None = None, priority: bool = False) -> float:
        """Estimated wait for someone who takes a ticket of ``service`` now (``engine.waits``)."""
        return round(self.estimate_new_range(service, site, priority)[0], 1)

    def warm_estimates(self) -> None:
        """Forecast every site's current state now (the background warmer calls this after events)."""
        conn, now = self.store.conn(), self.clock.now()
        for site in self.config.sites:
            self.waits.all_waiting(conn, site.id, self.roster, now)

    def estimate_new_range(self, service: str, site: str | None = None,
                           priority: bool = False) -> tuple[float, float, float]:
        """(estimate, low, high) of the 80% interval, in seconds, for a new ticket of ``service``."""
        est = self.waits.for_new(self.store.conn(), service, site or self.config.main_site, priority, self.roster,
                                 self.clock.now(), whole=True)
        return est.wait_s, est.low_s, est.high_s



__all__ = ["Engine", "CenterClosed", "format_code", "InvalidTransition", "FINAL"]
