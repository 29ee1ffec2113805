"""The dashboard's predicted-breach alert over a simulated day: episodes, flicker, lead, precision, recall.

The days of ``bench/estimates.py`` (its day lists, reused) are replayed by the real simulator
(``server/simulator.py``, virtual clock). Once every simulated minute (``--every``) the benchmark
reads, per site, what ``Engine.alerts`` gives the pure alert function (``service_stats`` and
``counters_view``) and keeps it; after the day, each alert rule (``server/engine/alerts.py``: the
one in use, and the others named in ``RULES``) is run over those looks with its own memory, as the
engine keeps it between two looks. The simulation does not depend on the alerts, so every rule is
judged on the same day. Definitions (docs/performance.md, section 9, "The alert over a day"):

* an **episode** of a service: consecutive looks at which it has a ``predicted_breach`` or a
  ``wait_breach`` (a prediction that comes true escalates; it has not cleared), from the look that
  raised it to the first look without it. Raised *at the breach*: its first look already says
  ``wait_breach`` (nobody predicted it); the others are raised *as a prediction*;
* **flicker**: an episode of one look (lasting a minute or less);
* a **breach**: a citizen of the service passing 15 minutes of waiting (called later than 15 min
  after the ticket, or still waiting then: leaving later or never called), at ticket + 15 min;
* an episode raised as a prediction is **right** if a breach of its service comes after it is
  raised and before it clears, or within 15 minutes of its raising; **precision**: right ones /
  episodes raised as a prediction; **lead**: from raising to the first such breach;
* a breach is **covered** if the last look at or before it had an episode of its service on;
  **recall ≥ 10 min**: covered by an episode raised at least 10 minutes before it; **recall, at
  all**: covered at all.

Looks run from opening to 15 minutes after the last shift ends; breaches after that are not counted.

Usage: .venv/bin/python bench/alerts.py [--markdown] [--days NAME,...] [--unseen | --heldout | --fresh]
       [--every 60] [--rules current,...]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.estimates import FRESH, GENERATED, UNSEEN, prepare_days  # noqa: E402
from server.engine.alerts import AlertRule, RULE, promise_alerts  # noqa: E402
from server.scenario import load_scenario  # noqa: E402
from server.simulator import Simulation, history_days  # noqa: E402

BREACH_S = 900.0     # the 15-minute promise
LEAD_S = 600.0       # the lead issue 11 asks for
WINDOW_S = 900.0     # an episode is right if a breach comes within this after it is raised
TAIL_S = 900.0       # looks go on this long after the last shift
PROMISE = ("predicted_breach", "wait_breach")

# days for the alert rule that neither bench list has (generate.py seeds 1101-1105), never used
# to choose the rule's numbers (--heldout)
HELDOUT = [
    ("ward-h1101", "ward", ["ward", "--seed", "1101", "--load", "1.0", "--date", "2026-12-14"], None),
    ("ward-h1102-busy", "ward", ["ward", "--seed", "1102", "--load", "1.2", "--date", "2026-12-15"], None),
    ("ward-h1103-hist", "ward", ["ward", "--seed", "1103", "--load", "1.05", "--date", "2026-12-16"],
     ["ward", "--seed", "1113", "--load", "1.05", "--date", "2026-12-02", "--days", "6"]),
    ("sat-h1104", "satellite", ["satellite", "--seed", "1104", "--load", "1.15", "--date", "2026-12-14"], None),
    ("mms-h1105", "mms", ["mms", "--seed", "1105", "--load", "0.92"], None),
]

# the rules compared: the one before 1 Dec 2026 (hysteresis only: cleared at the first look
# 5 min under the target, or with an empty queue; raised by a new ticket's estimate just over
# it), that one with the current rule's clearing only, and the one in use
RULES = {
    "before": AlertRule(clear_after_s=0.0, new_ticket_over_s=0.0, empty_clears=True),
    "clear-hold": AlertRule(new_ticket_over_s=0.0),
    "current": RULE,
}
# the current rule with a waiting citizen "expected past the target" read nearer the top of their
# 80 % interval: raised earlier, at what cost in precision (measured 1 Dec 2026, not in use)
LEANS = {f"lean-{x}": x for x in (0.25, 0.5, 1.0)}


class NoAdvice:
    def texts(self, site):
        return {}


@dataclass
class Look:
    at_s: float
    now: float
    site: str
    services: list[dict]
    counters: list[dict]
    # each waiting citizen: (service, waited so far, estimate, top of the 80 % interval), seconds
    waiting: list[tuple[str, float, float, float]] = field(default_factory=list)


class Watcher:
    """Reads the alert function's inputs every ``every_s`` simulated seconds (a ``director`` of
    :class:`~server.simulator.Simulation`: it schedules its own looks)."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self.looks: list[Look] = []
        self.sites: dict[str, str] = {}       # ticket id -> site
        self.patience: dict[str, float | None] = {}

    def observer(self, sim, ticket, arrival) -> None:
        self.sites[ticket["id"]] = ticket["site"]
        self.patience[ticket["id"]] = arrival.patience_s

    def start(self, sim) -> None:
        self.end_s = max((s.end_s for s in sim.day.shifts), default=0.0) + TAIL_S
        sim.at(0.0, self._look)

    def _look(self, sim) -> None:
        now_s = sim.now_s()
        if now_s + self.every_s <= self.end_s:
            sim.at(now_s + self.every_s, self._look)
        engine = sim.engine
        counters = engine.counters_view()
        conn, now = engine.store.conn(), engine.clock.now()
        for site in engine.config.sites:
            stats = engine.service_stats(site.id)
            rows = conn.execute("SELECT id, service, wait_from FROM tickets WHERE state = 'waiting' AND site = ?",
                                (site.id,)).fetchall()
            waiting = []
            if rows:  # the forecast service_stats has just read (cached: the same state)
                result = engine.waits.all_waiting(conn, site.id, engine.roster, now)
                for tid, service, wait_from in rows:
                    e = result.tickets.get(tid)
                    if e is not None:
                        e = engine.waits._shift(e, result, now)
                        waiting.append((service, now - wait_from, e.wait_s, e.high_s))
            self.looks.append(Look(now_s, now, site.id, stats, [c for c in counters if c["site"] == site.id],
                                   waiting))


@dataclass
class Episode:
    key: tuple[str, str]
    raised_s: float
    first_kind: str
    cleared_s: float | None = None
    breach_s: float | None = None    # the first breach that makes it right

    @property
    def predicted(self) -> bool:
        return self.first_kind == "predicted_breach"


@dataclass
class Score:
    episodes: list[Episode] = field(default_factory=list)
    breaches: int = 0
    covered: int = 0
    covered_lead: int = 0

    @property
    def predicted(self) -> list[Episode]:
        return [e for e in self.episodes if e.predicted]

    @property
    def right(self) -> list[Episode]:
        return [e for e in self.predicted if e.breach_s is not None]

    def row(self) -> dict:
        eps, pred, right = self.episodes, self.predicted, self.right
        leads = [e.breach_s - e.raised_s for e in right]
        return {"episodes": len(eps), "predicted": len(pred), "at_breach": len(eps) - len(pred),
                "flicker": sum(e.cleared_s - e.raised_s <= 60.0 for e in eps),
                "lead_median_min": statistics.median(leads) / 60 if leads else None,
                "lead_10": sum(x >= LEAD_S for x in leads) / len(leads) if leads else None,
                "precision": len(right) / len(pred) if pred else None,
                "breaches": self.breaches,
                "recall_10": self.covered_lead / self.breaches if self.breaches else None,
                "recall_any": self.covered / self.breaches if self.breaches else None}


def leaned(look: Look, target_s: float, lean: float) -> list[dict]:
    """The look's service figures with "expected past the target" read at ``lean`` of the way from
    each waiting citizen's estimate to the top of their 80 % interval (0: the estimate, as the
    engine reads it; 1: the top); those already past it count, as in the engine."""
    n: dict[str, int] = {}
    for service, waited, est, high in look.waiting:
        n[service] = n.get(service, 0) + (waited + est + lean * max(0.0, high - est) > target_s)
    return [dict(s, waiting_will_pass_target=n.get(s["service"], 0)) for s in look.services]


def alert_timeline(looks: list[Look], config, rule: AlertRule, lean: float = 0.0
                   ) -> list[tuple[float, dict[tuple[str, str], str]]]:
    """At each look: (site, service) -> the promise alert's kind, by ``rule`` with its memory; with
    ``lean``, the waiting citizens' figures read that far towards their interval's top (``leaned``)."""
    memory: dict[str, dict] = {}
    out: list[tuple[float, dict]] = []
    for look in looks:
        if not out or out[-1][0] != look.at_s:
            out.append((look.at_s, {}))
        services = look.services if not lean else leaned(look, config.targets.max_wait_s, lean)
        for a in promise_alerts(config, services, look.counters, look.now, memory.setdefault(look.site, {}),
                                rule=rule):
            if a["kind"] in PROMISE:
                out[-1][1][(look.site, a["service"])] = a["kind"]
    return out


def score(timeline: list[tuple[float, dict]], breaches: list[tuple[tuple[str, str], float]]) -> Score:
    """Episodes from the timeline, judged against the breaches (definitions in the docstring)."""
    s = Score()
    open_: dict[tuple[str, str], Episode] = {}
    for t, kinds in timeline:
        for key in list(open_):
            if key not in kinds:
                open_.pop(key).cleared_s = t
        for key, kind in kinds.items():
            if key not in open_:
                open_[key] = Episode(key, t, kind)
                s.episodes.append(open_[key])
    end = timeline[-1][0] + (timeline[-1][0] - timeline[-2][0] if len(timeline) > 1 else 60.0) if timeline else 0.0
    for e in open_.values():
        e.cleared_s = end
    by_key: dict[tuple[str, str], list[Episode]] = {}
    for e in s.episodes:
        by_key.setdefault(e.key, []).append(e)
    times = [t for t, _ in timeline]
    for key, b in sorted(breaches, key=lambda x: x[1]):
        if not times or b > end:
            continue
        s.breaches += 1
        for e in by_key.get(key, []):
            if e.predicted and e.breach_s is None and e.raised_s <= b and (b < e.cleared_s or b <= e.raised_s + WINDOW_S):
                e.breach_s = b
        # the last look at or before the breach
        k = max((i for i, t in enumerate(times) if t <= b), default=None)
        if k is None:
            continue
        t = times[k]
        ep = next((e for e in by_key.get(key, []) if e.raised_s <= t < e.cleared_s), None)
        if ep is not None:
            s.covered += 1
            s.covered_lead += b - ep.raised_s >= LEAD_S
    return s


def run_day(folder: Path, history: list[Path] | None, every_s: float):
    scenario = load_scenario(folder)
    watcher = Watcher(every_s)
    sim = Simulation(scenario, history=history_days(history or []), observer=watcher.observer, director=watcher)
    sim.engine._advisor = NoAdvice()  # the alert's advice texts are not what is measured here
    config = sim.config
    result = sim.run()
    breaches = []
    for rec in result.records:
        if rec.called_s is not None:
            late = rec.called_s - rec.arrival_s > BREACH_S
        else:
            patience = watcher.patience.get(rec.ticket_id)
            late = patience is None or patience > BREACH_S
        if late:
            breaches.append(((watcher.sites[rec.ticket_id], rec.service), rec.arrival_s + BREACH_S))
    return watcher.looks, config, breaches


def fmt(x, pct=False, digits=1) -> str:
    if x is None:
        return "—"
    return f"{x * 100:.0f}%" if pct else f"{x:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--days", help="comma-separated day names (default: all)")
    ap.add_argument("--unseen", action="store_true", help="bench/estimates.py's five unseen days instead")
    ap.add_argument("--heldout", action="store_true", help="this bench's held-out days (seeds 1101-1105) instead")
    ap.add_argument("--fresh", action="store_true", help="bench/estimates.py's six days of new seeds (1201-1206)")
    ap.add_argument("--every", type=float, default=60.0, help="seconds of simulated time between looks")
    ap.add_argument("--rules", default=",".join(RULES),
                    help=f"comma-separated rules to compare, of {', '.join([*RULES, *LEANS])}")
    a = ap.parse_args()
    wanted = set(a.days.split(",")) if a.days else None
    generated = UNSEEN if a.unseen else HELDOUT if a.heldout else FRESH if a.fresh else GENERATED
    days = prepare_days(Path(tempfile.mkdtemp(prefix="qms-alerts-")), generated,
                        shared=not (a.unseen or a.heldout or a.fresh), wanted=wanted)
    rules = [r for r in a.rules.split(",") if r]
    head = ["day", "rule", "raised as a prediction", "raised at the breach", "≤ 1 min (all)", "lead median, min",
            "lead ≥ 10 min (right ones)", "precision", "breaches", "recall ≥ 10 min", "recall at all"]
    rows = []
    totals = {r: Score() for r in rules}
    for name, kind, folder, history in days:
        looks, config, breaches = run_day(folder, history, a.every)
        print(f"{name}: {len(looks)} looks, {len(breaches)} breaches", file=sys.stderr)
        for r in rules:
            sc = score(alert_timeline(looks, config, RULES.get(r, RULE), LEANS.get(r, 0.0)), breaches)
            t = totals[r]
            t.episodes += sc.episodes
            t.breaches += sc.breaches
            t.covered += sc.covered
            t.covered_lead += sc.covered_lead
            rows.append((name, r, sc.row()))
    rows += [("all days", r, totals[r].row()) for r in rules]
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
    else:
        print("  ".join(head))
    for name, r, x in rows:
        cells = [name, r, str(x["predicted"]), str(x["at_breach"]), str(x["flicker"]),
                 fmt(x["lead_median_min"]), fmt(x["lead_10"], pct=True), fmt(x["precision"], pct=True),
                 str(x["breaches"]), fmt(x["recall_10"], pct=True), fmt(x["recall_any"], pct=True)]
        print("| " + " | ".join(cells) + " |" if a.markdown else "  ".join(cells))


if __name__ == "__main__":
    main()
