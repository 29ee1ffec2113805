"""How good is the wait printed on the ticket? Against four textbook predictors, on the same runs.

Each day is replayed by the real simulator (``server/simulator.py``: the real engine in virtual
time, cold or after its history days). At the moment each ticket is issued the benchmark reads the
engine's state and computes four baselines (definitions in issue 11):

* **QL**: (tickets ahead in the same service's queue + 1) x mean service time of that service
  finished so far today (else of all services, else 600 s) / on-duty clerks who can serve it;
* **LES**: the wait of the last citizen of the service called so far;
* **HOL**: how long the citizen at the head of the service's queue has waited so far (0 if none);
* **RA**: mean wait of the service's last 10 citizens called.

Only tickets that were called count (the actual wait is ``called_s - arrival_s`` of the first
call; who left or was never called has no actual wait). For each predictor: MAE, RMSE, bias
(mean of predicted - actual), 90th percentile of the absolute error, share within +-5 min, and
for the printed estimate the share of actual waits inside its 80% interval.

The generated days are made at run time with ``data/scenarios/generate.py`` (standard library,
deterministic by seed) in a temporary folder, so the benchmark needs nothing else.

Usage: .venv/bin/python bench/estimates.py [--markdown] [--days NAME,...] [--worst 3] [--unseen | --fresh] [--seed-offset N]
       [--points N]
"""
from __future__ import annotations

import argparse
import bisect
import math
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qms_common.clock import local_datetime  # noqa: E402
from server.engine.forecast import forecast  # noqa: E402
from server.scenario import load_scenario  # noqa: E402
from server.simulator import Simulation, history_days  # noqa: E402

GENERATE = ROOT / "data" / "scenarios" / "generate.py"
BASELINES = ("QL", "LES", "HOL", "RA")
BREACH_S = 900.0  # the 15-minute promise

# name, kind, generate.py arguments for the day, for its history (None: cold)
GENERATED = [
    ("ward-s101", "ward", ["ward", "--seed", "101", "--load", "0.95", "--date", "2026-12-07"], None),
    ("ward-s102-busy", "ward", ["ward", "--seed", "102", "--load", "1.1", "--date", "2026-12-08"], None),
    ("ward-s103-quiet", "ward", ["ward", "--seed", "103", "--load", "0.8", "--date", "2026-12-09"], None),
    ("ward-s104-noshow", "ward", ["ward", "--seed", "104", "--no-show", "0.12", "--cv", "1.0",
                                  "--date", "2026-12-10"], None),
    ("ward-s105-hist", "ward", ["ward", "--seed", "105", "--load", "1.0", "--date", "2026-12-07"],
     ["ward", "--seed", "600", "--load", "1.0", "--date", "2026-11-23", "--days", "10"]),
    ("ward-s106-hist-busy", "ward", ["ward", "--seed", "106", "--load", "1.15", "--date", "2026-12-07"],
     ["ward", "--seed", "620", "--load", "1.15", "--date", "2026-11-23", "--days", "10"]),
    ("sat-s201", "satellite", ["satellite", "--seed", "201", "--load", "0.9", "--date", "2026-12-08"], None),
    ("sat-s202-busy", "satellite", ["satellite", "--seed", "202", "--load", "1.1", "--date", "2026-12-07"], None),
    ("sat-s203-hist", "satellite", ["satellite", "--seed", "203", "--load", "1.0", "--date", "2026-12-09"],
     ["satellite", "--seed", "700", "--load", "1.0", "--date", "2026-11-25", "--days", "10"]),
    ("mms-s301", "mms", ["mms", "--seed", "301", "--load", "0.9"], None),
    ("mms-s302-hist", "mms", ["mms", "--seed", "302", "--load", "0.85", "--date", "2026-12-09"],
     ["mms", "--seed", "800", "--load", "0.85", "--date", "2026-11-23", "--days", "5"]),
]
SHARED = [("ward-weekday", "ward"), ("satellite-point", "satellite"), ("mms-steady", "mms")]
# days made after the interval's calibration was written, never used to tune it (--unseen)
UNSEEN = [
    ("ward-u901", "ward", ["ward", "--seed", "901", "--load", "1.05", "--date", "2026-12-10"], None),
    ("ward-u902-hist", "ward", ["ward", "--seed", "902", "--load", "1.2", "--date", "2026-12-08"],
     ["ward", "--seed", "912", "--load", "1.1", "--date", "2026-11-24", "--days", "8"]),
    ("sat-u903", "satellite", ["satellite", "--seed", "903", "--load", "1.2", "--date", "2026-12-09"], None),
    ("sat-u904-hist", "satellite", ["satellite", "--seed", "904", "--load", "0.95", "--date", "2026-12-07"],
     ["satellite", "--seed", "914", "--load", "0.95", "--date", "2026-11-23", "--days", "8"]),
    ("ward-u905-noshow", "ward", ["ward", "--seed", "905", "--load", "0.9", "--no-show", "0.1", "--cv", "1.2",
                                  "--date", "2026-12-11"], None),
]

# days of new seeds made on 1 Dec 2026 (evening) to check the round on issue 11's last misses, used
# to tune nothing (--fresh)
FRESH = [
    ("ward-f1201", "ward", ["ward", "--seed", "1201", "--load", "1.0", "--date", "2026-12-14"], None),
    ("ward-f1202-hist", "ward", ["ward", "--seed", "1202", "--load", "1.1", "--date", "2026-12-16"],
     ["ward", "--seed", "1212", "--load", "1.1", "--date", "2026-12-02", "--days", "8"]),
    ("ward-f1203-noshow", "ward", ["ward", "--seed", "1203", "--load", "0.95", "--no-show", "0.1", "--cv", "1.0",
                                   "--date", "2026-12-17"], None),
    ("sat-f1204", "satellite", ["satellite", "--seed", "1204", "--load", "1.05", "--date", "2026-12-15"], None),
    ("sat-f1205-hist", "satellite", ["satellite", "--seed", "1205", "--load", "1.0", "--date", "2026-12-14"],
     ["satellite", "--seed", "1215", "--load", "1.0", "--date", "2026-11-30", "--days", "8"]),
    ("ward-f1206", "ward", ["ward", "--seed", "1206", "--load", "0.9", "--date", "2026-12-18"], None),
]


@dataclass
class Row:
    service: str
    issued_s: float
    actual: float | None = None
    printed: float = 0.0
    low: float | None = None
    high: float | None = None
    base: dict[str, float] = field(default_factory=dict)
    context: str = ""
    patience: float | None = None
    breached: bool = False
    samples: list[float] | None = None  # --points: the call waits of a forecast of many paths at issue
    issued_at: float = 0.0  # the engine's clock at issue
    split: tuple[str, str] | None = None  # the words "called before HH:MM or after HH:MM", as printed


_SPLIT = re.compile(r"before (\d\d:\d\d) or after (\d\d:\d\d)")


def split_outcome(split: tuple[str, str], issued_at: float, actual: float | None, timezone: str) -> str:
    """Whether the printed "called before A or after B" came true: ``before``, ``after``,
    ``between`` (neither: the words were wrong) or ``not called`` (left, or the day ended)."""
    if actual is None:
        return "not called"
    at = local_datetime(issued_at + actual, timezone).strftime("%H:%M")
    return "before" if at <= split[0] else "after" if at >= split[1] else "between"


class Baselines:
    """Computes the four baselines from the engine's live state, at issue; with ``points``, also
    forecasts the new ticket again with that many sample paths (other seeds) and keeps its call
    waits, to compare points of the same predictive distribution (``points_table``)."""

    def __init__(self, points: int = 0) -> None:
        self.rows: dict[str, Row] = {}
        self.points = points

    def __call__(self, sim: Simulation, ticket: dict, arrival) -> None:
        conn = sim.store.conn()
        engine = sim.engine
        now = engine.clock.now()
        day = ticket["day"]
        svc = ticket["service"]
        ahead = conn.execute("SELECT count(*) FROM tickets WHERE state = 'waiting' AND service = ? AND id != ?",
                             (svc, ticket["id"])).fetchone()[0]
        mean = conn.execute("SELECT avg(finished_at - started_at) FROM tickets WHERE day = ? AND state = 'done' "
                            "AND service = ?", (day, svc)).fetchone()[0]
        if mean is None:
            mean = conn.execute("SELECT avg(finished_at - started_at) FROM tickets WHERE day = ? "
                                "AND state = 'done'", (day,)).fetchone()[0] or 600.0
        on_duty = sum(1 for c in engine.counters_view() if c["state"] == "open" and svc in c["services"])
        ql = (ahead + 1) * mean / max(on_duty, 1)
        called = conn.execute("SELECT first_called_at - issued_at FROM tickets WHERE day = ? AND service = ? "
                              "AND first_called_at IS NOT NULL ORDER BY first_called_at DESC LIMIT 10",
                              (day, svc)).fetchall()
        les = called[0][0] if called else 0.0
        ra = statistics.fmean(r[0] for r in called) if called else 0.0
        head = conn.execute("SELECT min(wait_from) FROM tickets WHERE state = 'waiting' AND service = ? AND id != ?",
                            (svc, ticket["id"])).fetchone()[0]
        hol = now - head if head is not None else 0.0
        low, high = ticket.get("estimated_wait_range_s") or (None, None)
        self.rows[ticket["id"]] = Row(svc, arrival.arrival_s, printed=ticket["estimated_wait_s"], low=low, high=high,
                                      base={"QL": ql, "LES": les, "HOL": hol, "RA": ra},
                                      context=f"{ahead} ahead in {svc}, {on_duty} open for {svc}",
                                      patience=arrival.patience_s, issued_at=now)
        m = _SPLIT.search(ticket.get("estimated_wait_text_en") or "")
        if m:
            self.rows[ticket["id"]].split = (m.group(1), m.group(2))
        if self.points:
            waits = engine.waits
            snap = waits.snapshot(conn, ticket["site"], engine.roster, now)
            seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            f = forecast(snap, waits.model(conn, now), paths=self.points, seed=seq + 7_777_777, only=ticket["id"],
                         samples=True)
            self.rows[ticket["id"]].samples = f.samples.get(ticket["id"])


def metrics(pred: list[float], actual: list[float]) -> dict[str, float]:
    err = [p - a for p, a in zip(pred, actual)]
    ab = sorted(abs(e) for e in err)
    n = len(err)
    return {"mae": statistics.fmean(ab) / 60, "rmse": math.sqrt(statistics.fmean(e * e for e in err)) / 60,
            "mse": statistics.fmean(e * e for e in err), "bias": statistics.fmean(err) / 60,
            "p90": ab[min(n - 1, int(math.ceil(0.9 * n)) - 1)] / 60, "within5": sum(a <= 300 for a in ab) / n}


def window_point(xs: list[float], mean: float, half: float = 300.0) -> float:
    """The centre of the window of ± ``half`` that holds the most of ``xs`` (sorted), the one nearest
    ``mean`` among equals: the point with the best chance of being within ± 5 min, by the paths."""
    best, at = -1, mean
    for i, x in enumerate(xs):
        k = bisect.bisect_right(xs, x + 2 * half) - i
        # any centre from (the k-th point - half) to (x + half) holds these k: the one nearest the mean
        c = max(0.0, min(max(mean, xs[i + k - 1] - half), x + half))
        if k > best or (k == best and abs(c - mean) < abs(at - mean)):
            best, at = k, c
    return at


def points_table(rows: list[Row]) -> dict[str, dict[str, float]]:
    """MSE, bias and the share within ± 5 min of three points of each ticket's many-path forecast:
    its mean (the printed estimate's definition), median and ``window_point``."""
    rows = [r for r in rows if r.samples]
    actual = [r.actual for r in rows]
    pts: dict[str, list[float]] = {"mean": [], "median": [], "window": []}
    for r in rows:
        xs = sorted(max(0.0, x) for x in r.samples)
        mean = max(0.0, statistics.fmean(r.samples))
        pts["mean"].append(mean)
        pts["median"].append(statistics.median(xs))
        pts["window"].append(window_point(xs, mean))
    return {k: metrics(v, actual) for k, v in pts.items()}


def run_day(name: str, folder: Path, history: list[Path] | None, points: int = 0) -> tuple[dict, list]:
    scenario = load_scenario(folder)
    base = Baselines(points)
    sim = Simulation(scenario, history=history_days(history or []), observer=base)
    result = sim.run()
    rows, everyone = [], []
    for rec in result.records:
        row = base.rows[rec.ticket_id]
        everyone.append(row)
        if rec.called_s is None:
            # left unserved after their patience, or still waiting when the last shift ended
            row.breached = rec.outcome == "unserved" or (row.patience or 0) > BREACH_S
            continue
        row.actual = rec.called_s - rec.arrival_s
        row.breached = row.actual > BREACH_S
        rows.append(row)
    actual = [r.actual for r in rows]
    out = {"printed": metrics([r.printed for r in rows], actual)}
    tz = scenario.center.timezone
    out["split"] = [split_outcome(r.split, r.issued_at, r.actual, tz) for r in everyone if r.split]
    for b in BASELINES:
        out[b] = metrics([r.base[b] for r in rows], actual)
    inside = [r.low <= r.actual <= r.high for r in rows if r.low is not None]
    out["printed"]["coverage"] = sum(inside) / len(inside) if inside else float("nan")
    # an interval of [0, 0] is a certain call at once (a counter free now): it covers by construction
    unsure = [r.low <= r.actual <= r.high for r in rows if r.low is not None and r.high > 0]
    out["printed"]["coverage_unsure"] = sum(unsure) / len(unsure) if unsure else float("nan")
    out["printed"]["unsure_n"] = len(unsure)
    out["n"] = len(rows)
    if points:
        out["points"] = points_table(rows)
    # what the estimate's own spread allows: if its 80% interval is right (a normal of that width,
    # sd = width / 2.563), the share within ±5 min and the precision/recall of "printed > 15 min"
    # one could expect; a [0, 0] interval is a certain call at once
    def spread(r: Row) -> float | None:
        return max((r.high - r.low) / 2.563, 1.0) if r.high else None
    nd = statistics.NormalDist()
    out["printed"]["within5_own"] = statistics.fmean(
        1.0 if spread(r) is None else nd.cdf(300 / spread(r)) - nd.cdf(-300 / spread(r)) for r in rows)
    p_breach = [(0.0 if spread(r) is None else 1 - nd.cdf((BREACH_S - r.printed) / spread(r)), r.printed > BREACH_S)
                for r in everyone if r.low is not None]
    flagged_p = sum(p for p, f in p_breach if f)
    n_flagged = sum(f for _, f in p_breach)
    out["printed"]["precision_own"] = flagged_p / n_flagged if n_flagged else float("nan")
    total_p = sum(p for p, _ in p_breach)
    out["printed"]["recall_own"] = flagged_p / total_p if total_p else float("nan")
    # predicted breach, per ticket, at issue (so with 15 minutes of lead): printed > 15 min
    for name, pred in (("printed", lambda r: r.printed), ("QL", lambda r: r.base["QL"])):
        flagged = [r for r in everyone if pred(r) > BREACH_S]
        hits = sum(r.breached for r in flagged)
        breaches = sum(r.breached for r in everyone)
        out[name]["precision"] = hits / len(flagged) if flagged else float("nan")
        out[name]["recall"] = hits / breaches if breaches else float("nan")
        out[name]["breaches"] = breaches
    return out, rows


def targets(kind: str, m: dict) -> dict[str, bool]:
    p = m["printed"]
    if kind == "mms":
        return {"MSE<=QL": p["mse"] <= m["QL"]["mse"]}
    return {"MSE-30%": all(p["mse"] <= 0.7 * m[b]["mse"] for b in BASELINES), "MAE<=3": p["mae"] <= 3,
            "±5>=85%": p["within5"] >= 0.85, "|bias|<1": abs(p["bias"]) < 1,
            "cov80±5": abs(p["coverage"] - 0.8) <= 0.05, "cov80±5 (not [0,0])": abs(p["coverage_unsure"] - 0.8) <= 0.05}


def prepare_days(tmp: Path, generated: list, *, shared: bool = True, wanted: set[str] | None = None
                 ) -> list[tuple[str, str, Path, list[Path] | None]]:
    """(name, kind, folder, history folders or None) of the days to replay: the shared scenarios
    (with ``shared``) and the ``generated`` ones, made now with ``generate.py`` in ``tmp``."""
    days: list[tuple[str, str, Path, list[Path] | None]] = []
    for name, kind in SHARED if shared else []:
        days.append((name, kind, ROOT / "data" / "scenarios" / name, None))
    for name, kind, args, hist in generated:
        if wanted and name not in wanted:
            continue
        gen = lambda args, out: subprocess.run([sys.executable, str(GENERATE), *args, "--out", str(out)],  # noqa: E731
                                               check=True, capture_output=True)
        gen(args, tmp / name)
        history = None
        if hist:
            gen(hist, tmp / f"{name}-history")
            history = [tmp / f"{name}-history"]
        days.append((name, kind, tmp / name, history))
    if wanted:
        days = [d for d in days if d[0] in wanted]
    return days


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--days", help="comma-separated day names (default: all)")
    ap.add_argument("--worst", type=int, default=3, help="print this many worst estimates of the worst day")
    ap.add_argument("--unseen", action="store_true", help="the five days kept out of tuning, instead of the others")
    ap.add_argument("--fresh", action="store_true", help="the six days of new seeds (1201-1206), instead of the others")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="move every forecast's seed by this much: another draw of the same estimate's sample paths")
    ap.add_argument("--points", type=int, default=0, metavar="N",
                    help="also forecast each new ticket with N paths and compare its mean, median and "
                         "most-within-±5 point (slow: N=400 takes about four times as long)")
    a = ap.parse_args()
    if a.seed_offset:
        from server.engine import waits
        seeded = waits.forecast

        def shifted(snap, model, **kw):
            kw["seed"] = kw.get("seed", 0) + a.seed_offset * 1_000_003
            return seeded(snap, model, **kw)
        waits.forecast = shifted
    wanted = set(a.days.split(",")) if a.days else None
    days = prepare_days(Path(tempfile.mkdtemp(prefix="qms-est-")),
                        UNSEEN if a.unseen else FRESH if a.fresh else GENERATED,
                        shared=not (a.unseen or a.fresh), wanted=wanted)
    results = []
    for name, kind, folder, history in days:
        m, rows = run_day(name, folder, history, a.points)
        results.append((name, kind, history is not None, m, rows))
        print(f"{name}: done", file=sys.stderr)
    sep = "|" if a.markdown else " "
    head = ["day", "hist", "n", "predictor", "MAE", "RMSE", "bias", "p90", "±5 min", "cov 80%", "cov, not [0,0]",
            "MSE below it"]
    print(sep.join(head) if not a.markdown else "| " + " | ".join(head) + " |")
    if a.markdown:
        print("|" + "|".join("---" for _ in head) + "|")
    for name, kind, hist, m, _ in results:
        for pred in ("printed", *BASELINES):
            x = m[pred]
            cells = [name if pred == "printed" else "", ("yes" if hist else "cold") if pred == "printed" else "",
                     str(m["n"]) if pred == "printed" else "", "estimate" if pred == "printed" else pred,
                     f"{x['mae']:.2f}", f"{x['rmse']:.2f}", f"{x['bias']:+.2f}", f"{x['p90']:.1f}",
                     f"{x['within5'] * 100:.0f}%", f"{x['coverage'] * 100:.0f}%" if pred == "printed" else "",
                     f"{x['coverage_unsure'] * 100:.0f}% of {x['unsure_n']}" if pred == "printed" else "",
                     "" if pred == "printed" else f"{(1 - m['printed']['mse'] / x['mse']) * 100:+.0f}%"
                     if x["mse"] else ""]
            print("| " + " | ".join(cells) + " |" if a.markdown else sep.join(cells))
    print()
    print("Targets (ward and satellite: MSE ≥30% below every baseline, MAE ≤ 3, ≥85% within ±5, |bias| < 1, "
          "coverage 80±5; mms: MSE ≤ QL's):")
    for name, kind, hist, m, _ in results:
        t = targets(kind, m)
        print(f"  {name}: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in t.items())
              + f" (±5 min expected from the estimate's own spread: {m['printed']['within5_own'] * 100:.1f}%)")
    print("\nPredicted breach per ticket at issue (printed > 15 min; lead ≥ 15 min), against waits > 15 min "
          "(or leaving/unserved after 15 min):")
    for name, kind, hist, m, _ in results:
        p, q = m["printed"], m["QL"]
        print(f"  {name}: {p['breaches']} breaches; estimate precision {p['precision'] * 100:.0f}% recall "
              f"{p['recall'] * 100:.0f}%; QL precision {q['precision'] * 100:.0f}% recall {q['recall'] * 100:.0f}%; "
              f"expected from the estimate's own spread: precision {p['precision_own'] * 100:.0f}% "
              f"recall {p['recall_own'] * 100:.0f}%")
    print("\nTickets printed 'called before A or after B' (a closure ahead): where their call fell")
    for name, kind, hist, m, _ in results:
        o = m["split"]
        print(f"  {name}: {len(o)} tickets; " + ", ".join(
            f"{k} {o.count(k)}" for k in ("before", "after", "between", "not called")))
    if a.points:
        print(f"\nPoints of a {a.points}-path forecast of each ticket at issue (MSE min², bias min, ±5 min):")
        for name, kind, hist, m, _ in results:
            p = m["points"]
            print(f"  {name}: printed {m['printed']['mse'] / 3600:.1f} / {m['printed']['bias']:+.2f} / "
                  f"{m['printed']['within5'] * 100:.1f}%; " + "; ".join(
                      f"{k} {x['mse'] / 3600:.1f} / {x['bias']:+.2f} / {x['within5'] * 100:.1f}%" for k, x in p.items()))
    worst = max((r for r in results if r[1] != "mms"), key=lambda r: r[3]["printed"]["mae"])
    print(f"\nWorst day by MAE: {worst[0]}; its {a.worst} worst estimates:")
    for r in sorted(worst[4], key=lambda r: -abs(r.printed - r.actual))[:a.worst]:
        h, mnt = divmod(int(r.issued_s // 60) + 450, 60)
        print(f"  issued {h:02d}:{mnt:02d} {r.service}: printed {r.printed / 60:.1f} min "
              f"[{(r.low or 0) / 60:.1f}–{(r.high or 0) / 60:.1f}], waited {r.actual / 60:.1f} min; {r.context}")


if __name__ == "__main__":
    main()
