"""What the server does with each message devices send it.

:meth:`Inbound.handle` runs on paho's network thread. It never raises: a topic that is not
in the contract, an id that is not an id, a payload that is too big, not JSON, of another
schema version or invalid is counted, logged (throttled) and dropped; an engine refusal
becomes a :class:`~qms_common.wire.Response` with ``status: error`` when the device asked
for an answer. Handlers are short: one engine call (a short SQLite transaction) each.
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from qms_common import wire
from qms_common.errors import Forbidden, NotFound, QmsError

from ..devices import DeviceRegistry
from ..robot_dispatch import RobotDispatcher

log = logging.getLogger(__name__)

#: counter keypads are named after the counter they sit on: ``counter-5``
COUNTER_DEVICE_RE = re.compile(r"^counter-(\d{1,3})$")

Respond = Callable[[str, wire.Response, bytes | None], None]


def counter_number(device: str) -> int | None:
    m = COUNTER_DEVICE_RE.match(device)
    return int(m.group(1)) if m else None


@dataclass
class InboundStats:
    received: int = 0
    handled: int = 0
    dropped: int = 0
    refused: int = 0  # valid requests the engine refused (answered with an error)
    failed: int = 0  # unexpected exceptions in a handler (a bug; logged with traceback)
    by_reason: dict[str, int] = field(default_factory=dict)

    def as_detail(self) -> dict[str, int]:
        return {"received": self.received, "handled": self.handled, "dropped": self.dropped,
                "refused": self.refused, "failed": self.failed}


class _ThrottledLog:
    """At most ``burst`` warnings per ``window_s`` (real time); the rest are summed up."""

    def __init__(self, burst: int = 20, window_s: float = 60.0) -> None:
        self.burst = burst
        self.window_s = window_s
        self._start = time.monotonic()
        self._count = 0
        self._suppressed = 0
        self._lock = threading.Lock()

    def warning(self, msg: str, *args: Any) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._start > self.window_s:
                if self._suppressed:
                    log.warning("%d more dropped messages not logged in the last %.0f s",
                                self._suppressed, self.window_s)
                self._start, self._count, self._suppressed = now, 0, 0
            self._count += 1
            if self._count > self.burst:
                self._suppressed += 1
                return
        log.warning(msg, *args)


@dataclass(frozen=True)
class Incoming:
    """One received message, as the router sees it (independent of paho)."""

    topic: str
    payload: bytes
    retained: bool = False
    response_topic: str | None = None
    correlation: bytes | None = None


class Inbound:
    """Routes and handles device messages for one center."""

    #: the catalogue entries the server subscribes to
    TOPICS = (wire.AVAILABILITY, wire.HEALTH, wire.TICKET_OFFLINE, wire.PRINT_RESULT, wire.COUNTER_REQUEST,
              wire.RATING, wire.ROBOT_TELEMETRY, wire.ROBOT_TASK)

    def __init__(self, engine: Any, registry: DeviceRegistry, robots: RobotDispatcher, *, center: str,
                 server_id: str, respond: Respond, wake: Callable[[], None] = lambda: None) -> None:
        self.engine = engine
        self.registry = registry
        self.robots = robots
        self.center = center
        self.server_id = server_id
        self.respond = respond
        self.wake = wake
        self.stats = InboundStats()
        self._drop_log = _ThrottledLog()
        self._stats_lock = threading.Lock()
        self._handlers: dict[str, Callable[[dict[str, str], Any, Incoming], wire.Response | None]] = {
            wire.AVAILABILITY.name: self._availability,
            wire.HEALTH.name: self._health,
            wire.TICKET_OFFLINE.name: self._ticket_offline,
            wire.PRINT_RESULT.name: self._print_result,
            wire.COUNTER_REQUEST.name: self._counter_request,
            wire.RATING.name: self._rating,
            wire.ROBOT_TELEMETRY.name: self._robot_telemetry,
            wire.ROBOT_TASK.name: self._robot_task,
        }

    def filters(self) -> list[tuple[str, int]]:
        return [(t.filter(center=self.center), t.qos) for t in self.TOPICS]

    # --- entry point (paho's thread) -------------------------------------------------------
    def handle(self, msg: Incoming) -> None:
        self._count("received")
        try:
            self._handle(msg)
        except Exception:  # a bug in a handler must not take the link down
            self._count("failed")
            log.exception("handling %s failed; message dropped", msg.topic[:200])
            self._answer(msg, None, wire.Response(status="error", error="internal error"))

    def _handle(self, msg: Incoming) -> None:
        found = wire.resolve(msg.topic)
        if found is None or found[0].name not in self._handlers:
            return self._drop("unknown_topic", "unknown topic %r", msg.topic[:200])
        entry, parts = found
        reason = self._check_parts(entry, parts)
        if reason:
            return self._drop("bad_topic", "%s: %s", msg.topic[:200], reason)
        try:
            message = wire.decode(entry, msg.payload)
        except wire.WireError as exc:
            return self._drop("bad_payload", "dropped %s: %s", msg.topic[:200], exc)
        if isinstance(message, wire.Message) and not _finite(message.model_dump()):
            # the contract's models accept NaN and Infinity (JSON extensions Python parses)
            return self._drop("bad_payload", "dropped %s: a number is NaN or infinite", msg.topic[:200])
        try:
            answer = self._handlers[entry.name](parts, message, msg)
        except QmsError as exc:
            self._count("refused")
            log.info("%s refused: %s", msg.topic, exc.message)
            answer = wire.Response(status="error", error=exc.message[:500],
                                   data={**_jsonable(exc.details), "reason": exc.code})
        else:
            self._count("handled")
        self._answer(msg, parts, answer)

    def _check_parts(self, entry: wire.Topic, parts: dict[str, str]) -> str | None:
        if parts.get("center") != self.center:
            return f"center {parts.get('center')!r} is not {self.center!r}"
        cls = parts.get("cls")
        if cls is not None and cls not in wire.DEVICE_CLASSES:
            return f"unknown device class {cls!r}"
        try:
            entry.topic(**parts)  # validates the center and device ids
        except (wire.WireError, KeyError, IndexError) as exc:
            return str(exc)
        return None

    def _answer(self, msg: Incoming, parts: dict[str, str] | None, answer: wire.Response | None) -> None:
        if answer is None or not msg.response_topic:
            return
        # Answer only on the requester's own response topic: a device must not make the server
        # publish on someone else's topic.
        target = wire.resolve(msg.response_topic)
        if target is None or target[0] is not wire.RESPONSE:
            return self._drop("bad_response_topic", "response topic %r is not a response topic",
                              msg.response_topic[:200])
        if parts is None:
            found = wire.resolve(msg.topic)
            if found is None:
                return None
            parts = found[1]
        requester = _device_of(msg.topic, parts)
        if (target[1].get("center"), target[1].get("cls"), target[1].get("device")) != requester:
            return self._drop("bad_response_topic", "response topic %r does not belong to %s",
                              msg.response_topic[:200], "/".join(map(str, requester)))
        try:
            self.respond(msg.response_topic, answer, msg.correlation)
        except Exception:
            log.exception("could not answer on %s", msg.response_topic)

    # --- handlers --------------------------------------------------------------------------
    def _availability(self, parts: dict[str, str], text: Any, msg: Incoming) -> None:
        cls, device = parts["cls"], parts["device"]
        if cls == "server" and device == self.server_id:
            return None  # our own retained state
        online = text == wire.ONLINE
        self.registry.presence(cls, device, online, retained=msg.retained)
        if cls == "robot":
            self.robots.on_presence(device, online)
            self.wake()
        return None

    def _health(self, parts: dict[str, str], health: wire.Health, msg: Incoming) -> None:
        if parts["cls"] == "server" and parts["device"] == self.server_id:
            return None
        self.registry.health(parts["cls"], parts["device"], health, retained=msg.retained)
        return None

    def _ticket_offline(self, parts: dict[str, str], t: wire.OfflineTicket, msg: Incoming) -> wire.Response:
        device = parts["device"]
        self.registry.seen("kiosk", device)
        ticket = self.engine.merge_offline(device, client_ref=t.client_ref, service=t.service, number=t.number,
                                           day=t.day, issued_at=t.issued_at, priority=t.priority,
                                           printed=t.printed, site=t.site)
        return wire.Response(status="ok", data={"ticket": ticket["code"], "ticket_id": ticket["id"]})

    def _print_result(self, parts: dict[str, str], r: wire.PrintResult, msg: Incoming) -> wire.Response:
        device = parts["device"]
        self.registry.seen("kiosk", device)
        ticket = self.engine.mark_printed(r.ticket_id, r.printed, r.fault, device=device)  # its own tickets only
        return wire.Response(status="ok", data={"ticket": ticket["code"], "printed": r.printed})

    def _counter_request(self, parts: dict[str, str], req: wire.CounterRequest, msg: Incoming) -> wire.Response:
        device = parts["device"]
        self.registry.seen("counter", device)
        number = self._counter_of(device)
        clerk = self.engine.counter(number)["clerk"]
        if req.action == "next":
            ticket = self.engine.call_next(number, clerk, device=device, role="counter")
            if ticket is None:
                return wire.Response(status="ok", data={"action": "next", "counter": number, "ticket": None})
        else:
            current = self.engine.counter(number)["ticket_id"]
            if not current:
                raise QmsError(f"Quầy {number} không có vé đang xử lý; counter {number} has no ticket to "
                               f"{req.action}", counter=number, action=req.action)
            ticket = getattr(self.engine, req.action)(current, number, clerk, device=device, role="counter")
        return wire.Response(status="ok", data={"action": req.action, "counter": number, "ticket": ticket["code"],
                                                "ticket_id": ticket["id"], "state": ticket["state"]})

    def _rating(self, parts: dict[str, str], r: wire.Rating, msg: Incoming) -> wire.Response:
        device = parts["device"]
        self.registry.seen("counter", device)
        number = self._counter_of(device)
        ticket_id = self._ticket_id(r.ticket) if r.ticket else None
        if ticket_id is not None:
            rated = self.engine.ticket(ticket_id)
            if rated["counter"] != number:
                raise Forbidden(f"Vé {rated['code']} không được phục vụ ở quầy {number}; {rated['code']} was not "
                                f"served at counter {number}: a keypad rates only its own counter's tickets",
                                ticket=rated["code"], counter=number)
        event = self.engine.rate(r.score, ticket_id=ticket_id, counter=number, device=device, reason=r.reason,
                                 source="keypad")
        return wire.Response(status="ok", data={"ticket": event["data"].get("code"), "score": r.score})

    def _robot_telemetry(self, parts: dict[str, str], t: wire.RobotTelemetry, msg: Incoming) -> None:
        self.registry.robot_telemetry(parts["device"], t, retained=msg.retained)
        self.robots.on_telemetry(parts["device"], t)
        self.wake()
        return None

    def _robot_task(self, parts: dict[str, str], r: wire.RobotTaskResult, msg: Incoming) -> None:
        self.registry.seen("robot", parts["device"])
        self.robots.on_task_result(parts["device"], r)
        self.wake()
        return None

    # --- helpers ---------------------------------------------------------------------------
    def _counter_of(self, device: str) -> int:
        number = counter_number(device)
        if number is None or self.engine.config.counter(number) is None:
            raise NotFound(f"Thiết bị {device} không gắn với quầy nào; {device} is not a counter device "
                           f"(name counter devices counter-<number>)", device=device)
        return number

    def _ticket_id(self, ref: str) -> str:
        """A rating names a ticket by id (20261123-HT-042) or by today's code (HT-042)."""
        try:
            return self.engine.ticket(ref)["id"]
        except NotFound:
            return self.engine.find_ticket(ref)["id"]

    def _drop(self, reason: str, fmt: str, *args: Any) -> None:
        self._count("dropped")
        with self._stats_lock:
            self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + 1
        self._drop_log.warning(fmt, *args)

    def _count(self, what: str) -> None:
        with self._stats_lock:
            setattr(self.stats, what, getattr(self.stats, what) + 1)


def _device_of(topic: str, parts: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    cls = parts.get("cls") or topic.split("/")[2]
    return parts.get("center"), cls, parts.get("device")


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in details.items()}
