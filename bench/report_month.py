"""How long the province's report takes for one month of a busy center.

A month of working days (``generate.py ward --load 1.2 --date 2026-11-02 --days 22``: a ward at
full peak load, Mondays busiest) is run through the simulator into one database, citizens rating;
then the report for the month is built ``--repeat`` times, timing each step separately: reading
the events, the figures, the HTML with its four plots, the PDF, the XLSX and the CSV. Prints a
markdown table (median and worst of the repeats). See docs/performance.md.

    .venv/bin/python bench/report_month.py --repeat 3
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qms_common.clock import FakeClock  # noqa: E402
from server.config import load_center  # noqa: E402
from server.engine import Engine  # noqa: E402
from server.reporting import metrics, period, render, sites, tables  # noqa: E402
from server.scenario import load_scenario  # noqa: E402
from server.simulator import Simulation  # noqa: E402
from server.store import Store  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=["ward", "mms"], default="ward", help="generate.py's center shape")
    ap.add_argument("--days", type=int, default=22)
    ap.add_argument("--load", type=float, default=1.2, help="offered load per clerk at the peak (ward) or overall (mms)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="qms-bench-report-") as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, str(ROOT / "data/scenarios/generate.py"), a.kind, "--load", str(a.load),
                        "--date", "2026-11-02", "--days", str(a.days), "--seed", "900", "--out", str(tmp / "days")],
                       check=True, capture_output=True)
        db = tmp / "qms.db"
        t0 = time.perf_counter()
        for day in sorted(p for p in (tmp / "days").iterdir() if p.is_dir()):
            Simulation(load_scenario(day), db_path=db, ratings=True).run()
        sim_s = time.perf_counter() - t0
        store = Store(db)
        config = load_center()
        engine = Engine(store, config, FakeClock(time.time()))
        days = sorted(p.name for p in (tmp / "days").iterdir() if p.is_dir())
        month = period.days(date.fromisoformat(days[0]), date.fromisoformat(days[-1]))
        steps: dict[str, list[float]] = {k: [] for k in ("events", "figures", "sites", "html", "pdf", "xlsx", "csv",
                                                         "total")}
        for _ in range(a.repeat):
            t = [time.perf_counter()]
            events = engine.events_of_days(month.first, month.last)
            t.append(time.perf_counter())
            report = metrics.build(events, config, month, generated_at=time.time())
            t.append(time.perf_counter())
            # the line per site (as files.build adds it) and one site's own figures (--site)
            report["by_site"] = sites.by_site(events, config, month.first.isoformat(), month.last.isoformat())
            metrics.build(sites.of_site(events, config.sites[-1].id), config, month, generated_at=time.time())
            t.append(time.perf_counter())
            page = render.html(report, config)
            t.append(time.perf_counter())
            pdf = render.pdf(page)
            t.append(time.perf_counter())
            tables.xlsx_bytes(report)
            t.append(time.perf_counter())
            tables.csv_text(report)
            t.append(time.perf_counter())
            for name, (x, y) in zip(list(steps)[:-1], zip(t, t[1:])):
                steps[name].append(y - x)
            steps["total"].append(t[-1] - t[0])
        (tmp / "month.pdf").write_bytes(pdf)
        info = subprocess.run(["pdfinfo", str(tmp / "month.pdf")], capture_output=True, text=True).stdout
        pages = next((line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")), "?")
        store.close()
    print(f"{a.kind} at load {a.load}: {len(days)} working days ({days[0]} .. {days[-1]}), {report['totals']['issued']} tickets, "
          f"{len(events)} events, {report['satisfaction']['ratings']} ratings; simulated in {sim_s:.1f} s; "
          f"PDF {len(pdf) // 1024} KiB, {pages} pages\n")
    print("| step | median s | worst s |\n|---|---|---|")
    for name, values in steps.items():
        print(f"| {name} | {statistics.median(values):.2f} | {max(values):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
