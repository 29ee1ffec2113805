"""The log of alerts: when each was raised and when it cleared.

``diff_alerts(active, alerts, now)`` is the pure core: given the alerts active before (by key)
and the alerts now (``Engine.alerts`` plus the counters' overload flags), it says which were
raised and which cleared. An alert's key is what it is about (kind, site, service, counter),
so an alert whose text changes (the minutes grow) is the same alert. :class:`AlertLog` keeps the
active set and the last ``keep`` entries, numbered, for the dashboard and MQTT.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Iterable

KEEP = 500


def alert_key(a: dict[str, Any]) -> str:
    if a.get("id") is not None and a.get("kind") in ("low_rating", "handover_review", "handover_refused"):
        return f"{a['kind']}:{a['id']}"
    return f"{a.get('kind')}:{a.get('site') or ''}:{a.get('service') or ''}:{a.get('counter') or ''}"


def diff_alerts(active: dict[str, dict], alerts: Iterable[dict], now: float) -> tuple[dict[str, dict], list[dict]]:
    """The new active set and the changes: ``{"event": "raised"|"cleared", ...}``."""
    current: dict[str, dict] = {}
    for a in alerts:
        current.setdefault(alert_key(a), a)
    changes = []
    new_active: dict[str, dict] = {}
    for key, a in current.items():
        entry = {"key": key, "kind": a.get("kind"), "severity": a.get("severity", 1), "site": a.get("site"),
                 "service": a.get("service"), "counter": a.get("counter"), "message": a.get("message", "")}
        if key in active:
            new_active[key] = {**active[key], "message": entry["message"], "severity": entry["severity"]}
        else:
            new_active[key] = {**entry, "since": now}
            changes.append({**entry, "event": "raised", "at": now, "since": now})
    for key, old in active.items():
        if key not in current:
            changes.append({**old, "event": "cleared", "at": now, "duration_s": round(now - old["since"], 1)})
    return new_active, changes


class AlertLog:
    """The active alerts and the numbered log of their changes (in memory, bounded)."""

    def __init__(self, keep: int = KEEP) -> None:
        self.active: dict[str, dict] = {}
        self.entries: deque[dict] = deque(maxlen=keep)
        self.last_id = 0
        self._lock = threading.Lock()

    def update(self, alerts: Iterable[dict], now: float) -> list[dict]:
        with self._lock:
            self.active, changes = diff_alerts(self.active, alerts, now)
            for c in changes:
                self.last_id += 1
                c["id"] = self.last_id
                self.entries.append(c)
            return changes

    def after(self, last_id: int = 0, limit: int = 200) -> list[dict]:
        with self._lock:
            return [e for e in self.entries if e["id"] > last_id][-limit:]

    def active_list(self) -> list[dict]:
        with self._lock:
            return sorted(self.active.values(), key=lambda a: (-a["severity"], a["since"]))
