"""The robot dispatcher: which robot does what, and when.

Tasks go out as :class:`qms_common.wire.RobotCommand` on ``wire.ROBOT_COMMAND``; robots answer
with :class:`~qms_common.wire.RobotTaskResult` on ``wire.ROBOT_TASK`` and report their state on
``wire.ROBOT_TELEMETRY``. Every task has an id and is tracked until it ends (done, failed,
timed out or its robot went offline).

Rules (see docs/server-mqtt.md):

- ``bring_water``: on its own initiative, to the citizen at the robot's site who has waited
  longest (since the ticket was issued) past ``water_after_s``; one task per ticket at a time
  and never again once done; only to a robot that is online, reports ``idle``, has no task of
  ours outstanding and a battery above ``min_battery_pct``. A failed or timed-out task is sent
  again (to whichever robot is free) up to ``max_attempts`` times.
- ``greet`` (``greet = true``): when a ticket is issued at the robot's site, to a free robot.
- ``guide`` (``guide = true``): when a ticket is called, to a free robot at the counter's site.
- ``issue_ticket``: :meth:`RobotDispatcher.request_issue_ticket` sends a free robot to take a
  citizen's request; the robot then issues the ticket itself through the REST API
  (``POST /api/v1/tickets`` with its device token), like a kiosk.

Greet and guide are courtesies: they are not retried. Everything here is driven by the
injected clock and by :meth:`evaluate`, which the MQTT link calls from its worker thread on
every event, every tick and whenever a robot reports something.
"""
from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal


from qms_common import wire
from qms_common.clock import Clock
from .settings import RobotPolicy

log = logging.getLogger(__name__)

Publish = Callable[[str, wire.Message], None]
TaskState = Literal["sent", "done", "failed"]


@dataclass
class Task:
    id: str
    robot: str
    action: str
    ticket_id: str | None = None
    ticket: str | None = None
    counter: int | None = None
    service: str | None = None
    priority: bool = False
    state: TaskState = "sent"
    attempt: int = 1
    sent_at: float = 0.0
    ended_at: float | None = None
    error: str | None = None
    sent_mono: float = field(default=0.0, repr=False)

    def view(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("sent_mono")
        return out


@dataclass
class Robot:
    id: str
    online: bool | None = None
    state: str | None = None
    battery_pct: float | None = None
    reported_task: str | None = None
    task: str | None = None  # our outstanding task id

    def view(self) -> dict[str, Any]:
        return asdict(self)


class RobotDispatcher:
    """Thread-safe; publishing happens outside the lock."""

    def __init__(self, engine: Any, clock: Clock, publish: Publish, *, center: str,
                 policy: RobotPolicy | None = None, site_of: Callable[[str], str | None] | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.publish = publish
        self.center = center
        self.policy = policy or RobotPolicy()
        self.site_of = site_of
        self._robots: dict[str, Robot] = {}
        self._active: dict[str, Task] = {}
        self._ended: deque[Task] = deque(maxlen=self.policy.history)
        self._water_done: set[str] = set()
        self._water_attempts: dict[str, int] = {}
        self._lock = threading.Lock()

    # --- what robots tell us (paho's thread) -----------------------------------------------
    def on_presence(self, robot: str, online: bool) -> None:
        with self._lock:
            r = self._robot(robot)
            r.online = online
            if not online and r.task:
                self._end(r.task, "failed", "robot went offline")

    def on_telemetry(self, robot: str, telemetry: wire.RobotTelemetry) -> None:
        with self._lock:
            r = self._robot(robot)
            r.state = telemetry.state
            r.battery_pct = telemetry.battery_pct
            r.reported_task = telemetry.task_id
            if r.online is None:
                r.online = True
            if telemetry.state == "fault" and r.task:
                self._end(r.task, "failed", "robot reported a fault")

    def on_task_result(self, robot: str, result: wire.RobotTaskResult) -> None:
        with self._lock:
            task = self._active.get(result.task_id)
            if task is None:
                log.info("robot %s: result for unknown or finished task %s ignored", robot, result.task_id)
                return
            if task.robot != robot:
                log.warning("robot %s reported task %s of robot %s; ignored", robot, task.id, task.robot)
                return
            if result.ticket:
                task.ticket = result.ticket  # issue_ticket: the number the citizen now holds
            self._end(task.id, result.outcome, result.error)

    # --- what the center does (the link's worker thread) -----------------------------------
    def on_event(self, event: dict) -> None:
        """Greet on ``ticket_issued``, guide on ``ticket_call`` (when enabled)."""
        kind = event.get("type")
        data = event.get("data") or {}
        if kind == "ticket_issued" and self.policy.greet and data.get("source") != "robot":
            self._send_to_free(data.get("site"), "greet", ticket_id=event.get("ticket_id"),
                               ticket=data.get("code"), service=data.get("service"),
                               priority=bool(data.get("priority")))
        elif kind == "ticket_call" and self.policy.guide and event.get("counter"):
            counter = self.engine.config.counter(event["counter"])
            self._send_to_free(counter.site if counter else None, "guide", ticket_id=event.get("ticket_id"),
                               ticket=data.get("code"), counter=event["counter"], service=data.get("service"))

    def request_issue_ticket(self, site: str | None = None, *, service: str | None = None,
                             priority: bool = False) -> dict | None:
        """Send a free robot to help a citizen take a ticket (it then calls the REST API)."""
        task = self._send_to_free(site, "issue_ticket", service=service, priority=priority)
        return None if task is None else task.view()

    def evaluate(self) -> list[Task]:
        """Time out silent tasks, then send water to long waiters. Returns the tasks sent."""
        mono = self.clock.monotonic()
        with self._lock:
            for task in list(self._active.values()):
                if mono - task.sent_mono > self.policy.task_timeout_s:
                    self._end(task.id, "failed", f"no result within {self.policy.task_timeout_s:.0f} s")
            free = [r for r in self._robots.values() if self._is_free(r)]
        if not free or not self.policy.water:
            return []
        return self._dispatch_water(free)

    # --- views ------------------------------------------------------------------------------
    def robots(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._robots[k].view() for k in sorted(self._robots)]

    def tasks(self, *, active_only: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            active = [t.view() for t in self._active.values()]
            return active if active_only else active + [t.view() for t in self._ended]

    def task(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            t = self._active.get(task_id) or next((e for e in self._ended if e.id == task_id), None)
            return None if t is None else t.view()

    # --- internals --------------------------------------------------------------------------
    def _robot(self, robot: str) -> Robot:
        r = self._robots.get(robot)
        if r is None:
            r = self._robots[robot] = Robot(robot)
        return r

    def _is_free(self, r: Robot) -> bool:
        return (r.online is not False and r.state == "idle" and r.task is None
                and r.battery_pct is not None and r.battery_pct > self.policy.min_battery_pct)

    def _site(self, robot: str) -> str:
        site = self.site_of(robot) if self.site_of else None
        return site or self.engine.config.main_site

    def _end(self, task_id: str, outcome: TaskState, error: str | None) -> None:
        task = self._active.pop(task_id, None)
        if task is None:
            return
        task.state = outcome
        task.error = error
        task.ended_at = self.clock.now()
        self._ended.append(task)
        r = self._robots.get(task.robot)
        if r is not None and r.task == task_id:
            r.task = None
        if task.action == "bring_water" and task.ticket_id and outcome == "done":
            self._water_done.add(task.ticket_id)
        log.info("robot task %s (%s, %s) %s%s", task.id, task.action, task.robot, outcome,
                 f": {error}" if error else "")

    def _new_task(self, robot: Robot, action: str, **fields: Any) -> Task:
        task = Task(id=f"{action}-{uuid.uuid4().hex[:12]}", robot=robot.id, action=action,
                    sent_at=self.clock.now(), sent_mono=self.clock.monotonic(), **fields)
        self._active[task.id] = task
        robot.task = task.id
        return task

    def _send_to_free(self, site: str | None, action: str, **fields: Any) -> Task | None:
        with self._lock:
            candidates = [r for r in self._robots.values()
                          if self._is_free(r) and (site is None or self._site(r.id) == site)]
            if not candidates:
                return None
            robot = max(candidates, key=lambda r: (r.battery_pct or 0, r.id))
            task = self._new_task(robot, action, **fields)
        self._publish(task)
        return task

    def _dispatch_water(self, free: list[Robot]) -> list[Task]:
        now = self.clock.now()
        threshold = self.policy.water_after_s
        waiting = [t for t in self.engine.tickets(state="waiting", limit=5000)
                   if now - t["issued_at"] >= threshold]
        if not waiting:
            return []
        waiting.sort(key=lambda t: t["issued_at"])
        sent: list[Task] = []
        with self._lock:
            busy_tickets = {t.ticket_id for t in self._active.values() if t.action == "bring_water"}
            for ticket in waiting:
                tid = ticket["id"]
                if tid in self._water_done or tid in busy_tickets:
                    continue
                attempts = self._water_attempts.get(tid, 0)
                if attempts >= self.policy.max_attempts:
                    continue
                robots = [r for r in free if self._is_free(r) and self._site(r.id) == ticket["site"]]
                if not robots:
                    continue
                robot = max(robots, key=lambda r: (r.battery_pct or 0, r.id))
                self._water_attempts[tid] = attempts + 1
                sent.append(self._new_task(robot, "bring_water", ticket_id=tid, ticket=ticket["code"],
                                           service=ticket["service"], priority=bool(ticket["priority"]),
                                           attempt=attempts + 1))
                busy_tickets.add(tid)
        for task in sent:
            self._publish(task)
        return sent

    def _publish(self, task: Task) -> None:
        command = wire.RobotCommand(task_id=task.id, action=task.action, ticket=task.ticket,
                                    counter=task.counter, service=task.service, priority=task.priority)
        try:
            self.publish(wire.ROBOT_COMMAND.topic(center=self.center, device=task.robot), command)
        except Exception:  # the task then times out and (for water) is sent again
            log.exception("could not publish robot task %s", task.id)
        log.info("robot task %s -> %s: %s %s", task.id, task.robot, task.action, task.ticket or "")
