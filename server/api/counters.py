"""Counter routes: a clerk signs in at a counter, calls next, pauses, signs out."""
from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from qms_common.errors import Forbidden

from .context import SCREENS, principal, require, services
from .responses import CallNext, Counters, CounterState
from .schemas import ERRORS, CounterPath
from .tickets import public_ticket

bp = APIBlueprint("counters", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="counters")],
                  abp_security=[{"bearer": []}],
                  abp_responses=ERRORS)


def _clerk() -> str:
    who = principal()
    if who.kind != "user":
        raise Forbidden("Chỉ người đã đăng nhập mới làm việc tại quầy; only a signed-in person can work a counter")
    return who.id


def _role() -> str:
    return principal().role


@bp.get("/counters", responses={200: Counters}, summary="Every counter: state, clerk, ticket in hand")
@require(*SCREENS)
def list_counters():
    return {"counters": services().engine.counters_view()}


@bp.post("/counters/<int:number>/sign-in", responses={200: CounterState}, summary="Open the counter under the signed-in clerk")
@require("clerk", "director", "admin")
def sign_in(path: CounterPath):
    return services().engine.sign_in(path.number, _clerk())


@bp.post("/counters/<int:number>/pause", responses={200: CounterState}, summary="Pause (break)")
@require("clerk", "director", "admin")
def pause(path: CounterPath):
    return services().engine.pause(path.number, _clerk(), role=_role())


@bp.post("/counters/<int:number>/resume", responses={200: CounterState}, summary="Back from a break")
@require("clerk", "director", "admin")
def resume(path: CounterPath):
    return services().engine.resume_counter(path.number, _clerk(), role=_role())


@bp.post("/counters/<int:number>/sign-out", responses={200: CounterState}, summary="Close the counter")
@require("clerk", "director", "admin")
def sign_out(path: CounterPath):
    return services().engine.sign_out(path.number, _clerk(), role=_role())


@bp.post("/counters/<int:number>/call-next", responses={200: CallNext},
         summary="Call the next citizen (finishes the ticket being served first); null when nobody waits")
@require("clerk", "director", "admin")
def call_next(path: CounterPath):
    t = services().engine.call_next(path.number, _clerk(), role=_role())
    return {"ticket": public_ticket(t) if t else None}
