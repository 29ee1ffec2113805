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
    clerk_name: str | None = Field(default=None, description="the clerk's full name, when the account or [[clerks]] gives one")
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
    seq: int = Field(description="the last event this snapshot reflects: every figure in it is of that one state "
                                  "(one read transaction); a later event is not in it")
    forecast_seq: int = Field(description="the state the estimates are of: seq, except in a live push during a "
                                          "burst of events, which shows the last forecast's")
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
    seq: int | None = Field(None, description="the event sequence of the one state every figure is of")
    code: str
    service: str
    state: str = Field(description="waiting, called, serving, …, or pending: printed offline, not handed over yet")
    priority: bool
    issued_at: float | None = None
    people_ahead: int | None = None
    estimated_wait_s: float | None = None
    estimated_wait_range_s: list[float] | None = None
    estimated_wait_text: str | None = None
    counter: int | None = None
    called_at: float | None = None
    day_ended: bool | None = Field(None, description="true (only then present): the center ended its working day with this citizen still waiting")
    notice: str | None = Field(None, description="with day_ended: come back the next working day (Vietnamese)")
    notice_en: str | None = None


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


class CounterSetting(BaseModel):
    state: str
    services: list[str]


class Change(BaseModel):
    """A director's change to a counter, as the log shows it."""

    change_id: str
    counter: int
    action: str = Field(description="set_services, take_first or call_back")
    before: CounterSetting
    after: CounterSetting
    by: str | None = None
    at: float
    message: str = Field(description="what the clerk's console shows, Vietnamese first")
    proposal: str | None = None
    undone_at: float | None = None
    undone_by: str | None = None


class Changes(BaseModel):
    changes: list[Change]


class AdviceProposal(BaseModel):
    key: str = Field(description="pass it to POST /advice/apply")
    counter: int
    action: str
    services: list[str] | None = None
    service: str | None = None
    focus: str = Field(description="the service it helps")
    before: CounterSetting
    after: CounterSetting
    share_before: float | None = Field(description="the service's share called within the target, as things are")
    share_after: float | None = Field(description="the same with the change")
    overall_before: float | None = None
    overall_after: float | None = None
    late_saved: float = Field(description="citizens fewer expected to be called late over the horizon")
    overdue_saved_min: float = Field(default=0.0, description="minutes less waiting, each, for those already late")
    text: str


class AdviceService(BaseModel):
    service: str
    name: str
    share: float | None = None
    late: float
    counted: float


class AdviceStaffing(BaseModel):
    service: str
    name: str
    share_now: float
    extra_clerks: int | None = None
    share_with: float | None = None
    text: str


class AdviceOut(BaseModel):
    at: float
    site: str
    horizon_s: float
    proposals: list[AdviceProposal]
    services: list[AdviceService]
    overall: float | None = None
    enough: bool = Field(description="false: nothing possible now helps enough (see staffing)")
    staffing: list[AdviceStaffing]
    message: str
    evaluated: int
    cost_ms: float
    cold: bool = Field(False, description="true: a cold day (no earlier days in the event log), so no counter is "
                                          "offered a service it does not serve (docs/advice.md, rule 6)")
    cold_note: str = Field("", description="what the director is told about it, Vietnamese first; empty if not cold")


class DayCounter(BaseModel):
    counter: int
    clerk: str | None = None
    clerk_name: str | None = Field(None, description="the clerk's name as a person reads it")
    state: str | None = None
    ticket: str | None = None


class DayState(BaseModel):
    """What the director's "Kết thúc ngày làm việc" confirms (server/engine/day_end.py)."""

    day: str
    sites: list[str]
    closes: str
    before_closes: bool = Field(description="a working day before closes: the kiosk still issues tickets")
    waiting: int = Field(description="citizens still waiting today")
    parked: int = Field(description="dossiers set aside, their citizen to come back")
    in_hand: list[DayCounter] = Field(description="counters with a citizen called or being served: always refused")
    signed_in: list[DayCounter] = Field(description="counters with a clerk still signed in: refused unless force")
    can_end: bool
    can_force: bool
    ends_by_itself_at: float | None = Field(description="when the day ends by itself if no clerk is signed in")


class DayEnded(BaseModel):
    day: str
    sites: list[str]
    by: str | None = None
    at: float
    forced: bool
    ended: int = Field(description="tickets ended with the reason 'end of day' (waiting, parked)")
    finished: int = Field(description="tickets in service at no counter, finished as the night's close does")
    tickets: list[str] = Field(description="their codes, in the order of the line")
