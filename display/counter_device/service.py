"""The counter device on MQTT: one thread owns the logic and the screen.

Subscribes (with a :class:`~qms_common.mqtt.PresenceClient`, device class ``counter``,
retained ``online``/``offline`` with a last will) to:

- ``wire.COUNTER_SERVING`` for its counter (retained: the number shown after a restart),
- ``wire.CALL`` (a call or recall to this counter shows at once),
- ``wire.RESPONSE`` for itself (answers to its requests, matched by correlation data).

Publishes ``wire.COUNTER_REQUEST`` (MQTT v5 ResponseTopic + CorrelationData),
``wire.RATING`` and retained ``wire.HEALTH``. Every received payload goes through
:func:`qms_common.wire.decode`; what fails is logged and dropped. Key presses (gpiozero's
thread), messages (paho's thread) and ticks all become events on one queue.
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from qms_common import wire
from qms_common.clock import Clock, SystemClock
from qms_common.mqtt import DeviceIdentity, PresenceClient

from . import texts
from .buttons import ButtonPanel, Press, make_pin_factory
from .config import CounterConfig
from .debounce import Debouncer
from .screen import Screen, ScreenView, make_screen
from .state import CounterLogic, OutRating, OutRequest

log = logging.getLogger(__name__)

DEVICE_CLASS = "counter"


@dataclass(frozen=True)
class _Incoming:
    topic: str
    payload: bytes
    correlation: bytes | None


@dataclass
class Stats:
    presses: int = 0
    requests: int = 0
    ratings: int = 0
    received: int = 0
    dropped: int = 0


class CounterDevice:
    """``start()`` / ``stop()``; :meth:`press` injects a key press (keyboard mode, tests)."""

    def __init__(self, config: CounterConfig, *, clock: Clock | None = None,
                 screen: Screen | None = None, pin_factory: Any = None,
                 client_id: str | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.screen = screen or make_screen(config.screen)
        self.logic = CounterLogic(config.counter, request_timeout_s=config.request_timeout_s,
                                  message_s=config.message_s, rating_window_s=config.rating_window_s,
                                  rating_cooldown_s=config.rating_cooldown_s,
                                  reason_s=config.rating_reason_s)
        self.debouncer = Debouncer(config.debounce_s)
        self.stats = Stats()
        self.events: queue.Queue[Press | _Incoming | None] = queue.Queue()
        factory = pin_factory if pin_factory is not None else make_pin_factory(config.gpio.pin_factory)
        self.panel = ButtonPanel(config.pins(), self.events.put, self.clock, pull_up=config.gpio.pull_up,
                                 pin_factory=factory)
        c, d = config.center, config.device
        self.identity = DeviceIdentity(c, DEVICE_CLASS, d)
        self.serving_topic = wire.COUNTER_SERVING.topic(center=c, n=config.counter)
        self.call_topic = wire.CALL.topic(center=c)
        self.response_topic = wire.RESPONSE.topic(center=c, cls=DEVICE_CLASS, device=d)
        self.request_topic = wire.COUNTER_REQUEST.topic(center=c, device=d)
        self.rating_topic = wire.RATING.topic(center=c, device=d)
        self.health_topic = wire.HEALTH.topic(center=c, cls=DEVICE_CLASS, device=d)
        self.presence = PresenceClient(
            self.identity, config.mqtt.broker(config.device), on_message=self._on_message,
            subscriptions=[(self.serving_topic, 1), (self.call_topic, 1), (self.response_topic, 1)],
            on_connected=self.publish_health, client_id=client_id)
        self.shown: ScreenView | None = None
        self._started_at = self.clock.monotonic()
        self._next_health_at = self._started_at + config.health_interval_s
        self._thread = threading.Thread(target=self._run, name="counter-device", daemon=True)
        self._lock = threading.Lock()  # the logic, read by health on paho's thread

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open the keys (a GPIO problem is a :class:`ConfigError`), then connect."""
        self.panel.open()
        self._show()
        self._thread.start()
        self.presence.start()
        log.info("counter device %s: counter %d", self.config.device, self.config.counter)

    def stop(self) -> None:
        self.panel.close()
        self.events.put(None)
        if self._thread.is_alive():
            self._thread.join(10)
        self.presence.stop()
        self.screen.close()

    def healthy(self) -> bool:
        return self._thread.is_alive()

    def wait_connected(self, timeout: float) -> bool:
        return self.presence.connected.wait(timeout)

    def press(self, key: str) -> None:
        """A key press from elsewhere than GPIO (the CLI's keyboard mode)."""
        self.events.put(Press(key, self.clock.monotonic()))

    # --- the device thread -----------------------------------------------------------------

    def _on_message(self, msg) -> None:  # paho's thread: hand over
        props = getattr(msg, "properties", None)
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        self.events.put(_Incoming(msg.topic, bytes(msg.payload), correlation))

    def _run(self) -> None:
        while True:
            try:
                event = self.events.get(timeout=self.config.tick_s)
            except queue.Empty:
                event = False  # a tick
            if event is None:
                return
            try:
                with self._lock:
                    if isinstance(event, Press):
                        self._on_press(event)
                    elif isinstance(event, _Incoming):
                        self._on_incoming(event)
                    self.logic.on_tick(self.clock.monotonic())
                    for rating in self.logic.take_due():  # a "Không hài lòng" nobody said why for
                        self._send_rating(rating)
                self._show()
                if self.clock.monotonic() >= self._next_health_at:
                    self.publish_health()
            except Exception:  # the counter must keep working whatever one event does
                log.exception("counter device event failed: %r", event)

    def _on_press(self, press: Press) -> None:
        self.stats.presses += 1
        if not self.debouncer.accept(press.key, press.at):
            log.debug("debounced %s", press.key)
            return
        connected = self.presence.connected.is_set()
        now = self.clock.monotonic()
        if press.key in texts.ACTION_LABELS:
            out = self.logic.on_request_key(press.key, now, connected)
            if isinstance(out, OutRequest):
                self.stats.requests += 1
                self.presence.publish(self.request_topic, wire.CounterRequest(action=out.action),
                                      response_topic=self.response_topic, correlation=out.correlation)
                log.info("request %s sent", out.action)
        elif press.key in texts.RATING_KEYS:
            rating = self.logic.on_rating_key(press.key, now, self.clock.now(), connected)
            if isinstance(rating, OutRating):
                self._send_rating(rating)
        else:
            log.warning("unknown key %r", press.key)

    def _send_rating(self, rating: OutRating) -> None:
        self.stats.ratings += 1
        self.presence.publish(self.rating_topic, rating.rating)
        log.info("rating %d (%s) for %s sent", rating.rating.score, rating.rating.reason, rating.rating.ticket)

    def _on_incoming(self, msg: _Incoming) -> None:
        self.stats.received += 1
        now = self.clock.monotonic()
        topic = {self.serving_topic: wire.COUNTER_SERVING, self.call_topic: wire.CALL,
                 self.response_topic: wire.RESPONSE}.get(msg.topic)
        if topic is None:
            return self._drop(f"unexpected topic {msg.topic}")
        try:
            decoded = wire.decode(topic, msg.payload)
        except wire.WireError as exc:
            return self._drop(str(exc))
        except (RecursionError, ValueError) as exc:  # e.g. JSON nested thousands deep
            return self._drop(f"{topic.name}: unreadable payload ({type(exc).__name__})")
        if isinstance(decoded, wire.CounterServing):
            self.logic.on_serving(decoded, now)
        elif isinstance(decoded, wire.CallEvent):
            self.logic.on_call(decoded, now)
        elif isinstance(decoded, wire.Response):
            if not self.logic.on_response(msg.correlation, decoded, now):
                log.info("response with unknown or expired correlation; ignored")

    def _drop(self, why: str) -> None:
        self.stats.dropped += 1
        log.warning("dropped payload: %s", why)

    def _show(self) -> None:
        with self._lock:
            view = self.logic.view()
        if view != self.shown:
            self.screen.show(view)
            self.shown = view

    # --- health ----------------------------------------------------------------------------

    def health(self) -> wire.Health:
        with self._lock:
            view = self.logic.view()
            pending = len(self.logic.pending)
        s = self.stats
        return wire.Health(
            at=self.clock.now(), uptime_s=max(0.0, self.clock.monotonic() - self._started_at),
            faults=[] if self._thread.is_alive() else ["device_loop_dead"],
            detail={"counter": self.config.counter, "ticket": view.ticket, "state": view.state,
                    "pending_requests": pending, "presses": s.presses, "debounced": self.debouncer.suppressed,
                    "requests": s.requests, "ratings": s.ratings, "received": s.received,
                    "dropped": s.dropped, "keys": len(self.panel.pins)})

    def publish_health(self) -> None:
        self._next_health_at = self.clock.monotonic() + self.config.health_interval_s
        if self.presence.connected.is_set():
            self.presence.publish(self.health_topic, self.health(), retain=True)

    def __repr__(self) -> str:
        return f"<CounterDevice {self.config.center}/{self.config.device}>"
