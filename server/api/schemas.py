"""Request and response models of the REST API (validated by flask-openapi3 through
pydantic; unknown fields are refused)."""
from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(BaseModel):
    error: str = Field(description="machine-readable code, e.g. invalid_transition")
    message: str = Field(description="what was wrong, Vietnamese first then English")
    details: dict | None = None


class LoginIn(In):
    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=200)


class LoginOut(BaseModel):
    token: str
    role: str
    name: str
    expires_at: float


class IssueIn(In):
    service: str = Field(min_length=1, max_length=8, description="service code, e.g. HT")
    priority: bool = False
    site: str | None = Field(default=None, max_length=40)
    client_ref: str | None = Field(default=None, min_length=8, max_length=64,
                                   description="idempotency key: retrying with the same ref returns the same ticket")


class Ticket(BaseModel):
    id: str
    code: str
    service: str
    priority: bool
    site: str
    state: str
    issued_at: float
    counter: int | None = None
    people_ahead: int | None = None
    estimated_wait_s: float | None = None
    estimated_wait_range_s: list[float] | None = Field(
        default=None, description="the estimate's 80% interval [low, high], seconds")
    status_url: str | None = None


class TicketPath(In):
    ticket_id: str = Field(min_length=3, max_length=40)


class CounterPath(In):
    number: int = Field(ge=1, le=999)


class TokenPath(In):
    token: str = Field(min_length=10, max_length=64)


class CounterAction(In):
    counter: int = Field(ge=1, le=999, description="the counter acting (the clerk must be signed in there)")


class OptionalCounterAction(In):
    counter: int | None = Field(default=None, ge=1, le=999)
    reason: str = Field(default="", max_length=200)


class TransferIn(In):
    counter: int | None = Field(default=None, ge=1, le=999, description="the counter handing the ticket over")
    service: str | None = Field(default=None, min_length=1, max_length=8)
    to_counter: int | None = Field(default=None, ge=1, le=999)


class TicketsQuery(In):
    state: Literal["waiting", "called", "serving", "parked", "done", "no_show", "cancelled", "abandoned"] | None = None
    service: str | None = Field(default=None, max_length=8)
    site: str | None = Field(default=None, max_length=40)
    day: date | None = Field(default=None, description="YYYY-MM-DD, the center's local day (default today)")
    limit: int = Field(default=200, ge=1, le=2000)


class EventsQuery(In):
    after: int = Field(default=0, ge=0)
    limit: int = Field(default=500, ge=1, le=5000)


class SiteQuery(In):
    site: str | None = Field(default=None, max_length=40)


class BlockIn(In):
    service: str = Field(min_length=1, max_length=8)
    size: int = Field(default=10, ge=1, le=200)


class OfflineTicketIn(In):
    client_ref: str = Field(min_length=8, max_length=64)
    service: str = Field(min_length=1, max_length=8)
    number: int = Field(ge=1, le=99999)
    day: date = Field(description="the day the kiosk issued it (YYYY-MM-DD, center time)")
    issued_at: float = Field(ge=0, le=4_102_444_800)
    priority: bool = False
    printed: bool = True
    site: str | None = Field(default=None, max_length=40)


class PrintResultIn(In):
    printed: bool
    fault: str | None = Field(default=None, max_length=80)


class ReportQuery(In):
    since: date | None = Field(default=None, alias="from", description="first day (default: the last day)")
    to: date | None = Field(default=None, description="last day (default: today, center time)")
