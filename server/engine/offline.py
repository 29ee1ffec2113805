"""Kiosk offline numbers: reserved blocks, their status tokens, and the hand-over.

A kiosk that gets no answer in time issues the ticket itself from a block the server
reserved for it, prints it and hands it over later. Both paths may complete: a stalled
server (a hung link, an overloaded Pi: silence, not a refusal) can carry out the kiosk's
original ``POST /tickets`` after the kiosk gave up and printed its own number. The rule
(``docs/queue-rules.md``, "Offline tickets"): **the number on the paper wins**. The online
copy, which nobody holds, is *taken over* by the printed ticket:

* the printed ticket enters the queue at the place of the press;
* if the online copy had been called, the call is repeated under the printed number at the
  same counter (and started or parked again if it had been); the event log says why;
* if the online copy was already finished, or the counter can no longer take it, the printed
  ticket waits in line and a ``handover_review`` alert asks the director to check;
* a hand-over the server cannot accept at all (a number outside this kiosk's blocks, a number
  already used) is refused, and the refusal is a ``handover_refused`` alert on the dashboard
  and the console, with the number and what to do, until someone marks it resolved.

Every reserved number has a status token issued with its block, so the QR code of an offline
ticket opens a page that says the ticket is valid before it has arrived.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import date
from typing import Any

from qms_common.clock import local_timestamp
from qms_common.errors import Conflict, Forbidden, NotFound, QmsError

from .states import FINAL, State

OFFLINE_FIRST = 901  # kiosks' offline numbers start here: HT-901, HT-902, ...
SUPERSEDED = "superseded_by_offline"  # the reason recorded on an online copy taken over
HANDOVER_ALERTS = ("handover_refused", "handover_review")


def format_code(prefix: str, number: int) -> str:
    return f"{prefix}-{number:03d}"


class OfflineHandover:
    """Mixed into :class:`~server.engine.core.Engine`: blocks, tokens, hand-over, its alerts."""

    # --- blocks -------------------------------------------------------------------------------
    def reserve_block(self, device: str, service: str, size: int = 10) -> dict:
        """Reserve ``size`` numbers for a kiosk to issue while the server cannot be reached.

        Offline numbers come from their own range, from ``OFFLINE_FIRST`` (901) up, so that
        the day's first citizen still gets 001 and a clerk can tell an offline ticket by its
        number. The server never issues a reserved number itself (its own sequence jumps over
        a block if a very busy day ever reaches it), so offline tickets cannot clash with
        anyone's; unused numbers of a block are simply never printed. Each number comes with
        its status token (``tokens``, in order): the QR code the kiosk prints offline.
        """
        svc = self.config.service(service)
        if svc is None:
            raise NotFound(f"Không có lĩnh vực '{service}'; unknown service {service!r}", service=service)
        if not 1 <= size <= 200:
            raise QmsError("Cỡ khối số phải từ 1 đến 200; block size must be between 1 and 200", size=size)
        day = self.today().isoformat()
        events: list[dict] = []
        with self.store.write() as conn:
            row = conn.execute("SELECT last FROM daily_sequence WHERE day = ? AND prefix = ?",
                               (day, svc.prefix)).fetchone()
            online_last = row[0] if row else 0
            row = conn.execute("SELECT max(last) FROM offline_blocks WHERE day = ? AND prefix = ?",
                               (day, svc.prefix)).fetchone()
            first = max(OFFLINE_FIRST, (row[0] or 0) + 1, online_last + 1)
            last = first + size - 1
            conn.execute("INSERT INTO offline_blocks VALUES (?,?,?,?,?,?)",
                         (device, day, svc.prefix, first, last, self.clock.now()))
            tokens = [secrets.token_urlsafe(16) for _ in range(size)]
            conn.executemany("INSERT INTO offline_tokens (token, device, day, prefix, number, service) "
                             "VALUES (?,?,?,?,?,?)",
                             [(tok, device, day, svc.prefix, first + i, svc.code) for i, tok in enumerate(tokens)])
            self._event(conn, events, "block_reserved", device=device, service=svc.code, prefix=svc.prefix,
                        day=day, first=first, last=last)
        self._emit(events)
        return {"device": device, "day": day, "service": svc.code, "prefix": svc.prefix, "first": first,
                "last": last, "tokens": tokens}

    def pending_offline(self, token: str) -> dict | None:
        """A reserved number's status token whose ticket has not been handed over yet:
        ``{code, service, day, device}``; None if the token is unknown or already arrived."""
        conn = self.store.conn()
        row = conn.execute("SELECT * FROM offline_tokens WHERE token = ?", (token,)).fetchone()
        if row is None or conn.execute("SELECT 1 FROM tickets WHERE status_token = ?", (token,)).fetchone():
            return None
        return {"code": format_code(row["prefix"], row["number"]), "service": row["service"], "day": row["day"],
                "device": row["device"]}

    # --- the hand-over ------------------------------------------------------------------------
    def merge_offline(self, device: str, *, client_ref: str, service: str, number: int, day: str,
                      issued_at: float, priority: bool = False, printed: bool = True,
                      site: str | None = None) -> dict:
        """Take in a ticket a kiosk issued by itself; idempotent by ``client_ref``.

        If the server also issued a ticket for the same press (the kiosk's request was carried
        out after the kiosk gave up on it), the printed ticket takes that copy over (see the
        module's docstring). Its place in line is its issue time at the kiosk, clamped between
        the reservation of its block and now (a kiosk clock ahead of or far behind ours cannot
        jump the line). A refusal is raised *and* recorded as a ``handover_refused`` alert.
        """
        svc = self.config.service(service)
        code = format_code(svc.prefix, number) if svc else f"{service}-{number:03d}"
        events: list[dict] = []
        try:
            if svc is None:
                raise NotFound(f"Không có lĩnh vực '{service}'; unknown service {service!r}", service=service)
            with self.store.write() as conn:
                ticket_id = self._merge(conn, events, device, svc, client_ref=client_ref, number=number, day=day,
                                        issued_at=min(issued_at, self.clock.now()), priority=priority,
                                        printed=printed, site=site or self.config.main_site)
        except QmsError as exc:
            self._record_refusal(device, code=code, service=service, day=day, client_ref=client_ref, error=exc)
            raise
        self._emit(events)
        return self.ticket(ticket_id)

    def _merge(self, conn: sqlite3.Connection, events: list[dict], device: str, svc: Any, *, client_ref: str,
               number: int, day: str, issued_at: float, priority: bool, printed: bool, site: str) -> str:
        code = format_code(svc.prefix, number)
        existing = conn.execute("SELECT * FROM tickets WHERE client_ref = ?", (client_ref,)).fetchone()
        existing = dict(existing) if existing else None
        if existing and (existing["prefix"], existing["number"], existing["day"]) == (svc.prefix, number, day):
            return existing["id"]  # already handed over: a retry
        if existing and existing["device"] != device:  # a kiosk acts only on its own tickets
            raise Conflict(f"Mã client_ref đã thuộc vé {existing['code']} của thiết bị khác; client_ref already "
                           f"belongs to {existing['code']}, issued by another device", ticket=code)
        block = conn.execute("SELECT * FROM offline_blocks WHERE device = ? AND day = ? AND prefix = ? "
                             "AND ? BETWEEN first AND last", (device, day, svc.prefix, number)).fetchone()
        if block is None:
            raise Forbidden(f"Số {code} ngày {day} không thuộc khối số đã cấp cho máy {device}; "
                            f"number not in a block reserved by {device}", device=device, ticket=code)
        taken = conn.execute("SELECT id FROM tickets WHERE day = ? AND prefix = ? AND number = ?",
                             (day, svc.prefix, number)).fetchone()
        if taken:
            raise Conflict(f"Số {code} đã được dùng cho một vé khác; number already used", ticket=code)
        if site not in {s.id for s in self.config.sites}:
            site = self.config.main_site
        token_row = conn.execute("SELECT token FROM offline_tokens WHERE day = ? AND prefix = ? AND number = ?",
                                 (day, svc.prefix, number)).fetchone()
        token = token_row[0] if token_row else (client_ref if len(client_ref) >= 16 else None)
        new_id = f"{day.replace('-', '')}-{code}"
        if existing:  # the online copy of the same press: nobody holds it
            self._retire_copy(conn, events, existing, new_id, code, device)
        # a number cannot have been printed before its block existed: a kiosk clock far behind
        # (or a forged time) cannot put the ticket at the head of the line
        ticket = self._insert_ticket(conn, events, day=day, service=svc.code, prefix=svc.prefix, number=number,
                                     priority=priority, site=site, issued_at=max(issued_at, block["reserved_at"]),
                                     source="offline", device=device, client_ref=client_ref, actor=None,
                                     printed=printed, status_token=token)
        if day != self.today().isoformat():
            # yesterday's ticket handed over today: recorded, but the citizen has gone home
            self._apply(conn, events, ticket, "abandon", None, None, device, reason="handed over after its day")
        elif existing:
            self._take_over(conn, events, existing, ticket, device)
        return new_id

    def _retire_copy(self, conn: sqlite3.Connection, events: list[dict], copy: dict, new_id: str, code: str,
                     device: str) -> None:
        """Free the copy's ``client_ref`` and close it as superseded (its counter is freed)."""
        conn.execute("UPDATE tickets SET client_ref = NULL WHERE id = ?", (copy["id"],))
        if copy["state"] in FINAL:
            return
        reason = f"{SUPERSEDED}: {code}"
        if copy["state"] == State.NO_SHOW:  # not a transition clerks may make: recorded as such
            conn.execute("UPDATE tickets SET state = 'cancelled', finished_at = ?, reason = ? WHERE id = ?",
                         (self.clock.now(), reason, copy["id"]))
            self._event(conn, events, "ticket_cancel", ticket_id=copy["id"], device=device, code=copy["code"],
                        reason=reason, superseded_by=new_id, to="cancelled", **{"from": "no_show"})
            return
        self._apply(conn, events, self._ticket_row(conn, copy["id"]), "cancel", None, None, device, reason=reason)

    def _take_over(self, conn: sqlite3.Connection, events: list[dict], copy: dict, ticket: dict,
                   device: str) -> None:
        """Put the printed ticket where its online copy was: called, served or parked at the
        same counter. What cannot be redone leaves it waiting, with an alert to check."""
        steps = {State.CALLED: ["call"], State.SERVING: ["call", "start"],
                 State.PARKED: ["call", "start", "park"]}.get(State(copy["state"]), [])
        review = None
        if copy["state"] == State.DONE:
            review = (f"Phiếu in {ticket['code']} là cùng một lần bấm với vé {copy['code']} đã phục vụ xong tại "
                      f"quầy {copy['counter']}. {ticket['code']} đã được xếp vào hàng: nếu công dân giữ phiếu "
                      f"{ticket['code']} đã được phục vụ, hãy hủy vé này; the same press was already served as "
                      f"{copy['code']}: cancel {ticket['code']} if its holder was served")
        done: list[str] = []
        if steps:
            savepoint, mark = "takeover", len(events)
            conn.execute(f"SAVEPOINT {savepoint}")
            try:
                current = ticket
                for action in steps:
                    current = self._apply(conn, events, current, action, copy["counter"], None, device)
                    done.append(action)
            except QmsError as exc:
                conn.execute(f"ROLLBACK TO {savepoint}")
                del events[mark:]
                done = []
                why_vi, _, why_en = exc.message.partition("; ")
                review = (f"Phiếu in {ticket['code']} thay cho vé {copy['code']} (cùng một lần bấm) nhưng không gọi "
                          f"lại được tại quầy {copy['counter']} ({why_vi}); {ticket['code']} đang chờ đầu hàng theo giờ "
                          f"lấy phiếu, hãy gọi khi quầy sẵn sàng; the call could not be repeated ({why_en or why_vi}): "
                          f"the printed ticket waits in line by its press time")
            conn.execute(f"RELEASE {savepoint}")
        self._event(conn, events, "ticket_taken_over", ticket_id=ticket["id"], device=device,
                    counter=copy["counter"] if done else None, code=ticket["code"], replaced=copy["code"],
                    replaced_id=copy["id"], replaced_state=copy["state"], repeated=done)
        if review:
            self._event(conn, events, "handover_review", ticket_id=ticket["id"], device=device, code=ticket["code"],
                        replaced=copy["code"], service=ticket["service"], message=review)

    def _record_refusal(self, device: str, *, code: str, service: str, day: str, client_ref: str,
                        error: QmsError) -> None:
        """A refused hand-over is never silent: one alert per printed number until resolved."""
        if self._open_handover_alert(code, day, "handover_refused"):
            return
        why_vi, _, why_en = error.message.partition("; ")
        message = (f"Phiếu in {code} (máy phát số {device}) không đưa được vào hàng ({why_vi.rstrip('.')}). "
                   f"Khi công dân giữ phiếu {code} đến quầy, hãy tiếp nhận và phục vụ theo giờ in trên phiếu, "
                   f"rồi bấm «Đã xử lý»; printed ticket {code} was refused ({why_en or why_vi}): serve its holder "
                   f"by the time printed on it, then mark this resolved")
        events: list[dict] = []
        with self.store.write() as conn:
            self._event(conn, events, "handover_refused", device=device, code=code, service=service, day=day,
                        client_ref=client_ref, error=error.code, message=message)
        self._emit(events)

    def _open_handover_alert(self, code: str, day: str, kind: str) -> bool:
        return any(a["code"] == code and a["kind"] == kind for a in self.handover_alerts(day))

    def handover_alerts(self, day: str | None = None) -> list[dict]:
        """Hand-overs refused or taken over imperfectly on ``day`` (today), not yet resolved."""
        day = day or self.today().isoformat()
        start = self._day_start(day)
        rows = self.store.conn().execute(
            "SELECT seq, type, at, device, data FROM events WHERE at >= ? AND type IN "
            "('handover_refused', 'handover_review', 'handover_resolved') ORDER BY seq", (start,)).fetchall()
        open_: dict[int, dict] = {}
        for r in rows:
            data = json.loads(r["data"])
            if r["type"] == "handover_resolved":
                open_.pop(data.get("alert"), None)
                continue
            open_[r["seq"]] = {"id": r["seq"], "kind": r["type"], "severity": 3 if r["type"] == "handover_refused" else 2,
                               "code": data.get("code"), "service": data.get("service"), "counter": None,
                               "device": r["device"], "at": r["at"], "message": data.get("message", ""),
                               "waiting": None, "longest_wait_s": None, "estimated_wait_s": None,
                               "recommendations": [], "resolvable": True}
        return list(open_.values())

    def resolve_handover_alert(self, alert_id: int, actor: str | None = None) -> dict:
        """A clerk or the director has dealt with a hand-over alert: it leaves the screens."""
        alert = next((a for a in self.handover_alerts() if a["id"] == alert_id), None)
        if alert is None:
            raise NotFound(f"Không có cảnh báo chuyển phiếu số {alert_id} đang mở; no open hand-over alert "
                           f"{alert_id}", alert=alert_id)
        events: list[dict] = []
        with self.store.write() as conn:
            self._event(conn, events, "handover_resolved", actor=actor, alert=alert_id, code=alert["code"])
        self._emit(events)
        return {**alert, "resolved": True}

    def _day_start(self, day: str) -> float:
        return local_timestamp(date.fromisoformat(day), "00:00", self.config.tz)
