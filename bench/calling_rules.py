"""Compare the call-next rules (and the preference penalty) over several simulated ward days.

Each day in bench/scenarios/ward-load1.0-seed* (made with the scenario generator:
``generate.py ward --seed N --load 1.0``) and the bundled ward-weekday is replayed through
the real engine in virtual time (server/simulator.py). Prints the mean over days of: share of
citizens called within 15 minutes, mean and p90 wait, abandoned citizens, and the mean
absolute error of the wait printed on the ticket.

Usage: .venv/bin/python bench/calling_rules.py
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.scenario import load_scenario  # noqa: E402
from server.simulator import Simulation  # noqa: E402

VARIANTS = [("strict_preference", 0), ("longest_wait", 0), ("longest_wait", 120), ("longest_wait", 300),
            ("longest_wait", 600)]


def main() -> None:
    days = sorted((ROOT / "bench" / "scenarios").glob("ward-load1.0-seed*")) + [ROOT / "data" / "scenarios" / "ward-weekday"]
    scenarios = [load_scenario(d) for d in days]
    print(f"{len(scenarios)} ward days, {sum(len(s.arrivals) for s in scenarios)} citizens")
    print(f"{'rule':<18} {'penalty s':>9} {'≤15 min':>8} {'mean min':>9} {'p90 min':>8} {'abandoned':>9} {'est. MAE min':>12}")
    for rule, penalty in VARIANTS:
        rows = []
        for sc in scenarios:
            sim = Simulation(sc, rule=rule)
            sim.config.calling.preference_penalty_s = penalty
            rows.append(sim.run().summary())
        m = {k: statistics.fmean(r[k] for r in rows) for k in rows[0]}
        print(f"{rule:<18} {penalty:>9} {m['within_target'] * 100:>7.1f}% {m['mean_wait_min']:>9.2f} "
              f"{m['p90_wait_min']:>8.1f} {m['abandoned']:>9.1f} {m['estimate_mae_min']:>12.2f}")


if __name__ == "__main__":
    main()
