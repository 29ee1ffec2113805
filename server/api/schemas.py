"""Request models of the REST API (validated by flask-openapi3 through pydantic).

Bodies are strict: unknown fields are refused and nothing is coerced (``"priority": "yes"``
or ``"counter": "2"`` is a 400 naming the field). Query strings are text by nature: their
numbers must be plain digits and their days ``YYYY-MM-DD``, nothing else (no ``to=0`` read
as 1970-01-01). Every integer is bounded (SQLite holds 64 bits).
"""
from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ..privacy import CallbackIn

SQLITE_MAX_INT = 2**63 - 1
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]{1,40}")  # longer is refused; the bounds then say "too large"


def _iso_day(value: object) -> object:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass  # 2026-02-30
    raise PydanticCustomError("day_format", "expected a real day written YYYY-MM-DD")


def _digits(value: object) -> object:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise PydanticCustomError("digits_format", "expected a whole number written in digits")
    return value


def _whole(value: object) -> object:
    # JSON Schema (and so the OpenAPI document) counts 74.0 as an integer; a string or a bool is not
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
"""A day as ``YYYY-MM-DD`` only (in a body or a query string)."""

QueryInt = Annotated[int, BeforeValidator(_digits)]
"""A whole number in a query string: digits only (no sign, decimal point, space or underscore)."""

Int = Annotated[int, BeforeValidator(_whole)]
"""A whole number in a body: a JSON number without a fraction (2 or 2.0), never "2" or true."""

CounterNo = Annotated[int, Field(ge=1, le=999), BeforeValidator(_whole)]
"""A counter number (bounds inside the type, so that ``CounterNo | None`` documents them)."""


class In(BaseModel):
    """A request body or path: strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Query(BaseModel):
    """A query string: values arrive as text and are parsed, strictly on format."""

    model_config = ConfigDict(extra="forbid")


class Error(BaseModel):
    error: str = Field(description="machine-readable code, e.g. invalid_transition")
    message: str = Field(description="what was wrong, Vietnamese first then English")
    details: dict | None = None


#: refusals any operation may answer (each body as Error): invalid input, not signed in, role not
#: allowed, no such thing, a state that forbids it, a body over the size limit
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 413: Error}


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
    callback: CallbackIn | None = Field(default=None, description="optional phone (and name) for a call-back; "
                                        "refused unless the center's [privacy] callback is on (server/privacy.py)")


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
    estimated_wait_text: str | None = Field(
        default=None, description='what to print and show: "khoảng 10–15 phút", or "Có thể không kịp phục vụ '
                                  'trong hôm nay" when the forecast calls it in fewer than half of its paths')
    estimated_wait_text_en: str | None = None
    status_url: str | None = None
    seq: int | None = Field(default=None, description="with its place in line (GET /tickets/<id>): the event "
                                                      "sequence of the one state its place and estimate are of")


class TicketPath(In):
    ticket_id: str = Field(min_length=3, max_length=40)


class CounterPath(In):
    number: Int = Field(ge=1, le=999)


class TokenPath(In):
    token: str = Field(min_length=10, max_length=64)


class CounterAction(In):
    counter: Int = Field(ge=1, le=999, description="the counter acting (the clerk must be signed in there)")


class OptionalCounterAction(In):
    counter: CounterNo | None = None
    reason: str = Field(default="", max_length=200)


class TransferIn(In):
    # where to: a service, a counter, or both (stated in the document too, so clients can know)
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["service"], "properties": {"service": {"type": "string"}}},
        {"required": ["to_counter"], "properties": {"to_counter": {"type": "integer"}}}]})

    counter: CounterNo | None = Field(default=None, description="the counter handing the ticket over")
    service: str | None = Field(default=None, min_length=1, max_length=8, description="the service to send it to")
    to_counter: CounterNo | None = Field(default=None, description="the counter to send it to")

    @model_validator(mode="after")
    def _somewhere(self):
        if self.service is None and self.to_counter is None:
            raise PydanticCustomError("transfer_target", "give service or to_counter (where the ticket goes)")
        return self


class TicketsQuery(Query):
    state: Literal["waiting", "called", "serving", "parked", "done", "no_show", "cancelled", "abandoned"] | None = None
    service: str | None = Field(default=None, max_length=8)
    site: str | None = Field(default=None, max_length=40)
    day: Day | None = Field(default=None, description="YYYY-MM-DD, the center's local day (default today)")
    limit: QueryInt = Field(default=200, ge=1, le=2000)


class EventsQuery(Query):
    after: QueryInt = Field(default=0, ge=0, le=SQLITE_MAX_INT, description="events after this sequence number")
    limit: QueryInt = Field(default=500, ge=1, le=5000)


class SiteQuery(Query):
    site: str | None = Field(default=None, max_length=40)


class BlockIn(In):
    service: str = Field(min_length=1, max_length=8)
    size: Int = Field(default=10, ge=1, le=200)


class OfflineTicketIn(In):
    client_ref: str = Field(min_length=8, max_length=64)
    service: str = Field(min_length=1, max_length=8)
    number: Int = Field(ge=1, le=99999)
    day: Day = Field(description="the day the kiosk issued it (YYYY-MM-DD, center time)")
    issued_at: float = Field(ge=0, le=4_102_444_800)
    priority: bool = False
    printed: bool = True
    site: str | None = Field(default=None, max_length=40)


class PrintResultIn(In):
    printed: bool
    fault: str | None = Field(default=None, max_length=80)


class ReportQuery(Query):
    since: Day | None = Field(default=None, alias="from", description="first day, YYYY-MM-DD (default: the last day)")
    to: Day | None = Field(default=None, description="last day, YYYY-MM-DD (default: today, center time)")


class ControlIn(In):
    """A director's change to a counter (docs/advice.md)."""

    # which field each action needs (stated in the document too, so clients can know)
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"action": {"const": "call_back"}}},
        {"required": ["service"], "properties": {"action": {"const": "take_first"}, "service": {"type": "string"}}},
        {"required": ["services"], "properties": {"action": {"const": "set_services"},
                                                  "services": {"type": "array"}}}]})

    action: Literal["set_services", "take_first", "call_back"] = Field(
        description="set_services: serve these services in this order; take_first: call this service first; "
                    "call_back: the clerk comes back from a break")
    service: str | None = Field(default=None, min_length=1, max_length=8, description="take_first: the service")
    services: list[Annotated[str, Field(min_length=1, max_length=8)]] | None = Field(
        default=None, min_length=1, max_length=20, description="set_services: the service codes, in order")
    proposal: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="the advice proposal this change follows, if any")

    @model_validator(mode="after")
    def _what(self):
        if self.action == "set_services" and self.services is None:
            raise PydanticCustomError("control_services", "set_services needs services")
        if self.action == "take_first" and self.service is None:
            raise PydanticCustomError("control_service", "take_first needs service")
        return self


class ChangePath(In):
    change_id: str = Field(min_length=1, max_length=40)


class ApplyIn(In):
    key: str = Field(min_length=1, max_length=120, description="the proposal's key, from GET /advice")
    site: str | None = Field(default=None, max_length=40)


class DayEndIn(In):
    """The director ends today's working day (server/engine/day_end.py)."""

    force: bool = Field(default=False, description="even with a clerk still signed in, or before closes "
                                                   "(never with a citizen in hand)")
    site: str | None = Field(default=None, min_length=1, max_length=40, description="one site (default: all)")
