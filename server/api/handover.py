"""Hand-over alerts: a printed offline ticket the server could not place as it was printed.

They appear in every snapshot's ``alerts`` (dashboard and clerk console) until a clerk or the
director marks them resolved here. See ``docs/queue-rules.md``, "Offline tickets".
"""
from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from .context import STAFF, principal, require, services
from .schemas import ERRORS, In

bp = APIBlueprint("handover", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="kiosk")],
                  abp_security=[{"bearer": []}], abp_responses=ERRORS)


class AlertPath(In):
    alert_id: int = Field(ge=1, le=2**53, description="the alert's id (its event sequence number)")


class HandoverAlert(BaseModel):
    id: int
    kind: str = Field(description="handover_refused or handover_review")
    code: str | None = Field(description="the number printed on the citizen's ticket")
    message: str
    resolved: bool = False


class HandoverAlerts(BaseModel):
    alerts: list[HandoverAlert]


@bp.get("/handover-alerts", responses={200: HandoverAlerts},
        summary="Printed tickets the hand-over could not place, not yet resolved")
@require(*STAFF)
def list_alerts():
    return {"alerts": services().engine.handover_alerts()}


@bp.post("/handover-alerts/<int:alert_id>/resolve", responses={200: HandoverAlert},
         summary="Mark a hand-over alert as dealt with (the citizen was served or given a new number)")
@require(*STAFF)
def resolve_alert(path: AlertPath):
    return services().engine.resolve_handover_alert(path.alert_id, actor=principal().id)
