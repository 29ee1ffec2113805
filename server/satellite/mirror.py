"""The main center's side of a standalone site: its events, applied once each and in order.

A satellite ships its own event log (``seq`` 1, 2, 3 ... of its database) in batches. For each
site the main center keeps the last origin seq it applied (``site_cursors``). In one durable
transaction per batch, an event at or below the cursor is a duplicate (a batch resent after a
lost answer: skipped), the next one (cursor + 1) is appended to the main center's events with
its origin (``origin_site``, ``origin_seq``, unique) and applied to the live tables as the
satellite's engine did, and anything after a gap is left for the satellite to send again
(the answer says ``through``: where to start). So nothing is lost, nothing counted twice, and
the order is the satellite's. Listeners hear the applied events after the commit: the
director's dashboard at the main center moves live; the MQTT link does not announce them
(events with ``origin_site`` were announced at their own site).
"""
from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from qms_common.errors import Forbidden, NotFound, QmsError

# transitions that free the counter that held the ticket (as Engine._apply does)
_RELEASE = {"ticket_transfer", "ticket_finish", "ticket_no_show", "ticket_cancel", "ticket_abandon", "ticket_park"}
_CALLS = {"ticket_call", "ticket_recall", "ticket_resume"}
_COUNTER_STATES = {"counter_signed_in": "open", "counter_paused": "paused", "counter_resumed": "open",
                   "counter_signed_out": "closed"}


class Mirror:
    """Receives the events of the standalone sites of ``engine``'s center."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def _check_site(self, site: str) -> None:
        if site not in {s.id for s in self.engine.config.sites}:
            raise NotFound(f"Không có điểm tiếp nhận '{site}'; unknown site {site!r}", site=site)
        if site not in self.engine.config.remote_sites:
            raise Forbidden(f"Điểm {site} không chạy độc lập (standalone) trong cấu hình của trung tâm; site "
                            f"{site!r} is not a standalone site in the center file", site=site)

    def cursor(self, site: str) -> dict:
        """``{site, through, updated_at}``: the last origin seq applied for ``site``."""
        self._check_site(site)
        conn = self.engine.store.conn()
        row = conn.execute("SELECT last_seq, updated_at FROM site_cursors WHERE site = ?", (site,)).fetchone()
        through = row[0] if row else 0
        last = conn.execute("SELECT at FROM events WHERE origin_site = ? AND origin_seq = ?", (site, through)).fetchone()
        return {"site": site, "through": through, "updated_at": row[1] if row else None,
                "last_event_at": last[0] if last else None}

    def cursors(self) -> list[dict]:
        """Every standalone site's cursor, with its name (the dashboard's link line)."""
        names = {s.id: s.name for s in self.engine.config.sites}
        return [{**self.cursor(s), "name": names[s]} for s in sorted(self.engine.config.remote_sites)]

    def receive(self, site: str, events: list[dict]) -> dict:
        """Apply a batch (ordered by ``seq``); answer ``{through, applied, duplicates, gap_at}``."""
        self._check_site(site)
        applied: list[dict] = []
        counts = {"duplicates": 0, "gap_at": None}
        now = self.engine.clock.now()

        def work(conn: sqlite3.Connection) -> int:
            applied.clear()
            counts.update(duplicates=0, gap_at=None)
            row = conn.execute("SELECT last_seq FROM site_cursors WHERE site = ?", (site,)).fetchone()
            through = row[0] if row else 0
            for event in sorted(events, key=lambda e: e["seq"]):
                seq = event["seq"]
                if seq <= through:
                    counts["duplicates"] += 1
                    continue
                if seq != through + 1:
                    counts["gap_at"] = through + 1
                    break
                try:
                    applied.append(self._append(conn, site, event))
                    self._apply(conn, event)
                except (KeyError, TypeError, ValueError, AttributeError, sqlite3.Error) as exc:
                    raise QmsError(f"Sự kiện số {seq} của điểm {site} không hợp lệ, không nhận lô này; event {seq} "
                                   f"of site {site!r} is malformed ({type(exc).__name__}: {exc}): batch refused",
                                   seq=seq, site=site) from exc
                through = seq
            conn.execute("INSERT INTO site_cursors (site, last_seq, updated_at) VALUES (?, ?, ?) ON CONFLICT (site) "
                         "DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at",
                         (site, through, now))
            return through

        through = self.engine.store.transact(work)
        self.engine._emit(applied)  # noqa: SLF001 - the engine's listeners, after the commit
        return {"site": site, "through": through, "applied": len(applied), **counts}

    @staticmethod
    def _append(conn: sqlite3.Connection, site: str, e: dict) -> dict:
        data = e.get("data") or {}
        seq = conn.execute(
            "INSERT INTO events (at, type, ticket_id, counter, actor, device, data, origin_site, origin_seq) "
            "VALUES (?,?,?,?,?,?,?,?,?) RETURNING seq",
            (e["at"], e["type"], e.get("ticket_id"), e.get("counter"), e.get("actor"), e.get("device"),
             json.dumps(data, ensure_ascii=False, sort_keys=True), site, e["seq"])).fetchone()[0]
        return {"seq": seq, "at": e["at"], "type": e["type"], "ticket_id": e.get("ticket_id"),
                "counter": e.get("counter"), "actor": e.get("actor"), "device": e.get("device"), "data": data,
                "origin_site": site, "origin_seq": e["seq"]}

    @staticmethod
    def _apply(conn: sqlite3.Connection, e: dict) -> None:
        """The live tables as the satellite's engine left them after this event."""
        kind, data, tid, at, n = e["type"], e.get("data") or {}, e.get("ticket_id"), e["at"], e.get("counter")
        if kind == "ticket_issued":
            conn.execute(
                "INSERT INTO tickets (id, day, service, prefix, number, code, priority, site, state, issued_at, "
                "queue_key, wait_from, source, device, client_ref, status_token, predicted_wait_s, people_ahead) "
                "VALUES (?,?,?,?,?,?,?,?,'waiting',?,?,?,?,?,NULL,?,?,?) ON CONFLICT (id) DO NOTHING",
                (tid, data["day"], data["service"], data["code"].rsplit("-", 1)[0], data["number"], data["code"],
                 int(bool(data.get("priority"))), data["site"], data["issued_at"], data["issued_at"],
                 data["issued_at"], data.get("source", "kiosk"), e.get("device"), secrets.token_urlsafe(16),
                 data.get("predicted_wait_s"), data.get("people_ahead")))
            return
        if kind in _COUNTER_STATES and n is not None:
            state = _COUNTER_STATES[kind]
            services = json.dumps(data["services"]) if kind == "counter_signed_in" and "services" in data else None
            if kind == "counter_signed_in":
                conn.execute("UPDATE counters SET state = 'open', clerk = ?, since = ?, services = ? WHERE number = ?",
                             (e.get("actor"), at, services, n))
            else:
                conn.execute("UPDATE counters SET state = ?, since = ?, clerk = CASE WHEN ? = 'closed' THEN NULL "
                             "ELSE clerk END WHERE number = ?", (state, at, state, n))
            return
        if kind == "ticket_print_result" and tid:
            conn.execute("UPDATE tickets SET printed = ?, print_fault = ? WHERE id = ?",
                         (int(bool(data.get("printed"))), None if data.get("printed") else data.get("fault") or "error",
                          tid))
            return
        if not (kind.startswith("ticket_") and "to" in data and tid):
            return  # ratings, reprints, hand-over notes: in the event log only, as at the satellite
        row = conn.execute("SELECT recalls, transfers FROM tickets WHERE id = ?", (tid,)).fetchone()
        if row is None:
            return
        sets: dict[str, Any] = {"state": data["to"]}
        if kind in _CALLS:
            sets.update(called_at=at, counter=n, clerk=e.get("actor"))
            conn.execute("UPDATE tickets SET first_called_at = ? WHERE id = ? AND first_called_at IS NULL", (at, tid))
            if kind == "ticket_recall":
                sets["recalls"] = row["recalls"] + 1
        elif kind == "ticket_start":
            sets["started_at"] = at
        elif kind == "ticket_finish":
            sets["finished_at"] = at
        elif kind == "ticket_transfer":
            sets.update(service=data.get("service"), target_counter=data.get("to_counter"), wait_from=at,
                        transfers=row["transfers"] + 1, counter=None, clerk=None, called_at=None, started_at=None)
        elif kind == "ticket_requeue":
            sets.update(wait_from=at, counter=None, clerk=None)
        elif kind in ("ticket_cancel", "ticket_abandon"):
            sets.update(finished_at=at, reason=data.get("reason") or None)
        if kind in _RELEASE:
            conn.execute("UPDATE counters SET ticket_id = NULL WHERE ticket_id = ?", (tid,))
        if kind in _CALLS:
            conn.execute("UPDATE counters SET ticket_id = ? WHERE number = ?", (tid, n))
        assignments = ", ".join(f"{k} = ?" for k in sets)
        conn.execute(f"UPDATE tickets SET {assignments} WHERE id = ?", (*sets.values(), tid))
