"""Does the server keep serving while a director downloads a report?

The real server (``qms serve``, gevent worker) with a day of tickets; a probe asks ``/healthz``
every 20 ms on its own connection while the director downloads the PDF of the week
(``GET /api/v1/reports/file?format=pdf``) three times. Reported: the download's time, and the
probe's latency (p50 / max) during the downloads, against the same probe with no download, and
the server's resident memory (worker + master) before and after. Method and results:
docs/performance.md §10.

Usage: .venv/bin/python bench/report_while_serving.py [--tickets 300] [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from connections import rss_mib  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402


def probe(url: str, stop: threading.Event, out: list[float]) -> None:
    s = requests.Session()
    while not stop.is_set():
        t0 = time.monotonic()
        s.get(url + "/healthz", timeout=30)
        out.append((time.monotonic() - t0) * 1000)
        stop.wait(0.02)


def window(url: str, work) -> tuple[list[float], float]:
    lat: list[float] = []
    stop = threading.Event()
    th = threading.Thread(target=probe, args=(url, stop, lat), daemon=True)
    th.start()
    t0 = time.monotonic()
    work()
    took = time.monotonic() - t0
    stop.set()
    th.join()
    return lat, took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srv = LiveServer(Path(tmp) / "srv").start()
        try:
            kiosk = srv.bearer(srv.add_device("kiosk-bench", "kiosk", site="main"))
            director = srv.bearer(srv.add_user("giamdoc", "director"))
            s = requests.Session()
            for _ in range(args.tickets):
                s.post(srv.url + "/api/v1/tickets", json={"service": "CT"}, headers=kiosk, timeout=10).raise_for_status()
            week = datetime.now().strftime("%G-W%V")
            rss0 = rss_mib(srv.proc.pid)
            quiet, _ = window(srv.url, lambda: time.sleep(3))
            times, busy = [], []
            for _ in range(args.repeat):
                def download():
                    r = s.get(srv.url + "/api/v1/reports/file", params={"week": week, "format": "pdf"},
                              headers=director, timeout=300)
                    assert r.status_code == 200 and r.content.startswith(b"%PDF"), r.status_code
                lat, took = window(srv.url, download)
                times.append(took)
                busy += lat
            rss1 = rss_mib(srv.proc.pid)
        finally:
            srv.stop()
    q = lambda xs, p: statistics.quantiles(xs, n=100, method="inclusive")[p - 1] if len(xs) > 1 else xs[0]  # noqa: E731
    print(f"PDF download, s (median / worst): {statistics.median(times):.2f} / {max(times):.2f}")
    print(f"/healthz with no download, ms p50 / max: {statistics.median(quiet):.1f} / {max(quiet):.1f} ({len(quiet)})")
    print(f"/healthz during the downloads, ms p50 / p99 / max: {statistics.median(busy):.1f} / {q(busy, 99):.1f} / "
          f"{max(busy):.1f} ({len(busy)})")
    print(f"server memory, MiB: {rss0:.0f} before, {rss1:.0f} after the downloads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
