"""The live hub's pusher: a thread that gathers the engine's events into snapshot pushes to every
watched view (wall displays, dashboards, counter screens) and status pushes to the phones that
watch a ticket, paced so that pushing never takes more than a share of the server during a
burst (``COALESCE_S``, ``MIN_PUSH_S``, ``PUSH_SPACING``, ``MAX_PUSH_GAP_S``), refreshed at least every
``PERIODIC_S``, and yielding to requests under gevent (``background_yield``). One forecast per
push (``WaitEstimator.one_state``); during a burst a new one at most every ``FORECAST_EVERY_S``,
the pushes between reading the last. The phones of the tickets an event touched are pushed at
once, every other watched phone at most every ``CITIZEN_REFRESH_S`` (computed in chunks of
``STATUS_CHUNK``, each read in its own short read transaction, each status of one state:
``server/engine/positions.py``), so hundreds of phones cost a few milliseconds per refresh, not
per event.

``Pusher`` is mixed into :class:`~server.realtime.Realtime`, whose ``__init__`` sets what it reads:
``engine``, ``socketio``, ``rooms``, ``keeper``, ``_lock``, ``_dirty``, ``_subs``, ``_clients``,
``_touched``, ``_status_sent``, ``_late_after_s``, ``_worker``, ``_stale``, ``_reused``,
``_last_full``, ``_last_push``, ``_push_took`` and ``_forecast_at``.
"""
from __future__ import annotations

import logging
import threading
import time

from .blocking import background_yield
from .engine.positions import Queues
from .eio_sweep import run_sweeper
from .realtime_views import citizen_statuses, screen_snapshot, status_fingerprint

log = logging.getLogger(__name__)

COALESCE_S = 0.05  # gather a burst of events into one snapshot push
MIN_PUSH_S = 0.5  # ... and during a long burst push at most this often (events themselves go at once)
PUSH_SPACING = 2.0  # ... and never sooner than this many times the last push's duration after it
MAX_PUSH_GAP_S = 5.0  # ... but a slow push (a starved machine) never holds the next one back longer
PERIODIC_S = 30.0  # waits grow with time: refresh the screens at least this often
CITIZEN_REFRESH_S = 2.0  # a phone whose ticket no event touched: its place in line, at most this often
# during a burst the estimates (a forecast of everyone waiting: ~60 ms of CPU with 1,300) are made
# at most this often; the pushes between show the last one's (counts, places and calls are read
# anew), and one follows with the latest state's this long after the last fresh one
FORECAST_EVERY_S = 5.0
YIELD_EVERY = 10  # emits between two yields of the pusher (under gevent: let requests in; 50 took 15-24 ms)
# phones whose status is computed between two yields: 100 took 4-7 ms of the loop in the server with
# 1,300 waiting, and a kiosk's issue, which gives the loop back several times, waited behind a
# chunk each time (up to 8 in a row: 69 ms; docs/performance.md section 8)
STATUS_CHUNK = 25


class Pusher:
    def _start_worker(self) -> None:
        if self._worker is not None:
            return
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="qms-realtime", daemon=True)
                self._worker.start()
                # closed engine.io sockets let go within a second (server/eio_sweep.py)
                threading.Thread(target=run_sweeper, args=(self.socketio,), name="qms-eio-sweep",
                                 daemon=True).start()

    def _run(self) -> None:
        while True:
            timeout = PERIODIC_S
            if self._stale:
                timeout = max(0.0, self._last_full + CITIZEN_REFRESH_S - time.monotonic())
            if self._reused:  # the last push showed an older state's estimates: the latest's are due
                timeout = min(timeout, max(0.0, self._forecast_at + FORECAST_EVERY_S - time.monotonic()))
            self._dirty.wait(timeout)
            time.sleep(COALESCE_S)  # let a burst of events settle into one push
            # a push that took long (a thousand waiting: its forecast) waits twice as long before
            # the next, so that pushing takes at most a third of the server's time during a burst
            gap = min(MAX_PUSH_GAP_S, max(MIN_PUSH_S, PUSH_SPACING * self._push_took))
            time.sleep(max(0.0, self._last_push + gap - time.monotonic()))
            self._dirty.clear()
            try:
                self.push_views(reuse=time.monotonic() - self._forecast_at < FORECAST_EVERY_S)
            except Exception:
                log.exception("pushing live views failed")

    def push_views(self, full: bool | None = None, reuse: bool = False) -> None:
        """Send every watched view a fresh snapshot, and watched tickets their status: those an
        event touched, or all of them when ``full`` (by default: once ``CITIZEN_REFRESH_S`` passed).
        With ``reuse``, the estimates come from the last forecast of everyone if it is under
        ``FORECAST_EVERY_S`` old, whatever the state it was of (counts, places in line and calls are
        always read now); the pusher asks for that during a burst, and pushes again, with the
        latest state's forecast, ``FORECAST_EVERY_S`` after its last fresh one."""
        now = self._last_push = time.monotonic()
        try:
            with self.engine.waits.one_state(reuse_s=FORECAST_EVERY_S if reuse else 0.0) as pin:
                self._push(now, full)
            self._reused = pin.older
            if not pin.older:
                self._forecast_at = now
        finally:
            self._push_took = time.monotonic() - now

    def _push(self, now: float, full: bool | None) -> None:
        self._settle_pending()
        with self._lock:
            views = list(self._subs.views)
            watched = set(self._subs.tickets)
            touched, self._touched = self._touched & watched, set()
            if full is None:
                full = now - self._last_full >= CITIZEN_REFRESH_S
            if full:
                self._last_full, self._stale = now, False
        pause = background_yield()  # under gevent: go on only when requests have nothing to run
        for site in views:
            snap = screen_snapshot(self.engine, site)
            self.keeper.keep(site, snap)
            self.socketio.emit("snapshot", snap, to=self.rooms.view(site))
            pause()  # one view's snapshot (not the next's, nor the phones') per run of the loop
        ids = sorted(watched if full else touched)
        # each chunk of phones read in its own short read transaction (each status of one state,
        # its own seq; one for the whole push held the loop), the queues read again only once the
        # state moved, the forecast the push's one (engine/positions.py)
        queues = Queues()
        for first in range(0, len(ids), STATUS_CHUNK):
            statuses = citizen_statuses(self.engine, ids[first:first + STATUS_CHUNK], queues)
            for n, (ticket_id, status) in enumerate(statuses.items(), 1):
                mark = status_fingerprint(status, self._late_after_s)
                with self._lock:
                    if self._status_sent.get(ticket_id) == mark:
                        continue
                    self._status_sent[ticket_id] = mark
                self.socketio.emit("status", status, to=self.rooms.ticket(ticket_id))
                if n % YIELD_EVERY == 0:
                    pause()
            pause()  # requests waiting meanwhile go first
        with self._lock:
            for ticket_id in set(self._status_sent) - set(self._subs.tickets):
                del self._status_sent[ticket_id]


    @staticmethod
    def _pending_room(token: str) -> str:
        return f"pending:{token}"

    def _settle_pending(self) -> None:
        """Phones watching an offline ticket that has now been handed over move to its room."""
        with self._lock:
            tokens = list(self._subs.pending)
        for token in tokens:
            ticket = self.engine.ticket_by_token(token)
            if ticket is None:
                continue
            with self._lock:
                moved = [c for c in self._clients.values() if c.pending_token == token]
                for client in moved:
                    self._subs.add(client, -1)
                    client.pending_token, client.ticket_id = None, ticket["id"]
                    self._subs.add(client)
                self._status_sent.pop(ticket["id"], None)  # push its status now
            for client in moved:
                self.socketio.server.enter_room(client.sid, self.rooms.ticket(ticket["id"]), namespace="/")
                self.socketio.server.leave_room(client.sid, self._pending_room(token), namespace="/")
