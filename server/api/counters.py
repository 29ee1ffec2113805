"""Counter routes: a clerk signs in at a counter, calls next, pauses, signs out."""
from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from qms_common.errors import Forbidden

from .context import SCREENS, principal, require, services
from .schemas import CounterPath, Error
from .tickets import public_ticket

bp = APIBlueprint("counters", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="counters")],
                  abp_security=[{"bearer": []}],
                  abp_responses={401: Error, 403: Error, 404: Error, 409: Error, 422: Error})


def _clerk() -> str:
    who = principal()
    if who.kind != "user":
        raise Forbidden("Chỉ người đã đăng nhập mới làm việc tại quầy; only a signed-in person can work a counter")
    return who.id


def _role() -> str:
    return principal().role


@bp.get("/counters", summary="Every counter: state, clerk, ticket in hand")
@require(*SCREENS)
def list_counters():
    return {"counters": services().engine.counters_view()}


@bp.post("/counters/<int:number>/sign-in", summary="Open the counter under the signed-in clerk")
@require("clerk", "director", "admin")
def sign_in(path: CounterPath):
    return services().engine.sign_in(path.number, _clerk())


@bp.post("/counters/<int:number>/pause", summary="Pause (break)")
@require("clerk", "director", "admin")
def pause(path: CounterPath):
    return services().engine.pause(path.number, _clerk(), role=_role())


@bp.post("/counters/<int:number>/resume", summary="Back from a break")
@require("clerk", "director", "admin")
def resume(path: CounterPath):
    return services().engine.resume_counter(path.number, _clerk(), role=_role())


@bp.post("/counters/<int:number>/sign-out", summary="Close the counter")
@require("clerk", "director", "admin")
def sign_out(path: CounterPath):
    return services().engine.sign_out(path.number, _clerk(), role=_role())


@bp.post("/counters/<int:number>/call-next",
         summary="Call the next citizen (finishes the ticket being served first); null when nobody waits")
@require("clerk", "director", "admin")
def call_next(path: CounterPath):
    t = services().engine.call_next(path.number, _clerk(), role=_role())
    return {"ticket": public_ticket(t) if t else None}
