"""The announcer on MQTT: CallEvents in, speech out, availability and health published.

Subscribes to ``wire.CALL`` of its center with a :class:`~qms_common.mqtt.PresenceClient`
(device class ``announcer``; retained ``online``/``offline`` with a last will). Each
payload is validated with :func:`qms_common.wire.decode`; anything that does not pass is
logged and dropped, never raised: a broken publisher must not silence the hall. A call
whose ``seq`` was already announced (a QoS 1 redelivery, a replay) is ignored. Calls for
other halls' counters, calls in quiet hours and stale calls are logged and skipped. The
rest go to the one :class:`~display.announcer.worker.SpeechWorker`.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt

from qms_common import wire
from qms_common.clock import Clock, SystemClock, local_datetime
from qms_common.mqtt import DeviceIdentity, PresenceClient

from .cache import PhraseCache
from .composer import CallRequest, Composer
from .config import AnnouncerConfig
from .phrase import TicketFormatError
from .sinks import Sink, make_sink
from .worker import Job, SpeechWorker

log = logging.getLogger(__name__)

DEVICE_CLASS = "announcer"
#: How many recent call sequence numbers are remembered to ignore replays.
SEEN_CAPACITY = 4096


@dataclass
class Counters:
    """What happened to received calls; published in Health ``detail``."""

    received: int = 0
    dropped: int = 0
    duplicates: int = 0
    filtered: int = 0
    skipped_quiet: int = 0
    skipped_stale: int = 0
    queued: int = 0


class AnnouncerService:
    """Wires config, MQTT, the speech worker and health together. ``start()``/``stop()``."""

    def __init__(self, config: AnnouncerConfig, *, clock: Clock | None = None,
                 sink: Sink | None = None, composer: Composer | None = None,
                 client_id: str | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.zone = ZoneInfo(config.timezone)
        self.cache = PhraseCache(config.cache_dir, config.cache_max_files)
        self.composer = composer or Composer(config.voice, self.cache)
        self.sink = sink or make_sink(config.output)
        self.worker = SpeechWorker(self.composer, self.sink, self.clock)
        self.counters = Counters()
        self.identity = DeviceIdentity(config.center, DEVICE_CLASS, config.device)
        self.call_topic = wire.CALL.topic(center=config.center)
        self.health_topic = wire.HEALTH.topic(center=config.center, cls=DEVICE_CLASS,
                                              device=config.device)
        self.presence = PresenceClient(self.identity, config.mqtt.broker(config.device),
                                       on_message=self._on_message,
                                       subscriptions=[(self.call_topic, 1)],
                                       on_connected=self.publish_health, client_id=client_id)
        self._seen: OrderedDict[int, tuple[str, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started_at = self.clock.monotonic()
        self._health_thread = threading.Thread(target=self._health_loop, name="announcer-health",
                                               daemon=True)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the speech worker, then the broker connection (asynchronous), then health."""
        self.worker.start()
        self.presence.start()
        self._health_thread.start()
        log.info("announcer %s for center %s: listening on %s (%s, %s)", self.config.device,
                 self.config.center, self.call_topic, self.composer.synthesizer.voice.id, self.sink)

    def stop(self) -> None:
        self._stop.set()
        try:
            self.presence.stop()
        finally:
            self.worker.stop(drain=False)
            if self._health_thread.is_alive():
                self._health_thread.join(5)

    def wait_connected(self, timeout: float) -> bool:
        return self.presence.connected.wait(timeout)

    def healthy(self) -> bool:
        """For the systemd watchdog: the speech worker is alive and not stuck."""
        return self.worker.healthy()

    # --- calls -----------------------------------------------------------------------------

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:  # paho's network thread
        if msg.topic != self.call_topic:
            log.warning("ignoring message on unexpected topic %s", msg.topic)
            return
        self.handle_payload(bytes(msg.payload))

    def handle_payload(self, payload: bytes) -> Job | None:
        """Validate one CALL payload and queue it; the job, or None when not announced."""
        with self._lock:
            self.counters.received += 1
            try:
                event = wire.decode(wire.CALL, payload)
            except wire.WireError as exc:
                self._drop(str(exc))
                return None
            except (RecursionError, ValueError) as exc:  # e.g. JSON nested thousands deep
                self._drop(f"call: unreadable payload ({type(exc).__name__})")
                return None
            if not isinstance(event, wire.CallEvent):
                self._drop("call: not a CallEvent")
                return None
            return self._handle_call(event)

    def _drop(self, why: str) -> None:
        self.counters.dropped += 1
        log.warning("dropped call payload: %s", why)

    def _handle_call(self, event: wire.CallEvent) -> Job | None:
        label = f"call #{event.seq}"
        if self.config.counters is not None and event.counter not in self.config.counters:
            self.counters.filtered += 1
            log.debug("%s is for counter %d, not in this hall", label, event.counter)
            return None
        request = CallRequest(event.ticket, event.counter, event.recall, label)
        try:
            self.composer.text_for(request)  # refuse an unreadable ticket code here, not later
        except (TicketFormatError, ValueError) as exc:
            self._drop(f"{label}: {exc}")
            return None
        seen = self._seen.get(event.seq)
        if seen == (event.ticket, event.counter):
            self.counters.duplicates += 1
            log.info("%s (%s to counter %d) already announced; ignoring the replay", label,
                     event.ticket, event.counter)
            return None
        if seen is not None:
            log.warning("%s reused for %s (was %s): did the server restart its sequence?", label,
                        event.ticket, seen[0])
        self._remember(event)
        now = self.clock.now()
        if self.config.stale_after_s and now - event.at > self.config.stale_after_s:
            self.counters.skipped_stale += 1
            log.info("%s (%s to counter %d) is %.0f s old; not announcing", label, event.ticket,
                     event.counter, now - event.at)
            return None
        if self.in_quiet_hours(now):
            self.counters.skipped_quiet += 1
            log.info("quiet hours (%s-%s): not announcing %s, %s to counter %d",
                     self.config.quiet_hours.start, self.config.quiet_hours.end, label,
                     event.ticket, event.counter)
            return None
        self.counters.queued += 1
        return self.worker.submit(request)

    def _remember(self, event: wire.CallEvent) -> None:
        self._seen[event.seq] = (event.ticket, event.counter)
        self._seen.move_to_end(event.seq)
        while len(self._seen) > SEEN_CAPACITY:
            self._seen.popitem(last=False)

    def in_quiet_hours(self, now: float | None = None) -> bool:
        local = local_datetime(self.clock.now() if now is None else now, self.zone)
        return self.config.quiet_hours.contains(local.time())

    # --- health ----------------------------------------------------------------------------

    def health(self) -> wire.Health:
        faults: list[str] = []
        if not self.worker.healthy():
            faults.append("speech_worker_stuck")
        if self.worker.last_ok is False:
            faults.append("announcement_failed")
        c = self.counters
        detail: dict[str, str | int | float | bool | None] = {
            "queue_depth": self.worker.depth,
            "announced": self.worker.spoken,
            "failed": self.worker.failed,
            "received": c.received,
            "dropped": c.dropped,
            "duplicates": c.duplicates,
            "filtered": c.filtered,
            "skipped_quiet": c.skipped_quiet,
            "skipped_stale": c.skipped_stale,
            "cache_hits": self.cache.hits,
            "cache_misses": self.cache.misses,
            "quiet_hours": self.in_quiet_hours(),
            "voice": self.composer.synthesizer.voice.id,
            "last_error": (self.worker.last_error or "")[:200] or None,
        }
        return wire.Health(at=self.clock.now(),
                           uptime_s=max(0.0, self.clock.monotonic() - self._started_at),
                           faults=faults, detail=detail)

    def publish_health(self) -> None:
        if not self.presence.connected.is_set():
            return
        self.presence.publish(self.health_topic, self.health(), retain=True, qos=1)

    def _health_loop(self) -> None:
        while not self._stop.wait(self.config.health_interval_s):
            try:
                self.publish_health()
            except Exception:  # health must never take the announcer down
                log.exception("could not publish health")

    def __repr__(self) -> str:
        return f"<AnnouncerService {self.config.center}/{self.config.device} {self.worker!r}>"
