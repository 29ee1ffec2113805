"""Live advice: what to change at the counters now, and one click to apply it
(``server/advice/``, ``docs/advice.md``). Undo is ``POST /controls/{change_id}/undo``."""
from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from .context import MANAGERS, known_site, principal, require, services
from .responses import AdviceOut, Change
from .schemas import ERRORS, ApplyIn, SiteQuery

bp = APIBlueprint("advice", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="advice")],
                  abp_security=[{"bearer": []}], abp_responses=ERRORS)


def _site(site: str | None) -> str:
    """The site asked for (a 404 naming the sites if the center has not it), else the main one."""
    return known_site(site or None) or services().engine.config.main_site


@bp.get("/advice", responses={200: AdviceOut},
        summary="The best two or three changes possible now, with their predicted effect")
@require(*MANAGERS)
def get_advice(query: SiteQuery):
    site = _site(query.site)
    advisor = services().engine.advisor
    return {**advisor.advice(site).as_dict(), "site": site, "horizon_s": advisor.input_horizon()}


@bp.post("/advice/apply", responses={201: Change}, summary="Director: apply one of the current proposals")
@require("director")
def apply_advice(body: ApplyIn):
    who = principal()
    site = _site(body.site)
    return services().engine.advisor.apply(body.key, by=who.id, role=who.role, site=site), 201
