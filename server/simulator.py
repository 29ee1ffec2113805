"""Replay a scenario day through the real engine in virtual time.

What the scenario format (``data/scenarios/README.md``) says, and nothing else:

* citizens arrive and take tickets (the engine's estimate at that moment is what the ticket
  would print); those whose patience runs out before they are called leave;
* each shift row signs its clerk in at ``start_s`` with that row's skills and out at ``end_s``
  (after finishing the citizen in hand); the gaps between a clerk's rows are breaks and lunch;
  nobody is called once a clerk's row has ended, so nobody at all after the last shift;
* a clerk with free hands calls the next citizen; service starts at the call, or ``walk_s``
  later if the center has it (the counter held meanwhile); a citizen who does not come is
  marked no-show ``no_show_hold_s`` after the call; the service lasts the scenario's
  ``service_s``, which the engine never sees before the service ends.

With history (earlier days of the same center), those days run first through the same engine
and the same database, as a center with an event log would have lived them; the estimator
learns from that log. One row per ticket of the day comes out, in the format the README asks.
"""
from __future__ import annotations

import csv
import heapq
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from qms_common.clock import FakeClock
from qms_common.errors import ConfigError

from .engine import Engine
from .engine.waits import Shift as RosterShift
from .scenario import Scenario, load_scenario, trained_option, with_trained
from .store import Store

SIM_DAY = date(2026, 11, 23)  # a Monday: the day of a scenario without a date

REPORT_COLUMNS = ["arrival_s", "service", "priority", "predicted_wait_s", "called_s", "started_s", "finished_s",
                  "counter", "clerk", "outcome", "predicted_low_s", "predicted_high_s"]


@dataclass
class TicketRecord:
    arrival_s: float
    service: str
    priority: bool
    predicted_wait_s: float
    ticket_id: str
    service_s: float
    no_show: bool
    predicted_low_s: float | None = None
    predicted_high_s: float | None = None
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
                        r.outcome, _fmt(r.predicted_low_s), _fmt(r.predicted_high_s)])


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.1f}"


class Simulation:
    """One scenario day (after its history days, if any) through one engine and one database.

    ``observer(sim, ticket, arrival)``, if given, is called right after each ticket of the day
    is issued, with the engine in the state of that moment (the benchmark computes its
    baselines there).
    """

    def __init__(self, scenario: Scenario, *, rule: str | None = None, db_path: str | Path | None = None,
                 history: list[Scenario] | tuple = (), observer=None, ratings: bool = False,
                 director=None, trained=None) -> None:
        self.scenario = scenario
        self.history = list(history)
        counters: dict[int, list[str]] = {}
        for sc in [*self.history, scenario]:
            for number, skills in sc.counter_services().items():
                known = counters.setdefault(number, [])
                known.extend(s for s in skills if s not in known)
        clerks: dict[str, list[str]] = {}
        for sc in [*self.history, scenario]:
            for clerk, skills in sc.clerk_skills().items():
                known = clerks.setdefault(clerk, [])
                known.extend(s for s in skills if s not in known)
        codes = {s.code for s in scenario.center.services}
        for sc in self.history:
            unknown = {a.service for a in sc.arrivals} - codes
            if unknown:
                raise ConfigError(f"history day {sc.name}: services not in {scenario.name}: {', '.join(sorted(unknown))}")
        # ``trained``: "all" or clerk id -> extra services, after the rows' skills (the director's
        # controls and the advice may give a counter those; signing in keeps to the row's skills)
        clerks = with_trained(clerks, trained, [s.code for s in scenario.center.services])
        self.config = scenario.center_config(rule=rule, counters=counters, clerks=clerks)
        self.tz = ZoneInfo(scenario.center.timezone)
        self.days = self._dates()
        self.t0 = self._day_start(scenario, self.days[-1])
        self.clock = FakeClock(self._day_start(self.history[0], self.days[0]) if self.history else self.t0)
        # citizens rate some services (seeded by the day: the same run rates the same way)
        self.ratings = random.Random(self.days[-1].toordinal()) if ratings else None
        self._tmp = None
        if db_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="qms-sim-")
            db_path = Path(self._tmp.name) / "sim.db"
        self.store = Store(db_path, synchronous="OFF")
        self.engine = Engine(self.store, self.config, self.clock)
        self.observer = observer
        self.director = director  # server/advice/follow.py: a director who applies the advice
        self._now = 0.0

    def _dates(self) -> list[date]:
        """The calendar day of each history day and of the day itself, in that order: their own
        dates when they have them and they come before the day, else the days just before it."""
        main = self.scenario.center.date or SIM_DAY
        own = [sc.center.date for sc in self.history]
        if all(d is not None for d in own) and all(d < main for d in own) and len(set(own)) == len(own):
            return sorted(own) + [main]
        n = len(self.history)
        return [main - timedelta(days=n - i) for i in range(n)] + [main]

    def _day_start(self, sc: Scenario, day: date) -> float:
        h, m = (int(x) for x in sc.center.opens_at.split(":"))
        return datetime(day.year, day.month, day.day, h, m, tzinfo=self.tz).timestamp()

    def now_s(self) -> float:
        return self._now  # kept exactly: epoch + 207.3 - epoch is not 207.3 in floating point

    def run(self, until_s: float | None = None) -> SimulationResult:
        """The day (after its history days). ``until_s``: stop the day there (seconds after
        opening; what happens after it is not played: the counterfactual branches of
        ``server/advice/effect.py`` need only the next hour and a half)."""
        order = sorted(zip(self.days[:-1], self.history), key=lambda p: p[0])
        for day, sc in order:
            self._run_day(sc, day, observe=False)
        records = self._run_day(self.scenario, self.days[-1], observe=True, until_s=until_s)
        result = SimulationResult(self.scenario.name, self.config.calling.rule,
                                  sorted(records.values(), key=lambda r: r.arrival_s))
        self.store.close()
        if self._tmp:
            self._tmp.cleanup()
        return result

    # one day -------------------------------------------------------------------------------
    def _run_day(self, sc: Scenario, day: date, *, observe: bool,
                 until_s: float | None = None) -> dict[str, TicketRecord]:
        self.day = sc
        self.t0 = self._day_start(sc, day)
        self._now = 0.0
        self.clock.set(max(self.t0, self.clock.now()))
        self.walk_s, self.hold_s = sc.center.walk_s, sc.center.no_show_hold_s
        self.engine.roster = [RosterShift(r.counter, r.clerk, tuple(r.skills), self.t0 + r.start_s, self.t0 + r.end_s)
                              for r in sc.shifts]
        self._observe = observe
        self._queue: list[tuple[float, int, str, object]] = []
        self._n = 0
        self.records: dict[str, TicketRecord] = {}
        self.on_shift: dict[int, object] = {}    # counter -> the shift row being worked
        self.leaving: set[int] = set()           # counters whose row ended with a citizen in hand
        self.pending: dict[int, object] = {}     # counter -> row waiting for the previous clerk to finish
        self.busy: dict[int, str] = {}           # counter -> ticket id in hand
        for shift in sc.shifts:
            self._at(shift.start_s, "shift_start", shift)
            self._at(shift.end_s, "shift_end", shift)
        for a in sc.arrivals:
            if a.arrival_s <= sc.center.close_s:
                self._at(a.arrival_s, "arrival", a)
        if observe and self.director is not None:
            self.director.start(self)
        while self._queue:
            t, _, kind, payload = heapq.heappop(self._queue)
            if until_s is not None and t > until_s:
                break
            if t > self._now:
                self._now = t
                self.clock.set(self.t0 + t)
            getattr(self, f"_on_{kind}")(payload)
            self._dispatch()
        for rec in self.records.values():
            if rec.outcome == "unserved":
                state = self.engine.ticket(rec.ticket_id)["state"]
                rec.outcome = {"abandoned": "abandoned", "no_show": "no_show"}.get(state, "unserved")
        return self.records

    def _at(self, t: float, kind: str, payload: object = None) -> None:
        self._n += 1
        heapq.heappush(self._queue, (t, self._n, kind, payload))

    # events --------------------------------------------------------------------------------
    def _on_arrival(self, a) -> None:
        t = self.engine.issue(a.service, priority=a.priority, source="simulator")
        low, high = t.get("estimated_wait_range_s") or (None, None)
        rec = TicketRecord(a.arrival_s, a.service, a.priority, t["estimated_wait_s"], t["id"], a.service_s,
                           a.no_show, predicted_low_s=low, predicted_high_s=high)
        self.records[t["id"]] = rec
        if a.patience_s is not None:
            self._at(a.arrival_s + a.patience_s, "patience", t["id"])
        if self._observe and self.observer is not None:
            self.observer(self, t, a)

    def at(self, t: float, fn) -> None:
        """Call ``fn(sim)`` at ``t`` seconds after opening (the director's checks)."""
        self._at(t, "hook", fn)

    def _on_hook(self, fn) -> None:
        fn(self)

    def _on_patience(self, ticket_id: str) -> None:
        if self.engine.ticket(ticket_id)["state"] == "waiting":
            self.engine.abandon(ticket_id, actor="citizen", reason="left")
            self.records[ticket_id].outcome = "abandoned"

    def _on_shift_start(self, shift) -> None:
        number = shift.counter
        current = self.on_shift.get(number)
        if current is not None and current.clerk != shift.clerk:
            self.pending[number] = shift  # the previous clerk is finishing a citizen
            return
        self.engine.sign_in(number, shift.clerk, services=list(shift.skills))
        self.on_shift[number] = shift
        self.leaving.discard(number)

    def _on_shift_end(self, shift) -> None:
        number = shift.counter
        if self.pending.get(number) is shift:
            del self.pending[number]
            return
        if self.on_shift.get(number) is not shift:
            return
        if number in self.busy:
            self.leaving.add(number)  # finishes the citizen in hand, calls nobody else
        else:
            self._sign_out(number)

    def _sign_out(self, number: int) -> None:
        self.engine.sign_out(number, self.on_shift.pop(number).clerk)
        self.leaving.discard(number)
        nxt = self.pending.pop(number, None)
        if nxt is not None:
            self._on_shift_start(nxt)

    def _clerk(self, number: int) -> str:
        return self.on_shift[number].clerk

    def _on_arrive_at_counter(self, payload) -> None:
        number, ticket_id = payload
        self._start(number, ticket_id)

    def _start(self, number: int, ticket_id: str) -> None:
        rec = self.records[ticket_id]
        self.engine.start(ticket_id, number, self._clerk(number))
        rec.started_s = self.now_s()
        self._at(self.now_s() + rec.service_s, "service_done", (number, ticket_id))

    def _on_no_show(self, payload) -> None:
        number, ticket_id = payload
        self.engine.no_show(ticket_id, number, self._clerk(number))
        self.records[ticket_id].outcome = "no_show"
        self._free(number)

    def _on_service_done(self, payload) -> None:
        number, ticket_id = payload
        self.engine.finish(ticket_id, number, self._clerk(number))
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

    def _dispatch(self) -> None:
        """Every clerk on shift with free hands calls the next citizen."""
        for number in list(self.on_shift):
            if number not in self.busy and number not in self.leaving:
                self._call(number)

    def _call(self, number: int) -> bool:
        clerk = self._clerk(number)
        t = self.engine.call_next(number, clerk)
        if t is None:
            return False
        rec = self.records[t["id"]]
        if rec.called_s is None:
            rec.called_s = self.now_s()
        rec.counter, rec.clerk = number, clerk
        self.busy[number] = t["id"]
        if rec.no_show:
            self._at(self.now_s() + self.hold_s, "no_show", (number, t["id"]))
        elif self.walk_s > 0:
            self._at(self.now_s() + self.walk_s, "arrive_at_counter", (number, t["id"]))
        else:
            self._start(number, t["id"])
        return True


def history_days(folders) -> list[Scenario]:
    """Scenario folders given as history: each a day folder, or a folder of day folders (as
    ``generate.py --date D --days N`` writes them), in date order."""
    out: list[Scenario] = []
    for folder in folders:
        folder = Path(folder)
        if (folder / "center.json").is_file() or not folder.is_dir():
            out.append(load_scenario(folder))
        else:
            days = sorted(p for p in folder.iterdir() if (p / "center.json").is_file())
            if not days:
                raise ConfigError(f"{folder}: no scenario day here (no center.json in it or its folders)")
            out.extend(load_scenario(p) for p in days)
    return out


def simulate(scenario: Scenario | str | Path, *, rule: str | None = None, history=(),
             db_path: str | Path | None = None, ratings: bool = False, director=None,
             trained: str | dict | None = None) -> SimulationResult:
    """``trained``: as :class:`Simulation`'s, or a ``clerk,services`` file (``load_trained``)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    days = history_days(history)
    if isinstance(trained, (str, Path)):
        trained = trained_option(str(trained), [*days, scenario])
    return Simulation(scenario, rule=rule, history=days, db_path=db_path, ratings=ratings,
                      director=director, trained=trained).run()


def run_scenario_file(folder: str, *, out: str = "-", center_file: str | None = None, rule: str | None = None,
                      history=(), db_path: str | None = None, ratings: bool = False,
                      follow_advice: bool = False, reaction_s: float = 120.0, trained: str | None = None) -> int:
    """``qms simulate``: the per-ticket CSV, then a one-line summary on stderr. With ``db_path``
    the day's events stay in that database (several days into one: a week for the reports). With
    ``follow_advice``, a director applies the advice's first proposal ``reaction_s`` after seeing it
    (``server/advice/follow.py``); each applied proposal is listed on stderr. ``trained``: ``"all"``
    or a ``clerk,services`` file: what the clerks are trained for beyond their rows' skills."""
    director = None
    if follow_advice:
        from .advice.follow import Director
        director = Director(reaction_s=reaction_s)
    result = simulate(folder, rule=rule, history=history, db_path=db_path, ratings=ratings, director=director,
                      trained=trained)
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
    if director is not None:
        print(f"advice followed (reaction {reaction_s:.0f} s): {len(director.applied)} applied, "
              f"{director.skipped} no longer possible when the director got to it", file=sys.stderr)
        for a in director.applied:
            p = a.proposal
            print(f"  {_clock(a.seen_s)} → {_clock(a.applied_s)}  {p.text.split('; ')[0]}  "
                  f"(toàn trung tâm · all: {_share(p.overall_before)} → {_share(p.overall_after)})", file=sys.stderr)
    return 0


def _clock(seconds: float) -> str:
    return f"+{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}"


def _share(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.0f}%"
