"""The director's controls on counters: change what a counter serves, take a service first,
call a clerk back from a break, undo (``server/engine/controls.py``, ``docs/advice.md``); and the
end of the working day (``server/engine/day_end.py``, ``docs/queue-rules.md``)."""
from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from .context import MANAGERS, known_site, principal, require, services
from .responses import Change, Changes, DayEnded, DayState
from .schemas import ERRORS, ChangePath, ControlIn, CounterPath, DayEndIn, SiteQuery

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


@bp.get("/day", responses={200: DayState},
        summary="Today's working day: who is still waiting, what stands in the way of ending it")
@require(*MANAGERS)
def day_state(query: SiteQuery):
    return services().engine.day_state(known_site(query.site))


@bp.post("/day/end", responses={200: DayEnded},
         summary="Director: end the working day; those still waiting are told to come back the next working day")
@require("director")
def end_day(body: DayEndIn):
    who = principal()
    return services().engine.end_day(by=who.id, role=who.role, force=body.force, site=known_site(body.site))
