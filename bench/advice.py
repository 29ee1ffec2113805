"""Does following the live advice keep more of the 15-minute promise, and does it predict right?

Each day is simulated twice by the real simulator (``server/simulator.py``: the real engine in
virtual time): as the staff file says, and with a director who applies the advice's first
proposal ``--reaction-s`` after seeing it (``server/advice/follow.py``, looking every 5 minutes).
Reported per day: the share of citizens called within 15 minutes without and with the advice
(the simulator's own summary), the proposals applied, and for each applied proposal its
predicted share within 15 minutes over its horizon (all services, the citizens waiting then and
arriving within the horizon) against what the simulated day then showed for the same citizens
(``follow.realized``: the *absolute* measure); and its *effect*, predicted (the share with it
minus doing nothing, as the playout saw it) against lived (the same citizens' share in the day
played again with it minus without it, ``server/advice/effect.py``); plus the advice's cost per
look. ``--unseen`` adds five ward days the rules were not set on, in a table of their own.

The scenarios' clerks are trained only for their shift rows' skills, so the advice can only
reorder or narrow what a counter serves. ``--trained all`` (every clerk trained for every service
of the center) or ``--trained FILE`` (a ``clerk,services`` CSV, services separated by ``;``: the
extra services of the clerks it lists) is passed to every simulation of a day (without, with, and
the lived-effect replays), so the advice can also propose "counter N also serves S"; the tables'
titles say which.

Days: the three shared scenarios (``data/scenarios/``) and ten generated ward days (two working
weeks, ``generate.py ward --date 2026-12-07 --days 10``), made at run time in a temporary folder.

Usage: .venv/bin/python bench/advice.py [--unseen] [--proposals] [--reaction-s 120] [--days NAME,...]
       [--extra "ward --seed S --load L --date D --days N"]... [--no-tuned] [--no-confirm] [--history N]
       [--seed-offset K] [--trained all|FILE]

``--extra`` adds a set of generated days (never tuned on) in a table of its own; ``--no-confirm``
plays the rules as they were before proposals were confirmed on fresh paths; ``--seed-offset K``
draws the advice's three sets of paths (screen, confirm, show) with seeds 10 K, 10 K + 1, 10 K + 2
instead of 0, 1, 2 (the same rules on other dice: is a day's outcome the rules' or the seeds'?);
``--history N`` plays each generated day after the N earlier days of its set (a center with a
history, whose arrival forecast knows the day's shape; cold otherwise).
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

from qms_common.errors import ConfigError  # noqa: E402
from server.advice.effect import lived_effects  # noqa: E402
from server.advice.follow import Director, realized  # noqa: E402
from server.scenario import load_scenario, trained_option  # noqa: E402
from server.simulator import Simulation  # noqa: E402

GENERATE = ROOT / "data" / "scenarios" / "generate.py"
SHARED = ["ward-weekday", "satellite-point", "mms-steady"]
WARD_DAYS = ["ward", "--seed", "900", "--load", "1.0", "--date", "2026-12-07", "--days", "10"]
# days the recommender's rules were not tuned on (another seed, a heavier load, another month)
UNSEEN_DAYS = ["ward", "--seed", "1700", "--load", "1.1", "--date", "2027-01-04", "--days", "5"]


def run_day(name: str, folder: Path, reaction_s: float, history: list[Path] = (), trained: str | None = None) -> dict:
    sc = load_scenario(folder)
    hist = [load_scenario(h) for h in history]
    trained = trained_option(trained, [*hist, sc])  # "all", a file's clerk -> services, or None
    t0 = time.perf_counter()
    without = Simulation(sc, history=hist, trained=trained).run().summary()
    t1 = time.perf_counter()
    director = Director(reaction_s=reaction_s)
    sim = Simulation(sc, director=director, history=hist, trained=trained)
    with_ = sim.run().summary()
    t2 = time.perf_counter()
    errors, deltas = [], []
    for a in director.applied:
        real = realized(a, sim.records)
        if real is not None and a.proposal.overall_after is not None:
            errors.append((a.proposal.overall_after - real) * 100)
    effects = lived_effects(lambda d: Simulation(sc, director=d, history=hist, trained=trained),
                            director.applied)
    for e in effects:
        if e.predicted is not None and e.lived is not None:
            deltas.append((e.predicted * 100, e.lived * 100))
    cost = sorted(director.cost_ms)
    return {"name": name, "without": without["within_target"] * 100, "with": with_["within_target"] * 100,
            "applied": len(director.applied), "skipped": director.skipped, "errors": errors, "looks": director.looks,
            "cost_mean": statistics.fmean(cost) if cost else 0.0,
            "cost_p95": cost[int(0.95 * (len(cost) - 1))] if cost else 0.0, "cost_max": cost[-1] if cost else 0.0,
            "sim_s": (t1 - t0, t2 - t1), "director": director, "deltas": deltas, "effects": effects}


def table(rows: list[dict], title: str, proposals: bool) -> None:
    print(f"\n{title}\n")
    print("| day | within 15 min, without | with advice | change (points) | proposals applied | "
          "effect: predicted / lived, mean (points) | effect error, mean abs (points) | effect within ±3 points | "
          "absolute share error, mean abs (points) | absolute within ±3 points | "
          "advice cost per look, mean / p95 / max (ms) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        e, d = r["errors"], r["deltas"]
        mae = f"{statistics.fmean(abs(x) for x in e):.1f}" if e else "–"
        share3 = f"{sum(abs(x) <= 3 for x in e)}/{len(e)}" if e else "–"
        means = f"{statistics.fmean(p for p, _ in d):+.1f} / {statistics.fmean(lv for _, lv in d):+.1f}" if d else "–"
        dmae = f"{statistics.fmean(abs(p - lv) for p, lv in d):.1f}" if d else "–"
        d3 = f"{sum(abs(p - lv) <= 3 for p, lv in d)}/{len(d)}" if d else "–"
        print(f"| {r['name']} | {r['without']:.1f}% | {r['with']:.1f}% | {r['with'] - r['without']:+.1f} | "
              f"{r['applied']} | {means} | {dmae} | {d3} | {mae} | {share3} | "
              f"{r['cost_mean']:.0f} / {r['cost_p95']:.0f} / {r['cost_max']:.0f} |")
    all_err = [e for r in rows for e in r["errors"]]
    all_d = [x for r in rows for x in r["deltas"]]
    lower = [f"{r['name']} ({r['with'] - r['without']:+.2f})" for r in rows if r["with"] < r["without"] - 1e-9]
    if all_d:
        diff = [p - lv for p, lv in all_d]
        print(f"\nEffect (with − without the proposal, same citizens), all {len(all_d)} applied proposals: "
              f"predicted mean {statistics.fmean(p for p, _ in all_d):+.1f}, lived mean "
              f"{statistics.fmean(lv for _, lv in all_d):+.1f} points; error mean abs "
              f"{statistics.fmean(abs(x) for x in diff):.1f}, bias {statistics.fmean(diff):+.1f} (predicted − lived), "
              f"{sum(abs(x) <= 3 for x in diff)}/{len(diff)} within ±3 points; lived effect < 0 for "
              f"{sum(lv < 0 for _, lv in all_d)}.")
        ranged = [e for r in rows for e in r["effects"] if e.lived is not None and e.rec.proposal.gain_low is not None]
        if ranged:
            inside = sum(e.rec.proposal.gain_low - 1e-9 <= e.lived <= e.rec.proposal.gain_high + 1e-9 for e in ranged)
            print(f"Lived effect inside the predicted one-day range (the paths' 10th to 90th percentile): "
                  f"{inside}/{len(ranged)}.")
    if all_err:
        bias = statistics.fmean(all_err)
        print(f"Absolute share (predicted with the change vs the followed day): error mean abs "
              f"{statistics.fmean(abs(x) for x in all_err):.1f} points, bias {bias:+.1f} (predicted − lived), "
              f"{sum(abs(x) <= 3 for x in all_err)}/{len(all_err)} within ±3 points; "
              f"median abs {statistics.median(abs(x) for x in all_err):.1f}.")
    print(f"Days lower with advice than without: {', '.join(lower) if lower else 'none'}.")
    if proposals:
        print("\n| day | seen | proposal | gain on the paths it was picked on | predicted (fresh paths): nothing → with "
              "(effect ± s.e.) | lived: without → with (effect) |")
        print("| --- | --- | --- | ---: | ---: | ---: |")
        for r in rows:
            for e in r["effects"]:
                p = e.rec.proposal
                t = f"+{int(e.rec.seen_s // 3600)}:{int(e.rec.seen_s % 3600 // 60):02d}"
                se = f" ± {p.gain_se * 100:.1f}" if p.gain_se is not None else ""
                if p.gain_low is not None:
                    se += f", one day {p.gain_low * 100:+.1f} to {p.gain_high * 100:+.1f}"
                pred = f"{_pc(p.overall_before)} → {_pc(p.overall_after)} ({_pts(e.predicted)}{se})"
                lived = f"{_pc(e.without_share)} → {_pc(e.with_share)} ({_pts(e.lived)})"
                print(f"| {r['name']} | {t} | {p.key} | {_pts(p.screen_gain)} | {pred} | {lived} |")


def _pc(x):
    return "–" if x is None else f"{x * 100:.1f}%"


def _pts(x):
    return "–" if x is None else f"{x * 100:+.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reaction-s", type=float, default=120.0)
    ap.add_argument("--days", help="only these days (comma-separated names)")
    ap.add_argument("--unseen", action="store_true", help="also the five unseen ward days (a separate table)")
    ap.add_argument("--proposals", action="store_true", help="also list every applied proposal")
    ap.add_argument("--extra", action="append", default=[], metavar="ARGS",
                    help="also these generated days, never tuned on, in a table of their own: generate.py's "
                         "arguments, e.g. \"ward --seed 4200 --load 1.2 --date 2027-02-01 --days 5\"")
    ap.add_argument("--no-tuned", action="store_true", help="skip the shared and tuned days")
    ap.add_argument("--seed-offset", type=int, default=0, metavar="K",
                    help="the advice's paths drawn with seeds 10K, 10K+1, 10K+2 (screen, confirm, show) instead of 0, 1, 2")
    ap.add_argument("--no-confirm", action="store_true",
                    help="the rules as they were before the confirmation on fresh paths (for a before/after)")
    ap.add_argument("--history", type=int, default=0, metavar="N",
                    help="each generated day after its set's N earlier days, as history (the forecast learns "
                         "the day's shape from them; the set's first N days and the shared days are left out)")
    ap.add_argument("--trained", metavar="all|FILE",
                    help="the clerks trained beyond their shift rows' skills (qms simulate --trained): 'all' or a "
                         "clerk,services CSV; the advice may then add services to a counter")
    args = ap.parse_args()
    suffix = ""
    if args.trained:
        suffix = (" [clerks trained for every service: --trained all]" if args.trained == "all"
                  else f" [clerks trained beyond their rows: --trained {args.trained}]")
    if args.no_confirm:
        from server.advice import recommend
        recommend.CONFIRM_PATHS = 0
    if args.seed_offset:
        from server.advice import recommend
        recommend.SCREEN_SEED += 10 * args.seed_offset
        recommend.CONFIRM_SEED += 10 * args.seed_offset
        recommend.SHOW_SEED += 10 * args.seed_offset
    wanted = set(args.days.split(",")) if args.days else None
    sets = {"tuned": [], "unseen": []}
    titles = {}
    with tempfile.TemporaryDirectory(prefix="qms-advice-bench-") as tmp:
        gens = [] if args.no_tuned else [("ward", WARD_DAYS, "tuned")]
        gens += [("unseen", UNSEEN_DAYS, "unseen")] if args.unseen else []
        for i, extra in enumerate(args.extra):
            sets[f"extra{i}"] = []
            titles[f"extra{i}"] = f"Never tuned on: generate.py {extra}:"
            gens.append((f"extra{i}", extra.split(), f"extra{i}"))
        days = [] if args.no_tuned or args.history else [(n, ROOT / "data" / "scenarios" / n, "tuned", [])
                                                         for n in SHARED]
        for sub, argv, which in gens:
            subprocess.run([sys.executable, str(GENERATE), *argv, "--out", str(Path(tmp) / sub)], check=True,
                           capture_output=True)
            out = Path(tmp) / sub  # one day is written to OUT itself, more to OUT/YYYY-MM-DD/
            made = [out] if (out / "center.json").exists() else sorted(out.iterdir())
            days += [(f"ward-{p.name}", p, which, made[i - args.history:i]) for i, p in enumerate(made)
                     if i >= args.history]
        for name, folder, which, history in days:
            if wanted and name not in wanted:
                continue
            try:
                r = run_day(name, folder, args.reaction_s, history, args.trained)
            except ConfigError as exc:  # e.g. a --trained file naming a clerk this day has not
                print(f"bench/advice.py: {name}: {exc.message}", file=sys.stderr)
                return 2
            sets[which].append(r)
            print(f"{name}: {r['without']:.1f}% -> {r['with']:.1f}% ({r['applied']} applied)", file=sys.stderr)
    if sets["tuned"]:
        table(sets["tuned"], "Shared scenarios and ten generated ward days (seed 900)" + suffix + ":", args.proposals)
    if sets["unseen"]:
        table(sets["unseen"], "Unseen: five generated ward days (seed 1700, load 1.1, from 2027-01-04)" + suffix + ":",
              args.proposals)
    for key, title in titles.items():
        if sets[key]:
            table(sets[key], title[:-1] + suffix + ":", args.proposals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
