"""The counters' own state (a mixin of :class:`~server.engine.core.Engine`): a counter and what
it serves now, a clerk signing in (with the services they take) and out, a pause and the way
back, and the check that whoever acts at a counter is the clerk signed in there.

Each change is one short write transaction on the ``counters`` row with its event
(``counter_signed_in``, ``counter_paused``, ``counter_resumed``, ``counter_signed_out``);
listeners hear of it only after the commit. A counter holding a ticket cannot close.
"""
from __future__ import annotations

import json
import sqlite3

from qms_common.errors import Conflict, Forbidden, NotFound

from ..sites import refuse_remote
from .permissions import MANAGERS


class Counters:
    """Mixed into :class:`~server.engine.core.Engine`, whose ``__init__`` sets ``store``, ``config``
    and ``clock``; it also uses the engine's ``_event``, ``_emit`` and ``_ticket_row``."""

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
