"""What each API operation answers, for the OpenAPI document (schemathesis checks every
answer against it: tests/test_api_fuzz.py). Only the fields clients rely on are listed;
answers may carry more (the models do not forbid extra fields)."""
from __future__ import annotations

from pydantic import BaseModel, Field

from .schemas import Error, Ticket

CSV = {"description": "CSV, UTF-8 with a byte-order mark",
       "content": {"text/csv": {"schema": {"type": "string"}}}}


class Ok(BaseModel):
    ok: bool


class Me(BaseModel):
    kind: str = Field(description="user or device")
    id: str
    role: str
    name: str | None = None
    site: str | None = None


class CounterState(BaseModel):
    """A counter as the engine keeps it (the answer of sign-in, pause, resume, sign-out)."""

    number: int
    site: str
    state: str = Field(description="closed, open or paused")
    clerk: str | None = None
    since: float | None = None
    ticket_id: str | None = None


class TicketInHand(BaseModel):
    id: str
    code: str
    service: str
    state: str
    priority: bool
    called_at: float | None = None
    started_at: float | None = None
    waited_s: float | None = None
    in_hand_s: float | None = None


class CounterView(BaseModel):
    number: int
    site: str
    state: str
    clerk: str | None = None
    services: list[str]
    since: float | None = None
    ticket: TicketInHand | None = None


class Counters(BaseModel):
    counters: list[CounterView]


class CallNext(BaseModel):
    ticket: Ticket | None = Field(description="the ticket called, null when nobody waits")


class Tickets(BaseModel):
    tickets: list[Ticket]


class ServiceStat(BaseModel):
    service: str
    name: str
    name_en: str = ""
    waiting: int
    longest_wait_s: float
    estimated_wait_s: float | None = None
    estimated_wait_range_s: list[float] | None = Field(
        default=None, description="the 80% interval [low, high] of a ticket taken now, seconds")
    estimated_wait_text: str | None = Field(
        default=None, description='that interval in words, "khoảng 10–15 phút"; "Hiện không có quầy phục vụ" '
                                  'when no counter will call the service today as things stand')
    estimated_wait_text_en: str | None = None
    served_today: int
    called_today: int
    within_target_share: float | None = None


class ServiceStats(BaseModel):
    services: list[ServiceStat]


class CenterBrief(BaseModel):
    id: str
    name: str
    name_en: str = ""
    timezone: str


class RecentCall(BaseModel):
    seq: int
    at: float
    ticket_id: str | None = None
    counter: int | None = None
    code: str | None = None
    recall: bool


class Snapshot(BaseModel):
    seq: int = Field(description="the last event this snapshot reflects")
    at: float
    center: CenterBrief
    counters: list[CounterView]
    services: list[ServiceStat]
    recent_calls: list[RecentCall]
    alerts: list[dict]


class Center(BaseModel):
    center: dict
    hours: dict
    sites: list[dict]
    services: list[dict]
    counters: list[dict]
    targets: dict


class CitizenStatus(BaseModel):
    code: str
    service: str
    state: str = Field(description="waiting, called, serving, …, or pending: printed offline, not handed over yet")
    priority: bool
    issued_at: float | None = None
    people_ahead: int | None = None
    estimated_wait_s: float | None = None
    counter: int | None = None
    called_at: float | None = None


class Block(BaseModel):
    device: str
    day: str
    service: str
    prefix: str
    first: int
    last: int
    tokens: list[str] = Field(default_factory=list, description="each number's status token, in order: the QR code "
                                                                "an offline ticket prints")


class Event(BaseModel):
    seq: int
    at: float
    type: str
    ticket_id: str | None = None
    counter: int | None = None
    actor: str | None = None
    device: str | None = None
    data: dict


class Events(BaseModel):
    events: list[Event]


class Report(BaseModel):
    from_: str = Field(alias="from", description="first day, YYYY-MM-DD")
    to: str
    rows: list[dict]


__all__ = ["CSV", "Block", "CallNext", "Center", "CitizenStatus", "CounterState", "Counters", "Error", "Events",
           "Me", "Ok", "Report", "ServiceStats", "Snapshot", "Ticket", "Tickets"]
