"""Place in line and estimated wait for many tickets at once (the citizens' status pages).

``Engine.position`` answers one ticket with about five queries; the live hub refreshes every
watched ticket, and a busy morning has hundreds of phones watching. :func:`positions` gives
the same figures for a whole list with one query per ticket chunk, one per (site, service)
queue, and one forecast of the day per site (``engine/waits.py``: every waiting citizen's
estimate at once, cached until the next event), so a refresh costs milliseconds, not a stalled
loop. ``tests/test_positions.py`` checks it against ``Engine.position`` on random queues.

Statuses that cannot lie: :func:`read_positions` reads the tickets, their queues, the ``seq`` and
the forecast's inputs in one read transaction (``Store.read``), and :func:`played_positions` plays
the forecast after it (``WaitEstimator.play``: its paths yield, and must not hold a WAL snapshot),
so a ticket committed meanwhile is in all of a status's figures or in none. The live hub reads
each chunk of phones of a push in its own short transaction (not one for the whole push: it held
the loop, docs/performance.md section 8), so each status is of one state, its own ``seq``; the
chunks share the queues read while the state has not moved (:class:`Queues`) and the push's one
forecast (``WaitEstimator.one_state``; ``forecast_seq`` says of which state).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qms_common.clock import local_datetime
from qms_common.wait_words import estimate_phrase

from .states import State

if TYPE_CHECKING:
    from .core import Engine
    from .forecast import Estimate
    from .waits import Pending

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


@dataclass
class Queues:
    """The waiting queues that the chunks of one push have read, and the state (``seq``) they are
    of: a later chunk of the same state reads none again (with a thousand waiting, reading them for
    every chunk was most of a push's time for the phones); one of a later state reads them anew."""
    seq: int = -1
    of: dict[tuple[str, str], tuple[list, list]] = field(default_factory=dict)  # (priority keys, normal keys)


@dataclass
class PositionsRead:
    """What :func:`read_positions` read in one read transaction: the tickets, their queues and the
    forecasts their estimates come from (prepared; :func:`played_positions` plays them after it)."""
    seq: int  # the event sequence of the state every place in line is of
    now: float
    rows: dict[str, dict]
    queues: Queues
    forecasts: dict[str, "Pending"] = field(default_factory=dict)  # per site, of everyone
    alone: dict[str, "Pending"] = field(default_factory=dict)  # per ticket that forecast does not know


def read_positions(engine: "Engine", ticket_ids: list[str], queues: Queues | None = None,
                   recent: bool = False) -> PositionsRead:
    """Everything the statuses of ``ticket_ids`` show, read in one read transaction: the tickets,
    their queues, the ``seq`` and the forecasts' inputs (``WaitEstimator.prepare``).

    ``queues``: kept by the caller across the chunks of one push (the queues read once per state).
    In a push (``WaitEstimator.one_state``) the forecast is the one pinned there, whatever state it
    is of (a ticket committed between two chunks makes no second forecast of everyone). ``recent``:
    the last forecast of everyone when it is recent (``WaitEstimator.recent``: a page or socket just
    opened), else this state's. A waiting ticket the forecast read does not know (issued since) gets
    its own, of this state (``WaitEstimator.prepare_one``; one snapshot of the site for them all)."""
    queues = Queues() if queues is None else queues
    with engine._reading() as conn:
        now = engine.clock.now()
        seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        if queues.seq != seq:
            queues.seq, queues.of = seq, {}
        rows: dict[str, dict] = {}
        for i in range(0, len(ticket_ids), _CHUNK):
            chunk = ticket_ids[i:i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT * FROM tickets WHERE id IN ({marks})", chunk).fetchall():
                rows[row["id"]] = dict(row)
        read = PositionsRead(seq, now, rows, queues)
        snaps: dict = {}
        for t in rows.values():
            if t["state"] != State.WAITING:
                continue
            site = t["site"]
            key = (site, t["service"])
            if key not in queues.of:
                prio, normal = [], []
                for p, q in conn.execute("SELECT priority, queue_key FROM tickets WHERE state = 'waiting' "
                                         "AND site = ? AND service = ?", key).fetchall():
                    (prio if p else normal).append(q)
                queues.of[key] = (sorted(prio), sorted(normal))
            if site not in read.forecasts:
                read.forecasts[site] = ((engine.waits.recent_pending(site, now) if recent else None)
                                        or engine.waits.prepare(conn, site, engine.roster, now, pinned_any=True))
            known = read.forecasts[site].result
            if known is not None and t["id"] not in known.tickets:  # issued after that forecast's state
                if site not in snaps:
                    snaps[site] = engine.waits.snapshot(conn, site, engine.roster, now)
                read.alone[t["id"]] = engine.waits.prepare_one(conn, t, engine.roster, now, snaps[site])
    return read


def played_positions(engine: "Engine", read: PositionsRead) -> dict[str, dict]:
    """``{ticket id: ticket row + people_ahead_now + estimates + seq + forecast_seq}`` for the ids of
    ``read`` that exist, their forecasts played now, outside the read transaction. ``forecast_seq``:
    the state the estimate is of, ``seq`` but when a forecast of an earlier state was read (a page
    just opened, a push's)."""
    out: dict[str, dict] = {}
    for tid, row in read.rows.items():
        t = out[tid] = dict(row)
        t["seq"] = t["forecast_seq"] = read.seq
        if t["state"] != State.WAITING:
            t["people_ahead_now"] = 0
            t.update(estimate_fields(None))
            continue
        prio, normal = read.queues.of[(t["site"], t["service"])]
        # the same count as Engine._people_ahead, this ticket included (of the same state), then minus itself
        if t["priority"]:
            ahead = bisect_right(prio, t["queue_key"])
        else:
            ahead = len(prio) + bisect_right(normal, t["queue_key"])
        pending = read.alone.get(tid) or read.forecasts[t["site"]]
        t["people_ahead_now"] = max(0, ahead - 1)
        t["forecast_seq"] = pending.seq
        t.update(estimate_fields(engine.waits.ticket_estimate(pending, tid), engine.config.center.timezone))
    return out


def positions(engine: "Engine", ticket_ids: list[str], queues: Queues | None = None,
              recent: bool = False) -> dict[str, dict]:
    """:func:`read_positions` then :func:`played_positions`: the statuses of ``ticket_ids``, each
    of one state (all of them, read in one transaction)."""
    return played_positions(engine, read_positions(engine, ticket_ids, queues, recent))
