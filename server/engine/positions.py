"""Place in line and estimated wait for many tickets at once (the citizens' status pages).

``Engine.position`` answers one ticket with about five queries; the live hub refreshes every
watched ticket, and a busy morning has hundreds of phones watching. :func:`positions` gives
the same figures for a whole list with one query per ticket chunk, one per (site, service)
queue, and one forecast of the day per site (``engine/waits.py``: every waiting citizen's
estimate at once, cached until the next event), so a refresh costs milliseconds, not a stalled
loop.
``tests/test_positions.py`` checks it against ``Engine.position`` on random queues.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import TYPE_CHECKING

from qms_common.clock import local_datetime
from qms_common.wait_words import estimate_phrase

from .states import State

if TYPE_CHECKING:
    from .core import Engine
    from .forecast import Estimate

_CHUNK = 500  # SQLite's limit on bound parameters is far above; keeps each statement small


def split_times(est: "Estimate", timezone: str | None) -> tuple[str, str] | None:
    """An estimate parted across a closure (``forecast.split_of``) as the clock times a citizen
    reads: the last call before it rounded up to 5 minutes, the first after it rounded down
    ("11:30", "13:30"), in the center's time zone."""
    if est.split is None or timezone is None:
        return None
    before, after, _ = est.split
    step = 300
    before, after = math.ceil(before / step) * step, math.floor(after / step) * step
    if after <= before:
        return None
    return tuple(local_datetime(t, timezone).strftime("%H:%M") for t in (before, after))


def estimate_fields(est: "Estimate | None", timezone: str | None = None) -> dict:
    """A ticket's estimate as every answer carries it: the mean and the 80 % interval, rounded, and
    their words (a range, "may not be served today", or with ``timezone`` (the center's) "before
    11:30 or after 13:30" across a closure: ``estimate_phrase``); ``None``, a ticket no longer
    waiting: zero."""
    if est is None:
        return {"estimated_wait_s": 0.0, "estimated_wait_range_s": [0.0, 0.0],
                **dict(zip(("estimated_wait_text", "estimated_wait_text_en"), estimate_phrase(0.0, 0.0)))}
    vi, en = estimate_phrase(est.low_s, est.high_s, est.called_share, split_times(est, timezone))
    return {"estimated_wait_s": round(est.wait_s, 1), "estimated_wait_range_s": [round(est.low_s, 1), round(est.high_s, 1)],
            "estimated_wait_text": vi, "estimated_wait_text_en": en}


def positions(engine: "Engine", ticket_ids: list[str], queues: dict | None = None,
              recent: bool = False) -> dict[str, dict]:
    """``{ticket id: ticket row + people_ahead_now + estimated_wait_s}`` for the ids that exist.

    ``queues``: a dict the caller keeps across several calls (the live hub's push, in chunks of
    phones): the waiting queues are then read once, by the first call that needs each one, as the
    push's forecast is (``WaitEstimator.one_state``). With a thousand waiting, reading them again
    for every chunk was most of a push's time for the phones.

    ``recent``: the estimates from the last forecast of everyone when it is recent
    (``WaitEstimator.recent``: a page or socket just opened), else from this state's.
    """
    conn = engine.store.conn()
    rows: dict[str, dict] = {}
    for i in range(0, len(ticket_ids), _CHUNK):
        chunk = ticket_ids[i:i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT * FROM tickets WHERE id IN ({marks})", chunk).fetchall():
            rows[row["id"]] = dict(row)
    if queues is None:
        queues = {}
    forecasts: dict[str, object] = {}
    now = engine.clock.now()
    for t in rows.values():
        if t["state"] != State.WAITING:
            t["people_ahead_now"] = 0
            t.update(estimate_fields(None))
            continue
        key = (t["site"], t["service"])
        if key not in queues:
            prio, normal, ids = [], [], set()
            for tid, p, q in conn.execute("SELECT id, priority, queue_key FROM tickets WHERE state = 'waiting' "
                                          "AND site = ? AND service = ?", key).fetchall():
                (prio if p else normal).append(q)
                ids.add(tid)
            queues[key] = (sorted(prio), sorted(normal), ids)
        prio, normal, ids = queues[key]
        # the same count as Engine._people_ahead, this ticket included, then minus itself (unless
        # it came to this queue after the queue was read)
        if t["priority"]:
            ahead = bisect_right(prio, t["queue_key"])
        else:
            ahead = len(prio) + bisect_right(normal, t["queue_key"])
        if t["id"] in ids:
            ahead = max(0, ahead - 1)
        if t["site"] not in forecasts:
            forecasts[t["site"]] = ((engine.waits.recent(t["site"], now) if recent else None)
                                    or engine.waits.all_waiting(conn, t["site"], engine.roster, now))
        result = forecasts[t["site"]]
        est = result.tickets.get(t["id"])
        if est is None:  # issued after the forecast read for this push (WaitEstimator.one_state)
            est = engine.waits.for_ticket(conn, t, engine.roster, now)
        else:
            est = engine.waits._shift(est, result, now)
        t["people_ahead_now"] = ahead
        t.update(estimate_fields(est, engine.config.center.timezone))
    return rows
