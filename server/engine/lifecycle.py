"""A ticket's life after it is issued (a mixin of :class:`~server.engine.core.Engine`): call one
ticket, recall, start, finish, no-show, park and resume, put back in line, cancel, abandon,
transfer; the print result and a reprint request; and the end of the day.

Every action goes through ``_apply``: the counter rule (:mod:`.permissions`), the transition
(:mod:`.states`), the counter's own checks, then one update of the ticket and one event, inside
the caller's write transaction; listeners hear of it only after the commit.
"""
from __future__ import annotations

import sqlite3
from datetime import date
from typing import Any

from qms_common.errors import Conflict, Forbidden, InvalidTransition, NotFound, QmsError

from ..sites import refuse_remote
from .permissions import MANAGERS, check_ticket_action
from .states import END_OF_DAY, FINAL, IN_HAND, State, next_state


class TicketLifecycle:
    """Mixed into :class:`~server.engine.core.Engine`, whose ``__init__`` sets ``store``, ``config``
    and ``clock``; it also uses ``today``, ``ticket``, ``_event``, ``_emit`` and ``_ticket_row``
    (the engine) and ``_counter``, ``_check_clerk`` and ``active_services``
    (:class:`.counters.Counters`)."""

    # --- one ticket's actions -------------------------------------------------------------
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
                    self._apply(conn, events, t, "abandon", None, actor, None, reason=END_OF_DAY)
            conn.execute("UPDATE counters SET ticket_id = NULL WHERE ticket_id IN "
                         "(SELECT id FROM tickets WHERE day < ?)", (day.isoformat(),))
        self._emit(events)
        return len(events)
