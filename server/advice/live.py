"""The advice for the engine's state now, cached per event sequence (and minute), with the
proposal shown first remembered per site for the hysteresis."""
from __future__ import annotations

import threading

from qms_common.errors import Conflict

from ..blocking import background_pause
from .recommend import Advice, AdviceInput, Station, recommend

# Within its minute the alerts' advice is made again when a queue has grown well past what it saw,
# but no sooner than this after the last one was made (seconds of the engine's clock). A kiosk
# issuing 20 a second grew one queue from 0 to 400 in 20 s, and the 1.5-times rule alone then made
# the advice a dozen times (0.3-0.6 s of CPU each with 1,300 waiting): a quarter of the server's
# loop (bench/connections.py at 09:30, docs/performance.md section 8). The advice looks 75 minutes
# ahead for a director: half a minute later costs nobody a decision
GROWTH_SPACING_S = 30.0


class Advisor:
    def __init__(self, engine, *, horizon_s: float | None = None, paths: int | None = None) -> None:
        self.engine = engine
        self.horizon_s, self.paths = horizon_s, paths
        self._lock = threading.Lock()
        # per site: (seq, minute), the advice, and the queues it saw (waiting per service, ``texts``)
        self._cache: dict[str, tuple[tuple, Advice, dict[str, int]]] = {}
        self._top: dict[str, str | None] = {}
        self._made_at: dict[str, float] = {}  # per site: when (engine clock) the alerts' advice was last made

    def input_horizon(self) -> float:
        from .recommend import HORIZON_S
        return self.horizon_s or HORIZON_S

    def stations(self, site: str) -> list[Station]:
        cfg = self.engine.config
        out = []
        for c in self.engine.counters():
            conf = cfg.counter(c["number"])
            if conf is None or conf.site != site:
                continue
            services = self.engine.active_services(c)
            trained = cfg.trained(c["clerk"], c["number"]) if c["clerk"] else []
            out.append(Station(c["number"], c["clerk"], c["state"], tuple(services), tuple(trained)))
        return out

    def input(self, site: str) -> AdviceInput:
        engine = self.engine
        conn, now = engine.store.conn(), engine.clock.now()
        snap = engine.waits.snapshot(conn, site, engine.roster, now)
        # the clerks' own times weighed as the advice's rules were set on (n / (n + 20)), not the
        # estimate's empirical-Bayes weights (``Model.with_fixed_clerk_weight``)
        model = engine.waits.model(conn, now).with_fixed_clerk_weight()
        extra = {}
        if self.horizon_s:
            extra["horizon_s"] = self.horizon_s
        if self.paths:
            extra["paths"] = self.paths
        return AdviceInput(snap, model, self.stations(site), {s.code: s.name for s in engine.config.services},
                           target_s=engine.config.targets.max_wait_s, persistent=engine.roster is None, **extra)

    def advice(self, site: str | None = None) -> Advice:
        engine = self.engine
        site = site or engine.config.main_site
        key = (engine.last_seq(), int(engine.clock.now() // 60))
        with self._lock:
            hit = self._cache.get(site)
            if hit and hit[0] == key:
                return hit[1]
            # up to ~0.5 s of pure Python: under gevent it gives the loop back every 2 ms and goes
            # on only when kiosks and screens have nothing to run (server/blocking.py). Not on a
            # pool thread: a CPU-bound thread beside the event loop makes every socket call of the
            # loop wait for the GIL (measured: 1-2 s stalls)
            result = recommend(self.input(site), previous=self._top.get(site), pause=background_pause())
            self._top[site] = result.proposals[0].key if result.proposals else None
            self._cache[site] = (key, result, self._waiting(site))
            return result

    def texts(self, site: str) -> dict[str, list[str]]:
        """For the alerts: per service, the proposals for it, or what staffing would; computed at
        most once a minute (the screens ask at every event), and again within the minute when a
        queue has grown well past what the cached advice saw (a burst of ten at a service with no
        counter must not keep the advice of its first two for a minute), at most every
        ``GROWTH_SPACING_S`` (a burst of hundreds must not make it a dozen times)."""
        now = self.engine.clock.now()
        minute = int(now // 60)
        counts = self._waiting(site)
        with self._lock:
            hit = self._cache.get(site)
            made_at = self._made_at.get(site)
        fresh = hit and hit[0][1] == minute and (
            all(n <= max(hit[2].get(svc, 0) + 2, 1.5 * hit[2].get(svc, 0)) for svc, n in counts.items())
            or (made_at is not None and 0 <= now - made_at < GROWTH_SPACING_S))
        if fresh:
            advice = hit[1]
        else:
            advice = self.advice(site)
            with self._lock:
                self._made_at[site] = now
        out: dict[str, list[str]] = {}
        for p in advice.proposals:
            out.setdefault(p.focus, []).append(p.text)
        for s in advice.staffing:
            out.setdefault(s["service"], []).append(s["text"])
        if not advice.enough and advice.message:
            for s in advice.services:
                if s["late"] >= 0.25:
                    out.setdefault(s["service"], []).insert(0, advice.message)
        return out

    def _waiting(self, site: str) -> dict[str, int]:
        rows = self.engine.store.conn().execute(
            "SELECT service, count(*) FROM tickets WHERE state = 'waiting' AND site = ? GROUP BY service", (site,))
        return {svc: n for svc, n in rows.fetchall()}

    def apply(self, key: str, *, by: str | None, role: str | None, site: str | None = None) -> dict:
        """Apply the proposal ``key`` of the current advice as a control change."""
        advice = self.advice(site)
        p = next((p for p in advice.proposals if p.key == key), None)
        if p is None:
            raise Conflict(f"Đề xuất '{key}' không còn trong danh sách hiện tại: hãy tải lại; proposal {key!r} is no "
                           f"longer among the current ones: reload", proposal=key,
                           current=[q.key for q in advice.proposals])
        return self.engine.apply_control(p.counter, p.action, service=p.focus if p.action == "take_first" else None,
                                         services=p.services, by=by, role=role, proposal=p.key)
