"""The director's controls on counters: change what a counter serves, take a service first,
call a clerk back from a break, undo (``server/engine/controls.py``, ``docs/advice.md``)."""
from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from .context import MANAGERS, principal, require, services
from .responses import Change, Changes
from .schemas import ERRORS, ChangePath, ControlIn, CounterPath

bp = APIBlueprint("controls", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="controls")],
                  abp_security=[{"bearer": []}], abp_responses=ERRORS)


@bp.post("/counters/<int:number>/controls", responses={201: Change},
         summary="Director: change a counter (services, the service first, back from a break); "
                 "it takes effect at the counter's next call")
@require("director")
def apply_control(path: CounterPath, body: ControlIn):
    who = principal()
    change = services().engine.apply_control(path.number, body.action, service=body.service,
                                             services=body.services, by=who.id, role=who.role,
                                             proposal=body.proposal)
    return change, 201


@bp.get("/controls", responses={200: Changes}, summary="Today's changes to counters, the newest first")
@require(*MANAGERS)
def control_log():
    return {"changes": services().engine.control_log()}


@bp.post("/controls/<change_id>/undo", responses={200: Change}, summary="Director: take a change back")
@require("director")
def undo_control(path: ChangePath):
    who = principal()
    return services().engine.undo_control(path.change_id, by=who.id, role=who.role)
