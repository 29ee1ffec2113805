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
from qms_common.errors import Conflict, Forbidden, InvalidTransition, LimitReached, NotFound, QmsError

from ..config import CenterConfig
from ..store import Store
from .alerts import RULE
from .controls import CounterControls
from ..sites import refuse_remote
from .offline import OFFLINE_FIRST, OfflineHandover, format_code
from .idempotency import check_replay
from .permissions import MANAGERS, check_ticket_action
from .forecast import Estimate
from .positions import estimate_fields
from .waits import WaitEstimator
from .ratings import Ratings
from .views import Views
from .selection import Candidate, choose_next
from .states import FINAL, IN_HAND, State, next_state

log = logging.getLogger(__name__)

Listener = Callable[[dict], None]


class CenterClosed(QmsError):
    code = "center_closed"
    http_status = 409


class Engine(OfflineHandover, Ratings, CounterControls, Views):
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
        that yesterday's waiting tickets are never called today."""
        today = self.today()
        if self._open_day != today:
            self.close_day(today)
            self._open_day = today

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
        conn = self.store.conn()
        if ticket["state"] == State.WAITING:
            ahead = self._people_ahead(conn, ticket["service"], ticket["site"], bool(ticket["priority"]),
                                       ticket["queue_key"]) - 1
            ticket["people_ahead_now"] = max(0, ahead)
            ticket.update(estimate_fields(self.waits.for_ticket(conn, ticket, self.roster, self.clock.now()),
                                          self.config.center.timezone))
        else:
            ticket["people_ahead_now"] = 0
            ticket.update(estimate_fields(None))
        return ticket

    def position(self, ticket_id: str) -> dict:
        """The ticket with its current place in line and estimated wait."""
        self._roll_day()
        return self._with_position(self.ticket(ticket_id))

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

    # --- counters -------------------------------------------------------------------------
    def _counter(self, conn: sqlite3.Connection, number: int) -> dict:
        row = conn.execute("SELECT * FROM counters WHERE number = ?", (number,)).fetchone()
        if row is None or self.config.counter(number) is None:
            raise NotFound(f"Không có quầy số {number}; no counter {number}", counter=number)
        return dict(row)

    def active_services(self, counter: dict) -> list[str]:
        """What a counter serves now: its clerk's services if signed in with some, else its own."""
        if counter.get("services") and counter["state"] != "closed":
            return json.loads(counter["services"])
        return self.config.counter(counter["number"]).services

    def counter(self, number: int) -> dict:
        return self._counter(self.store.conn(), number)

    def counters(self) -> list[dict]:
        rows = self.store.conn().execute("SELECT * FROM counters ORDER BY number").fetchall()
        configured = {c.number for c in self.config.counters}
        return [dict(r) for r in rows if r["number"] in configured]

    def sign_in(self, number: int, clerk: str, device: str | None = None,
                services: list[str] | None = None) -> dict:
        """Open the counter for ``clerk``; ``services`` (a subset of the counter's, in the clerk's
        order of preference) narrows what this clerk serves until signing out."""
        conf_services = self.config.counter(number).services if self.config.counter(number) else []
        if services is not None and (not services or not set(services) <= set(conf_services)):
            raise Forbidden(f"Quầy {number} chỉ phục vụ {', '.join(conf_services)}; counter {number} does not "
                            f"serve {', '.join(s for s in services if s not in conf_services) or 'nothing'}",
                            counter=number)
        if self.config.counter(number) is not None:
            refuse_remote(self.config, self.config.counter(number).site, f"Quầy {number}", f"counter {number}")
        events: list[dict] = []
        with self.store.write() as conn:
            counter = self._counter(conn, number)
            if counter["clerk"] and counter["clerk"] != clerk and counter["state"] != "closed":
                raise Conflict(f"Quầy {number} đang do {counter['clerk']} làm việc; "
                               f"counter {number} is held by {counter['clerk']}", counter=number)
            other = conn.execute("SELECT number FROM counters WHERE clerk = ? AND state != 'closed' AND number != ?",
                                 (clerk, number)).fetchone()
            if other:
                raise Conflict(f"{clerk} đang làm việc ở quầy {other[0]}: hãy đăng xuất quầy đó trước; "
                               f"{clerk} is signed in at counter {other[0]}", counter=other[0])
            conn.execute("UPDATE counters SET state = 'open', clerk = ?, since = ?, services = ? WHERE number = ?",
                         (clerk, self.clock.now(), None if services is None else json.dumps(services), number))
            extra = {} if services is None else {"services": services}
            self._event(conn, events, "counter_signed_in", counter=number, actor=clerk, device=device, **extra)
            result = self._counter(conn, number)
        self._emit(events)
        return result

    def _counter_state(self, number: int, clerk: str, *, allowed: set[str], new_state: str, event: str,
                       device: str | None = None, role: str | None = None) -> dict:
        events: list[dict] = []
        with self.store.write() as conn:
            counter = self._counter(conn, number)
            if role not in MANAGERS:  # a director may close a counter a clerk left open
                self._check_clerk(counter, clerk)
            if counter["state"] not in allowed:
                raise Conflict(f"Quầy {number} đang '{counter['state']}'; counter {number} is {counter['state']}",
                               counter=number, state=counter["state"])
            if new_state == "closed" and counter["ticket_id"]:
                t = self._ticket_row(conn, counter["ticket_id"])
                raise Conflict(f"Quầy {number} còn vé {t['code']} đang xử lý: hãy hoàn thành hoặc chuyển trước; "
                               f"finish or transfer {t['code']} first", counter=number, ticket=t["code"])
            clerk_value = None if new_state == "closed" else counter["clerk"]
            conn.execute("UPDATE counters SET state = ?, since = ?, clerk = ?, priority_in_row = "
                         "CASE WHEN ? = 'closed' THEN 0 ELSE priority_in_row END WHERE number = ?",
                         (new_state, self.clock.now(), clerk_value, new_state, number))
            self._event(conn, events, event, counter=number, actor=clerk, device=device,
                        **({"role": role} if role in MANAGERS else {}))
            result = self._counter(conn, number)
        self._emit(events)
        return result

    def pause(self, number: int, clerk: str, device: str | None = None, *, role: str | None = None) -> dict:
        return self._counter_state(number, clerk, allowed={"open"}, new_state="paused",
                                   event="counter_paused", device=device, role=role)

    def resume_counter(self, number: int, clerk: str, device: str | None = None, *, role: str | None = None) -> dict:
        return self._counter_state(number, clerk, allowed={"paused"}, new_state="open",
                                   event="counter_resumed", device=device, role=role)

    def sign_out(self, number: int, clerk: str, device: str | None = None, *, role: str | None = None) -> dict:
        return self._counter_state(number, clerk, allowed={"open", "paused"}, new_state="closed",
                                   event="counter_signed_out", device=device, role=role)

    @staticmethod
    def _check_clerk(counter: dict, clerk: str | None) -> None:
        if clerk is not None and counter["clerk"] != clerk:
            raise Forbidden(f"{clerk} không đăng nhập ở quầy {counter['number']}; "
                            f"{clerk} is not signed in at counter {counter['number']}", counter=counter["number"])

    # --- calling --------------------------------------------------------------------------
    def call_next(self, number: int, clerk: str | None = None, device: str | None = None, *,
                  role: str | None = None) -> dict | None:
        """Call the next ticket to counter ``number``; finishes the ticket being served first.

        Returns None when nobody waits for this counter's services.
        """
        self._roll_day()
        events: list[dict] = []

        def work(conn: sqlite3.Connection) -> dict | None:
            events.clear()
            counter = self._counter(conn, number)
            if role not in MANAGERS:
                self._check_clerk(counter, clerk)
            if counter["state"] != "open":
                raise Conflict(f"Quầy {number} chưa mở (đang '{counter['state']}'); counter {number} is "
                               f"{counter['state']}: sign in or resume first", counter=number, state=counter["state"])
            if counter["ticket_id"]:
                current = self._ticket_row(conn, counter["ticket_id"])
                if current["state"] == State.SERVING:
                    self._apply(conn, events, current, "finish", number, clerk, device, role=role)
                else:
                    raise Conflict(
                        f"Quầy {number} đang gọi {current['code']}: hãy bắt đầu phục vụ, gọi lại hoặc đánh dấu "
                        f"vắng mặt trước; start, recall or mark {current['code']} no-show first",
                        counter=number, ticket=current["code"])
            conf = self.config.counter(number)
            services = self.active_services(counter)
            now = self.clock.now()
            rows = self._candidates(conn, conf.site, services, number)
            chosen = choose_next(
                (Candidate(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows), counter=number,
                services=services, calling=self.config.calling, priority=self.config.priority,
                priority_in_row=counter["priority_in_row"], now=now)
            if chosen is None:
                return None
            ticket = self._ticket_row(conn, chosen.id)
            result = self._apply(conn, events, ticket, "call", number, clerk, device, role=role)
            in_row = counter["priority_in_row"] + 1 if chosen.priority else 0
            conn.execute("UPDATE counters SET priority_in_row = ? WHERE number = ?", (in_row, number))
            return result

        result = self.store.transact(work)
        self._emit(events)
        return result

    @staticmethod
    def _candidates(conn: sqlite3.Connection, site: str, services: list[str], number: int) -> list:
        """The only tickets that can win: the oldest per (service, priority class), plus any
        ticket transferred to this counter. Within one service and class the oldest always
        beats the others under every rule, so this is exact, and it costs a few index
        look-ups however long the queue is."""
        rows = conn.execute("SELECT id, service, priority, queue_key, target_counter FROM tickets "
                            "WHERE target_counter = ? AND state = 'waiting'", (number,)).fetchall()
        for service in services:
            for prio in (1, 0):
                row = conn.execute(
                    "SELECT id, service, priority, queue_key, target_counter FROM tickets WHERE state = 'waiting' "
                    "AND site = ? AND service = ? AND priority = ? AND target_counter IS NULL "
                    "ORDER BY queue_key, id LIMIT 1", (site, service, prio)).fetchone()
                if row is not None:
                    rows.append(row)
        return rows

    def call(self, ticket_id: str, number: int, clerk: str | None = None, device: str | None = None, *,
            role: str | None = None) -> dict:
        """Call one particular ticket (e.g. picked from the list) to counter ``number``."""
        return self._act(ticket_id, "call", number, clerk, device, role=role)

    def recall(self, ticket_id: str, number: int, clerk: str | None = None, device: str | None = None, *,
              role: str | None = None) -> dict:
        return self._act(ticket_id, "recall", number, clerk, device, role=role)

    def start(self, ticket_id: str, number: int, clerk: str | None = None, device: str | None = None, *,
             role: str | None = None) -> dict:
        return self._act(ticket_id, "start", number, clerk, device, role=role)

    def finish(self, ticket_id: str, number: int, clerk: str | None = None, device: str | None = None, *,
              role: str | None = None) -> dict:
        return self._act(ticket_id, "finish", number, clerk, device, role=role)

    def no_show(self, ticket_id: str, number: int, clerk: str | None = None, device: str | None = None, *,
               role: str | None = None) -> dict:
        return self._act(ticket_id, "no_show", number, clerk, device, role=role)

    def park(self, ticket_id: str, number: int, clerk: str | None = None, device: str | None = None, *,
            role: str | None = None) -> dict:
        return self._act(ticket_id, "park", number, clerk, device, role=role)

    def resume(self, ticket_id: str, number: int, clerk: str | None = None, device: str | None = None, *,
              role: str | None = None) -> dict:
        return self._act(ticket_id, "resume", number, clerk, device, role=role)

    def requeue(self, ticket_id: str, actor: str | None = None, device: str | None = None, *,
                counter: int | None = None, role: str | None = None) -> dict:
        return self._act(ticket_id, "requeue", counter, actor, device, role=role)

    def cancel(self, ticket_id: str, actor: str | None = None, reason: str = "", device: str | None = None, *,
               counter: int | None = None, role: str | None = None) -> dict:
        return self._act(ticket_id, "cancel", counter, actor, device, role=role, reason=reason)

    def abandon(self, ticket_id: str, actor: str | None = None, reason: str = "", device: str | None = None, *,
                counter: int | None = None, role: str | None = None) -> dict:
        return self._act(ticket_id, "abandon", counter, actor, device, role=role, reason=reason)

    def transfer(self, ticket_id: str, *, service: str | None = None, to_counter: int | None = None,
                 counter: int | None = None, actor: str | None = None, device: str | None = None,
                 role: str | None = None) -> dict:
        """Send a ticket to another service's queue and/or to one counter.

        It lands back in ``waiting`` and keeps its original place in line (``queue_key`` stays
        its issue time), so a citizen never queues twice from the back; its wait for the
        15-minute statistics starts again at the transfer (``wait_from``).
        """
        if service is None and to_counter is None:
            raise QmsError("Cần chọn lĩnh vực hoặc quầy để chuyển; give a service or a counter to transfer to")
        return self._act(ticket_id, "transfer", counter, actor, device, role=role, service=service,
                         to_counter=to_counter)

    def _act(self, ticket_id: str, action: str, number: int | None, actor: str | None, device: str | None,
             role: str | None = None, **extra: Any) -> dict:
        events: list[dict] = []

        def work(conn: sqlite3.Connection) -> dict:
            events.clear()
            ticket = self._ticket_row(conn, ticket_id)
            refuse_remote(self.config, ticket["site"], f"Vé {ticket['code']}", f"ticket {ticket['code']}")
            return self._apply(conn, events, ticket, action, number, actor, device, role=role, **extra)

        result = self.store.transact(work)
        self._emit(events)
        return result

    def _apply(self, conn: sqlite3.Connection, events: list[dict], ticket: dict, action: str, number: int | None,
               actor: str | None, device: str | None, *, service: str | None = None,
               to_counter: int | None = None, reason: str = "", role: str | None = None) -> dict:
        self._check_allowed(conn, action, ticket, number, actor, role)  # before the state: tell no outsider
        new = next_state(action, ticket["code"], ticket["state"])
        now = self.clock.now()
        tid = ticket["id"]
        held_by = self._held_by(ticket)
        if number is not None:
            counter = self._counter(conn, number)
            if role is None:  # the engine's own callers: the counter's clerk, when it has one
                self._check_clerk(counter, actor if counter["clerk"] else None)
            if action in ("call", "resume"):
                if counter["state"] != "open":
                    raise Conflict(f"Quầy {number} chưa mở; counter {number} is {counter['state']}", counter=number)
                if counter["ticket_id"] and counter["ticket_id"] != tid:
                    busy = self._ticket_row(conn, counter["ticket_id"])
                    raise Conflict(f"Quầy {number} đang xử lý {busy['code']}; counter {number} already has "
                                   f"{busy['code']}", counter=number, ticket=busy["code"])
                if action == "resume" and held_by != number:
                    raise Forbidden(f"Vé {ticket['code']} được tạm gác ở quầy {held_by}; "
                                    f"{ticket['code']} was parked at counter {held_by}", ticket=ticket["code"])
                conf = self.config.counter(number)
                serves = set(conf.services) | set(self.active_services(counter))  # with the director's changes
                if action == "call" and (ticket["service"] not in serves or ticket["site"] != conf.site):
                    raise Forbidden(f"Quầy {number} không phục vụ {ticket['service']} tại điểm {ticket['site']}; "
                                    f"counter {number} does not serve this ticket", counter=number)
            elif held_by is not None and held_by != number:
                raise Forbidden(f"Vé {ticket['code']} đang ở quầy {held_by}, không phải quầy {number}; "
                                f"{ticket['code']} is at counter {held_by}", ticket=ticket["code"])
        sets: dict[str, Any] = {"state": new.value}
        data: dict[str, Any] = {"code": ticket["code"], "from": ticket["state"], "to": new.value}
        if action == "requeue" and ticket["day"] < self.today().isoformat():
            raise InvalidTransition(f"Vé {ticket['code']} là của ngày hôm trước ({ticket['day']}): không thể xếp lại "
                                    f"hàng hôm nay; {ticket['code']} is of an earlier day and cannot be put back "
                                    f"in today's line", ticket=ticket["code"], day=ticket["day"])
        if role in MANAGERS:
            data["role"] = role  # a director acted, perhaps at someone else's counter: on the record
        if action in ("call", "recall", "resume"):
            sets.update(called_at=now, counter=number, clerk=actor)
            if ticket["first_called_at"] is None:
                sets["first_called_at"] = now
            if action == "recall":
                sets["recalls"] = ticket["recalls"] + 1
            data.update(service=ticket["service"], wait_s=round(max(0.0, now - ticket["wait_from"]), 1))
        elif action == "start":
            sets["started_at"] = now
        elif action == "finish":
            sets["finished_at"] = now
        elif action == "transfer":
            if service is not None and self.config.service(service) is None:
                raise NotFound(f"Không có lĩnh vực '{service}'; unknown service {service!r}", service=service)
            if to_counter is not None:
                target = self.config.counter(to_counter)
                if target is None:
                    raise NotFound(f"Không có quầy số {to_counter}; no counter {to_counter}", counter=to_counter)
                svc = service or ticket["service"]
                if svc not in set(target.services) | set(self.active_services(self._counter(conn, to_counter))):
                    raise Forbidden(f"Quầy {to_counter} không phục vụ {svc}; counter {to_counter} does not serve {svc}")
            sets.update(service=service or ticket["service"], target_counter=to_counter, wait_from=now,
                        transfers=ticket["transfers"] + 1, counter=None, clerk=None, called_at=None,
                        started_at=None)
            data.update(service=sets["service"], to_counter=to_counter, from_service=ticket["service"])
        elif action == "requeue":
            sets.update(wait_from=now, counter=None, clerk=None)
        elif action in ("cancel", "abandon"):
            sets.update(finished_at=now, reason=reason or None)
            data["reason"] = reason
        if action in ("transfer", "finish", "no_show", "cancel", "abandon", "park"):
            # the counter's hands are free again
            if held_by is not None:
                conn.execute("UPDATE counters SET ticket_id = NULL WHERE number = ? AND ticket_id = ?", (held_by, tid))
        if action in ("call", "resume"):
            conn.execute("UPDATE counters SET ticket_id = ? WHERE number = ?", (tid, number))
        assignments = ", ".join(f"{k} = ?" for k in sets)
        conn.execute(f"UPDATE tickets SET {assignments} WHERE id = ?", (*sets.values(), tid))
        event_counter = number if number is not None else held_by
        self._event(conn, events, f"ticket_{action}" if action != "no_show" else "ticket_no_show", ticket_id=tid,
                    counter=event_counter, actor=actor, device=device, **data)
        return self._ticket_row(conn, tid)

    @staticmethod
    def _held_by(ticket: dict) -> int | None:
        return ticket["counter"] if ticket["state"] in IN_HAND or ticket["state"] == State.PARKED else None

    def _check_allowed(self, conn: sqlite3.Connection, action: str, ticket: dict, number: int | None,
                       actor: str | None, role: str | None) -> None:
        """The counter rule (server/engine/permissions.py) for a person or a counter device."""
        if role is None or role in MANAGERS:
            return
        if role == "counter":
            home = number
        else:
            row = conn.execute("SELECT number FROM counters WHERE clerk = ? AND state != 'closed' "
                               "ORDER BY number LIMIT 1", (actor,)).fetchone()
            home = row[0] if row else None
        extra = self.active_services(self._counter(conn, home)) if home is not None else ()
        check_ticket_action(action=action, role=role, actor=actor, home=home, number=number, ticket=ticket,
                            held_by=self._held_by(ticket), config=self.config, serves=extra)

    # --- printing and kiosk offline numbers ----------------------------------------------
    def mark_printed(self, ticket_id: str, printed: bool, fault: str | None = None, device: str | None = None) -> dict:
        events: list[dict] = []
        with self.store.write() as conn:
            ticket = self._ticket_row(conn, ticket_id)
            if device is not None and ticket["device"] != device:
                raise Forbidden(f"Vé {ticket['code']} không do thiết bị {device} phát; {ticket['code']} was not "
                                f"issued by {device}: a kiosk reports only its own prints", ticket=ticket["code"])
            conn.execute("UPDATE tickets SET printed = ?, print_fault = ? WHERE id = ?",
                         (int(printed), None if printed else (fault or "error"), ticket_id))
            self._event(conn, events, "ticket_print_result", ticket_id=ticket_id, device=device,
                        code=ticket["code"], printed=printed, fault=fault)
            result = self._ticket_row(conn, ticket_id)
        self._emit(events)
        return result

    def request_reprint(self, ticket_id: str, actor: str | None = None, *, role: str | None = None) -> dict:
        """Ask the kiosk that issued a ticket to print it again (the MQTT side delivers it)."""
        events: list[dict] = []
        with self.store.write() as conn:
            ticket = self._ticket_row(conn, ticket_id)
            self._check_allowed(conn, "reprint", ticket, None, actor, role)
            if ticket["state"] in FINAL:
                raise InvalidTransition(f"Vé {ticket['code']} đã kết thúc, không in lại; "
                                        f"{ticket['code']} is {ticket['state']}", ticket=ticket["code"])
            if not ticket["device"]:
                raise Conflict(f"Vé {ticket['code']} không phát từ máy kiosk; not issued by a kiosk",
                               ticket=ticket["code"])
            self._event(conn, events, "ticket_reprint_requested", ticket_id=ticket_id, actor=actor,
                        device=ticket["device"], code=ticket["code"])
        self._emit(events)
        return self.ticket(ticket_id)

    # --- end of day -----------------------------------------------------------------------
    def close_day(self, day: date | None = None, actor: str = "system") -> int:
        """Mark tickets of past days still waiting, called or parked as abandoned."""
        day = day or self.today()
        events: list[dict] = []
        with self.store.write() as conn:
            # a standalone site closes its own day; its tickets here are a mirror
            remote = sorted(self.config.remote_sites)
            rows = conn.execute("SELECT * FROM tickets WHERE day < ? AND state IN ('waiting','called','parked',"
                                f"'serving','no_show') AND site NOT IN ({','.join('?' * len(remote))})",
                                (day.isoformat(), *remote)).fetchall()
            for row in rows:
                t = dict(row)
                if t["state"] == State.SERVING:
                    self._apply(conn, events, t, "finish", None, actor, None)
                elif t["state"] == State.NO_SHOW:
                    continue
                else:
                    self._apply(conn, events, t, "abandon", None, actor, None, reason="end of day")
            conn.execute("UPDATE counters SET ticket_id = NULL WHERE ticket_id IN "
                         "(SELECT id FROM tickets WHERE day < ?)", (day.isoformat(),))
        self._emit(events)
        return len(events)


__all__ = ["Engine", "CenterClosed", "format_code", "InvalidTransition", "FINAL"]
