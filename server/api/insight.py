"""The director's dashboard, second version: charts of the day, overload flags and the alert log,
and the staffing plan (``qms plan``) for the plan page. Directors and admins only."""
from __future__ import annotations

import re

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from qms_common.errors import QmsError
from qms_common.glossary import WEEKDAYS_EN, WEEKDAYS_VI

from ..blocking import run_blocking
from ..insight.plan_view import PlanPending
from .context import MANAGERS, require, services
from .schemas import ERRORS, Day, Query, QueryInt

bp = APIBlueprint("insight", __name__, url_prefix="/api/v1", abp_responses=ERRORS)
DASHBOARD = [Tag(name="dashboard")]
BEARER = [{"bearer": []}]
_CLERKS = re.compile(r"^[A-Za-z0-9_.-]{1,40}(,[A-Za-z0-9_.-]{1,40}){0,49}$")


class Series(BaseModel):
    labels: list[str]
    series: dict[str, list[int]]


class HourShare(BaseModel):
    hour: str
    counted: int
    within: int
    share: float | None = None


class Distribution(BaseModel):
    labels: list[str]
    called: list[int]
    waiting: list[int]


class CounterLoad(BaseModel):
    counter: int
    site: str
    open_s: int
    paused_s: int
    busy_s: int
    load: float | None = None
    idle: float | None = None


class Arrivals(BaseModel):
    labels: list[str]
    actual: list[int | None]
    forecast: list[float] | None = None
    history_days: int
    note: str


class Charts(BaseModel):
    day: str
    at: float
    target_s: float
    waiting: Series
    within_by_hour: list[HourShare]
    wait_distribution: Distribution
    counters: list[CounterLoad]
    arrivals: Arrivals


class Flag(BaseModel):
    kind: str = Field(description="cannot_clear, paused_while_breach, idle_while_breach, called_not_started, "
                                  "service_overrun")
    service: str | None = None
    seconds: float | None = None
    message: str


class CounterFlags(BaseModel):
    counter: int
    site: str
    state: str
    overloaded: bool
    severity: int
    flags: list[Flag]


class LogEntry(BaseModel):
    id: int
    event: str = Field(description="raised or cleared")
    key: str
    kind: str | None = None
    severity: int
    site: str | None = None
    service: str | None = None
    counter: int | None = None
    message: str
    at: float
    since: float
    duration_s: float | None = None


class Active(BaseModel):
    key: str
    kind: str | None = None
    severity: int
    message: str
    since: float


class Control(BaseModel):
    seq: int
    at: float
    event: str = Field(description="applied or undone")
    change_id: str | int | None = None
    counter: int | None = None
    action: str | None = None
    before: object = None
    after: object = None
    message: str | None = Field(default=None, description="the change in words, as the clerk's console says it")
    by: str | None = None


class WatchOut(BaseModel):
    at: float
    day: str = Field(description="the center's day the log is of (YYYY-MM-DD); the log holds that day's entries only")
    overload: list[CounterFlags]
    active: list[Active]
    log: list[LogEntry]
    last_id: int
    controls: list[Control] = Field(description="today's changes applied by the director, oldest first")


class WatchQuery(Query):
    after: QueryInt = Field(default=0, ge=0, le=2**53, description="log entries after this id")


class PlanQuery(Query):
    date: Day = Field(description="the day to plan, YYYY-MM-DD")
    absent: str | None = Field(default=None, max_length=2000, pattern=_CLERKS.pattern,
                               description="clerks absent that day, comma-separated (e.g. c3,c7)")
    check: bool = Field(default=True, description="check the plan by simulating the day (slower)")


class PlanPendingOut(BaseModel):
    state: str = Field(description="queued or running")
    running_s: float = Field(description="seconds since it started (running) or was asked (queued)")
    ahead: int = Field(description="plans to be made before it")
    retry_after_s: int
    message: str


class PlanOut(BaseModel):
    date: str
    weekday: str
    history: dict
    forecast_total: float
    services: dict[str, str]
    absent: list[str]
    slots: list[dict]
    fixes: list[dict]
    moves: list[dict]
    extra_clerk_hours: float
    check: dict | None = None


class Roster(BaseModel):
    clerks: list[str]
    history_days: int
    first_day: str
    last_day: str


def _watch():
    return current_app.extensions["qms_watch"]


@bp.get("/dashboard/charts", tags=DASHBOARD, security=BEARER, responses={200: Charts},
        summary="Today's charts: waiting by service, within 15 minutes by hour, waits, counters' load, arrivals "
                "against the forecast")
@require(*MANAGERS)
def charts():
    return _watch().charts()


@bp.get("/dashboard/watch", tags=DASHBOARD, security=BEARER, responses={200: WatchOut},
        summary="Overload flag per counter, the active alerts and the log of alerts raised and cleared")
@require(*MANAGERS)
def watch(query: WatchQuery):
    w = _watch()
    now = w.observe()
    log = w.log_of_today(query.after)
    return {"at": now["at"], "day": w.engine.today().isoformat(), "overload": now["overload"],
            "active": now["active"], "log": log, "last_id": w.log.last_id, "controls": w.controls()}


def _working_day(day) -> None:
    """A day the center does not work (``[hours] work_days``) has no staffing to plan: said at once,
    not after minutes of simulating a day nobody comes to."""
    work_days = services().engine.config.hours.work_days
    if day.isoweekday() in work_days:
        return
    vi = ", ".join(WEEKDAYS_VI[d - 1] for d in sorted(work_days))
    en = ", ".join(WEEKDAYS_EN[d - 1] for d in sorted(work_days))
    raise NotWorkingDay(
        f"Ngày {day:%d/%m/%Y} là {WEEKDAYS_VI[day.isoweekday() - 1]}, trung tâm không làm việc (ngày làm việc: {vi}); "
        f"không có kế hoạch nhân sự để lập. {day:%d/%m/%Y} is a {WEEKDAYS_EN[day.isoweekday() - 1]}, not a working "
        f"day of the center (working days: {en}); there is no staffing to plan",
        working_days=sorted(work_days))


class NotWorkingDay(QmsError):
    code = "not_a_working_day"


@bp.get("/plan", tags=DASHBOARD, security=BEARER, responses={200: PlanOut, 202: PlanPendingOut},
        summary="The staffing plan of a day, as `qms plan --date D --absent ... --format json`; 202 while it "
                "is being made (ask again after retry_after_s)")
@require(*MANAGERS)
def plan(query: PlanQuery):
    _working_day(query.date)
    absent = tuple(c for c in (query.absent or "").split(",") if c)
    # the simulated check is minutes of CPU: a job in a child process (server/insight/plan_view.py),
    # so the event loop goes on, no pool thread holds the GIL against it, and no request waits
    # minutes for it
    result = current_app.extensions["qms_plan"].request(query.date, absent, query.check)
    if isinstance(result, PlanPending):
        body = result.as_dict()
        return body, 202, {"Retry-After": str(body["retry_after_s"])}
    return result


@bp.get("/plan/roster", tags=DASHBOARD, security=BEARER, responses={200: Roster},
        summary="The clerks of the roster the plan uses (the what-if form) and the history's days")
@require(*MANAGERS)
def plan_roster():
    return run_blocking(current_app.extensions["qms_plan"].roster)
