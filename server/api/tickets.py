"""Ticket routes: issue, look up, and move a ticket through its life."""
from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from qms_common.errors import Forbidden

from ..privacy import Callbacks
from .context import MANAGERS, STAFF, device_site, principal, require, services
from .responses import Tickets
from .schemas import (
    ERRORS, CounterAction, Error, IssueIn, OptionalCounterAction, PrintResultIn, Ticket, TicketPath, TicketsQuery,
    TransferIn,
)

bp = APIBlueprint("tickets", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="tickets")],
                  abp_security=[{"bearer": []}],
                  abp_responses=ERRORS)

ISSUERS = ("kiosk", "robot", "clerk", "director", "admin")


def public_ticket(t: dict) -> dict:
    base = services().engine.config.center.public_url.rstrip("/")
    out = {k: t.get(k) for k in ("id", "code", "service", "site", "state", "issued_at", "counter",
                                 "people_ahead", "called_at", "started_at", "finished_at", "printed",
                                 "print_fault", "source", "recalls", "transfers", "target_counter",
                                 "wait_from", "first_called_at", "predicted_wait_s")}
    out["priority"] = bool(t.get("priority"))
    if "estimated_wait_s" in t:
        out["estimated_wait_s"] = t["estimated_wait_s"]
    if "estimated_wait_range_s" in t:
        out["estimated_wait_range_s"] = t["estimated_wait_range_s"]
    for key in ("estimated_wait_text", "estimated_wait_text_en"):
        if key in t:
            out[key] = t[key]
    if "people_ahead_now" in t:
        out["people_ahead_now"] = t["people_ahead_now"]
    if "seq" in t:  # a ticket with its place in line (Engine.position): the state all its figures are of
        out["seq"] = t["seq"]
    out["status_url"] = f"{base}/s/{t['status_token']}"
    return out


def _person() -> tuple[str, str]:
    """The signed-in person and their role: the engine applies the counter rule to clerks
    (server/engine/permissions.py) and records directors' and admins' actions anywhere."""
    who = principal()
    if who.kind != "user":
        raise Forbidden("Chỉ người đã đăng nhập mới thao tác trên vé; only a signed-in person acts on tickets")
    return who.id, who.role


@bp.post("/tickets", responses={201: Ticket, 200: Ticket, 429: Error},
         summary="Issue a ticket (201); the same client_ref again: the first ticket (200), or 409 if the "
                 "request differs")
@require(*ISSUERS)
def issue_ticket(body: IssueIn):
    who = principal()
    site = device_site(body.site)
    engine = services().engine
    if body.callback is not None and not engine.config.privacy.callback:
        Callbacks(engine.store, engine.config, engine.clock).save("", body.callback)  # refuses, before issuing
    t, created = services().engine.issue_once(
        body.service, priority=body.priority, site=site, client_ref=body.client_ref, source=who.role,
        device=who.id if who.kind == "device" else None, actor=who.id if who.kind == "user" else None)
    if body.callback is not None and created:
        Callbacks(engine.store, engine.config, engine.clock).save(t["id"], body.callback)
    return public_ticket(t), 201 if created else 200


@bp.get("/tickets", responses={200: Tickets}, summary="List today's tickets (or a day's)")
@require(*STAFF)
def list_tickets(query: TicketsQuery):
    rows = services().engine.tickets(day=query.day, state=query.state, service=query.service, site=query.site,
                                     limit=query.limit)
    return {"tickets": [public_ticket(t) for t in rows]}


@bp.get("/tickets/<ticket_id>", responses={200: Ticket}, summary="One ticket with its place in line")
@require(*STAFF)
def get_ticket(path: TicketPath):
    return public_ticket(services().engine.position(path.ticket_id))


def _counter_action(name: str, summary: str):
    @bp.post(f"/tickets/<ticket_id>/{name.replace('_', '-')}", responses={200: Ticket}, summary=summary,
             operation_id=f"ticket_{name}", endpoint=f"ticket_{name}")
    @require(*STAFF)
    def action(path: TicketPath, body: CounterAction):
        engine = services().engine
        actor, role = _person()
        t = getattr(engine, name)(path.ticket_id, body.counter, actor, role=role)
        return public_ticket(t)

    return action


for _name, _summary in (("call", "Call this ticket to a counter"), ("recall", "Call it again (announce again)"),
                        ("start", "The citizen arrived: start serving"), ("finish", "Service finished"),
                        ("no_show", "The citizen did not come"), ("park", "Set aside (citizen fetches a paper)"),
                        ("resume", "Take a parked ticket back")):
    _counter_action(_name, _summary)


@bp.post("/tickets/<ticket_id>/transfer", responses={200: Ticket},
         summary="Send to another service or counter; keeps its original place in line")
@require(*STAFF)
def transfer_ticket(path: TicketPath, body: TransferIn):
    actor, role = _person()
    t = services().engine.transfer(path.ticket_id, service=body.service, to_counter=body.to_counter,
                                   counter=body.counter, actor=actor, role=role)
    return public_ticket(t)


@bp.post("/tickets/<ticket_id>/requeue", responses={200: Ticket}, summary="Put a no-show back in line")
@require(*STAFF)
def requeue_ticket(path: TicketPath, body: OptionalCounterAction):
    actor, role = _person()
    return public_ticket(services().engine.requeue(path.ticket_id, actor=actor, counter=body.counter, role=role))


@bp.post("/tickets/<ticket_id>/cancel", responses={200: Ticket}, summary="Cancel a ticket")
@require(*MANAGERS, "clerk")
def cancel_ticket(path: TicketPath, body: OptionalCounterAction):
    actor, role = _person()
    return public_ticket(services().engine.cancel(path.ticket_id, actor=actor, reason=body.reason,
                                                  counter=body.counter, role=role))


@bp.post("/tickets/<ticket_id>/abandon", responses={200: Ticket}, summary="The citizen left without being served")
@require(*MANAGERS, "clerk")
def abandon_ticket(path: TicketPath, body: OptionalCounterAction):
    actor, role = _person()
    return public_ticket(services().engine.abandon(path.ticket_id, actor=actor, reason=body.reason,
                                                   counter=body.counter, role=role))


@bp.post("/tickets/<ticket_id>/print-result", responses={200: Ticket},
         summary="A kiosk reports whether the ticket left the printer")
@require("kiosk")
def print_result(path: TicketPath, body: PrintResultIn):
    t = services().engine.mark_printed(path.ticket_id, body.printed, body.fault, device=principal().id)
    return public_ticket(t)


@bp.post("/tickets/<ticket_id>/reprint", responses={200: Ticket},
         summary="Ask the issuing kiosk to print the ticket again")
@require(*STAFF)
def reprint_ticket(path: TicketPath):
    actor, role = _person()
    return public_ticket(services().engine.request_reprint(path.ticket_id, actor=actor, role=role))
