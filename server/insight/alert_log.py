"""The log of alerts: when each was raised and when it cleared.

``diff_alerts(active, alerts, now)`` is the pure core: given the alerts active before (by key)
and the alerts now (``Engine.alerts`` plus the counters' overload flags), it says which were
raised and which cleared. An alert's key is what it is about (kind, site, service, counter),
so an alert whose text changes (the minutes grow) is the same alert. :class:`AlertLog` keeps the
active set and the last ``keep`` entries, numbered, for the dashboard and MQTT. Given the
store, each change is also written to the ``alert_log`` table, and the log is read back from it
on first use: after a restart or a power cut the director's log of the day is still there, and
an alert active before keeps its first "since" (it is logged as cleared only once it clears).
"""
from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any, Iterable

KEEP = 500
ENTRY_FIELDS = ("key", "kind", "severity", "site", "service", "counter", "message")


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
        entry = {"key": key, **{k: a.get(k) for k in ENTRY_FIELDS[1:]}}
        entry["severity"] = a.get("severity", 1)
        entry["message"] = a.get("message", "")
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
    """The active alerts and the numbered log of their changes (the last ``keep`` in memory;
    all of them in the store's ``alert_log`` table when a store is given)."""

    def __init__(self, keep: int = KEEP, store: Any = None) -> None:
        self.active: dict[str, dict] = {}
        self.entries: deque[dict] = deque(maxlen=keep)
        self._last_id = 0
        self._store = store
        self._loaded = store is None
        self._lock = threading.Lock()

    @property
    def last_id(self) -> int:
        with self._lock:
            self._load()
            return self._last_id

    def _load(self) -> None:
        """Read the log back from the store, once (under the lock)."""
        if self._loaded:
            return
        conn = self._store.conn()
        rows = conn.execute("SELECT id, data FROM alert_log ORDER BY id DESC LIMIT ?",
                            (self.entries.maxlen,)).fetchall()
        for row in reversed(rows):
            self.entries.append({**json.loads(row[1]), "id": row[0]})
        self._last_id = rows[0][0] if rows else 0
        # active: every key whose latest entry is a raise, however old that raise is
        latest = conn.execute(
            "SELECT a.data FROM alert_log a JOIN (SELECT key, max(id) AS id FROM alert_log GROUP BY key) l "
            "ON a.id = l.id WHERE a.event = 'raised'").fetchall()
        for (data,) in latest:
            entry = json.loads(data)
            self.active[entry["key"]] = {k: entry.get(k) for k in ENTRY_FIELDS} | {"since": entry["since"]}
        self._loaded = True

    def _save(self, changes: list[dict]) -> None:
        def write(conn) -> list[int]:
            ids = []
            for c in changes:
                cur = conn.execute("INSERT INTO alert_log (at, event, key, data) VALUES (?, ?, ?, ?)",
                                   (c["at"], c["event"], c["key"], json.dumps(c, ensure_ascii=False)))
                ids.append(cur.lastrowid)
            return ids
        for c, i in zip(changes, self._store.transact(write)):
            c["id"] = i

    def update(self, alerts: Iterable[dict], now: float) -> list[dict]:
        with self._lock:
            self._load()
            active, changes = diff_alerts(self.active, alerts, now)
            if changes and self._store is not None:
                self._save(changes)      # on disk first: a change the log shows is never lost
            else:
                for i, c in enumerate(changes, start=self._last_id + 1):
                    c["id"] = i
            self.active = active
            for c in changes:
                self._last_id = c["id"]
                self.entries.append(c)
            return changes

    def after(self, last_id: int = 0, limit: int = 200) -> list[dict]:
        with self._lock:
            self._load()
            return [e for e in self.entries if e["id"] > last_id][-limit:]

    def active_list(self) -> list[dict]:
        with self._lock:
            self._load()
            return sorted(self.active.values(), key=lambda a: (-a["severity"], a["since"]))
