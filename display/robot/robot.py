"""The robot's brain: one thread runs tasks one after the other.

States (``wire.RobotTelemetry.state``):

- ``idle``     waiting for a task (at home or where the last task ended)
- ``moving``   travelling between spots
- ``busy``     speaking, taking water, asking the server for a ticket
- ``charging`` at home with the battery below ``charge_below_pct``, until ``charge_until_pct``
- ``fault``    the battery ran empty on the way: it needs a person

Before a task that moves, the robot checks that the trip plus the way home leaves at least
``reserve_pct``; otherwise the task fails ("battery too low") and the robot goes home to
charge. Below ``charge_below_pct`` and idle, it goes home by itself. Every task ends with
one :class:`~qms_common.wire.RobotTaskResult`, ``done`` or ``failed`` with the reason.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from display.announcer.phrase import TicketFormatError
from qms_common import wire

from . import phrases
from .api import ApiError, TicketApi, client_ref_for
from .config import RobotConfig
from .motion import Battery, Kinematics, Point, Timebase, route_length
from .speech import RobotVoice, SpeechFailed

log = logging.getLogger(__name__)

MAX_QUEUED = 20
SEEN_TASKS = 1000


class TaskFailed(Exception):
    """A task cannot be done; the message goes into RobotTaskResult.error."""


@dataclass
class TaskStats:
    done: int = 0
    failed: int = 0
    duplicates: int = 0


class Robot:
    """``start()``, ``submit(command)`` from any thread, ``stop()``."""

    def __init__(self, config: RobotConfig, *, time: Timebase, voice: RobotVoice, api: TicketApi,
                 publish_telemetry: Callable[[wire.RobotTelemetry], None],
                 publish_result: Callable[[wire.RobotTaskResult], None]) -> None:
        self.config = config
        self.time = time
        self.clock = time.clock
        self.voice = voice
        self.api = api
        self._publish_telemetry = publish_telemetry
        self._publish_result = publish_result
        b = config.battery
        self.battery = Battery(b.initial_pct, b.drain_pct_per_m, b.charge_pct_per_min / 60.0)
        self.home: Point = config.spots[config.home]
        self.motion = Kinematics(self.home, config.motion.speed_m_s, config.motion.step_s)
        self.spot: str | None = config.home
        self.state = "idle"
        self.task_id: str | None = None
        self.stats = TaskStats()
        self.issued: list[str] = []  # ticket codes issued, latest last
        self._queue: queue.Queue[wire.RobotCommand | None] = queue.Queue()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = False
        self._last_tick = self.clock.monotonic()
        self._next_telemetry = self.clock.monotonic()
        self._thread = threading.Thread(target=self._run, name="robot", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self.time.interrupt()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(15)

    def healthy(self) -> bool:
        return self._thread.is_alive()

    def submit(self, command: wire.RobotCommand) -> bool:
        """Queue a task; False (and nothing queued) for a task id already seen."""
        with self._lock:
            if command.task_id in self._seen:
                self.stats.duplicates += 1
                log.info("task %s already received; ignoring the repeat", command.task_id)
                return False
            self._seen[command.task_id] = None
            while len(self._seen) > SEEN_TASKS:
                self._seen.popitem(last=False)
        if self._queue.qsize() >= MAX_QUEUED:
            self._result(command.task_id, phrases.QUEUE_FULL)
            return False
        self._queue.put(command)
        return True

    # --- the robot thread ------------------------------------------------------------------

    def _run(self) -> None:
        self._telemetry(force=True)
        while True:
            try:
                command = self._queue.get(timeout=self.config.tick_s)
            except queue.Empty:
                command = False
            if command is None:
                return
            try:
                if command:
                    self._execute(command)
                self._idle_tick()
            except Exception:  # the robot must take the next task whatever this one did
                log.exception("robot loop failed")

    def _execute(self, command: wire.RobotCommand) -> None:
        self.task_id = command.task_id
        log.info("task %s: %s", command.task_id, command.action)
        try:
            if self.state == "fault":
                raise TaskFailed(phrases.BATTERY_EMPTY)
            handler = getattr(self, f"_do_{command.action}")
            ticket = handler(command)
        except TaskFailed as exc:
            self._result(command.task_id, str(exc))
        except SpeechFailed as exc:
            self._result(command.task_id, f"Không phát được lời nói; speech failed: {exc}"[:200])
        else:
            self._result(command.task_id, None, ticket=ticket)
        finally:
            self.task_id = None
            if self.state not in ("fault",):
                self._set_state("idle")
            self._after_task()

    def _result(self, task_id: str, error: str | None, *, ticket: str | None = None) -> None:
        if error is None:
            self.stats.done += 1
            log.info("task %s done", task_id)
        else:
            self.stats.failed += 1
            log.warning("task %s failed: %s", task_id, error)
        self._publish_result(wire.RobotTaskResult(task_id=task_id, outcome="failed" if error else "done",
                                                  error=error[:200] if error else None, ticket=ticket,
                                                  at=self.clock.now()))

    # --- tasks -----------------------------------------------------------------------------

    def _do_greet(self, command: wire.RobotCommand) -> None:
        self._set_state("busy")
        self._say(self.config.voice.greeting or phrases.GREETING, command)

    def _do_issue_ticket(self, command: wire.RobotCommand) -> str:
        """Take a ticket for the citizen in front of the robot; its number goes back in the result."""
        if not command.service:
            raise TaskFailed(phrases.missing("mã lĩnh vực", "service"))
        self._set_state("busy")
        try:
            ticket = self.api.issue(command.service, command.priority,
                                    client_ref_for(self.config.device, command.task_id))
        except ApiError as exc:
            self._say(phrases.ticket_not_issued(), command)
            raise TaskFailed(str(exc)) from None
        self.issued.append(ticket.code)
        log.info("task %s: ticket %s issued", command.task_id, ticket.code)
        self._say(phrases.ticket_issued(ticket.code), command, ticket=ticket.code)
        return ticket.code

    def _do_guide(self, command: wire.RobotCommand) -> None:
        ticket = self._ticket(command)
        if command.counter is None:
            raise TaskFailed(phrases.missing("số quầy", "counter"))
        target = self._counter_point(command.counter)
        self._check_battery(target)
        self._set_state("busy")
        self._say(phrases.follow_me(ticket, command.counter), command, ticket=ticket)
        self._travel(target, f"counter-{command.counter}")
        self._set_state("busy")
        self._say(phrases.arrived(command.counter), command, ticket=ticket)

    def _do_bring_water(self, command: wire.RobotCommand) -> None:
        ticket = self._ticket(command)
        if command.counter is not None:
            target, name = self._counter_point(command.counter), f"counter-{command.counter}"
        else:
            target, name = self.config.spots[self.config.waiting_spot], self.config.waiting_spot
        water = self.config.spots[self.config.water_spot]
        self._check_battery(water, target)
        self._travel(water, self.config.water_spot)
        self._set_state("busy")
        if not self.time.sleep(self.config.motion.pickup_s):
            raise TaskFailed(phrases.STOPPING)
        self._travel(target, name)
        self._set_state("busy")
        self._say(phrases.water(ticket), command, ticket=ticket)

    def _do_return_home(self, command: wire.RobotCommand) -> None:
        if self.spot != self.config.home:
            self._set_state("busy")
            self._say(phrases.going_home(), command)
            self._travel(self.home, self.config.home)

    # --- helpers ---------------------------------------------------------------------------

    def _ticket(self, command: wire.RobotCommand) -> str:
        if not command.ticket:
            raise TaskFailed(phrases.missing("số thứ tự", "ticket"))
        try:
            phrases.spell_ticket(command.ticket)
        except TicketFormatError:
            raise TaskFailed(phrases.BAD_TICKET) from None
        return command.ticket

    def _counter_point(self, counter: int) -> Point:
        point = self.config.counters.get(counter)
        if point is None:
            raise TaskFailed(phrases.unknown_counter(counter))
        return point

    def _check_battery(self, *stops: Point) -> None:
        """The trip, then the way home, must leave ``reserve_pct``."""
        metres = route_length(self.motion.position, *stops, self.home)
        needed = self.battery.needed_for(metres)
        reserve = self.config.battery.reserve_pct
        if self.battery.pct - needed < reserve:
            raise TaskFailed(phrases.battery_low(self.battery.pct, needed, reserve))

    def _say(self, text: str, command: wire.RobotCommand, ticket: str = "") -> None:
        self.voice.say(text, f"robot {command.action} {command.task_id}", ticket=ticket,
                       counter=command.counter or 0)

    def _travel(self, target: Point, name: str) -> None:
        self._set_state("moving")
        self.spot = None
        outcome = self.motion.travel(target, self.time, self.battery, on_step=self._telemetry)
        if outcome.reason == "battery_empty":
            self._set_state("fault")
            raise TaskFailed(phrases.BATTERY_EMPTY)
        if not outcome.arrived:
            raise TaskFailed(phrases.STOPPING)
        self.spot = name
        log.info("arrived at %s (%.1f m in %.1f s, battery %.0f%%)", name, outcome.metres,
                 outcome.seconds, self.battery.pct)

    def _after_task(self) -> None:
        """Low battery away from home: go home to charge."""
        if (self.state == "idle" and self.spot != self.config.home
                and self.battery.pct < self.config.battery.charge_below_pct and not self._stopping):
            log.info("battery %.0f%%: going home to charge", self.battery.pct)
            try:
                self._travel(self.home, self.config.home)
            except TaskFailed as exc:
                log.error("could not get home: %s", exc)
            if self.state != "fault":
                self._set_state("idle")

    def _idle_tick(self) -> None:
        """Charging at home, and periodic telemetry, between tasks."""
        now = self.clock.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        b = self.config.battery
        at_home = self.spot == self.config.home
        if self.state == "idle" and at_home and self.battery.pct < b.charge_below_pct:
            self._set_state("charging")
        elif self.state == "charging":
            self.battery.charge(elapsed, until=b.charge_until_pct)
            if self.battery.pct >= b.charge_until_pct:
                self._set_state("idle")
        self._telemetry()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._last_tick = self.clock.monotonic()
            self._telemetry(force=True)

    def telemetry(self) -> wire.RobotTelemetry:
        return wire.RobotTelemetry(state=self.state, battery_pct=round(self.battery.pct, 2),
                                   task_id=self.task_id, at=self.clock.now())

    def _telemetry(self, force: bool = False) -> None:
        now = self.clock.monotonic()
        if force or now >= self._next_telemetry:
            self._next_telemetry = now + self.config.telemetry_interval_s
            try:
                self._publish_telemetry(self.telemetry())
            except Exception:  # a broken link must not stop the robot mid-way
                log.exception("could not publish telemetry")
