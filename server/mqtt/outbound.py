"""What the server publishes: the retained streams and the per-event messages.

- ``wire.COUNTER_SERVING`` (retained, one topic per counter): published when what a counter
  shows changes, and all of them again at least every ``stream_interval_s``.
- ``wire.SERVICE_WAIT`` (retained, one topic per service): the wait-time stream (the estimate,
  its 80% interval and that interval in words, as the wall display shows it); published
  when the number waiting or the estimate changes, and at least every ``stream_interval_s``
  (``longest_wait_s`` grows by itself and is refreshed then). Each message's count and estimate
  are of one state of the engine (``service_stats`` reads in one read transaction,
  ``server/engine/views.py``).
- ``wire.CALL`` (not retained) for every ``ticket_call``, ``ticket_recall`` and
  ``ticket_resume`` with the event's ``seq``.
- ``wire.KIOSK_COMMAND`` ``reprint`` to the kiosk that issued a ticket on
  ``ticket_reprint_requested``.

Everything here runs on the link's single worker thread, which reads events in ``seq``
order from the engine's log, so calls go out in the order they were committed.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from qms_common import wire
from qms_common.clock import Clock
from qms_common.wait_words import wait_range_phrase

log = logging.getLogger(__name__)

Publish = Callable[..., bool]  # (topic, message, retain=...) -> published?
CALL_TYPES = frozenset({"ticket_call", "ticket_recall", "ticket_resume"})


class Outbound:
    def __init__(self, engine: Any, clock: Clock, publish: Publish, *, center: str, interval_s: float) -> None:
        self.engine = engine
        self.clock = clock
        self.publish = publish
        self.center = center
        self.interval_s = interval_s
        self._call_seq: dict[int, tuple[str, int]] = {}  # counter -> (ticket id, seq of its call)
        self._sent_counters: dict[int, bytes] = {}
        self._sent_services: dict[str, tuple[int, float]] = {}
        self._last_full: float | None = None
        self.published = 0

    def seed(self) -> None:
        """Remember the call sequence of the tickets counters hold now (after a restart)."""
        for call in reversed(self.engine.recent_calls(limit=200)):
            if call["counter"] is not None:
                self._call_seq[call["counter"]] = (call["ticket_id"], call["seq"])

    def forget(self) -> None:
        """After a reconnect: publish everything again at the next refresh."""
        self._sent_counters.clear()
        self._sent_services.clear()
        self._last_full = None

    # --- events ------------------------------------------------------------------------------
    def on_event(self, event: dict) -> None:
        if event.get("origin_site"):
            return  # a standalone site's event mirrored here: its own server announced it there
        kind = event.get("type")
        if kind in CALL_TYPES:
            self._call(event)
        elif kind == "ticket_reprint_requested":
            self._reprint(event)

    def _call(self, event: dict) -> None:
        counter, code = event.get("counter"), (event.get("data") or {}).get("code")
        if not counter or not code:
            log.warning("call event %s without counter or code", event.get("seq"))
            return
        self._call_seq[counter] = (event["ticket_id"], event["seq"])
        message = wire.CallEvent(seq=event["seq"], ticket=code, counter=counter,
                                 recall=event["type"] != "ticket_call", at=event["at"])
        self._send(wire.CALL.topic(center=self.center), message)

    def _reprint(self, event: dict) -> None:
        device, ticket_id = event.get("device"), event.get("ticket_id")
        if not device or not ticket_id:
            return
        t = self.engine.position(ticket_id)
        info = wire.TicketInfo(
            ticket_id=t["id"], code=t["code"], service=t["service"], priority=bool(t["priority"]),
            issued_at=t["issued_at"], people_ahead=t.get("people_ahead_now", 0),
            estimated_wait_s=max(0.0, t.get("estimated_wait_s") or 0.0),
            status_url=f"{self.engine.config.center.public_url.rstrip('/')}/s/{t['status_token']}",
            offline=t["source"] == "offline")
        command = wire.KioskCommand(action="reprint", ticket=info, request_id=f"reprint-{event['seq']}")
        self._send(wire.KIOSK_COMMAND.topic(center=self.center, device=device), command)

    # --- retained streams ----------------------------------------------------------------------
    def due(self) -> bool:
        """Has ``interval_s`` passed since everything was last published?"""
        return self._last_full is None or self.clock.monotonic() - self._last_full >= self.interval_s

    def refresh(self) -> int:
        """Publish what changed, or everything when ``interval_s`` has passed. Returns how many."""
        mono = self.clock.monotonic()
        full = self.due()
        sent = self._counters(full) + self._services(full)
        if full:
            self._last_full = mono
        return sent

    def _counters(self, full: bool) -> int:
        sent = 0
        for c in self.engine.counters_view():
            ticket = c["ticket"]
            seq = None
            if ticket is not None:
                held = self._call_seq.get(c["number"])
                seq = held[1] if held and held[0] == ticket["id"] else None
            message = wire.CounterServing(
                counter=c["number"], state=c["state"], ticket=ticket["code"] if ticket else None,
                service=ticket["service"] if ticket else None, called_at=ticket["called_at"] if ticket else None,
                call_seq=seq)
            payload = wire.encode(message)
            if full or self._sent_counters.get(c["number"]) != payload:
                if self._send(wire.COUNTER_SERVING.topic(center=self.center, n=c["number"]), message, retain=True):
                    self._sent_counters[c["number"]] = payload
                    sent += 1
        return sent

    def _services(self, full: bool) -> int:
        sent = 0
        now = self.clock.now()
        for s in self.engine.service_stats():  # one state: each message's count and estimate agree
            low, high = (max(0.0, x) for x in s["estimated_wait_range_s"])
            vi, en = s.get("estimated_wait_text") or wait_range_phrase(low, high)[0], \
                s.get("estimated_wait_text_en") or wait_range_phrase(low, high)[1]
            key = (s["waiting"], s["estimated_wait_s"], low, high, vi)
            if not full and self._sent_services.get(s["service"]) == key:
                continue
            message = wire.ServiceWait(service=s["service"], waiting=s["waiting"],
                                       longest_wait_s=max(0.0, s["longest_wait_s"]),
                                       estimated_wait_s=max(0.0, s["estimated_wait_s"]), at=now,
                                       estimated_wait_range_s=[low, high], estimated_wait_text=vi,
                                       estimated_wait_text_en=en)
            if self._send(wire.SERVICE_WAIT.topic(center=self.center, service=s["service"]), message, retain=True):
                self._sent_services[s["service"]] = key
                sent += 1
        return sent

    def _send(self, topic: str, message: wire.Message, *, retain: bool = False) -> bool:
        try:
            ok = self.publish(topic, message, retain=retain)
        except Exception:
            log.exception("publishing %s failed", topic)
            return False
        if ok:
            self.published += 1
        return ok
