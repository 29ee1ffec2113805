"""Sign-in, the live snapshot, the citizen's status, kiosk offline numbers, the event log."""
from __future__ import annotations

from datetime import date

from flask import make_response, request
from flask_openapi3 import APIBlueprint, Tag

from qms_common.errors import NotFound

from .context import MANAGERS, SCREENS, TOKEN_COOKIE, device_site, known_site, principal, request_token, require, services
from .responses import CSV, Block, Center, CitizenStatus, Events, Me, Ok, Report, ServiceStats, Snapshot, Ticket
from .schemas import ERRORS, BlockIn, Error, EventsQuery, LoginIn, LoginOut, OfflineTicketIn, ReportQuery, SiteQuery, TokenPath
from .tickets import public_ticket
from ..realtime_views import day_ended_fields

bp = APIBlueprint("misc", __name__, url_prefix="/api/v1",
                  abp_responses=ERRORS)
AUTH = [Tag(name="auth")]
LIVE = [Tag(name="live")]
KIOSK = [Tag(name="kiosk")]
BEARER = [{"bearer": []}]
OPTIONAL_BEARER = [{"bearer": []}, {}]  # signing out without a session is fine


@bp.post("/auth/login", tags=AUTH, responses={200: LoginOut, 429: Error}, summary="Sign in (clerk, director, admin)")
def login(body: LoginIn):
    token, who, expires = services().auth.login(body.username, body.password, address=request.remote_addr)
    response = make_response({"token": token, "role": who.role, "name": who.name, "expires_at": expires})
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict",
                        secure=request.is_secure, max_age=int(expires - services().engine.clock.now()))
    return response


@bp.post("/auth/logout", tags=AUTH, security=OPTIONAL_BEARER, responses={200: Ok}, summary="Sign out")
def logout():
    token = request_token()
    if token:
        services().auth.logout(token)
    response = make_response({"ok": True})
    response.delete_cookie(TOKEN_COOKIE)
    return response


@bp.get("/auth/me", tags=AUTH, security=BEARER, responses={200: Me}, summary="Who am I")
@require(*SCREENS)
def me():
    who = principal()
    return {"kind": who.kind, "id": who.id, "role": who.role, "name": who.name, "site": who.site}


@bp.get("/center", tags=LIVE, responses={200: Center}, summary="The center: name, timezone, hours, sites, services, counters")
def center():
    cfg = services().engine.config
    return {
        "center": cfg.center.model_dump(), "hours": cfg.hours.model_dump(),
        "sites": [s.model_dump() for s in cfg.sites],
        "services": [s.model_dump() for s in cfg.services],
        "counters": [c.model_dump() for c in cfg.counters],
        "targets": cfg.targets.model_dump(),
    }


@bp.get("/snapshot", tags=LIVE, security=BEARER, responses={200: Snapshot}, summary="Everything a screen shows, with its event sequence")
@require(*SCREENS)
def snapshot(query: SiteQuery):
    return services().engine.snapshot(known_site(query.site))


@bp.get("/services/stats", tags=LIVE, security=BEARER, responses={200: ServiceStats},
        summary="Per service: waiting, longest wait, estimate, served today, share within target")
@require(*SCREENS)
def service_stats(query: SiteQuery):
    return {"services": services().engine.service_stats(known_site(query.site))}


@bp.get("/status/<token>", tags=LIVE, responses={200: CitizenStatus}, summary="A citizen's ticket (the QR code); no sign-in, nothing else shown")
def status(path: TokenPath):
    engine = services().engine
    t = engine.ticket_by_token(path.token)
    if t is None:
        pending = engine.pending_offline(path.token)
        if pending is None:
            raise NotFound("Không tìm thấy vé; no such ticket")
        # printed offline, not handed over yet: the ticket is valid and keeps its place
        return {"seq": engine.last_seq(), "code": pending["code"], "service": pending["service"], "state": "pending",
                "priority": False, "issued_at": None, "people_ahead": None, "estimated_wait_s": None, "counter": None,
                "called_at": None}
    t = engine.position(t["id"])  # of one state: its seq
    return {"seq": t["seq"], "code": t["code"], "service": t["service"], "state": t["state"], "priority": bool(t["priority"]),
            "issued_at": t["issued_at"], "people_ahead": t["people_ahead_now"],
            "estimated_wait_s": t["estimated_wait_s"], "estimated_wait_range_s": t["estimated_wait_range_s"],
            "estimated_wait_text": t["estimated_wait_text"], "counter": t["counter"],
            "called_at": t["called_at"], **day_ended_fields(engine, t)}


@bp.post("/kiosk/blocks", tags=KIOSK, security=BEARER, responses={201: Block, 429: Error}, summary="Reserve numbers to issue while offline")
@require("kiosk")
def reserve_block(body: BlockIn):
    return services().engine.reserve_block(principal().id, body.service, body.size), 201


@bp.post("/kiosk/offline-tickets", tags=KIOSK, security=BEARER, responses={201: Ticket},
         summary="Hand over a ticket issued offline (idempotent by client_ref)")
@require("kiosk")
def offline_ticket(body: OfflineTicketIn):
    who = principal()
    t = services().engine.merge_offline(who.id, client_ref=body.client_ref, service=body.service,
                                        number=body.number, day=body.day.isoformat(), issued_at=body.issued_at,
                                        priority=body.priority, printed=body.printed, site=device_site(body.site))
    return public_ticket(t), 201


@bp.get("/events", tags=LIVE, security=BEARER, responses={200: Events}, summary="The append-only event log")
@require(*MANAGERS)
def events(query: EventsQuery):
    return {"events": services().engine.events_after(query.after, query.limit)}


def _report_rows(query: ReportQuery) -> tuple[date, date, list[dict]]:
    from ..reports import report_for
    return report_for(services().engine, query.since, query.to, max_days=366)


@bp.get("/reports/daily", tags=LIVE, security=BEARER, responses={200: Report},
        summary="Per day and service: waits, share within 15 min, service times, ratings (from the event log)")
@require(*MANAGERS)
def daily_report_route(query: ReportQuery):
    first, last, rows = _report_rows(query)
    return {"from": first.isoformat(), "to": last.isoformat(), "rows": rows}


@bp.get("/reports/daily.csv", tags=LIVE, security=BEARER, responses={200: CSV}, summary="The same report as CSV (UTF-8, for a spreadsheet)")
@require(*MANAGERS)
def daily_report_csv(query: ReportQuery):
    import io

    from ..reports import write_csv
    first, last, rows = _report_rows(query)
    out = io.StringIO()
    out.write("\ufeff")  # a byte-order mark: spreadsheet programs then read Vietnamese as UTF-8
    write_csv(rows, out)
    response = make_response(out.getvalue())
    response.mimetype = "text/csv"
    response.headers["Content-Disposition"] = f'attachment; filename="bao-cao-{first}-{last}.csv"'
    return response
