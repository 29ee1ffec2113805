"""The main center's door for standalone sites (satellite points): their event log comes in
here (server/satellite/mirror.py; the sender is ``qms replicate``, server/satellite/replicator.py).

Only the site's own ``satellite`` device token may send or read its cursor
(``qms device add sat-diem-1 --kind satellite --site diem-1`` on the main center); directors
may read every site's cursor (how far behind each satellite is)."""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from qms_common.errors import Forbidden

from .context import MANAGERS, principal, require
from .schemas import ERRORS, CounterNo, In, Int

bp = APIBlueprint("sites", __name__, url_prefix="/api/v1", abp_responses=ERRORS)
SITES = [Tag(name="sites")]
BEARER = [{"bearer": []}]


class SitePath(In):
    site: str = Field(pattern=r"^[a-z0-9-]{1,40}$")


class ShippedEvent(In):
    seq: Int = Field(ge=1, le=2**53, description="the event's sequence number in the satellite's own log")
    at: float = Field(ge=0, le=2**40, description="when it happened (epoch seconds)")
    type: str = Field(pattern=r"^[a-z_]{1,40}$")
    ticket_id: str | None = Field(default=None, max_length=60)
    counter: CounterNo | None = None
    actor: str | None = Field(default=None, max_length=80)
    device: str | None = Field(default=None, max_length=80)
    data: dict[str, Any] = Field(default_factory=dict)


class EventBatch(In):
    events: list[ShippedEvent] = Field(max_length=200, description="in the satellite's order (by seq)")


class Cursor(BaseModel):
    site: str
    through: int = Field(description="the last satellite seq applied here: send from through + 1")
    updated_at: float | None = None
    last_event_at: float | None = None


class Link(Cursor):
    name: str
    last_event_at: float | None = Field(default=None, description="when the last event received happened there")


class Links(BaseModel):
    sites: list[Link]


class Received(Cursor):
    applied: int = Field(description="events of this batch applied now")
    duplicates: int = Field(description="events already applied before (a batch sent again): skipped")
    gap_at: int | None = Field(default=None, description="the seq missing before the rest of the batch, if any")


def _mirror():
    return current_app.extensions["qms_mirror"]


def _own_site(site: str) -> None:
    who = principal()
    if who.kind == "device" and who.site != site:
        raise Forbidden(f"Thiết bị {who.id} không thuộc điểm {site}; device {who.id} does not belong to site "
                        f"{site!r}", device=who.id, site=site)


@bp.get("/sites/<site>/events/cursor", tags=SITES, security=BEARER, responses={200: Cursor},
        summary="How far the main center has a standalone site's events")
@require("satellite", *MANAGERS)
def site_cursor(path: SitePath):
    _own_site(path.site)
    return _mirror().cursor(path.site)


@bp.get("/sites/links", tags=SITES, security=BEARER, responses={200: Links},
        summary="Every standalone site: how far its events have arrived (the director's dashboard)")
@require(*MANAGERS)
def site_links():
    return {"sites": _mirror().cursors()}


@bp.post("/sites/<site>/events", tags=SITES, security=BEARER, responses={200: Received},
         summary="A standalone site's events, applied once each and in order")
@require("satellite")
def site_events(path: SitePath, body: EventBatch):
    _own_site(path.site)
    return _mirror().receive(path.site, [e.model_dump() for e in body.events])
