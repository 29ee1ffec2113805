"""Time from a call-next HTTP request to the call event arriving at N socket.io clients.

A real server (gunicorn, one gevent worker: as in production) runs in a subprocess; the N
python-socketio clients (websocket transport, a display's token) run in another process.
Both note ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for the whole machine), so
latency = arrival at a client - the moment just before the HTTP request was sent.

    .venv/bin/python bench/socket_latency.py            # N = 1, 50, 200
    .venv/bin/python bench/socket_latency.py --clients 50 --rounds 200

Rounds run one at a time: the next call is made once every client had the previous one and
``--gap-ms`` has passed (the screens' snapshot pushes after each call go out meanwhile), so
each figure is the latency of one call with N screens connected, not a throughput test.
For hundreds of screens and idle connections see bench/connections.py (light clients).
``--gap-ms 0`` shows the saturated case.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
CLIENTS_PER_PROCESS = 10
sys.path.insert(0, str(ROOT))

from tests.live_server import LiveServer  # noqa: E402


def _clients(url: str, token: str, n: int, out: mp.Queue, ready: mp.Event, stop: mp.Event) -> None:
    import socketio

    clients = []
    for _ in range(n):
        c = socketio.Client(reconnection=False)

        def on_event(ev, _c=c):
            if ev.get("type") == "ticket_call":
                out.put((ev["ticket_id"], time.monotonic()))

        c.on("event", on_event)
        c.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=30)
        clients.append(c)
    ready.set()
    stop.wait()
    for c in clients:
        c.disconnect()


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def run(n: int, rounds: int, workdir: Path, gap_s: float) -> dict:
    srv = LiveServer(workdir / f"n{n}")
    srv.start()
    try:
        kiosk = srv.add_device("kiosk-bench", "kiosk", site="main")
        display = srv.add_device("display-bench", "display", site="main")
        clerk = srv.add_user("bench-clerk", "clerk")
        http = requests.Session()
        for _ in range(rounds):
            http.post(srv.url + "/api/v1/tickets", json={"service": "CT"}, headers=srv.bearer(kiosk)).raise_for_status()
        http.post(srv.url + "/api/v1/counters/1/sign-in", headers=srv.bearer(clerk)).raise_for_status()

        ctx = mp.get_context("spawn")
        out, stop = ctx.Queue(), ctx.Event()
        procs, readies = [], []
        per = CLIENTS_PER_PROCESS
        for first in range(0, n, per):
            ready = ctx.Event()
            procs.append(ctx.Process(target=_clients, args=(srv.url, display, min(per, n - first), out, ready, stop),
                                     daemon=True))
            readies.append(ready)
            procs[-1].start()
        for ready in readies:
            if not ready.wait(120):
                raise RuntimeError("clients did not connect")
        samples: list[float] = []
        http_ms: list[float] = []
        for _ in range(rounds):
            t0 = time.monotonic()
            r = http.post(srv.url + "/api/v1/counters/1/call-next", headers=srv.bearer(clerk))
            http_ms.append((time.monotonic() - t0) * 1000)
            ticket = r.json()["ticket"]
            got = 0
            while got < n:
                tid, t = out.get(timeout=30)
                if tid == ticket["id"]:
                    samples.append((t - t0) * 1000)
                    got += 1
            http.post(srv.url + f"/api/v1/tickets/{ticket['id']}/start", json={"counter": 1},
                      headers=srv.bearer(clerk)).raise_for_status()
            time.sleep(gap_s)  # the cadence of calls: let the snapshot pushes of this round go out
        stop.set()
        for proc in procs:
            proc.join(30)
        return {"n": n, "rounds": rounds, "samples": len(samples), "p50": percentile(samples, 50),
                "p99": percentile(samples, 99), "max": max(samples), "http_p50": statistics.median(http_ms)}
    finally:
        srv.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="*", default=[1, 50, 200])
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--gap-ms", type=float, default=300,
                    help="quiet time between rounds (a busy center calls every few seconds, not 10 times a second)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.clients:
            rows.append(run(n, args.rounds, Path(tmp), args.gap_ms / 1000))
            print(f"  N={n} done", file=sys.stderr)
    print(f"{'clients':>8} {'rounds':>7} {'samples':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'HTTP p50 ms':>12}")
    for r in rows:
        print(f"{r['n']:>8} {r['rounds']:>7} {r['samples']:>8} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} "
              f"{r['http_p50']:>12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
