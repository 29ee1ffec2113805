"""One ticket's forecast with a cost budget, and what answers when the budget would be exceeded.

One ticket's forecast (the ticket being issued, a status page) plays every citizen who can be
called before it in each of its sample paths. During a center's day, with the roster's counters
ahead and a thousand waiting, that was tens of milliseconds of pure Python per issue on the
server's one event loop (docs/performance.md, section 8: issues timed out). So its cost is
bounded:

* **the work** of a forecast is its paths times the citizens a path plays: those waiting in the
  queues connected to the ticket's through the counters that call them (:func:`reach`; a counter
  calling two services joins their queues);
* within ``BUDGET`` (24 paths with 100 waiting: every figure of a small queue is computed as
  before, bit for bit) the forecast is played; beyond it, the estimate comes from the **last
  forecast of every waiting citizen** (computed in the background and for the screens,
  ``WaitEstimator._cache``), never a new forecast: the estimate of the nearest citizen ahead in
  the same queue that the cached forecast knows, moved by the time passed since it and by one
  marginal service time (the service's mean over the counters that can call it) for each citizen
  between them, the ticket included, and for a normal ticket one more for each priority citizen
  of the service issued since the cached forecast, who is called first (:func:`from_cache`).
  Its 80% interval moves with it, so the printed range stays a range.

Pure functions of the snapshot, the model and the cached forecast; ``waits.py`` calls them.
"""
from __future__ import annotations

import sqlite3

from .forecast import Estimate, Forecast, Snapshot
from .learned import Model

BUDGET = 24 * 100   # sample paths x citizens a path plays (24 paths with 100 waiting: within)
LOOK_BACK = 500     # citizens of the queue looked at, newest first, for one the cached forecast knows


def reach(snap: Snapshot, service: str) -> int:
    """How many waiting citizens one path may play before a ticket of ``service`` is called: those
    of the services linked to it by the counters working today (and those sent to such counters)."""
    linked = {service}
    counters = [(c.number, {s for _, _, services in c.windows for s in services}) for c in snap.counters if c.windows]
    mine: set[int] = set()
    grew = True
    while grew:
        grew = False
        for number, services in counters:
            if number not in mine and services & linked:
                mine.add(number)
                linked |= services
                grew = True
    return sum(1 for w in snap.waiting
               if (w.target_counter in mine if w.target_counter is not None else w.service in linked))


def within(paths: int, snap: Snapshot, service: str) -> bool:
    """Whether one ticket's forecast of ``paths`` paths is within the budget. A service no counter
    works today is: its forecast plays nothing (``forecast.forecast`` answers it at once)."""
    if not any(service in services for c in snap.counters for _, _, services in c.windows):
        return True
    return paths * reach(snap, service) <= BUDGET


def marginal_s(snap: Snapshot, model: Model, service: str) -> float:
    """The time one more citizen of ``service`` adds to the wait of those behind: its mean service
    time over the counters that can call it (those working now, else any later today)."""
    now_serving = sum(1 for c in snap.counters
                      if any(start <= snap.now < end and service in services for start, end, services in c.windows))
    later = sum(1 for c in snap.counters if any(service in services for _, _, services in c.windows))
    return model.mean_service_s(service) / max(1, now_serving or later)


def seen_later(wait_s: float, cached_now: float, now: float) -> float:
    """A wait of a forecast made at ``cached_now``, seen at ``now`` (never below zero)."""
    return max(0.0, wait_s - max(0.0, now - cached_now))


def moved(est: Estimate, cached_now: float, now: float, add: float = 0.0) -> Estimate:
    """``est`` of a forecast made at ``cached_now``, seen at ``now``, with ``add`` seconds more work ahead."""
    if now <= cached_now and add == 0.0:
        return est

    def m(x: float) -> float:
        return seen_later(x, cached_now, now) + add

    raw = (None, None) if est.raw_low_s is None else (m(est.raw_low_s), m(est.raw_high_s))
    # a split's clock times hold from any moment; not for another citizen's estimate with work added
    return Estimate(m(est.wait_s), m(est.low_s), m(est.high_s), est.called_share, *raw,
                    split=est.split if add == 0.0 else None)


def from_cache(conn: sqlite3.Connection, cached: Forecast, snap: Snapshot, model: Model, site: str, service: str,
               priority: bool, before_key: float | None = None, ticket_id: str | None = None) -> Estimate | None:
    """The estimate of a new ticket of (``service``, ``priority``) (or, with ``before_key`` and
    ``ticket_id``, of that waiting ticket) from ``cached``, the last forecast of everyone; None when
    it knows nothing to start from."""
    now = snap.now
    if ticket_id is not None and ticket_id in cached.tickets:
        return moved(cached.tickets[ticket_id], cached.now, now, 0.0)
    step = marginal_s(snap, model, service)
    # a normal ticket: priority citizens of its service issued since the cached forecast go first,
    # each one more service ahead (the cached figures, made before they came, do not count them)
    jumped = 0 if priority else sum(
        1 for (tid,) in conn.execute(
            "SELECT id FROM tickets WHERE state = 'waiting' AND site = ? AND service = ? AND priority = 1"
            " ORDER BY queue_key DESC LIMIT ?", (site, service, LOOK_BACK))
        if tid != ticket_id and tid not in cached.tickets)
    sql = ("SELECT id FROM tickets WHERE state = 'waiting' AND site = ? AND service = ? AND priority = ?"
           + (" AND queue_key < ?" if before_key is not None else "") + " ORDER BY queue_key DESC LIMIT ?")
    args = (site, service, int(bool(priority))) + ((before_key,) if before_key is not None else ()) + (LOOK_BACK,)
    between = 0
    for (tid,) in conn.execute(sql, args):
        if tid == ticket_id:
            continue
        est = cached.tickets.get(tid)
        if est is not None:  # the nearest one ahead that the cached forecast knows
            return moved(est, cached.now, now, (between + 1 + jumped) * step)
        between += 1
    phantom = cached.new.get((service, bool(priority)))
    if phantom is None or between >= LOOK_BACK:
        return None
    # nobody ahead in this queue is known to the cached forecast: its new ticket of that time, with
    # those who came since ahead
    return moved(phantom, cached.now, now, (between + jumped) * step)
