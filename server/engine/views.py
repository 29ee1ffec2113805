"""The engine's read side: the event log, the tickets of a day, and the live views every screen,
the API, the dashboard and the MQTT link read (services, counters, calls, alerts, the snapshot).

A mixin of :class:`~server.engine.core.Engine` (like ``CounterControls``, ``Ratings`` and
``OfflineHandover``): it reads ``self.store``, ``self.config``, ``self.clock``, ``self.waits`` and
``self.roster``, and the engine's own reads (``counters``, ``active_services``, ``_ticket_row``,
``counter_notices``, ``handover_alerts``, ``rating_alerts``, ``advisor``). Nothing here writes,
except that a view may be the first operation of a new day (``_roll_day``, before its reads).

Views that cannot lie: a view of several statements (``service_stats``, ``counters_view``,
``alerts``, ``snapshot``) makes all its reads in one read transaction (``_reading``:
``Store.read``, a WAL snapshot on a connection of its own), the inputs of its forecast included
(``WaitEstimator.prepare``), then lets it go and builds its figures: the forecast is played from
those inputs after the transaction (``WaitEstimator.play``; its paths yield to other greenlets,
and a read snapshot held across them kept the WAL from being checkpointed). A ticket committed
while a snapshot is read is not half in it: its ``seq``, counts, calls, estimates and alerts are
all of one state, and the ticket arrives as the event after that ``seq``. The only exception is
deliberate and said: during a burst the live hub's pushes reuse the last forecast of everyone
(``realtime.FORECAST_EVERY_S``); such a snapshot's ``forecast_seq`` is then the earlier state its
estimates are of (else it equals ``seq``).
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Iterator

from qms_common.wait_words import NO_COUNTER, wait_range_phrase

from .alerts import promise_alerts

if TYPE_CHECKING:
    from .waits import Pending


def _event_dicts(rows: list[sqlite3.Row]) -> list[dict]:
    return [{**dict(r), "data": json.loads(r["data"])} for r in rows]


class Views:
    """The read side of the engine (``server/engine/views.py``)."""

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """Inside, every read of the engine is of one committed state: one read transaction
        (``store.conn()`` here is its connection). Re-entrant. Only reads inside: no forecast
        played (``waits.prepare`` reads its inputs), no socket's send, no write (a new day's first
        look closes the last one first: ``_roll_day``, outside the read)."""
        self._roll_day()
        with self.store.read() as conn:
            yield conn

    def events_after(self, seq: int = 0, limit: int = 1000) -> list[dict]:
        rows = self.store.conn().execute("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                                         (seq, limit)).fetchall()
        return _event_dicts(rows)

    def events_of_days(self, first: date, last: date) -> list[dict]:
        """Every event of the tickets issued on days first..last (ticket ids start with the day)."""
        lo, hi = first.strftime("%Y%m%d"), (last + timedelta(days=1)).strftime("%Y%m%d")
        rows = self.store.conn().execute("SELECT * FROM events WHERE ticket_id >= ? AND ticket_id < ? ORDER BY seq",
                                         (lo, hi)).fetchall()
        return _event_dicts(rows)

    def clerk_names(self) -> dict[str, str]:
        """Each clerk's name as a person reads it, by user name: the account's full name (what
        ``qms user add --name`` gave), else the name in the configuration's ``[[clerks]]``; a
        user name with neither (or whose full name is only the user name) is not in the map."""
        names = {c.id: c.name for c in self.config.clerks if c.name}
        for row in self.store.conn().execute("SELECT username, full_name FROM users"):
            if row["full_name"] and row["full_name"] != row["username"]:
                names[row["username"]] = row["full_name"]
        return names

    def last_seq(self) -> int:
        return self.store.conn().execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]

    def tickets(self, *, day: date | None = None, state: str | None = None, service: str | None = None,
                site: str | None = None, limit: int = 500) -> list[dict]:
        self._roll_day()
        sql = "SELECT * FROM tickets WHERE day = ?"
        args: list[Any] = [(day or self.today()).isoformat()]
        for col, val in (("state", state), ("service", service), ("site", site)):
            if val is not None:
                sql += f" AND {col} = ?"
                args.append(val)
        sql += " ORDER BY queue_key LIMIT ?"
        args.append(limit)
        return [dict(r) for r in self.store.conn().execute(sql, args).fetchall()]

    def service_stats(self, site: str | None = None) -> list[dict]:
        """Per service: waiting now, longest wait, estimate for a new ticket, served today, and
        the share within the wait target: today's calls that came within it, against those calls
        and the citizens still waiting who are past it or will be by the estimate."""
        with self._reading():  # a screen may be the first to look after midnight: _roll_day
            read = self._stats_read(site)
        return self._stats_of(read)

    def _stats_read(self, site: str | None, prepared: dict[str, "Pending"] | None = None) -> dict:
        """What ``service_stats`` reads, in the caller's read transaction (the forecasts prepared;
        ``prepared``: those of the same transaction already, per site, not read twice)."""
        now = self.clock.now()
        day = self.today().isoformat()
        conn = self.store.conn()
        target = self.config.targets.max_wait_s
        site_sql, site_args = ("AND site = ?", [site]) if site else ("", [])
        waiting = {r[0]: (r[1], r[2]) for r in conn.execute(
            f"SELECT service, count(*), min(wait_from) FROM tickets WHERE state = 'waiting' {site_sql} "
            "GROUP BY service", site_args).fetchall()}
        served = {r[0]: (r[1], r[2]) for r in conn.execute(
            f"SELECT service, count(*), sum(CASE WHEN first_called_at - issued_at <= ? THEN 1 ELSE 0 END) "
            f"FROM tickets WHERE day = ? AND first_called_at IS NOT NULL {site_sql} GROUP BY service",
            [target, day, *site_args]).fetchall()}
        done = {r[0]: r[1] for r in conn.execute(
            f"SELECT service, count(*) FROM tickets WHERE day = ? AND state = 'done' {site_sql} GROUP BY service",
            [day, *site_args]).fetchall()}
        rows = self.waits.waiting_rows(conn, [site] if site else [s.id for s in self.config.sites])
        open_for = {svc for number, services in conn.execute(
            f"SELECT number, services FROM counters WHERE state != 'closed' {site_sql}", site_args)
            for svc in (json.loads(services) if services else
                        (self.config.counter(number).services if self.config.counter(number) else ()))}
        home = site or self.config.main_site  # the estimate for a new ticket: of this site's forecast
        prepared = {} if prepared is None else prepared
        for s in sorted({home, *rows} - set(prepared)):
            prepared[s] = self.waits.prepare(conn, s, self.roster, now)
        forecasts = {s: prepared[s] for s in sorted({home, *rows})}
        return {"now": now, "target": target, "waiting": waiting, "served": served, "done": done, "rows": rows,
                "open_for": open_for, "home": home, "forecasts": forecasts}

    def _stats_of(self, read: dict) -> list[dict]:
        """``service_stats`` from what ``_stats_read`` read, its forecasts played (no transaction open)."""
        now = read["now"]
        played = {s: self.waits.play(p) for s, p in read["forecasts"].items()}
        late = self.waits.late_counts(read["rows"], played, now, read["target"])
        waiting, served, done, open_for = read["waiting"], read["served"], read["done"], read["open_for"]
        out = []
        for svc in self.config.services:
            n, oldest = waiting.get(svc.code, (0, None))
            called, within = served.get(svc.code, (0, 0))
            past, will_be = late.get(svc.code, (0, 0))
            e = self.waits.new_estimate(played[read["home"]], svc.code, False, now)
            est, low, high = e.wait_s, e.low_s, e.high_s
            # no counter will call it today as things stand, and none serving it is open or paused now
            words = NO_COUNTER if e.called_share == 0 and svc.code not in open_for else wait_range_phrase(low, high)
            out.append({
                "service": svc.code, "name": svc.name, "name_en": svc.name_en, "waiting": n,
                "longest_wait_s": round(max(0.0, now - oldest), 1) if oldest else 0.0,
                "estimated_wait_s": round(est, 1),
                "estimated_wait_range_s": [round(low, 1), round(high, 1)],
                "estimated_wait_text": words[0],
                "estimated_wait_text_en": words[1],
                "served_today": done.get(svc.code, 0),
                "called_today": called,
                # the headline: who is still waiting past the target, or will be by the estimate,
                # counts against it before the damage is done
                "waiting_past_target": past,
                "waiting_will_pass_target": will_be,
                "within_target_share": round(within / (called + will_be), 3) if called + will_be else None,
            })
        return out

    def recent_calls(self, limit: int = 10, site: str | None = None) -> list[dict]:
        """The last calls, newest first; with ``site``, only its counters' calls."""
        counters = [c.number for c in self.config.counters if site is None or c.site == site]
        marks = ",".join("?" * len(counters))
        rows = self.store.conn().execute(
            "SELECT seq, at, type, ticket_id, counter, data FROM events WHERE type IN "
            f"('ticket_call', 'ticket_recall', 'ticket_resume') AND counter IN ({marks}) ORDER BY seq DESC LIMIT ?",
            (*counters, limit)).fetchall()
        return [{"seq": r["seq"], "at": r["at"], "ticket_id": r["ticket_id"], "counter": r["counter"],
                 "code": json.loads(r["data"]).get("code"), "recall": r["type"] != "ticket_call"} for r in rows]

    def counters_view(self) -> list[dict]:
        with self._reading():
            return self._counters_view()

    def _counters_view(self) -> list[dict]:
        now = self.clock.now()
        conn = self.store.conn()
        out = []
        notices = self.counter_notices()
        names = self.clerk_names()
        for c in self.counters():
            ticket = self._ticket_row(conn, c["ticket_id"]) if c["ticket_id"] else None
            out.append({
                "number": c["number"], "site": c["site"], "state": c["state"], "clerk": c["clerk"],
                "clerk_name": names.get(c["clerk"]) if c["clerk"] else None,
                "services": self.active_services(c), "since": c["since"],
                "trained": self.config.trained(c["clerk"], c["number"]) if c["clerk"] else [],
                "notice": notices.get(c["number"]) if c["state"] != "closed" else None,
                "ticket": None if ticket is None else {
                    "id": ticket["id"], "code": ticket["code"], "service": ticket["service"],
                    "state": ticket["state"], "called_at": ticket["called_at"],
                    "started_at": ticket["started_at"], "priority": bool(ticket["priority"]),
                    "waited_s": round(max(0.0, (ticket["first_called_at"] or now) - ticket["wait_from"]), 1),
                    "in_hand_s": round(max(0.0, now - (ticket["called_at"] or now)), 1),
                },
            })
        return out

    def snapshot(self, site: str | None = None, *, calls: int = 10) -> dict:
        """Everything a screen needs to be right at once, all of the one state of event sequence
        ``seq`` (read in one read transaction: a ticket committed meanwhile is the event after
        ``seq``); ``forecast_seq``: the state the estimates are of, ``seq`` but in a burst's push
        (module docstring); ``calls``: how many of the last calls."""
        with self._reading():
            seq = self.last_seq()
            counters = [c for c in self._counters_view() if site is None or c["site"] == site]
            prepared: dict[str, "Pending"] = {}  # each site's forecast prepared once for the whole snapshot
            stats = self._stats_read(site, prepared)
            recent = self.recent_calls(calls, site=site)
            alerts_read = self._alerts_read(site, counters, own_stats=bool(site), prepared=prepared)
        services = self._stats_of(stats)
        alerts = self._alerts_of(alerts_read, services)
        return {
            "seq": seq,
            "forecast_seq": min((p.seq for p in prepared.values()), default=seq),
            "at": self.clock.now(),
            "center": {"id": self.config.center.id, "name": self.config.center.name,
                       "name_en": self.config.center.name_en, "timezone": self.config.center.timezone},
            "counters": counters,
            "services": services,
            "recent_calls": recent,
            "alerts": alerts,
        }

    def alerts(self, site: str | None = None, *, services: list[dict] | None = None,
               counters: list[dict] | None = None) -> list[dict]:
        """The 15/30-minute promise's alerts, per site (a satellite's counters cannot help the
        main center's queue), the most urgent first."""
        with self._reading():
            read = self._alerts_read(site, counters, own_stats=bool(site and services is not None))
        return self._alerts_of(read, services)

    def _alerts_read(self, site: str | None, counters: list[dict] | None, *, own_stats: bool,
                     prepared: dict[str, "Pending"] | None = None) -> dict:
        """What ``alerts`` reads, in the caller's read transaction; ``own_stats``: the caller has
        the services' figures of ``site`` (else they are read here for each site)."""
        sites = [site] if site else [s.id for s in self.config.sites]
        return {"site": site, "sites": sites, "now": self.clock.now(),
                "stats": {} if own_stats else {sid: self._stats_read(sid, prepared) for sid in sites},
                "counters": counters if counters is not None else self._counters_view(),
                # printed tickets the hand-over could not place: the same on every site's screens
                "handover": self.handover_alerts(),
                # a citizen who said "Không hài lòng" today, until the director marks it dealt with
                "ratings": self.rating_alerts()}

    def _alerts_of(self, read: dict, services: list[dict] | None) -> list[dict]:
        """``alerts`` from what ``_alerts_read`` read (the advice's texts, made at most once a
        minute, read by the advisor itself)."""
        sites, now = read["sites"], read["now"]
        names = {s.id: s.name for s in self.config.sites}
        out: list[dict] = []
        for sid in sites:
            stats = self._stats_of(read["stats"][sid]) if sid in read["stats"] else services
            own = [c for c in read["counters"] if c["site"] == sid]
            urgent = any(s["waiting"] and (s["longest_wait_s"] > self.config.targets.max_wait_s - 300
                                           or s["estimated_wait_s"] > self.config.targets.max_wait_s) for s in stats)
            advice = self.advisor.texts(sid) if urgent else None
            for alert in promise_alerts(self.config, stats, own, now, self._held_alerts.setdefault(sid, {}),
                                        advice, rule=self.alert_rule):
                alert["site"] = sid
                if len(sites) > 1:
                    alert["message"] = f"{names[sid]} · {alert['message']}"
                out.append(alert)
        out += read["handover"] + read["ratings"]
        out.sort(key=lambda a: (-a["severity"], -(a["longest_wait_s"] or 0)))
        return out

