"""Pairing a wall display from the dashboard (``server/pairing.py``): the screen shows a code,
the director enters it. The screen's two calls need no sign-in; approving is for managers."""
from __future__ import annotations

from flask import current_app, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from qms_common.errors import NotFound

from .context import MANAGERS, principal, require, services
from .schemas import ERRORS, CounterNo, Error, In

bp = APIBlueprint("pairing", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="pairing")],
                  abp_responses={**ERRORS, 429: Error})


class PairingPath(In):
    request_id: str = Field(min_length=8, max_length=40)


class PollIn(In):
    secret: str = Field(min_length=16, max_length=64)


class ApproveIn(In):
    code: str = Field(min_length=6, max_length=12, pattern=r"^[0-9 ]+$", description="the six digits on the screen")
    name: str = Field(min_length=1, max_length=60, description="where the screen is, e.g. 'Sảnh chờ tầng 1'")
    site: str | None = Field(default=None, max_length=40)
    counter: CounterNo | None = Field(default=None,
                                description="pair the screen as this counter's rating tablet (/rate), not a display")


class PairingOut(BaseModel):
    id: str
    code: str
    secret: str
    expires_at: float


class PollOut(BaseModel):
    state: str = Field(description="waiting or paired")
    code: str | None = None
    expires_at: float | None = None
    token: str | None = Field(default=None, description="the display's device token, given once")
    device: str | None = None


class ApproveOut(BaseModel):
    device: str
    name: str
    site: str | None
    approved_by: str


def pairing():
    return current_app.extensions["qms_pairing"]


@bp.post("/pairing", responses={201: PairingOut}, summary="A screen without a token asks for a code to show")
def start_pairing():
    return pairing().start(request.remote_addr or "?"), 201


@bp.post("/pairing/<request_id>/poll", responses={200: PollOut},
         summary="The screen asks whether its code was approved (the token comes once)")
def poll_pairing(path: PairingPath, body: PollIn):
    return pairing().poll(path.request_id, body.secret)


@bp.post("/pairing/approve", responses={200: ApproveOut, 401: Error, 403: Error},
         summary="The director enters the code shown on a screen: it becomes a display", security=[{"bearer": []}])
@require(*MANAGERS)
def approve_pairing(body: ApproveIn):
    sites = {s.id for s in services().engine.config.sites}
    if body.site is not None and body.site not in sites:
        raise NotFound(f"Không có điểm tiếp nhận '{body.site}'; unknown site", site=body.site)
    if body.counter is not None and services().engine.config.counter(body.counter) is None:
        raise NotFound(f"Không có quầy {body.counter}; no counter {body.counter}", counter=body.counter)
    return pairing().approve(body.code, name=body.name, site=body.site, by=principal().id, counter=body.counter)
