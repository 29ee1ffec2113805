"""The HTML screens: index, wall display, clerk console, director dashboard, citizen status.

Pages are shells: the data arrives over the socket (``server/realtime.py``). The center's
configuration is embedded as JSON (no inline script runs: a strict Content-Security-Policy
allows only this server's own scripts), and every asset, the DejaVu fonts included, is
served from ``server/static`` so a center without internet shows the same thing.
"""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, NotFound

from .realtime_views import citizen_status, pending_status

bp = Blueprint("pages", __name__, template_folder="templates")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self' ws: wss:; media-src 'self' data: blob:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def _engine():
    return current_app.extensions["qms"].engine


def center_config() -> dict:
    """The public part of the center's configuration, as the pages need it."""
    cfg = _engine().config
    return {
        "center": cfg.center.model_dump(exclude={"public_url"}),
        "sites": [s.model_dump() for s in cfg.sites],
        "services": [s.model_dump(include={"code", "prefix", "name", "name_en"}) for s in cfg.services],
        "counters": [c.model_dump() for c in cfg.counters],
        "targets": cfg.targets.model_dump(),
        "hours": cfg.hours.model_dump(),
        "main_site": cfg.main_site,
    }


def _page(template: str, http_status: int = 200, **context):
    cfg = center_config()
    response = current_app.make_response((render_template(template, config=cfg, center=cfg["center"],
                                                          **context), http_status))
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    # same-origin: the status page's token never leaves in a Referer to another site, and the
    # pages' own requests keep their Origin (with no-referrer Chromium sends "Origin: null")
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def index():
    return _page("index.html")


@bp.get("/display")
def display():
    return _page("display.html")


@bp.get("/console")
def console():
    return _page("console.html")


@bp.get("/dashboard")
def dashboard():
    return _page("dashboard.html")


@bp.get("/dashboard/plan")
def dashboard_plan():
    """Tomorrow's staffing plan (``qms plan``) with its chart and what-if form; director role."""
    return _page("dashboard_plan.html")


@bp.get("/rate")
def rate():
    """The rating tablet at a counter (holds the counter device's token)."""
    return _page("rate.html")


@bp.get("/s/<token>")
def status(token: str):
    engine = _engine()
    ticket = engine.ticket_by_token(token) if 10 <= len(token) <= 64 else None
    if ticket is None:
        pending = engine.pending_offline(token) if 10 <= len(token) <= 64 else None
        if pending is None:
            return not_found_page(ticket_link=True)
        return _page("status.html", status=pending_status(engine, pending), token=token)
    return _page("status.html", status=citizen_status(engine, ticket["id"]), token=token)


def not_found_page(ticket_link: bool = False):
    return _page("404.html", http_status=404, ticket_link=ticket_link)


def _not_found(exc: HTTPException):
    """Unknown pages get a Vietnamese page; the API keeps answering JSON."""
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        response = jsonify({"error": "not_found", "message": "Không tìm thấy; not found"})
        response.status_code = 404
        return response
    return not_found_page()


def register_pages(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_error_handler(NotFound, _not_found)
