"""The end of the working day, the same evening (a mixin of :class:`~server.engine.core.Engine`).

Citizens still waiting when the last clerk has gone home are told so that evening, not left
"waiting" until the next morning's first look (``Engine.close_day``): their tickets end with the
reason ``END_OF_DAY``, one ``ticket_abandon`` event each (a ticket somehow still ``serving`` at no
counter is finished, as ``close_day`` does), in one write transaction that selects them, so two
callers at once end each ticket once. Two ways:

* **The director** (``end_day``, the dashboard's "Kết thúc ngày làm việc"; director role only, as
  the counter controls): actor the director, ``role`` on each event. Refused (409) while a counter
  still has a citizen in hand (called or serving: the clerk finishes, transfers or marks them
  absent first, and ``force`` does not change that: no service in progress is closed by someone
  who is not at the counter), and, unless ``force``, while a clerk is still signed in (a counter
  open or paused) or before ``closes`` on a working day (the kiosk issues until then).
* **By itself** (``_end_day_if_over``, from ``_roll_day``: every operation and every look of the
  engine, so also the periodic ticks that already read it: the MQTT link's cycle, every second, and
  the live hub's refresh of the screens, every 30 s): ``[hours] end_day_after_min`` after
  ``closes`` of today (the injected clock), for each site none of whose counters is open, paused
  or holding a citizen; actor ``system``. Only in the server (``create_app`` sets
  ``ends_day_by_itself``) and only with ``[hours] enforce`` and ``auto_end_day``: the simulator,
  the demo (hours not enforced) and tools never end a day early.

Standalone satellite sites are never ended here (their own server ends their day).
"""
from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from qms_common.clock import local_timestamp
from qms_common.errors import Conflict, Forbidden, NotFound
from qms_common.glossary import WEEKDAYS_EN, WEEKDAYS_VI

from .controls import CONTROLLERS
from .states import END_OF_DAY, State

OPEN_STATES = ("waiting", "called", "parked", "serving")


def next_working_day(config, after: date, today: date) -> date:
    """The first working day (``[hours] work_days``) after ``after`` and not before ``today``."""
    d = after + timedelta(days=1)
    for _ in range(14):
        if d >= today and d.isoweekday() in config.hours.work_days:
            return d
        d += timedelta(days=1)
    return d


def end_of_day_notice(config, ticket_day: date, today: date) -> tuple[str, str]:
    """What the citizen's page says of a ticket ended with the day, Vietnamese first."""
    d = next_working_day(config, ticket_day, today)
    opens = config.hours.opens
    return (f"Trung tâm đã kết thúc ngày làm việc. Kính mời ông/bà quay lại vào ngày làm việc tiếp theo "
            f"({WEEKDAYS_VI[d.weekday()]}, {d:%d/%m/%Y}, từ {opens}) và lấy số mới.",
            f"The center has ended its working day. You are invited to come back on the next working day "
            f"({WEEKDAYS_EN[d.weekday()]} {d:%d/%m/%Y}, from {opens}) and take a new ticket.")


class DayEnd:
    """Mixed into :class:`~server.engine.core.Engine` (its ``store``, ``config``, ``clock``, ``today``,
    ``_apply``, ``_emit``, ``_ticket_row``, ``_held_alerts``, ``last_seq``)."""

    ends_day_by_itself = False  # create_app turns it on for the server (never the simulator)
    _day_end_seen: tuple[date, int] | None = None
    _day_end_at: tuple[date, float] | None = None  # today's hour of ending by itself

    # --- what there is to end ---------------------------------------------------------------
    def _day_sites(self, site: str | None) -> list[str]:
        local = [s.id for s in self.config.sites if s.id not in self.config.remote_sites]
        if site is None:
            return local
        if site not in {s.id for s in self.config.sites}:
            raise NotFound(f"Không có điểm tiếp nhận '{site}'; unknown site {site!r}", site=site)
        if site not in local:
            raise Conflict(f"Điểm {site} tự kết thúc ngày trên máy chủ của điểm; site {site} ends its day "
                           f"on its own server", site=site)
        return [site]

    def _closes_at(self, day: date) -> float:
        return local_timestamp(day, self.config.hours.closes, self.config.tz)

    def _day_read(self, conn: sqlite3.Connection, sites: list[str]) -> dict:
        marks = ",".join("?" * len(sites))
        day = self.today().isoformat()
        counts = {r[0]: r[1] for r in conn.execute(
            f"SELECT state, count(*) FROM tickets WHERE day = ? AND site IN ({marks}) AND state IN "
            f"({','.join('?' * len(OPEN_STATES))}) GROUP BY state", (day, *sites, *OPEN_STATES)).fetchall()}
        counters = []
        for r in conn.execute(f"SELECT number, site, state, clerk, ticket_id FROM counters WHERE site IN ({marks}) "
                              "AND (state != 'closed' OR ticket_id IS NOT NULL) ORDER BY number", sites).fetchall():
            if self.config.counter(r["number"]) is None:
                continue
            held = self._ticket_row(conn, r["ticket_id"]) if r["ticket_id"] else None
            counters.append({"number": r["number"], "site": r["site"], "state": r["state"], "clerk": r["clerk"],
                             "ticket": held["code"] if held else None})
        return {"counts": counts, "counters": counters}

    def day_state(self, site: str | None = None) -> dict:
        """For the director's confirmation: who is still waiting, what stands in the way."""
        sites = self._day_sites(site)
        with self._reading() as conn:  # of one state; after what the day's end by itself would do (_roll_day)
            now, today = self.clock.now(), self.today()
            read = self._day_read(conn, sites)
        hours = self.config.hours
        auto = self.ends_day_by_itself and hours.enforce and hours.auto_end_day
        counts = read["counts"]
        in_hand = [c for c in read["counters"] if c["ticket"]]
        signed_in = [c for c in read["counters"] if c["state"] != "closed"]
        before_closes = self._before_closes(now, today)
        names = self.clerk_names() if signed_in else {}
        return {"day": today.isoformat(), "sites": sites, "closes": hours.closes, "before_closes": before_closes,
                "waiting": counts.get("waiting", 0), "parked": counts.get("parked", 0),
                "in_hand": [{"counter": c["number"], "ticket": c["ticket"]} for c in in_hand],
                "signed_in": [{"counter": c["number"], "clerk": c["clerk"], "clerk_name": names.get(c["clerk"]),
                               "state": c["state"]} for c in signed_in],
                "can_end": not in_hand and not signed_in and not before_closes,
                "can_force": not in_hand,
                "ends_by_itself_at": (self._closes_at(today) + hours.end_day_after_min * 60) if auto else None}

    def _before_closes(self, now: float, today: date) -> bool:
        hours = self.config.hours
        return hours.enforce and today.isoweekday() in hours.work_days and now < self._closes_at(today)

    # --- ending it ------------------------------------------------------------------------------
    def end_day(self, *, by: str | None, role: str | None, force: bool = False, site: str | None = None) -> dict:
        """The director ends today's working day for those still waiting (see the module)."""
        self._check_controller_of_day(role)
        sites = self._day_sites(site)
        self._roll_day()
        events: list[dict] = []
        today = self.today()

        def work(conn: sqlite3.Connection) -> dict:
            events.clear()
            read = self._day_read(conn, sites)
            in_hand = [c for c in read["counters"] if c["ticket"]]
            if in_hand:
                names = ", ".join(f"quầy {c['number']} ({c['ticket']})" for c in in_hand)
                raise Conflict(f"Còn công dân đang được gọi hoặc phục vụ: {names}. Cán bộ hãy hoàn thành, chuyển hoặc "
                               f"đánh dấu vắng mặt trước; a citizen is still in hand at "
                               f"{', '.join(str(c['number']) for c in in_hand)}: the clerk finishes first",
                               reason="in_hand", counters=[c["number"] for c in in_hand])
            signed_in = [c for c in read["counters"] if c["state"] != "closed"]
            if signed_in and not force:
                names = ", ".join(f"quầy {c['number']} ({c['clerk']})" for c in signed_in)
                raise Conflict(f"Còn cán bộ đăng nhập: {names}. Hãy để cán bộ đăng xuất, hoặc xác nhận kết thúc "
                               f"ngày (force); clerks are still signed in at "
                               f"{', '.join(str(c['number']) for c in signed_in)}: sign them out or force",
                               reason="signed_in", counters=[c["number"] for c in signed_in])
            if not force and self._before_closes(self.clock.now(), today):
                raise Conflict(f"Chưa đến giờ đóng cửa ({self.config.hours.closes}): máy phát số vẫn cấp số. "
                               f"Xác nhận kết thúc ngày sớm (force) nếu cần; the center closes at "
                               f"{self.config.hours.closes}: force to end the day early",
                               reason="before_closes", closes=self.config.hours.closes)
            return self._end_tickets(conn, events, today, sites, by, role)

        ended = self.store.transact(work)
        self._forget_alerts(sites)
        self._emit(events)
        return {"day": today.isoformat(), "sites": sites, "by": by, "at": self.clock.now(), "forced": force,
                **ended}

    def _check_controller_of_day(self, role: str | None) -> None:
        if role is not None and role not in CONTROLLERS:
            raise Forbidden(f"Chỉ lãnh đạo trung tâm được kết thúc ngày làm việc; only the director may end the "
                            f"working day (role {role!r})", role=role)

    def _end_tickets(self, conn: sqlite3.Connection, events: list[dict], today: date, sites: list[str],
                     actor: str | None, role: str | None) -> dict:
        marks = ",".join("?" * len(sites))
        rows = conn.execute(f"SELECT * FROM tickets WHERE day = ? AND site IN ({marks}) AND state IN "
                            f"({','.join('?' * len(OPEN_STATES))}) ORDER BY queue_key",
                            (today.isoformat(), *sites, *OPEN_STATES)).fetchall()
        held = {r[0] for r in conn.execute("SELECT ticket_id FROM counters WHERE ticket_id IS NOT NULL")}
        abandoned, finished = [], []
        for row in rows:
            t = dict(row)
            if t["id"] in held:
                continue  # a clerk has this citizen in hand (the director was refused; by itself: not its to end)
            if t["state"] == State.SERVING:
                self._apply(conn, events, t, "finish", None, actor, None, role=role)
                finished.append(t["code"])
            else:
                self._apply(conn, events, t, "abandon", None, actor, None, reason=END_OF_DAY, role=role)
                abandoned.append(t["code"])
        return {"ended": len(abandoned), "finished": len(finished), "tickets": abandoned + finished}

    def _forget_alerts(self, sites: list[str]) -> None:
        """The promise's memory of those sites (a predicted breach held for 15 minutes) goes with the day."""
        for site in sites:
            self._held_alerts.pop(site, None)

    def _end_day_if_over(self, today: date) -> None:
        """The day ends by itself (see the module): cheap when there is nothing to do (a comparison
        before the hour, the hour computed once a day; one look at the last event's number after it)."""
        if not self.ends_day_by_itself:
            return
        hours = self.config.hours
        if not (hours.enforce and hours.auto_end_day) or self.store.in_transaction():
            return  # inside a read or write already: its caller looked first (``_reading``), the next look will
        if self._day_end_at is None or self._day_end_at[0] != today:
            self._day_end_at = (today, self._closes_at(today) + hours.end_day_after_min * 60)
        if self.clock.now() < self._day_end_at[1]:
            return
        seq = self.last_seq()  # read before the look: an event meanwhile makes the next look look again
        if self._day_end_seen == (today, seq):
            return  # nothing changed since the last look found nothing to end
        conn = self.store.conn()
        due = []
        for site in self._day_sites(None):
            read = self._day_read(conn, [site])
            if read["counts"] and not read["counters"]:
                due.append(site)
        if due:
            events: list[dict] = []

            def work(c: sqlite3.Connection) -> None:
                events.clear()
                for site in due:
                    if not self._day_read(c, [site])["counters"]:  # again, under the write lock
                        self._end_tickets(c, events, today, [site], "system", None)

            self.store.transact(work)
            self._forget_alerts(due)
            self._emit(events)
            return  # the next look, of the state after these events, finds nothing and remembers it
        self._day_end_seen = (today, seq)
