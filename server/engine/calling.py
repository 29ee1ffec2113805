"""Calling the next citizen (a mixin of :class:`~server.engine.core.Engine`): ``call_next`` finishes
the ticket being served at the counter, then picks, in the same transaction, among the few tickets
that can win (``_candidates``), by the call-next rule of :mod:`.selection`, so two counters
pressing at the same instant never get the same ticket.
"""
from __future__ import annotations

import sqlite3

from qms_common.errors import Conflict

from .permissions import MANAGERS
from .selection import Candidate, choose_next
from .states import State


class Calling:
    """Mixed into :class:`~server.engine.core.Engine`, whose ``__init__`` sets ``store``, ``config``
    and ``clock``; it also uses ``_roll_day``, ``_emit`` and ``_ticket_row`` (the engine),
    ``_counter``, ``_check_clerk`` and ``active_services`` (:class:`.counters.Counters`) and
    ``_apply`` (:class:`.lifecycle.TicketLifecycle`)."""

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
