"""What a wait estimate costs: every waiting citizen of a center with 100 waiting, and one new ticket.

The ward of the scenarios (9 counters, 1-3 services each, 6 services) on a generated day far
over capacity (``generate.py ward --seed 9 --load 4``), replayed by the simulator until 100
citizens wait (the model has the morning's data, every counter is busy). Timed
with ``time.perf_counter`` over ``--reps`` repetitions, the forecast cache disabled (each call
reads the state from SQLite, learns nothing new, simulates the paths):

* **all waiting**: ``WaitEstimator.all_waiting``: the estimate of each of the 100 and of a new
  ticket of every service (what the displays, dashboard, status pages and alerts read);
* **one new ticket**: ``WaitEstimator.for_new`` for the ticket being issued (paths stop once it
  is called); and the same when the state has already been forecast (the MQTT link and the
  screens refresh the services' estimates after every event, so a press usually finds it);
* **issue**: ``Engine.issue`` end to end (number, ticket, event, estimate, commit).

Usage: .venv/bin/python bench/estimate_cost.py [--reps 50] [--markdown]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qms_common.clock import FakeClock  # noqa: E402
from server.engine import Engine  # noqa: E402
from server.engine import waits as waits_mod  # noqa: E402
from server.scenario import load_scenario  # noqa: E402
from server.simulator import Simulation  # noqa: E402


class _Enough(Exception):
    pass


def busy_center(tmp: Path, waiting: int) -> tuple[Engine, FakeClock]:
    """A heavy generated ward day (load 4) replayed until ``waiting`` citizens wait."""
    subprocess.run([sys.executable, str(ROOT / "data" / "scenarios" / "generate.py"), "ward", "--seed", "9",
                    "--load", "4", "--out", str(tmp / "day")], check=True, capture_output=True)

    def observer(sim, ticket, arrival):
        if sim.store.conn().execute("SELECT count(*) FROM tickets WHERE state = 'waiting'").fetchone()[0] >= waiting:
            raise _Enough

    sim = Simulation(load_scenario(tmp / "day"), db_path=tmp / "cost.db", observer=observer)
    try:
        sim.run()
    except _Enough:
        return sim.engine, sim.clock
    raise SystemExit(f"the day never had {waiting} waiting")


def timed(fn, reps: int) -> tuple[float, float, float, float]:
    """(median wall ms, p90 wall ms, median CPU ms of this process: less hurt by a busy machine,
    lowest CPU ms: what the call costs when no neighbour's job shares the core's caches)."""
    wall, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    wall.sort()
    return statistics.median(wall), wall[int(0.9 * (len(wall) - 1))], statistics.median(cpu), min(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--waiting", type=int, default=100)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine, clock = busy_center(Path(tmp), a.waiting)
        conn = engine.store.conn()
        est = engine.waits
        n_waiting = len(engine.tickets(state="waiting"))
        est.model(conn, clock.now())  # learned once; relearning is timed apart below
        waits_mod.REUSE_S = -1.0      # no cached forecast: every call simulates
        site = engine.config.main_site
        rows = [("all waiting (100) + new-ticket phantoms",
                 timed(lambda: est.all_waiting(conn, site, engine.roster, clock.now()), a.reps)),
                ("one new ticket (HT)",
                 timed(lambda: est.for_new(conn, "HT", site, False, engine.roster, clock.now()), a.reps)),
                ("one new ticket (CT, priority)",
                 timed(lambda: est.for_new(conn, "CT", site, True, engine.roster, clock.now()), a.reps))]
        def hit():
            waits_mod.REUSE_S = 20.0
            est.all_waiting(conn, site, engine.roster, clock.now())  # the displays' refresh after the last event
            t, c = time.perf_counter(), time.process_time()
            est.for_new(conn, "HT", site, False, engine.roster, clock.now())
            waits_mod.REUSE_S = -1.0
            return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
        hits = sorted(hit() for _ in range(10))
        rows.append(("one new ticket, this state already forecast", (
            statistics.median(h[0] for h in hits), hits[-1][0], statistics.median(h[1] for h in hits),
            min(h[1] for h in hits))))
        relearn = timed(lambda: (setattr(est, "_model", None), est.model(conn, clock.now())), 10)
        rows.append(("relearning today's model (once a minute)", relearn))
        recal = timed(lambda: (setattr(est, "_calibration", None), est.calibration(conn, clock.now())), 10)
        rows.append(("relearning the interval's calibration (once a minute)", recal))

        def issue():
            clock.advance(1)
            engine.issue("HT")
        rows.append(("Engine.issue end to end (queue growing)", timed(issue, 20)))
    load = os.getloadavg()[0]
    print(f"{n_waiting} waiting, {len(engine.config.counters)} counters, "
          f"paths={waits_mod.forecast.__kwdefaults__['paths']}, load average {load:.1f} on {os.cpu_count()} CPUs")
    if a.markdown:
        print("| what | median ms | p90 ms | median CPU ms | lowest CPU ms |\n|---|---|---|---|---|")
        for name, (med, p90, cpu, low) in rows:
            print(f"| {name} | {med:.1f} | {p90:.1f} | {cpu:.1f} | {low:.1f} |")
    else:
        for name, (med, p90, cpu, low) in rows:
            print(f"{name:<45} median {med:6.1f} ms   p90 {p90:6.1f} ms   CPU {cpu:6.1f} ms   lowest CPU {low:6.1f} ms")


if __name__ == "__main__":
    main()
