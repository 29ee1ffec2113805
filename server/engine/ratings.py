"""The engine's side of satisfaction ratings (a mixin of :class:`~server.engine.core.Engine`):
taking a rating by the one rule of :mod:`.rating`, what the counter's rating page may offer now,
today's satisfaction per service and counter, and low ratings as the director's alerts."""
from __future__ import annotations

import json
from collections import Counter

from qms_common.errors import NotFound, QmsError

from . import rating


class Ratings:
    def rate(self, score: int, *, ticket_id: str | None = None, counter: int | None = None,
             device: str | None = None, reason: str | None = None, source: str = "keypad") -> dict:
        """A citizen's satisfaction (4 Rất hài lòng .. 1 Không hài lòng) at a counter: the ticket
        being served there or finished there within ``[satisfaction] window_s``, once."""
        rating.check_score(score, reason)
        if counter is None:
            if ticket_id is None:
                raise QmsError("Cần quầy hoặc vé; a rating names its counter or its ticket")
            counter = self.ticket(ticket_id)["counter"]
        events: list[dict] = []
        with self.store.write() as conn:
            target = rating.rateable(conn, counter=counter, day=self.today().isoformat(), now=self.clock.now(),
                                     window_s=self.config.satisfaction.window_s, ticket_id=ticket_id)
            event = self._event(conn, events, "ticket_rated", ticket_id=target.ticket_id, counter=counter,
                                device=device, **rating.rating_data(target, score, reason, source))
        self._emit(events)
        return event

    def rating_pending(self, counter: int) -> dict:
        """What the counter's rating page offers now: the ticket to rate, or why there is none."""
        if self.config.counter(counter) is None:
            raise NotFound(f"Không có quầy {counter}; no counter {counter}", counter=counter)
        try:
            t = rating.rateable(self.store.conn(), counter=counter, day=self.today().isoformat(),
                                now=self.clock.now(), window_s=self.config.satisfaction.window_s)
        except QmsError as exc:
            return {"counter": counter, "ticket": None, "reason": exc.details.get("reason"), "message": exc.message}
        svc = self.config.service(t.service)
        closes = (t.finished_at + self.config.satisfaction.window_s) if t.finished_at else None
        return {"counter": counter, "ticket": t.code, "service": t.service, "service_name": svc.name if svc else t.service,
                "window_ends_at": closes, "reason": None, "message": None}

    def _rating_rows(self, day: str | None):
        start = self._day_start(day or self.today().isoformat())
        return self.store.conn().execute(
            "SELECT seq, type, at, ticket_id, counter, data FROM events WHERE at >= ? AND at < ? AND type IN "
            "('ticket_rated', 'rating_alert_resolved') ORDER BY seq", (start, start + 86400)).fetchall()

    def satisfaction_today(self, day: str | None = None) -> dict:
        """Per service and per counter: ratings, counts per level, share satisfied, reasons."""
        by_service: dict[str, Counter] = {}
        by_counter: dict[int, Counter] = {}
        reasons: Counter = Counter()
        for r in self._rating_rows(day):
            if r["type"] != "ticket_rated":
                continue
            data = json.loads(r["data"])
            by_service.setdefault(data.get("service") or "?", Counter())[data["score"]] += 1
            by_counter.setdefault(r["counter"], Counter())[data["score"]] += 1
            if data.get("reason"):
                reasons[data["reason"]] += 1

        def row(levels: Counter) -> dict:
            n = sum(levels.values())
            return {"ratings": n, "levels": {str(s): levels[s] for s in sorted(rating.LEVELS, reverse=True)},
                    "satisfied_share": round(sum(levels[s] for s in rating.SATISFIED) / n, 4) if n else None}

        names = {s.code: s.name for s in self.config.services}
        return {
            "services": [{"service": code, "name": names.get(code, code), **row(by_service[code])}
                         for code in [s.code for s in self.config.services] if code in by_service],
            "counters": [{"counter": n, **row(by_counter[n])} for n in sorted(by_counter)],
            "total": row(sum(by_service.values(), Counter())),
            "reasons": {k: reasons[k] for k in rating.REASONS},
        }

    def rating_alerts(self, day: str | None = None) -> list[dict]:
        """Today's low ratings not yet marked dealt with, as alerts (resolvable)."""
        open_: dict[int, dict] = {}
        for r in self._rating_rows(day):
            data = json.loads(r["data"])
            if r["type"] == "rating_alert_resolved":
                open_.pop(data.get("alert"), None)
            elif data.get("score", 4) <= rating.LOW_SCORE:
                why = rating.REASONS.get(data.get("reason") or "", ("chưa nêu lý do", "no reason given"))
                svc = self.config.service(data.get("service") or "")
                open_[r["seq"]] = {
                    "id": r["seq"], "kind": "low_rating", "severity": 2, "code": data.get("code"),
                    "service": data.get("service"), "counter": r["counter"], "at": r["at"],
                    "message": (f"Quầy {r['counter']}: công dân số {data.get('code')} ({svc.name if svc else ''}) "
                                f"không hài lòng – {why[0]}; a citizen was unsatisfied at counter {r['counter']}: "
                                f"{why[1]}"),
                    "waiting": None, "longest_wait_s": None, "estimated_wait_s": None, "recommendations": [],
                    "resolvable": True, "clerk": data.get("clerk"), "reason": data.get("reason")}
        return list(open_.values())

    def resolve_rating_alert(self, alert_id: int, actor: str | None = None) -> dict:
        alert = next((a for a in self.rating_alerts() if a["id"] == alert_id), None)
        if alert is None:
            raise NotFound(f"Không có cảnh báo đánh giá {alert_id} đang mở; no open rating alert {alert_id}",
                           alert=alert_id)
        events: list[dict] = []
        with self.store.write() as conn:
            self._event(conn, events, "rating_alert_resolved", actor=actor, counter=alert["counter"],
                        alert=alert_id, code=alert["code"])
        self._emit(events)
        return {**alert, "resolved": True}
