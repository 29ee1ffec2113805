"""Two questions about the followed advice, day totals only (no lived effects):

* ``--mode keep``: does the follower do better keeping every change it applied, rather than
  taking each back once the 75 minutes it was judged over have passed (``Director.undo_after_horizon``)?
* ``--mode history``: does the advice do better on a day whose arrival forecast was learned from
  the five earlier days of the same center (``Simulation(history=...)``) than on the same day cold?

Clerks are trained for every service (``--trained all``), so the advice may give a counter a
service it does not serve. Each generated day is simulated without advice and with the follower
(reaction 120 s); with ``history``, the set's first five days serve as history only. One JSON
line per day on standard output. Results: ``docs/performance.md`` section 12, "2026-12-03, night".

Usage: .venv/bin/python bench/advice_variants.py --mode keep|history "ward --seed S --load L --date D --days N"
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.advice.follow import Director  # noqa: E402
from server.scenario import load_scenario, trained_option  # noqa: E402
from server.simulator import Simulation  # noqa: E402

HISTORY = 5


def share(sc, *, history=(), trained=None, director=None) -> float:
    return Simulation(sc, history=list(history), trained=trained, director=director).run().summary()["within_target"] * 100


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["keep", "history"], required=True)
    ap.add_argument("generate", help="generate.py's arguments, e.g. \"ward --seed 4200 --load 1.2 --date 2027-01-25 --days 10\"")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="qms-advice-variants-") as tmp:
        subprocess.run([sys.executable, str(ROOT / "data" / "scenarios" / "generate.py"), *args.generate.split(),
                        "--out", tmp], check=True, capture_output=True)
        folders = [Path(tmp)] if (Path(tmp) / "center.json").exists() else sorted(Path(tmp).iterdir())
        for i, folder in enumerate(folders):
            if args.mode == "history" and i < HISTORY:
                continue
            sc = load_scenario(folder)
            hist = [load_scenario(h) for h in folders[i - HISTORY:i]] if args.mode == "history" else []
            trained = trained_option("all", [*hist, sc])
            t0, row = time.perf_counter(), {"day": str(sc.center.date or folder.name), "mode": args.mode}
            variants = ((("cold", [], True), ("history", hist, True)) if args.mode == "history"
                        else (("undo", [], True), ("keep", [], False)))
            for label, h, undo in variants:
                row[f"without_{label}"] = share(sc, history=h, trained=trained)
                director = Director(reaction_s=120, undo_after_horizon=undo)
                row[f"with_{label}"] = share(sc, history=h, trained=trained, director=director)
                row[f"applied_{label}"] = len(director.applied)
            row["s"] = round(time.perf_counter() - t0)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
