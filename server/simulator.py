"""Replay a scenario day through the real engine in virtual time.

Citizens arrive and take tickets (the engine's estimate at that moment is what the ticket
would print), clerks sign in and out by their shifts, call the next citizen whenever their
hands are free, wait ``WALK_S`` for the citizen to reach the counter, serve for the
scenario's ``service_s`` (which the engine never sees before the service ends), mark
no-shows after ``NO_SHOW_GRACE_S``, and citizens whose patience runs out leave.

One row per ticket comes out, in the format the scenario README asks for.
"""
from __future__ import annotations

import csv
import heapq
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
import random
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from qms_common.clock import FakeClock

from .engine import Engine
from .scenario import Scenario, load_scenario
from .store import Store

WALK_S = 20.0
NO_SHOW_GRACE_S = 60.0
SIM_DAY = (2026, 11, 23)  # a Monday; only the time of day matters

REPORT_COLUMNS = ["arrival_s", "service", "priority", "predicted_wait_s", "called_s", "started_s", "finished_s",
                  "counter", "clerk", "outcome"]


@dataclass
class TicketRecord:
    arrival_s: float
    service: str
    priority: bool
    predicted_wait_s: float
    ticket_id: str
    service_s: float
    no_show: bool
    called_s: float | None = None
    started_s: float | None = None
    finished_s: float | None = None
    counter: int | None = None
    clerk: str | None = None
    outcome: str = "unserved"


@dataclass
class SimulationResult:
    scenario: str
    rule: str
    records: list[TicketRecord] = field(default_factory=list)

    def summary(self, target_s: float = 900) -> dict:
        called = [r for r in self.records if r.called_s is not None]
        waits = [r.called_s - r.arrival_s for r in called]
        errors = [abs(r.predicted_wait_s - (r.called_s - r.arrival_s)) for r in called]
        return {
            "tickets": len(self.records),
            "served": sum(r.outcome == "done" for r in self.records),
            "no_show": sum(r.outcome == "no_show" for r in self.records),
            "abandoned": sum(r.outcome == "abandoned" for r in self.records),
            "unserved": sum(r.outcome == "unserved" for r in self.records),
            "mean_wait_min": statistics.fmean(waits) / 60 if waits else 0.0,
            "p90_wait_min": (statistics.quantiles(waits, n=10)[8] / 60) if len(waits) > 1 else 0.0,
            "within_target": sum(w <= target_s for w in waits) / len(waits) if waits else 1.0,
            "estimate_mae_min": statistics.fmean(errors) / 60 if errors else 0.0,
        }

    def write_csv(self, out) -> None:
        w = csv.writer(out)
        w.writerow(REPORT_COLUMNS)
        for r in self.records:
            w.writerow([r.arrival_s, r.service, int(r.priority), round(r.predicted_wait_s, 1),
                        _fmt(r.called_s), _fmt(r.started_s), _fmt(r.finished_s), r.counter or "", r.clerk or "",
                        r.outcome])


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.1f}"


class Simulation:
    def __init__(self, scenario: Scenario, *, rule: str | None = None, db_path: str | Path | None = None,
                 ratings: bool = False) -> None:
        self.scenario = scenario
        self.config = scenario.center_config(rule=rule)
        tz = ZoneInfo(scenario.center.timezone)
        h, m = (int(x) for x in scenario.center.opens_at.split(":"))
        day = scenario.center.date or date(*SIM_DAY)
        self.t0 = datetime(day.year, day.month, day.day, h, m, tzinfo=tz).timestamp()
        # citizens rate some services (seeded by the day: the same run rates the same way)
        self.ratings = random.Random(day.toordinal()) if ratings else None
        self.clock = FakeClock(self.t0)
        self._tmp = None
        if db_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="qms-sim-")
            db_path = Path(self._tmp.name) / "sim.db"
        self.store = Store(db_path, synchronous="OFF")
        self.engine = Engine(self.store, self.config, self.clock)
        self._queue: list[tuple[float, int, str, object]] = []
        self._n = 0
        self._now = 0.0
        self.records: dict[str, TicketRecord] = {}
        self.on_shift: dict[int, str] = {}      # counter -> clerk
        self.leaving: set[int] = set()           # counters whose shift ended with a citizen in hand
        self.closing: set[int] = set()           # last shift over after closing: serve who still waits
        self.busy: dict[int, str] = {}           # counter -> ticket id in hand

    def _at(self, t: float, kind: str, payload: object = None) -> None:
        self._n += 1
        heapq.heappush(self._queue, (t, self._n, kind, payload))

    def now_s(self) -> float:
        return self._now  # kept exactly: epoch + 207.3 - epoch is not 207.3 in floating point

    def run(self) -> SimulationResult:
        for shift in self.scenario.shifts:
            self._at(shift.start_s, "shift_start", shift)
            self._at(shift.end_s, "shift_end", shift)
        for a in self.scenario.arrivals:
            if a.arrival_s <= self.scenario.center.close_s:
                self._at(a.arrival_s, "arrival", a)
        while self._queue:
            t, _, kind, payload = heapq.heappop(self._queue)
            if t > self._now:
                self._now = t
                self.clock.set(self.t0 + t)
            getattr(self, f"_on_{kind}")(payload)
            self._dispatch()
        for rec in self.records.values():
            if rec.outcome == "unserved":
                state = self.engine.ticket(rec.ticket_id)["state"]
                rec.outcome = {"abandoned": "abandoned", "no_show": "no_show"}.get(state, "unserved")
        result = SimulationResult(self.scenario.name, self.config.calling.rule,
                                  sorted(self.records.values(), key=lambda r: r.arrival_s))
        self.store.close()
        if self._tmp:
            self._tmp.cleanup()
        return result

    # events --------------------------------------------------------------------------------
    def _on_arrival(self, a) -> None:
        t = self.engine.issue(a.service, priority=a.priority, source="simulator")
        self.records[t["id"]] = TicketRecord(a.arrival_s, a.service, a.priority, t["estimated_wait_s"], t["id"],
                                             a.service_s, a.no_show)
        if a.patience_s is not None:
            self._at(a.arrival_s + a.patience_s, "patience", t["id"])

    def _on_patience(self, ticket_id: str) -> None:
        if self.engine.ticket(ticket_id)["state"] == "waiting":
            self.engine.abandon(ticket_id, actor="citizen", reason="left")
            self.records[ticket_id].outcome = "abandoned"

    def _on_shift_start(self, shift) -> None:
        counter = self.engine.counter(shift.counter)
        if counter["state"] != "closed":
            return
        self.engine.sign_in(shift.counter, shift.clerk)
        self.on_shift[shift.counter] = shift.clerk
        self.leaving.discard(shift.counter)

    def _on_shift_end(self, shift) -> None:
        if self.on_shift.get(shift.counter) != shift.clerk:
            return
        if shift.end_s >= self.scenario.center.close_s:
            # the kiosk has stopped issuing; counters serve whoever is still waiting
            self.closing.add(shift.counter)
            if shift.counter not in self.busy:
                self._close_if_idle(shift.counter)
            return
        if shift.counter in self.busy:
            self.leaving.add(shift.counter)
        else:
            self._sign_out(shift.counter)

    def _sign_out(self, number: int) -> None:
        self.engine.sign_out(number, self.on_shift.pop(number))
        self.leaving.discard(number)

    def _on_arrive_at_counter(self, payload) -> None:
        number, ticket_id = payload
        rec = self.records[ticket_id]
        if rec.no_show:
            self._at(self.now_s() + NO_SHOW_GRACE_S - WALK_S, "no_show", payload)
            return
        self.engine.start(ticket_id, number, self.on_shift[number])
        rec.started_s = self.now_s()
        self._at(self.now_s() + rec.service_s, "service_done", payload)

    def _on_no_show(self, payload) -> None:
        number, ticket_id = payload
        self.engine.no_show(ticket_id, number, self.on_shift[number])
        self.records[ticket_id].outcome = "no_show"
        self._free(number)

    def _on_service_done(self, payload) -> None:
        number, ticket_id = payload
        self.engine.finish(ticket_id, number, self.on_shift[number])
        rec = self.records[ticket_id]
        rec.finished_s = self.now_s()
        rec.outcome = "done"
        if self.ratings is not None:
            self._rate(number, rec)
        self._free(number)

    def _rate(self, number: int, rec: TicketRecord) -> None:
        """Six in ten rate; a long wait makes a low score likelier (a model, for reports and demos)."""
        rng = self.ratings
        if rng.random() >= 0.6:
            return
        late = (rec.called_s or rec.arrival_s) - rec.arrival_s > 900
        score = rng.choices([4, 3, 2, 1], weights=[3, 4, 2, 2] if late else [6, 4, 1, 0.3])[0]
        reason = None
        if score == 1:
            reason = "waited_too_long" if late and rng.random() < 0.7 else rng.choice(
                ["unclear_guidance", "attitude", "dossier_returned", "other"])
        self.engine.rate(score, ticket_id=rec.ticket_id, counter=number, reason=reason, source="simulator")

    def _free(self, number: int) -> None:
        self.busy.pop(number, None)
        if number in self.leaving:
            self._sign_out(number)

    def _close_if_idle(self, number: int) -> None:
        if number not in self.busy and not self._call(number):
            self.closing.discard(number)
            self._sign_out(number)

    def _dispatch(self) -> None:
        """Every clerk with free hands calls the next citizen."""
        for number in list(self.on_shift):
            if number in self.busy or number in self.leaving:
                continue
            if number in self.closing:
                self._close_if_idle(number)
            else:
                self._call(number)

    def _call(self, number: int) -> bool:
        clerk = self.on_shift[number]
        t = self.engine.call_next(number, clerk)
        if t is None:
            return False
        rec = self.records[t["id"]]
        if rec.called_s is None:
            rec.called_s = self.now_s()
        rec.counter, rec.clerk = number, clerk
        self.busy[number] = t["id"]
        self._at(self.now_s() + WALK_S, "arrive_at_counter", (number, t["id"]))
        return True


def simulate(scenario: Scenario | str | Path, *, rule: str | None = None, db_path: str | Path | None = None,
             ratings: bool = False) -> SimulationResult:
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    return Simulation(scenario, rule=rule, db_path=db_path, ratings=ratings).run()


def run_scenario_file(folder: str, *, out: str = "-", center_file: str | None = None, rule: str | None = None,
                      db_path: str | None = None, ratings: bool = False) -> int:
    """``qms simulate``: the per-ticket CSV, then a one-line summary on stderr. With ``db_path``
    the day's events stay in that database (several days into one: a week for the reports)."""
    result = simulate(folder, rule=rule, db_path=db_path, ratings=ratings)
    if out == "-":
        result.write_csv(sys.stdout)
    else:
        with open(out, "w", newline="", encoding="utf-8") as f:
            result.write_csv(f)
    s = result.summary()
    print(f"{result.scenario} ({result.rule}): {s['tickets']} tickets, {s['served']} served, "
          f"{s['no_show']} no-show, {s['abandoned']} abandoned, {s['unserved']} unserved; "
          f"mean wait {s['mean_wait_min']:.1f} min, p90 {s['p90_wait_min']:.1f} min, "
          f"{s['within_target'] * 100:.1f}% called within 15 min; estimate MAE {s['estimate_mae_min']:.1f} min",
          file=sys.stderr)
    return 0
