"""The MQTT wire contract: every topic and every payload, defined once.

Every role imports this module; nobody writes a topic string by hand. ``docs/mqtt.md``
documents each entry of :data:`CATALOGUE` and ``tests/test_wire_docs.py`` fails when one
is missing there.

Tree: ``qms/<center>/<device class>/<device id>/<leaf>``. Device classes are ``kiosk``,
``display``, ``counter``, ``robot``, ``announcer`` and ``server``. The server's own id is
``main`` unless configured (a satellite point runs its own server id).

Conventions (as in Frigate and zigbee2mqtt):
- ``availability`` is a retained plain string, ``online`` or ``offline``; the last will
  sets ``offline``.
- State is retained, events are not, and every event is idempotent: it names the state
  ("HT-042 is called to counter 5, call #17"), never a delta.
- Requests use MQTT v5 ``ResponseTopic`` and ``CorrelationData``; the answer is a
  :class:`Response` with ``status`` ``ok`` or ``error`` and an ``error`` message.
- Every JSON payload has ``v``, the schema version. A payload of another version, of
  more than :data:`MAX_PAYLOAD_BYTES`, or that fails validation is logged and dropped.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 16 * 1024
ROOT = "qms"
DEVICE_CLASSES = ("kiosk", "display", "counter", "robot", "announcer", "server")
ONLINE = "online"
OFFLINE = "offline"

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class WireError(ValueError):
    """A message that does not follow the contract. Logged and dropped by receivers."""


class Message(BaseModel):
    """Base of every JSON payload: strict, versioned, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)
    v: Literal[1] = SCHEMA_VERSION


# --- payloads ---------------------------------------------------------------------------

class Health(Message):
    """Periodic device health; retained. Device-specific fields go in ``detail``."""

    at: float = Field(description="device wall clock, epoch seconds")
    uptime_s: float = Field(ge=0)
    faults: list[str] = Field(default_factory=list, max_length=20,
                              description="machine-readable fault codes, e.g. printer_no_paper")
    printer: Literal["ok", "no_paper", "paper_low", "cover_open", "offline", "error", "absent"] | None = None
    outbox: int | None = Field(default=None, ge=0, description="tickets not yet handed to the server")
    temperature_c: float | None = None
    battery_pct: float | None = Field(default=None, ge=0, le=100)
    detail: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class TicketInfo(Message):
    """What a kiosk needs to print a ticket."""

    ticket_id: str = Field(min_length=1, max_length=40)
    code: str = Field(pattern=r"^[A-Z]{1,3}-\d{3,5}$", description="e.g. HT-042")
    service: str
    priority: bool
    issued_at: float
    people_ahead: int = Field(ge=0)
    estimated_wait_s: float = Field(ge=0)
    status_url: str
    offline: bool = False


class OfflineTicket(Message):
    """A ticket the kiosk issued by itself from a reserved block, handed over later."""

    client_ref: str = Field(min_length=8, max_length=64)
    service: str = Field(min_length=1, max_length=8)
    priority: bool = False
    number: int = Field(ge=1, le=99999)
    day: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    issued_at: float
    printed: bool = True
    site: str | None = Field(default=None, max_length=40)


class PrintResult(Message):
    """Kiosk reports whether a ticket left the printer."""

    ticket_id: str
    printed: bool
    fault: str | None = Field(default=None, max_length=80)


class Response(Message):
    """Answer to any request (MQTT v5 response topic + correlation data)."""

    status: Literal["ok", "error"]
    error: str | None = Field(default=None, max_length=500)
    data: dict[str, Any] | None = None


class KioskCommand(Message):
    """Server → kiosk: print this ticket again (a clerk pressed "In lại" after a failed print)."""

    action: Literal["reprint"]
    ticket: TicketInfo
    request_id: str = Field(min_length=1, max_length=64)


class CounterServing(Message):
    """Retained: what a counter shows now. ``ticket`` is None when idle or closed."""

    counter: int = Field(ge=1)
    state: Literal["closed", "open", "paused"]
    ticket: str | None = None
    service: str | None = None
    called_at: float | None = None
    call_seq: int | None = Field(default=None, ge=0, description="event sequence of the call")


class ServiceWait(Message):
    """Retained: the wait-time stream per service."""

    service: str
    waiting: int = Field(ge=0)
    longest_wait_s: float = Field(ge=0)
    estimated_wait_s: float = Field(ge=0)
    at: float
    estimated_wait_range_s: list[float] | None = Field(
        default=None, min_length=2, max_length=2,
        description="the estimate's 80% interval [low, high] for a ticket taken now, in seconds (0 ≤ low ≤ high)")
    estimated_wait_text: str | None = Field(
        default=None, max_length=60, description="that interval in words for citizens, e.g. \"khoảng 10–15 phút\"")
    estimated_wait_text_en: str | None = Field(default=None, max_length=60,
                                               description="the same in English, e.g. \"about 10–15 min\"")

    @field_validator("estimated_wait_range_s")
    @classmethod
    def _ordered(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and not 0 <= v[0] <= v[1]:
            raise ValueError("the interval must be 0 ≤ low ≤ high")
        return v


class CallEvent(Message):
    """Not retained: a number is called (or recalled). Displays and announcers speak it."""

    seq: int = Field(ge=0, description="event sequence number; a replay is idempotent")
    ticket: str
    counter: int = Field(ge=1)
    recall: bool = False
    at: float


class CounterRequest(Message):
    """A counter device's buttons: next / recall / start / finish."""

    action: Literal["next", "recall", "start", "finish", "no_show"]


class Rating(Message):
    """The 4-button satisfaction keypad at a counter."""

    ticket: str | None = None
    score: int = Field(ge=1, le=4, description="4 Rất hài lòng, 3 Hài lòng, 2 Bình thường, 1 Không hài lòng")
    at: float
    reason: Literal["waited_too_long", "unclear_guidance", "attitude", "dossier_returned", "other"] | None = Field(
        default=None, description="with score 1 only: why (chờ quá lâu, hướng dẫn chưa rõ, thái độ, hồ sơ bị trả "
                                  "lại, khác)")


class ReportReady(Message):
    """Server → anyone: a scheduled report was written to the reports folder."""

    kind: Literal["daily", "weekly"]
    period: str = Field(description="2026-W48 for a week, 2026-11-23 for a day")
    first: str = Field(description="first day, YYYY-MM-DD")
    last: str = Field(description="last day, YYYY-MM-DD")
    files: list[str] = Field(description="file names in the reports folder (pdf, html, xlsx, csv)")
    folder: str
    at: float


class RobotCommand(Message):
    """Server → robot."""

    task_id: str = Field(min_length=1, max_length=64)
    action: Literal["greet", "issue_ticket", "guide", "bring_water", "return_home"]
    ticket: str | None = None
    counter: int | None = None
    service: str | None = None
    priority: bool = False


class RobotTelemetry(Message):
    """Robot → server, retained: its state and battery."""

    state: Literal["idle", "moving", "busy", "charging", "fault"]
    battery_pct: float = Field(ge=0, le=100)
    task_id: str | None = None
    at: float


class RobotTaskResult(Message):
    """Robot → server: a task ended."""

    task_id: str
    outcome: Literal["done", "failed"]
    error: str | None = Field(default=None, max_length=200)
    ticket: str | None = Field(default=None, pattern=r"^[A-Z]{1,3}-\d{3,5}$",
                               description="issue_ticket: the number the robot obtained for the citizen")
    at: float


class OverloadFlag(Message):
    """One reason a counter is flagged (``server/insight/overload.py``)."""

    kind: Literal["cannot_clear", "paused_while_breach", "idle_while_breach", "called_not_started",
                  "service_overrun"]
    service: str | None = Field(default=None, max_length=8)
    seconds: float | None = Field(default=None, description="the delay behind it (clear time, idle, called, served)")
    message: str = Field(max_length=400, description="Vietnamese first, then English")


class CounterOverload(Message):
    """Retained: whether a counter is overloaded now, and why."""

    counter: int = Field(ge=1)
    site: str = Field(max_length=40)
    state: Literal["closed", "open", "paused"]
    overloaded: bool
    flags: list[OverloadFlag] = Field(default_factory=list, max_length=10)
    at: float


class ActiveAlert(Message):
    """An alert raised and not yet cleared."""

    key: str = Field(max_length=120, description="what it is about: kind:site:service:counter")
    kind: str = Field(max_length=40, description="wait_breach, predicted_breach, wait_warning, service_overrun, "
                                                 "overload_<flag>, low_rating, handover_...")
    severity: int = Field(ge=0, le=9)
    site: str | None = Field(default=None, max_length=40)
    service: str | None = Field(default=None, max_length=8)
    counter: int | None = None
    message: str = Field(max_length=400)
    since: float = Field(description="when it was raised")


class AlertsState(Message):
    """Retained: the alerts active now at the center (for the province), the most urgent first."""

    alerts: list[ActiveAlert] = Field(max_length=20, description="at most 20; `more` counts the rest")
    more: int = Field(default=0, ge=0)
    at: float


class AlertEvent(Message):
    """Not retained: an alert was raised or cleared (the dashboard's alert log)."""

    id: int = Field(ge=1, description="the log's number since the server started; a replay is idempotent")
    event: Literal["raised", "cleared"]
    alert: ActiveAlert
    at: float
    duration_s: float | None = Field(default=None, ge=0, description="cleared: how long it lasted")


class ControlChange(Message):
    """Not retained: the director applied or undid a change to a counter (``counter_control_*`` events)."""

    seq: int = Field(ge=0, description="event sequence number; a replay is idempotent")
    event: Literal["applied", "undone"]
    change_id: str | int | None = None
    counter: int | None = None
    action: str | None = Field(default=None, max_length=60)
    before: Any = None
    after: Any = None
    by: str | None = Field(default=None, max_length=80)
    at: float


# --- the catalogue ------------------------------------------------------------------------

@dataclass(frozen=True)
class Topic:
    """One entry of the wire contract."""

    name: str
    pattern: str  # with {center}, {cls}, {device}, {n}, {service} placeholders
    payload: type[Message] | None  # None: a plain string (availability)
    publisher: str
    retained: bool
    qos: int
    description: str

    def topic(self, **parts: Any) -> str:
        for key, value in parts.items():
            if key in ("center", "device", "service") and not _ID_RE.match(str(value)):
                raise WireError(f"invalid {key} {value!r} in topic {self.name}: use letters, digits, '-' or '_'")
        return self.pattern.format(**parts)

    def filter(self, **parts: Any) -> str:
        """A subscription filter: unnamed placeholders become '+'."""
        names = re.findall(r"{(\w+)}", self.pattern)
        fill = {n: parts.get(n, "+") for n in names}
        return self.pattern.format(**fill)

    def match(self, topic: str) -> dict[str, str] | None:
        regex = "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.pattern)) + "$"
        m = re.match(regex, topic)
        return m.groupdict() if m else None


AVAILABILITY = Topic("availability", "qms/{center}/{cls}/{device}/availability", None, "every device",
                     True, 1, "`online` after connect, `offline` as the last will (retained)")
HEALTH = Topic("health", "qms/{center}/{cls}/{device}/health", Health, "every device", True, 1,
               "periodic health, at least every `health_interval_s`, and at once when a fault appears or "
               "clears (retained)")
TICKET_OFFLINE = Topic("ticket_offline", "qms/{center}/kiosk/{device}/ticket/offline", OfflineTicket,
                       "kiosk", False, 1, "hand over a ticket issued while the server was unreachable "
                       "(through a satellite broker bridged to the center); answered on `response`")
PRINT_RESULT = Topic("print_result", "qms/{center}/kiosk/{device}/ticket/printed", PrintResult,
                     "kiosk", False, 1, "whether a ticket was printed (a failure lets the console reprint)")
RESPONSE = Topic("response", "qms/{center}/{cls}/{device}/response", Response, "server", False, 1,
                 "answers to requests, matched by correlation data")
KIOSK_COMMAND = Topic("kiosk_command", "qms/{center}/kiosk/{device}/command", KioskCommand, "server", False, 1,
                      "reprint a ticket whose print failed")
COUNTER_SERVING = Topic("counter_serving", "qms/{center}/server/counter/{n}", CounterServing, "server",
                        True, 1, "the number a counter serves now (retained)")
SERVICE_WAIT = Topic("service_wait", "qms/{center}/server/service/{service}", ServiceWait, "server",
                     True, 1, "people waiting and estimated wait per service: the wait-time stream (retained)")
CALL = Topic("call", "qms/{center}/server/call", CallEvent, "server", False, 1,
             "a number is called or recalled; announcers and counter devices act on it")
COUNTER_REQUEST = Topic("counter_request", "qms/{center}/counter/{device}/request", CounterRequest,
                        "counter device", False, 1, "next / recall / start / finish from a counter's buttons")
RATING = Topic("rating", "qms/{center}/counter/{device}/rating", Rating, "counter device", False, 1,
               "a citizen's satisfaction rating")
REPORT_READY = Topic("report_ready", "qms/{center}/server/report", ReportReady, "server", False, 1,
                     "a scheduled report is ready in the reports folder")
ROBOT_COMMAND = Topic("robot_command", "qms/{center}/robot/{device}/command", RobotCommand, "server",
                      False, 1, "a task for the robot greeter")
ROBOT_TELEMETRY = Topic("robot_telemetry", "qms/{center}/robot/{device}/telemetry", RobotTelemetry,
                        "robot", True, 1, "robot state and battery (retained)")
COUNTER_OVERLOAD = Topic("counter_overload", "qms/{center}/server/counter/{n}/overload", CounterOverload, "server",
                         True, 1, "whether a counter is overloaded now and why (retained)")
ALERTS = Topic("alerts", "qms/{center}/server/alerts", AlertsState, "server", True, 1,
               "the alerts active now, for the province (retained)")
ALERT_EVENT = Topic("alert_event", "qms/{center}/server/alert", AlertEvent, "server", False, 1,
                    "an alert was raised or cleared")
CONTROL_CHANGE = Topic("control_change", "qms/{center}/server/control", ControlChange, "server", False, 1,
                       "the director applied or undid a change to a counter's services or state")
ROBOT_TASK = Topic("robot_task", "qms/{center}/robot/{device}/task", RobotTaskResult, "robot", False, 1,
                   "a robot task ended, done or failed")

CATALOGUE: tuple[Topic, ...] = (
    AVAILABILITY, HEALTH, TICKET_OFFLINE, PRINT_RESULT, RESPONSE, KIOSK_COMMAND,
    COUNTER_SERVING, SERVICE_WAIT, CALL, COUNTER_REQUEST, RATING, REPORT_READY,
    ROBOT_COMMAND, ROBOT_TELEMETRY, ROBOT_TASK,
    COUNTER_OVERLOAD, ALERTS, ALERT_EVENT, CONTROL_CHANGE,
)


def encode(message: Message) -> bytes:
    return message.model_dump_json(exclude_none=False).encode("utf-8")


def decode(topic: Topic, payload: bytes) -> Message | str:
    """Validate a received payload against its topic; raise :class:`WireError` naming why."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError(f"{topic.name}: payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    if topic.payload is None:
        text = payload.decode("utf-8", errors="replace")
        if text not in (ONLINE, OFFLINE):
            raise WireError(f"{topic.name}: expected 'online' or 'offline', got {text[:40]!r}")
        return text
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"{topic.name}: not JSON ({exc})") from None
    except RecursionError:
        raise WireError(f"{topic.name}: JSON nested too deeply") from None
    if not isinstance(raw, dict):
        raise WireError(f"{topic.name}: expected a JSON object")
    if raw.get("v") != SCHEMA_VERSION:
        raise WireError(f"{topic.name}: schema version {raw.get('v')!r} is not {SCHEMA_VERSION}")
    try:
        return topic.payload.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise WireError(f"{topic.name}: {where}: {first['msg']}") from None


def resolve(topic: str) -> tuple[Topic, dict[str, str]] | None:
    """Which catalogue entry a concrete topic belongs to, with its parts."""
    for entry in CATALOGUE:
        parts = entry.match(topic)
        if parts is not None:
            return entry, parts
    return None
