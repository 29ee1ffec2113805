"""What the server publishes for the province about the director's view (``server/insight/``).

- ``wire.COUNTER_OVERLOAD`` (retained, one topic per counter): the overload flag and its
  reasons, when it changes and all counters again every ``stream_interval_s``;
- ``wire.ALERTS`` (retained): the alerts active now, when the set or a message changes, and
  again every ``stream_interval_s``;
- ``wire.ALERT_EVENT`` (not retained): each alert raised or cleared, as the dashboard's log;
- ``wire.CONTROL_CHANGE`` (not retained): each ``counter_control_applied`` /
  ``counter_control_undone`` event (the director's changes from the dashboard), with its ``seq``.

Runs on the MQTT link's worker thread, like ``outbound.py``.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from qms_common import wire
from qms_common.clock import Clock

log = logging.getLogger(__name__)

CONTROL_TYPES = {"counter_control_applied": "applied", "counter_control_undone": "undone"}
QUIET_EVERY_S = 5.0   # without new events, look again this often (waits grow by themselves)
MAX_ALERTS = 20
MAX_TEXT = 400


def _alert(a: dict) -> wire.ActiveAlert:
    return wire.ActiveAlert(key=str(a["key"])[:120], kind=str(a.get("kind") or "")[:40],
                            severity=max(0, min(9, int(a.get("severity") or 0))), site=a.get("site"),
                            service=a.get("service"), counter=a.get("counter"),
                            message=str(a.get("message") or "")[:MAX_TEXT], since=float(a["since"]))


class InsightOutbound:
    def __init__(self, watch: Any, clock: Clock, publish: Callable[..., bool], *, center: str,
                 interval_s: float) -> None:
        self.watch = watch
        self.clock = clock
        self.publish = publish
        self.center = center
        self.interval_s = interval_s
        self._sent_overload: dict[int, bytes] = {}
        self._sent_alerts: bytes | None = None
        self._last_full: float | None = None
        self._last_look: float | None = None
        self._log_id: int | None = None   # the alert log read so far (None: from now on)

    def forget(self) -> None:
        self._sent_overload.clear()
        self._sent_alerts = None
        self._last_full = None

    def on_event(self, event: dict) -> None:
        what = CONTROL_TYPES.get(event.get("type", ""))
        if what is None:
            return
        data = event.get("data") or {}
        counter = data.get("counter", event.get("counter"))
        message = wire.ControlChange(seq=event["seq"], event=what, change_id=data.get("change_id"),
                                     counter=counter if isinstance(counter, int) else None,
                                     action=str(data["action"])[:60] if data.get("action") is not None else None,
                                     before=data.get("before"), after=data.get("after"),
                                     by=str(data.get("by") or event.get("actor") or "")[:80] or None, at=event["at"])
        self._send(wire.CONTROL_CHANGE.topic(center=self.center), message)

    def refresh(self, events: bool) -> int:
        """Look at the alerts and flags (after new events, else every few seconds) and publish."""
        mono = self.clock.monotonic()
        full = self._last_full is None or mono - self._last_full >= self.interval_s
        if not (events or full or self._last_look is None or mono - self._last_look >= QUIET_EVERY_S):
            return 0
        self._last_look = mono
        obs = self.watch.observe()
        sent = 0
        if self._log_id is None:            # a restart: what was raised before is in the retained state
            self._log_id = max(0, self.watch.log.last_id - len(obs["changes"]))
        for change in self.watch.log.after(self._log_id, limit=500):
            self._log_id = change["id"]
            msg = wire.AlertEvent(id=change["id"], event=change["event"], alert=_alert(change), at=change["at"],
                                  duration_s=change.get("duration_s"))
            sent += self._send(wire.ALERT_EVENT.topic(center=self.center), msg)
        now = self.clock.now()
        active = obs["active"]
        state = wire.AlertsState(alerts=[_alert(a) for a in active[:MAX_ALERTS]],
                                 more=max(0, len(active) - MAX_ALERTS), at=now)
        mark = wire.encode(state.model_copy(update={"at": 0.0}))
        if full or mark != self._sent_alerts:
            if self._send(wire.ALERTS.topic(center=self.center), state, retain=True):
                self._sent_alerts = mark
                sent += 1
        for c in obs["overload"]:
            flags = [wire.OverloadFlag(kind=f["kind"], service=f.get("service"), seconds=f.get("seconds"),
                                       message=f["message"][:MAX_TEXT]) for f in c["flags"][:10]]
            msg = wire.CounterOverload(counter=c["counter"], site=c["site"], state=c["state"],
                                       overloaded=c["overloaded"], flags=flags, at=now)
            mark = wire.encode(msg.model_copy(update={"at": 0.0, "flags": [f.model_copy(update={"seconds": None})
                                                                             for f in flags]}))
            if full or self._sent_overload.get(c["counter"]) != mark:
                if self._send(wire.COUNTER_OVERLOAD.topic(center=self.center, n=c["counter"]), msg, retain=True):
                    self._sent_overload[c["counter"]] = mark
                    sent += 1
        if full:
            self._last_full = mono
        return sent

    def _send(self, topic: str, message: wire.Message, *, retain: bool = False) -> bool:
        try:
            return bool(self.publish(topic, message, retain=retain))
        except Exception:
            log.exception("publishing %s failed", topic)
            return False
