"""The robot on MQTT: commands in, telemetry and task results out.

With a :class:`~qms_common.mqtt.PresenceClient` (device class ``robot``, retained
``online``/``offline`` with a last will) it subscribes to ``wire.ROBOT_COMMAND`` for its
own id and publishes ``wire.ROBOT_TELEMETRY`` (retained), ``wire.ROBOT_TASK`` and
``wire.HEALTH`` (retained). A command that fails :func:`qms_common.wire.decode` is logged
and dropped; a repeated task id (a QoS 1 redelivery) is ignored.
"""
from __future__ import annotations

import logging
import threading

from qms_common import wire
from qms_common.clock import FakeClock
from qms_common.mqtt import DeviceIdentity, PresenceClient

from .api import TicketApi
from .config import RobotConfig
from .motion import RealTime, Timebase, VirtualTime
from .robot import Robot
from .speech import RobotVoice

log = logging.getLogger(__name__)

DEVICE_CLASS = "robot"


class RobotService:
    """``start()`` / ``stop()``. Pass a :class:`FakeClock` (or a Timebase) to run in virtual time."""

    def __init__(self, config: RobotConfig, *, time: Timebase | None = None, clock: FakeClock | None = None,
                 voice: RobotVoice | None = None, client_id: str | None = None) -> None:
        self.config = config
        self.time: Timebase = time or (VirtualTime(clock) if clock is not None else RealTime())
        self.clock = self.time.clock
        self.voice = voice or RobotVoice(config.voice.voice, config.voice.rate, config.voice.volume,
                                         config.cache_dir, config.output, self.clock,
                                         timeout_s=config.speech_timeout_s)
        api = TicketApi(config.server_url, config.device_token(), config.api_timeout_s, config.api_attempts)
        c, d = config.center, config.device
        self.identity = DeviceIdentity(c, DEVICE_CLASS, d)
        self.command_topic = wire.ROBOT_COMMAND.topic(center=c, device=d)
        self.telemetry_topic = wire.ROBOT_TELEMETRY.topic(center=c, device=d)
        self.task_topic = wire.ROBOT_TASK.topic(center=c, device=d)
        self.health_topic = wire.HEALTH.topic(center=c, cls=DEVICE_CLASS, device=d)
        self.presence = PresenceClient(self.identity, config.mqtt.broker(config.device),
                                       on_message=self._on_message,
                                       subscriptions=[(self.command_topic, 1)],
                                       on_connected=self._on_connected, client_id=client_id)
        self.robot = Robot(config, time=self.time, voice=self.voice, api=api,
                           publish_telemetry=self._publish_telemetry, publish_result=self._publish_result)
        self.received = 0
        self.dropped = 0
        self._started_at = self.clock.monotonic()
        self._stop = threading.Event()
        self._health_thread = threading.Thread(target=self._health_loop, name="robot-health", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.voice.start()
        self.robot.start()
        self.presence.start()
        self._health_thread.start()
        log.info("robot %s of center %s: listening on %s", self.config.device, self.config.center,
                 self.command_topic)

    def stop(self) -> None:
        self._stop.set()
        try:
            self.robot.stop()
            self.presence.stop()
        finally:
            self.voice.stop()
            if self._health_thread.is_alive():
                self._health_thread.join(5)

    def healthy(self) -> bool:
        return self.robot.healthy() and self.voice.worker.healthy()

    def wait_connected(self, timeout: float) -> bool:
        return self.presence.connected.wait(timeout)

    # --- MQTT --------------------------------------------------------------------------------

    def _on_message(self, msg) -> None:  # paho's thread
        self.received += 1
        if msg.topic != self.command_topic:
            return self._drop(f"unexpected topic {msg.topic}")
        try:
            command = wire.decode(wire.ROBOT_COMMAND, msg.payload)
        except wire.WireError as exc:
            return self._drop(str(exc))
        except (RecursionError, ValueError) as exc:
            return self._drop(f"robot_command: unreadable payload ({type(exc).__name__})")
        if isinstance(command, wire.RobotCommand):
            self.robot.submit(command)

    def _drop(self, why: str) -> None:
        self.dropped += 1
        log.warning("dropped command: %s", why)

    def _on_connected(self) -> None:
        self._publish_telemetry(self.robot.telemetry())
        self.publish_health()

    def _publish_telemetry(self, telemetry: wire.RobotTelemetry) -> None:
        self.presence.publish(self.telemetry_topic, telemetry, retain=True)

    def _publish_result(self, result: wire.RobotTaskResult) -> None:
        self.presence.publish(self.task_topic, result)

    # --- health ----------------------------------------------------------------------------

    def health(self) -> wire.Health:
        r = self.robot
        faults = []
        if r.state == "fault":
            faults.append("robot_battery_empty")
        if not self.healthy():
            faults.append("robot_loop_dead")
        if self.voice.worker.last_ok is False:
            faults.append("speech_failed")
        x, y = r.motion.position
        return wire.Health(
            at=self.clock.now(), uptime_s=max(0.0, self.clock.monotonic() - self._started_at),
            faults=faults, battery_pct=round(r.battery.pct, 2),
            detail={"state": r.state, "spot": r.spot, "x": round(x, 2), "y": round(y, 2),
                    "task_id": r.task_id, "tasks_done": r.stats.done, "tasks_failed": r.stats.failed,
                    "duplicates": r.stats.duplicates, "received": self.received, "dropped": self.dropped,
                    "spoken": self.voice.worker.spoken,
                    "last_speech_error": (self.voice.worker.last_error or "")[:200] or None})

    def publish_health(self) -> None:
        if self.presence.connected.is_set():
            self.presence.publish(self.health_topic, self.health(), retain=True)

    def _health_loop(self) -> None:
        while not self._stop.wait(self.config.health_interval_s):
            try:
                self.publish_health()
            except Exception:
                log.exception("could not publish health")
