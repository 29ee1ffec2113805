"""Satisfaction at the counter (the rating tablet ``/rate`` and the API) and the report files.

The tablet holds the counter device's token (``qms device add counter-5 --kind counter``), so a
rating can only be for a ticket of its own counter; the rule itself is server/engine/rating.py.
"""
from __future__ import annotations

import re
from typing import Literal

from flask import make_response
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from qms_common.errors import Forbidden, QmsError

from ..engine.rating import LEVELS, REASONS
from .context import MANAGERS, STAFF, principal, require, services
from .schemas import ERRORS, Day, In, Int, Query

bp = APIBlueprint("ratings", __name__, url_prefix="/api/v1", abp_responses=ERRORS)
RATINGS = [Tag(name="ratings")]
REPORTS = [Tag(name="reports")]
BEARER = [{"bearer": []}]


class RatingIn(In):
    score: Int = Field(ge=1, le=4, description="4 Rất hài lòng, 3 Hài lòng, 2 Bình thường, 1 Không hài lòng")
    reason: Literal["waited_too_long", "unclear_guidance", "attitude", "dossier_returned", "other"] | None = Field(
        default=None, description="with score 1 only")


class AlertPath(In):
    alert_id: int = Field(ge=1, le=2**53)


class ReportFileQuery(Query):
    week: str | None = Field(default=None, pattern=r"^\d{4}-W\d{2}$", description="an ISO week, e.g. 2026-W48")
    since: Day | None = Field(default=None, alias="from", description="first day, YYYY-MM-DD")
    to: Day | None = Field(default=None, description="last day, YYYY-MM-DD (default: today)")
    format: Literal["pdf", "html", "xlsx", "csv", "json"] = "pdf"
    site: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,40}$",
                             description="one site only (default: the whole center, with a line per site)")


class Pending(BaseModel):
    levels: dict[str, str]
    reasons: dict[str, str]
    reset_s: float | None = None


class Rated(BaseModel):
    ticket: str | None = None
    score: int
    level: str
    reason: str | None = None


class Today(BaseModel):
    alerts: list[dict]


class Resolved(BaseModel):
    id: int


REPORT_FILE = {"description": "the report: PDF, HTML, XLSX, CSV, or JSON with format=json",
               "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}},
                           "text/html": {"schema": {"type": "string"}},
                           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                               {"schema": {"type": "string", "format": "binary"}},
                           "text/csv": {"schema": {"type": "string"}},
                           "application/json": {"schema": {"type": "object"}}}}


_TABLET_RE = re.compile(r"^(?:counter|rate)-(\d{1,3})$")  # a keypad's id, or a tablet paired on the dashboard


def _my_counter() -> int:
    who = principal()
    m = _TABLET_RE.match(who.id)
    number = int(m.group(1)) if m else None
    if number is None or services().engine.config.counter(number) is None:
        raise Forbidden(f"Thiết bị {who.id} không gắn với quầy nào; {who.id} is not a counter device "
                        f"(name it counter-<number>)", device=who.id)
    return number


@bp.get("/ratings/pending", tags=RATINGS, security=BEARER, responses={200: Pending},
        summary="The rating tablet: the ticket its counter may be rated for now, or why none")
@require("counter")
def pending():
    engine = services().engine
    return {**engine.rating_pending(_my_counter()),
            "levels": {str(k): v[0] for k, v in LEVELS.items()}, "reasons": {k: v[0] for k, v in REASONS.items()},
            "reset_s": engine.config.satisfaction.page_reset_s}


@bp.post("/ratings", tags=RATINGS, security=BEARER, responses={201: Rated},
         summary="A citizen rates the service just received at this counter (once, within the window)")
@require("counter")
def rate(body: RatingIn):
    who = principal()
    event = services().engine.rate(body.score, counter=_my_counter(), device=who.id, reason=body.reason,
                                   source="tablet")
    return {"ticket": event["data"]["code"], "score": body.score, "level": LEVELS[body.score][0],
            "reason": body.reason}, 201


@bp.get("/ratings/today", tags=RATINGS, security=BEARER, responses={200: Today},
        summary="Today's satisfaction per service and counter, and the open low-rating alerts")
@require(*STAFF)
def today():
    engine = services().engine
    return {**engine.satisfaction_today(), "alerts": engine.rating_alerts()}


@bp.post("/rating-alerts/<int:alert_id>/resolve", tags=RATINGS, security=BEARER, responses={200: Resolved},
         summary="Mark a low rating as dealt with (the director spoke with the citizen or the clerk)")
@require(*MANAGERS)
def resolve(path: AlertPath):
    return services().engine.resolve_rating_alert(path.alert_id, actor=principal().id)


@bp.get("/reports/file", tags=REPORTS, security=BEARER, responses={200: REPORT_FILE},
        summary="The province's report for a week or a range of days: PDF, HTML, XLSX, CSV or JSON")
@require(*MANAGERS)
def report_file(query: ReportFileQuery):
    from ..reporting import files, isolated, period as periods
    engine = services().engine
    if query.week and (query.since or query.to):  # checked after the sign-in: a rule between two fields
        raise QmsError("Chọn tuần (week) hoặc khoảng ngày (from/to), không chọn cả hai; give week or from/to, "
                       "not both", fields=["week", "from", "to"])
    if query.week:
        period = periods.week(query.week)
    else:
        last = query.to or engine.today()
        period = periods.days(query.since or last, last)
    report, data = isolated.content(engine, period, query.format, site=query.site)  # in a child: the loop keeps serving
    if query.format == "json":
        return report
    response = make_response(data)
    response.headers["Content-Type"] = files.MIME[query.format]
    disposition = "inline" if query.format in ("pdf", "html") else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{files.filename(report, query.format)}"'
    return response
