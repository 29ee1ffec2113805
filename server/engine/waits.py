"""The engine's wait estimates: asks the pure forecaster, learns from the event log, caches.

``WaitEstimator`` is what the engine calls for the ticket being issued, a ticket's status page,
and the "new ticket" estimate of every service (displays, dashboard, alerts). It has a
:class:`~server.engine.forecast.Snapshot` read from the live tables (``snapshots.py``: never a
citizen's future service time, the server does not know it), keeps a
:class:`~server.engine.learned.Model` learned from the event log (earlier days once a day,
today's at most every ``RELEARN_S``) with the interval's calibration (``learning.py``, mixed in), and caches one forecast per
site and state (event sequence) for ``REUSE_S`` seconds.
"""
from __future__ import annotations

import math
import sqlite3
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from ..blocking import background_pause, cooperative_pause
from ..config import CenterConfig
from . import one_budget
from .calibration import Calibration
from .forecast import PATHS, Estimate, Forecast, Shift, Snapshot, forecast
from .learned import Model, Observations
from .learning import HISTORY_DAYS, Learning
from .snapshots import StateReader

ONE_PATHS = 24           # one ticket's estimate (the one being issued): 12 antithetic pairs (fewer: a noisier printed figure)
# one ticket's paths play everyone ahead of it: with many waiting, fewer paths for the same work.
# The relative spread of a wait with n ahead falls as 1/sqrt(n), so paths ~ 1/n keep the figure's
# relative noise about what 24 paths give with 100 waiting (at or under 100: the same 24 paths)
ONE_PATHS_FULL_UP_TO = 100
ONE_PATHS_MIN = 4

REUSE_S = 20.0
PAGE_RECENT_S = 35.0  # a page just opened may read the last forecast of everyone this old (as a screen's connect)
COMPUTING_WAIT_S = 10.0  # waiting for another's forecast of the same state at most this long

__all__ = ["Shift", "WaitEstimator", "Estimate"]


def one_ticket_paths(waiting: int) -> int:
    """How many sample paths one ticket's forecast plays with ``waiting`` citizens at the site."""
    if waiting <= ONE_PATHS_FULL_UP_TO:
        return ONE_PATHS
    return max(ONE_PATHS_MIN, ONE_PATHS * ONE_PATHS_FULL_UP_TO // waiting // 2 * 2)


@dataclass
class StatePin:
    """What ``WaitEstimator.one_state`` reads its forecasts from: each site's first one read."""
    reuse_s: float = 0.0  # the last forecast of everyone may be read if under this old
    forecasts: dict[str, Forecast] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)  # the event sequence each site's forecast is of
    older: bool = False  # a forecast of an earlier state than the latest was read


@dataclass
class Pending:
    """A forecast of everyone of one site, of the state a read transaction reads (``prepare``):
    the forecast itself if one of that state is at hand, else what it is played from, read in that
    transaction; ``WaitEstimator.play`` plays it after the transaction, so that the paths, which
    yield to other greenlets, never keep a WAL read snapshot open."""
    site: str
    seq: int  # the event sequence of the state the forecast is (or will be) of
    now: float
    result: Forecast | None = None
    inputs: tuple | None = None  # (Snapshot, Model, Calibration)
    only: str | None = None  # one ticket's forecast (``prepare_one``): its id
    paths: int | None = None  # ... and its sample paths


class WaitEstimator(Learning):
    def __init__(self, config: CenterConfig, *, paths: int | None = None) -> None:
        self.config = config
        self.paths = paths
        self._lock = threading.Lock()
        self._history: tuple[str, Observations] | None = None
        self._model: tuple[str, float, Model] | None = None
        self._cache: dict[str, tuple[int, float, Forecast]] = {}
        # the forecast of every waiting citizen being computed now, per site: (seq, done)
        self._computing: dict[str, tuple[int, threading.Event]] = {}
        # inside one_state(): the forecast of every waiting citizen already read there, per site
        self._pinned: ContextVar[StatePin | None] = ContextVar(f"qms_forecast_pin_{id(self)}", default=None)
        self.reader = StateReader(config, HISTORY_DAYS)  # the state now, as the forecast reads it
        self._history_rows: tuple[str, Calibration] | None = None
        self._calibration: tuple[str, float, Calibration] | None = None
        self.over_budget = 0  # one ticket's estimates taken from the cached forecast (one_budget.py)

    # --- the state now ------------------------------------------------------------------------
    def snapshot(self, conn: sqlite3.Connection, site: str, roster: list[Shift] | None, now: float) -> Snapshot:
        """What the forecast of ``site`` starts from (``snapshots.StateReader.snapshot``)."""
        return self.reader.snapshot(conn, site, roster, now)

    # --- estimates ----------------------------------------------------------------------------
    @contextmanager
    def one_state(self, reuse_s: float = 0.0) -> Iterator["StatePin"]:
        """Inside, every forecast of all waiting citizens of a site is the first one read here:
        the live hub's push reads the screens' figures and the status pages' from one state, not a
        new forecast for each while a burst of events goes on. A ticket issued since is not in it
        (``positions`` then asks for that ticket alone). With ``reuse_s``, that first one is the
        last forecast of everyone made if it is under ``reuse_s`` old (of the engine's clock), of
        whatever state: the live hub's pushes during a burst (``server/realtime.py``; the pin says
        whether an earlier state's was read)."""
        pin = StatePin(reuse_s)
        mark = self._pinned.set(pin)
        try:
            yield pin
        finally:
            self._pinned.reset(mark)

    def prepare(self, conn: sqlite3.Connection, site: str, roster, now: float, *,
                pinned_any: bool = False) -> Pending:
        """In a read transaction (``Store.read``): the forecast of everyone at ``site`` of the state
        it reads. At hand (cached, or pinned by :meth:`one_state` for that state, or, with its
        ``reuse_s`` or ``pinned_any``, the one pinned there of an earlier state: its ``seq`` says
        which), or else its inputs read now (who waits, the counters, the arrivals, the learned
        model and calibration), to be played by :meth:`play` once the transaction is let go.
        ``pinned_any``: the phones of a push, read chunk by chunk, each in its own transaction, all
        from the push's one forecast (as before the transactions), not a new one for each chunk
        after which a ticket was committed."""
        seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        pin = self._pinned.get()
        if pin is not None:
            if site in pin.forecasts and (pin.reuse_s > 0 or pinned_any or pin.seqs[site] == seq):
                return Pending(site, pin.seqs[site], now, result=pin.forecasts[site])
            cached = self._cache.get(site) if pin.reuse_s > 0 else None
            if cached and 0 <= now - cached[1] < pin.reuse_s:
                pin.forecasts[site], pin.seqs[site] = cached[2], cached[0]
                pin.older = pin.older or cached[0] != seq
                return Pending(site, cached[0], now, result=cached[2])
        cached = self._cache.get(site)
        if cached and cached[0] == seq and 0 <= now - cached[1] < REUSE_S:
            self._pin(site, seq, cached[2])
            return Pending(site, seq, now, result=cached[2])
        snap = self.snapshot(conn, site, roster, now)
        return Pending(site, seq, now, inputs=(snap, self.model(conn, now), self.calibration(conn, now)))

    def prepare_one(self, conn: sqlite3.Connection, ticket: dict, roster, now: float,
                    snap: Snapshot | None = None) -> Pending:
        """In a read transaction: the forecast of one waiting ticket of the state it reads (the
        cached forecast of everyone of that state if at hand, else its own paths, or beyond ``one_budget.BUDGET`` the estimate from the cached forecast), to be
        played by :meth:`play` after the transaction (not cached: one ticket's). ``snap``: its
        site's, read once in the same transaction for several tickets."""
        seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        site = ticket["site"]
        cached = self._cache.get(site)
        if cached and cached[0] == seq and 0 <= now - cached[1] < REUSE_S:
            return Pending(site, seq, now, result=cached[2])
        snap = snap or self.snapshot(conn, site, roster, now)
        paths = self.paths or one_ticket_paths(len(snap.waiting))
        if self.paths is None:
            over = self._over_budget(conn, snap, site, ticket["id"], paths, now)
            if isinstance(over, Forecast):
                return Pending(site, seq, now, result=over)
            paths = over
        return Pending(site, seq, now, inputs=(snap, self.model(conn, now), self.calibration(conn, now)),
                       only=ticket["id"], paths=paths)

    def recent_pending(self, site: str, now: float) -> Pending | None:
        """:meth:`recent` with the state it is of (its ``seq``), as :meth:`prepare` answers."""
        cached = self._cache.get(site)
        if cached and 0 <= now - cached[1] < PAGE_RECENT_S:
            return Pending(site, cached[0], now, result=cached[2])
        return None

    def ticket_estimate(self, pending: Pending, ticket_id: str) -> Estimate | None:
        """The estimate of ``ticket_id`` in the forecast ``pending`` is of (played now, outside the
        transaction), seen at the time it was read; None if that forecast does not know it."""
        result = self.play(pending)
        est = result.tickets.get(ticket_id)
        return None if est is None else self._shift(est, result, pending.now)

    def play(self, pending: Pending) -> Forecast:
        """Outside any transaction: the forecast ``pending`` is of, played from its inputs if not at
        hand (yielding between its paths under gevent; the same seed as :meth:`_latest`, so the same
        figures), cached for its state and pinned in the current :meth:`one_state`. One ticket's
        (:meth:`prepare_one`): played in turn with the requests (``cooperative_pause``), never cached."""
        if pending.result is not None:
            return pending.result
        if pending.only is not None:
            snap, model, cal = pending.inputs
            pending.result = self._calibrated(forecast(snap, model, seed=pending.seq, only=pending.only,
                                                       paths=pending.paths, pause=cooperative_pause()),
                                              cal, pending.only)
            pending.inputs = None
            return pending.result
        site, seq, now = pending.site, pending.seq, pending.now
        computing = self._computing.get(site)
        if computing is not None and computing[0] == seq:
            computing[1].wait(COMPUTING_WAIT_S)
        cached = self._cache.get(site)
        if cached and cached[0] == seq and 0 <= now - cached[1] < REUSE_S:
            pending.result = cached[2]
        else:
            mine = (seq, threading.Event())
            self._computing[site] = mine
            try:
                snap, model, cal = pending.inputs
                played = forecast(snap, model, seed=seq, paths=self.paths or PATHS, pause=background_pause())
                pending.result = self._calibrated(played, cal)
                kept = self._cache.get(site)
                if kept is None or kept[0] <= seq:
                    self._cache[site] = (seq, now, pending.result)
            finally:
                mine[1].set()
                if self._computing.get(site) is mine:
                    del self._computing[site]
        self._pin(site, seq, pending.result)
        pending.inputs = None
        return pending.result

    def _pin(self, site: str, seq: int, result: Forecast) -> None:
        pin = self._pinned.get()
        if pin is not None and site not in pin.forecasts:
            pin.forecasts[site], pin.seqs[site] = result, seq

    def _forecast(self, conn: sqlite3.Connection, site: str, roster, now: float, only=None) -> Forecast:
        pin = self._pinned.get() if only is None else None
        if pin is not None:
            pinned = pin.forecasts
            seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            if site not in pinned:
                cached = self._cache.get(site) if pin.reuse_s > 0 else None
                if cached and 0 <= now - cached[1] < pin.reuse_s:
                    pinned[site], pin.seqs[site] = cached[2], cached[0]
                    pin.older = pin.older or cached[0] != seq
                else:
                    pinned[site], pin.seqs[site] = self._latest(conn, site, roster, now, seq=seq), seq
            return pinned[site]
        return self._latest(conn, site, roster, now, only)

    def _latest(self, conn: sqlite3.Connection, site: str, roster, now: float, only=None, *,
                seq: int | None = None) -> Forecast:
        if seq is None:
            seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        cached = self._cache.get(site)
        if cached and cached[0] == seq and 0 <= now - cached[1] < REUSE_S:
            return cached[2]
        if only is not None:
            return self._compute(conn, site, roster, now, seq, only)
        # one forecast of every waiting citizen per site and state: the background warmer and the
        # live hub's pusher ask for the same one after each event (and it yields between its
        # paths, so both would otherwise be computing it at once); the second waits for the first
        computing = self._computing.get(site)
        if computing is not None and computing[0] == seq:
            computing[1].wait(COMPUTING_WAIT_S)
            cached = self._cache.get(site)
            if cached and cached[0] == seq and 0 <= now - cached[1] < REUSE_S:
                return cached[2]
        mine = (seq, threading.Event())
        self._computing[site] = mine
        try:
            result = self._compute(conn, site, roster, now, seq, None)
            kept = self._cache.get(site)
            if kept is None or kept[0] <= seq:  # a read transaction's older state never replaces a newer one
                self._cache[site] = (seq, now, result)
            return result
        finally:
            mine[1].set()
            if self._computing.get(site) is mine:
                del self._computing[site]

    def _compute(self, conn: sqlite3.Connection, site: str, roster, now: float, seq: int, only) -> Forecast:
        snap = self.snapshot(conn, site, roster, now)
        paths = self.paths or (one_ticket_paths(len(snap.waiting)) if only is not None else PATHS)
        if only is not None and self.paths is None:
            over = self._over_budget(conn, snap, site, only, paths, now)
            if isinstance(over, Forecast):
                return over
            paths = over
        # every waiting citizen: ~30-40 ms of pure Python with a thousand waiting. Under gevent the
        # forecast lets kiosks and screens run between its sample paths (the result is the same):
        # everyone's, which no request waits on, only when the loop is idle; one ticket's (a
        # request's own), outside a write transaction, in turn (the kiosk's issue computes it before)
        if only is None:
            pause = background_pause()
        else:
            pause = None if conn.in_transaction else cooperative_pause()
        result = self._calibrated(forecast(snap, self.model(conn, now), seed=seq, only=only, paths=paths, pause=pause),
                                  self.calibration(conn, now), only)
        return result

    def _over_budget(self, conn: sqlite3.Connection, snap: Snapshot, site: str, only, paths: int, now: float
                     ) -> Forecast | int:
        """Within ``one_budget.BUDGET``: ``paths`` (the forecast is played as always). Beyond it: the
        estimate from the last forecast of everyone (``one_budget.from_cache``), or, before any,
        ``ONE_PATHS_MIN`` paths (``engine/one_budget.py``)."""
        if isinstance(only, tuple):
            service, priority, key, tid = only[0], bool(only[1]), None, None
        else:
            mine = next((w for w in snap.waiting if w.id == only), None)
            if mine is None:
                return paths
            service, priority, key, tid = mine.service, mine.priority, mine.queue_key, mine.id
        if one_budget.within(paths, snap, service):
            return paths
        cached = self._cache.get(site)
        est = None if cached is None else one_budget.from_cache(
            conn, cached[2], snap, self.model(conn, now), site, service, priority, key, tid)
        if est is None:
            return ONE_PATHS_MIN
        self.over_budget += 1
        return Forecast(now, new={(service, priority): est}) if tid is None else Forecast(now, tickets={tid: est})

    @staticmethod
    def _shift(est: Estimate, result: Forecast, now: float) -> Estimate:
        """An estimate of a cached forecast, seen from a few seconds later."""
        return one_budget.moved(est, result.now, now)

    def for_new(self, conn: sqlite3.Connection, service: str, site: str, priority: bool, roster, now: float,
                *, whole: bool = False) -> Estimate:
        """The wait of someone taking a ticket of ``service`` now."""
        result = self._forecast(conn, site, roster, now, only=None if whole else (service, bool(priority)))
        est = result.new.get((service, bool(priority)))
        if est is None:
            return Estimate(0.0, 0.0, 0.0, 0.0)
        return self._shift(est, result, now)

    def all_waiting(self, conn: sqlite3.Connection, site: str, roster, now: float) -> Forecast:
        return self._forecast(conn, site, roster, now)

    def recent(self, site: str, now: float) -> Forecast | None:
        """The last forecast of every waiting citizen of ``site`` if under ``PAGE_RECENT_S`` old, of
        whatever state: what the last push showed. A page or socket just opened reads it instead
        of forecasting a thousand waiting for one citizen during a burst (the push after the
        burst's last event brings the figure of the latest state)."""
        cached = self._cache.get(site)
        return cached[2] if cached and 0 <= now - cached[1] < PAGE_RECENT_S else None

    def late_waiting(self, conn: sqlite3.Connection, sites: Sequence[str], roster, now: float,
                     target_s: float) -> dict[str, tuple[int, int]]:
        """Per service: (waiting already past ``target_s``, waiting who will pass it by the
        estimate, those included)."""
        rows = self.waiting_rows(conn, sites)
        return self.late_counts(rows, {site: self._forecast(conn, site, roster, now) for site in rows}, now, target_s)

    @staticmethod
    def waiting_rows(conn: sqlite3.Connection, sites: Sequence[str]) -> dict[str, list[tuple]]:
        """Per site with someone waiting: (id, service, wait_from, priority) of each (for :meth:`late_counts`)."""
        out = {}
        for site in sites:
            cur = conn.cursor()
            cur.row_factory = None  # plain tuples: a thousand rows at every push of the screens
            rows = cur.execute("SELECT id, service, wait_from, priority FROM tickets WHERE state = 'waiting' "
                               "AND site = ?", (site,)).fetchall()
            if rows:
                out[site] = rows
        return out

    @staticmethod
    def late_counts(rows: dict[str, list[tuple]], forecasts: dict[str, Forecast], now: float,
                    target_s: float) -> dict[str, tuple[int, int]]:
        """:meth:`late_waiting` from the rows of :meth:`waiting_rows` and each site's forecast."""
        out: dict[str, list[int]] = {}
        for site, site_rows in rows.items():
            result = forecasts[site]
            tickets, new = result.tickets, result.new
            for ticket_id, service, wait_from, priority in site_rows:
                waited = now - wait_from
                # one issued since the forecast (a push during a burst reads an earlier state's):
                # what that forecast gave a newcomer of its service
                est = tickets.get(ticket_id) or new.get((service, bool(priority)))
                ahead = one_budget.seen_later(est.wait_s, result.now, now) if est else 0.0
                counts = out.setdefault(service, [0, 0])
                counts[0] += waited > target_s
                counts[1] += waited + ahead > target_s
        return {k: (v[0], v[1]) for k, v in out.items()}

    def new_estimate(self, result: Forecast, service: str, priority: bool, now: float) -> Estimate:
        """What :meth:`for_new` gives from the forecast of everyone ``result``."""
        est = result.new.get((service, bool(priority)))
        return Estimate(0.0, 0.0, 0.0, 0.0) if est is None else self._shift(est, result, now)

def is_finite(x: float) -> bool:
    return not math.isinf(x)
