"""What the forecast starts from: the engine's state now, read into a :class:`~server.engine.forecast.Snapshot`.

``StateReader`` reads the live tables of one site as the pure forecaster (``forecast.py``) takes
them, and nothing the server cannot know (never a citizen's future service time): who waits in
which queue and since when (``waiting``: the list kept between reads and brought up to date from
the events since), each counter's clerk, priority count and ticket in hand with how long it has
lasted, when each counter works for the rest of the day and from which services in which order
(``windows``), and the citizens still to come (arrival rates by half hour from earlier days,
scaled by today's load, or cold today's recent rate). ``WaitEstimator`` (``waits.py``) asks it
for a snapshot before each forecast.

When each counter works comes from the day's roster (``Engine.roster``: the simulator sets it from
the staff file) or, without one, from the configured hours: counters open now work until lunch
and from the end of lunch to closing; before opening every configured counter is expected. A
roster row is worked as the engine and the simulator will live it: a row that has begun with its
clerk signed in from the services the counter has now (a director's change kept through a
break); a row whose clerk has not signed in yet, the counter closed or held by the previous row's
clerk finishing a citizen, and every row ahead, from the row's own services, with its own clerk's
times and the priority count from 0 (that clerk signs in: the simulator signs out at a row's
end), after the citizen in hand (``docs/queue-rules.md``, "When counters work").
"""
from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta

from qms_common.clock import local_datetime, local_timestamp

from ..config import CenterConfig
from .forecast import CounterNow, InHand, Shift, Snapshot, WaitingTicket

SLOT_S = 1800.0          # arrival rates by half hour of the day
AHEAD_S = 3 * 3600.0     # arrivals are forecast this far ahead
RECENT_S = 1800.0        # without history, today's rate over the last half hour
PAUSE_GUESS_S = 300.0   # a paused counter (a break not in the roster) is expected back after this
AFTER_CLOSE_S = 1800.0  # without a roster, counters serve who still waits this long after closing
WAITING_DELTA_MAX = 500  # more events than this since the kept list: read everyone again
_WAITING_SQL = ("SELECT id, service, priority, queue_key, wait_from, target_counter FROM tickets "
                "WHERE state = 'waiting' AND site = ?")


def _waiting_ticket(row) -> WaitingTicket:
    """A row of ``_WAITING_SQL`` as the forecast reads it."""
    return WaitingTicket(row[0], row[1], bool(row[2]), row[3], row[4], row[5])


def _signed_in(row: Shift, clerk: str | None) -> bool:
    """Whether the counter's clerk now is the roster row's (None: a counter open without one)."""
    return clerk is None or clerk == row.clerk


def _taking_over(roster: list[Shift] | None, number: int, state: str, clerk: str | None, now: float
                 ) -> Shift | None:
    """The roster row on now at counter ``number`` whose clerk has not signed in yet, the counter
    being held by another (the previous row's, finishing the citizen in hand: the engine refuses a
    second clerk's sign-in until the first signs out, and a sign-out with a citizen in hand; the
    simulator signs the row's clerk in as soon as the service ends)."""
    if roster is None or state == "closed":
        return None
    row = next((s for s in roster if s.counter == number and s.start <= now < s.end), None)
    return None if row is None or _signed_in(row, clerk) else row


class StateReader:
    """Snapshots of one center's state for the forecast; keeps, per site, who waited as of an
    event sequence (``waiting``) and, per day, the arrival profile of the earlier days."""

    def __init__(self, config: CenterConfig, history_days: int) -> None:
        self.config = config
        self.history_days = history_days
        self._profile: tuple[str, dict[str, tuple[int, dict]]] | None = None
        # per site: who waited, by ticket id, as of an event sequence (``waiting``)
        self._waiting_seen: dict[str, tuple[int, dict[str, WaitingTicket]]] = {}

    def windows(self, number: int, state: str, roster: list[Shift] | None, active: tuple[str, ...],
                now: float, day: date, clerk: str | None = None) -> tuple[tuple[float, float, tuple[str, ...]], ...]:
        """When counter ``number`` (in ``state``, ``clerk`` signed in, calling from ``active`` now)
        calls for the rest of the day: (start, end, services in order), from the roster's rows or,
        without a roster, the configured hours."""
        return self.working(number, state, roster, active, now, day, clerk)[0]

    def working(self, number: int, state: str, roster: list[Shift] | None, active: tuple[str, ...],
                now: float, day: date, clerk: str | None = None) -> tuple[tuple, tuple]:
        """``windows`` and, with a roster, who calls in each of them: (clerk, whether the window
        begins with a sign-in, the priority count from 0); () without a roster (the clerk signed
        in now throughout, the count carried: ``CounterNow.window_clerks``)."""
        if roster is not None:
            rows = sorted((s for s in roster if s.counter == number and s.end > now), key=lambda s: s.start)
            out, who = [], []
            for s in rows:
                start = max(s.start, now)
                services = s.services
                if s.start <= now and state in ("open", "paused") and _signed_in(s, clerk):
                    # the engine calls on resume from the services it had (a change kept through a
                    # break), with the clerk signed in and the priority count they have
                    services = active
                    if state == "paused":
                        start = now + PAUSE_GUESS_S
                    mine = (clerk, False)
                else:
                    # the row's own services from now: the counter is closed (its clerk signs in
                    # now), or still held by the previous row's clerk finishing a citizen (the row's
                    # clerk signs in once that one ends: the path plays the service in hand first);
                    # or a row ahead (the simulator signs out at a row's end, in at the next's
                    # start). Its own clerk calls, the priority count from 0 (a sign-out resets it)
                    mine = (s.clerk, True)
                if start < s.end:
                    out.append((start, s.end, services))
                    who.append(mine)
            return tuple(out), tuple(who)
        hours = self.config.hours
        tz = self.config.tz
        opens = local_timestamp(day, hours.opens, tz)
        closes = local_timestamp(day, hours.closes, tz) + AFTER_CLOSE_S
        spans = [(opens, closes)]
        if hours.lunch:
            spans = [(opens, local_timestamp(day, hours.lunch[0], tz)), (local_timestamp(day, hours.lunch[1], tz), closes)]
        if not hours.enforce and not opens <= now < closes and state != "closed":
            # a center that issues at any hour (hours.enforce = false: a demo, an evening session):
            # a counter open outside the hours works on, as far as the forecast looks
            spans = [(now, now + 2 * AHEAD_S)]
        if state == "closed" and now >= opens:
            return (), ()
        start_at = now + PAUSE_GUESS_S if state == "paused" else now
        out = tuple((max(a, start_at), b, active) for a, b in spans if b > max(a, start_at))
        if not out and state == "open" and now >= opens:
            # still open after hours: it is serving who waits, expected to go on a while yet
            out = ((now, now + AFTER_CLOSE_S, active),)
        return out, ()

    def waiting(self, conn: sqlite3.Connection, site: str) -> list[WaitingTicket]:
        """Who waits at ``site``, in no particular order (the forecast sorts them).

        With a thousand waiting, reading them all was most of the cost of the estimate printed on
        each ticket (docs/performance.md, section 8). So the last list read outside a transaction
        is kept with the event sequence it reflects, and the next read re-reads only the tickets
        that events since then name: every change of a ticket's place in a queue is an event of
        that ticket, written in the same transaction (the live tables are rebuilt from the events:
        ``engine/replay.py``). The count of those waiting, from the index, must then agree, or
        everyone is read again. A list read inside a write transaction is not kept: it may see
        writes that are rolled back."""
        cur = conn.cursor()
        cur.row_factory = None  # plain tuples
        seq = cur.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        kept = self._waiting_seen.get(site)
        by_id = None
        if kept is not None and 0 <= seq - kept[0] <= WAITING_DELTA_MAX:
            by_id = dict(kept[1])
            changed = [r[0] for r in cur.execute("SELECT DISTINCT ticket_id FROM events WHERE seq > ? "
                                                 "AND ticket_id IS NOT NULL", (kept[0],))]
            for i in range(0, len(changed), 500):
                chunk = changed[i:i + 500]
                for tid in chunk:
                    by_id.pop(tid, None)
                marks = ",".join("?" * len(chunk))
                for r in cur.execute(f"{_WAITING_SQL} AND id IN ({marks})", (site, *chunk)):
                    by_id[r[0]] = _waiting_ticket(r)
            count = cur.execute("SELECT count(*) FROM tickets WHERE state = 'waiting' AND site = ?",
                                (site,)).fetchone()[0]
            if count != len(by_id):  # a change without its event (never expected): read everyone
                by_id = None
        if by_id is None:
            by_id = {r[0]: _waiting_ticket(r) for r in cur.execute(_WAITING_SQL, (site,))}
        if not conn.in_transaction:
            self._waiting_seen[site] = (seq, by_id)
        return list(by_id.values())

    def snapshot(self, conn: sqlite3.Connection, site: str, roster: list[Shift] | None, now: float) -> Snapshot:
        """The state of ``site`` at ``now`` as the forecast reads it."""
        day = local_datetime(now, self.config.tz).date()
        waiting = self.waiting(conn, site)
        rows = {r["number"]: r for r in conn.execute(
            "SELECT c.number, c.state, c.clerk, c.priority_in_row, c.services, t.service AS t_service, "
            "t.state AS t_state, t.called_at, t.started_at FROM counters c LEFT JOIN tickets t ON t.id = c.ticket_id "
            "WHERE c.site = ?", (site,))}
        counters = []
        for conf in self.config.counters:
            r = rows.get(conf.number)
            if conf.site != site or r is None:
                continue
            active = tuple(json.loads(r["services"])) if r["services"] and r["state"] != "closed" else tuple(conf.services)
            in_hand = None
            if r["t_service"] is not None and r["t_state"] in ("called", "serving"):
                serving = r["t_state"] == "serving"
                since = r["started_at"] if serving else r["called_at"]
                in_hand = InHand(r["t_service"], serving, max(0.0, now - (since or now)))
            clerk, in_row = r["clerk"], r["priority_in_row"]
            coming = _taking_over(roster, conf.number, r["state"], clerk, now)
            if coming is not None:
                # every call from now on is the next clerk's, the priority count from 0 (a new
                # sign-in); a citizen in hand still walking is timed as the next clerk's too
                clerk, in_row = coming.clerk, 0
            windows, who = self.working(conf.number, r["state"], roster, active, now, day, r["clerk"])
            counters.append(CounterNow(conf.number, clerk, in_row, in_hand, windows, who))
        services = [s.code for s in self.config.services]
        n_days, arrivals = self._arrivals(conn, site, now, day, counters)
        return Snapshot(now, waiting, counters, self.config.calling, self.config.priority, services, arrivals,
                        history_days=n_days)

    # --- citizens still to come ---------------------------------------------------------------
    def _history_profile(self, conn: sqlite3.Connection, site: str, day: date) -> tuple[int, dict]:
        """(days of history, {(service, priority): [tickets per half hour of the day]})."""
        key = day.isoformat()
        if self._profile is None or self._profile[0] != key:
            self._profile = (key, {})
        cache = self._profile[1]
        if site not in cache:
            first = (day - timedelta(days=self.history_days)).isoformat()
            counts: dict[tuple[str, bool], list[int]] = {}
            days = set()
            slots = int(86400 / SLOT_S)
            for service, prio, issued, d in conn.execute(
                    "SELECT service, priority, issued_at, day FROM tickets WHERE day >= ? AND day < ? AND site = ?",
                    (first, key, site)):
                days.add(d)
                sod = local_datetime(issued, self.config.tz)
                k = int((sod.hour * 3600 + sod.minute * 60 + sod.second) / SLOT_S)
                counts.setdefault((service, bool(prio)), [0] * slots)[min(k, slots - 1)] += 1
            cache[site] = (len(days), counts)
        return cache[site]

    def _arrivals(self, conn: sqlite3.Connection, site: str, now: float, day: date, counters) -> tuple[int, list]:
        """(the earlier days they were learned from, 0 if cold; the arrival streams)."""
        tz = self.config.tz
        midnight = local_timestamp(day, "00:00", tz)
        opens = local_timestamp(day, self.config.hours.opens, tz)
        closes = local_timestamp(day, self.config.hours.closes, tz)
        end = min(closes, now + AHEAD_S) if self.config.hours.enforce or now < closes else now + AHEAD_S
        n_days, profile = self._history_profile(conn, site, day)
        if end <= now:
            return n_days, []
        span = min(RECENT_S, max(now - opens, 900.0))
        since = now - span
        # per (service, priority class): tickets issued today, and those in the last ``span``; in
        # the order a scan of the day's index meets them (an aggregate, not a row per ticket in
        # Python: a busy day has over a thousand, and this runs for every ticket issued)
        today = [((service, bool(prio)), n, recent) for service, prio, n, recent in conn.execute(
            "SELECT service, priority, count(*), sum(issued_at > ?) FROM tickets WHERE day = ? AND site = ? "
            "GROUP BY service, priority ORDER BY service, min(rowid)", (since, day.isoformat(), site))]
        edges = [now]
        k = int((now - midnight) / SLOT_S) + 1
        while midnight + k * SLOT_S < end:
            edges.append(midnight + k * SLOT_S)
            k += 1
        edges.append(end)
        out = []
        if n_days:
            so_far = sum(n for _, n, _ in today)
            k_now = int((now - midnight) / SLOT_S)
            frac = (now - midnight) / SLOT_S - k_now
            expected = sum(sum(c[:k_now]) + c[k_now] * frac for c in profile.values()) / n_days
            scale = min(2.0, max(0.5, (so_far + 5) / (expected + 5)))
            for key, c in profile.items():
                pieces = [(a, b, c[int((a - midnight) / SLOT_S)] / n_days / SLOT_S * scale)
                          for a, b in zip(edges, edges[1:])]
                out.append((key, [p for p in pieces if p[2] > 0]))
            return n_days, out
        # cold: today's recent rate, while some counter works
        working = [w[:2] for c in counters for w in c.windows]
        open_spans = [(a, b) for a, b in zip(edges, edges[1:]) if any(s <= (a + b) / 2 < e for s, e in working)]
        for key, _, recent in today:
            rate = recent / span
            if rate <= 0:
                continue
            out.append((key, [(a, b, rate) for a, b in open_spans]))
        return 0, out
