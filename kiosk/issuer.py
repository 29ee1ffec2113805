"""Issuing one ticket: online within the deadline, else from the kiosk's reserved numbers.

1. A fresh ``client_ref`` per press; ``POST /api/v1/tickets`` with a ~1 s deadline.
2. An answer in time: the server's ticket (number, people ahead, wait, status URL).
3. No usable answer (timeout, refused connection, 5xx, garbage): the kiosk takes the next
   number of a block the server reserved for it and records the ticket in its outbox, with
   the *same* ``client_ref``. If the server did create a ticket for the lost request (a
   stalled server carries it out later), the hand-over's ``client_ref`` makes the printed
   ticket take that copy over, call included: the number on the paper is the one called.
   The QR code carries the status token the server gave that number with its block, so the
   citizen's page says the ticket is valid even before it has been handed over.
4. A refusal that holds (center closed, unknown service, daily cap): no ticket; the message
   goes on the screen. Issuing offline would only hand out a number nobody will call.

Runs on the kiosk's worker thread only (it owns an :class:`Outbox` connection).
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date

from qms_common.clock import Clock, local_day

from .outbox import LocalTicket, NoNumbersLeft, Outbox
from .server_client import Refused, ServerClient, Unreachable

log = logging.getLogger(__name__)

PUBLIC_URL_KEY = "public_url"


@dataclass(frozen=True)
class IssueResult:
    ticket: LocalTicket | None
    refused: str | None = None  # Vietnamese message when no ticket was issued
    offline_reason: str | None = None  # why the server was not used


def new_client_ref() -> str:
    return uuid.uuid4().hex


def public_url_from_status(status_url: str) -> str | None:
    """``http://center/s/<token>`` → ``http://center``: where offline QR codes point."""
    head, sep, _token = status_url.rstrip("/").rpartition("/s/")
    return head if sep and head.startswith(("http://", "https://")) else None


class Issuer:
    def __init__(self, *, client: ServerClient, outbox: Outbox, clock: Clock, timezone: str, site: str | None,
                 public_url: str | None, status_qr: bool) -> None:
        self.client = client
        self.outbox = outbox
        self.clock = clock
        self.timezone = timezone
        self.site = site
        self.configured_public_url = public_url
        self.status_qr = status_qr

    def public_url(self) -> str | None:
        return self.configured_public_url or self.outbox.get(PUBLIC_URL_KEY)

    def issue(self, service: str, priority: bool) -> IssueResult:
        client_ref = new_client_ref()
        try:
            answer = self.client.issue(service, priority, client_ref, self.site)
        except Refused as exc:
            log.info("server refused a %s ticket: %s", service, exc.message)
            return IssueResult(None, refused=exc.message)
        except Unreachable as exc:
            log.warning("issuing %s offline: %s", service, exc.message)
            return self._offline(service, priority, client_ref, exc.message)
        ticket = LocalTicket(
            client_ref=client_ref, ticket_id=answer.ticket_id, code=answer.code, service=answer.service,
            priority=answer.priority, issued_at=answer.issued_at, offline=False,
            day=_day_of(answer.ticket_id) or local_day(answer.issued_at, self.timezone).isoformat(),
            people_ahead=answer.people_ahead, estimated_wait_s=answer.estimated_wait_s,
            status_url=answer.status_url, estimated_wait_range_s=answer.estimated_wait_range_s,
            estimated_wait_text=answer.estimated_wait_text)
        self.outbox.record_online(ticket)
        learnt = public_url_from_status(answer.status_url) if answer.status_url else None
        if learnt and learnt != self.outbox.get(PUBLIC_URL_KEY):
            self.outbox.put(PUBLIC_URL_KEY, learnt)
        return IssueResult(ticket)

    def _offline(self, service: str, priority: bool, client_ref: str, reason: str) -> IssueResult:
        now = self.clock.now()
        day = local_day(now, self.timezone).isoformat()
        base = self.public_url() if self.status_qr else None
        try:
            ticket = self.outbox.issue_offline(client_ref=client_ref, service=service, priority=priority, day=day,
                                               issued_at=now, site=self.site, status_base=base)
        except NoNumbersLeft:
            log.error("cannot issue %s: offline and no reserved numbers left for %s", service, day)
            return IssueResult(None, refused="no_numbers", offline_reason=reason)
        return IssueResult(ticket, offline_reason=reason)


def _day_of(ticket_id: str) -> str | None:
    """The server's ticket id starts with the day: ``20251124-HT-042``."""
    head = ticket_id.split("-", 1)[0]
    try:
        return date(int(head[:4]), int(head[4:6]), int(head[6:8])).isoformat() if len(head) == 8 else None
    except ValueError:
        return None
