"""Does following the live advice keep more of the 15-minute promise, and does it predict right?

Each day is simulated twice by the real simulator (``server/simulator.py``: the real engine in
virtual time): as the staff file says, and with a director who applies the advice's first
proposal ``--reaction-s`` after seeing it (``server/advice/follow.py``, looking every 5 minutes).
Reported per day: the share of citizens called within 15 minutes without and with the advice
(the simulator's own summary), the proposals applied, and for each applied proposal its
predicted share within 15 minutes over its horizon (all services, the citizens waiting then and
arriving within the horizon) against what the simulated day then showed for the same citizens
(``follow.realized``); plus the advice's computing cost per look.

Days: the three shared scenarios (``data/scenarios/``) and ten generated ward days (two working
weeks, ``generate.py ward --date 2026-12-07 --days 10``), made at run time in a temporary folder.

Usage: .venv/bin/python bench/advice.py [--markdown] [--reaction-s 120] [--days NAME,...]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.advice.follow import Director, realized  # noqa: E402
from server.scenario import load_scenario  # noqa: E402
from server.simulator import Simulation  # noqa: E402

GENERATE = ROOT / "data" / "scenarios" / "generate.py"
SHARED = ["ward-weekday", "satellite-point", "mms-steady"]
WARD_DAYS = ["ward", "--seed", "900", "--load", "1.0", "--date", "2026-12-07", "--days", "10"]


def run_day(name: str, folder: Path, reaction_s: float) -> dict:
    sc = load_scenario(folder)
    t0 = time.perf_counter()
    without = Simulation(sc).run().summary()
    t1 = time.perf_counter()
    director = Director(reaction_s=reaction_s)
    sim = Simulation(sc, director=director)
    with_ = sim.run().summary()
    t2 = time.perf_counter()
    errors, deltas = [], []
    for a in director.applied:
        real = realized(a, sim.records)
        if real is not None and a.proposal.overall_after is not None:
            errors.append((a.proposal.overall_after - real) * 100)
    cost = sorted(director.cost_ms)
    return {"name": name, "without": without["within_target"] * 100, "with": with_["within_target"] * 100,
            "applied": len(director.applied), "skipped": director.skipped, "errors": errors, "looks": director.looks,
            "cost_mean": statistics.fmean(cost) if cost else 0.0,
            "cost_p95": cost[int(0.95 * (len(cost) - 1))] if cost else 0.0, "cost_max": cost[-1] if cost else 0.0,
            "sim_s": (t1 - t0, t2 - t1), "director": director, "deltas": deltas}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--reaction-s", type=float, default=120.0)
    ap.add_argument("--days", help="only these days (comma-separated names)")
    args = ap.parse_args()
    wanted = set(args.days.split(",")) if args.days else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="qms-advice-bench-") as tmp:
        subprocess.run([sys.executable, str(GENERATE), *WARD_DAYS, "--out", str(Path(tmp) / "ward")], check=True,
                       capture_output=True)
        days = [(n, ROOT / "data" / "scenarios" / n) for n in SHARED]
        days += [(f"ward-{p.name}", p) for p in sorted((Path(tmp) / "ward").iterdir())]
        for name, folder in days:
            if wanted and name not in wanted:
                continue
            r = run_day(name, folder, args.reaction_s)
            rows.append(r)
            print(f"{name}: {r['without']:.1f}% -> {r['with']:.1f}% ({r['applied']} applied)", file=sys.stderr)
    all_err = [e for r in rows for e in r["errors"]]
    head = ("| day | within 15 min, without | with advice | change (points) | proposals applied | "
            "prediction error, mean abs (points) | within ±3 points | advice cost per look, mean / p95 / max (ms) |")
    print(head)
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        e = r["errors"]
        mae = f"{statistics.fmean(abs(x) for x in e):.1f}" if e else "–"
        share3 = f"{sum(abs(x) <= 3 for x in e)}/{len(e)}" if e else "–"
        print(f"| {r['name']} | {r['without']:.1f}% | {r['with']:.1f}% | {r['with'] - r['without']:+.1f} | "
              f"{r['applied']} | {mae} | {share3} | {r['cost_mean']:.0f} / {r['cost_p95']:.0f} / {r['cost_max']:.0f} |")
    lower = [r["name"] for r in rows if r["with"] < r["without"] - 1e-9]
    if all_err:
        bias = statistics.fmean(all_err)
        print(f"\nAll applied proposals: {len(all_err)}; prediction error mean abs "
              f"{statistics.fmean(abs(x) for x in all_err):.1f} points, bias {bias:+.1f} (predicted - lived), "
              f"{sum(abs(x) <= 3 for x in all_err)}/{len(all_err)} within ±3 points; "
              f"median abs {statistics.median(abs(x) for x in all_err):.1f}.")
    print(f"Days lower with advice than without: {', '.join(lower) if lower else 'none'}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
