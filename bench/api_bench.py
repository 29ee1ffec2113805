"""Ticket issue and call-next through the HTTP API, under the production server.

Starts the real server (gunicorn, one worker, threads; SQLite with synchronous=FULL, so every
ticket is fsync'd before the reply) on loopback, then drives it from separate client
processes with keep-alive connections:

* closed loop with 1 and 16 concurrent clients: throughput and p50/p99 latency;
* open loop at a fixed 100 requests/s: p50/p99 latency (the target: p99 < 20 ms).

Usage: .venv/bin/python bench/api_bench.py [--seconds 5] [--markdown]
Prints a table; docs/performance.md records the method and a run.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live_server import LiveServer, write_center  # noqa: E402

COUNTERS = 16


def bench_center(path: Path) -> Path:
    """A center with 16 counters that all serve CT, so 16 clerks can call at once."""
    write_center(path)
    text = path.read_text(encoding="utf-8")
    text += "".join(f'\n[[counters]]\nnumber = {100 + i}\nsite = "main"\nservices = ["CT"]\n' for i in range(COUNTERS))
    path.write_text(text, encoding="utf-8")
    return path


def _client(port: int, kind: str, token: str, counter: int, seconds: float, rate: float | None,
            start: mp.Event, out: mp.Queue) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies, errors = [], 0
    start.wait()
    t_end = time.perf_counter() + seconds
    next_at = time.perf_counter()
    while True:
        now = time.perf_counter()
        if now >= t_end:
            break
        if rate:
            if now < next_at:
                time.sleep(next_at - now)
            next_at += 1.0 / rate
        if kind == "issue":
            body = json.dumps({"service": "CT", "client_ref": uuid.uuid4().hex})
            path = "/api/v1/tickets"
        else:
            body, path = "", f"/api/v1/counters/{counter}/call-next"
        t0 = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        latencies.append(time.perf_counter() - t0)
        if resp.status not in (200, 201):
            errors += 1
        elif kind == "call":
            ticket = json.loads(data)["ticket"]
            if ticket:  # start serving so that the next call-next finishes it (not timed)
                conn.request("POST", f"/api/v1/tickets/{ticket['id']}/start", body=json.dumps({"counter": counter}),
                             headers=headers)
                conn.getresponse().read()
    out.put((latencies, errors))


def run(srv: LiveServer, kind: str, clients: int, seconds: float, tokens: list[str], rate: float | None = None):
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    per_client_rate = rate / clients if rate else None
    procs = [ctx.Process(target=_client, args=(srv.port, kind, tokens[i % len(tokens)], 100 + i, seconds,
                                               per_client_rate, start, out)) for i in range(clients)]
    for p in procs:
        p.start()
    t0 = time.perf_counter()
    start.set()
    results = [out.get(timeout=seconds + 60) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    lat = sorted(x for r in results for x in r[0])
    errors = sum(r[1] for r in results)
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    return {"op": kind, "clients": clients, "mode": f"{rate:.0f}/s" if rate else "closed loop",
            "requests": len(lat), "errors": errors, "throughput": len(lat) / wall,
            "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qms-bench-"))
    srv = LiveServer(tmp, center_file=bench_center(tmp / "center.toml")).start()
    try:
        kiosk = [srv.add_device(f"kiosk-{i}", "kiosk") for i in range(4)]
        rows = [run(srv, "issue", 1, a.seconds, kiosk), run(srv, "issue", 16, a.seconds, kiosk),
                run(srv, "issue", 4, a.seconds, kiosk, rate=100)]
        clerks = []
        for i in range(COUNTERS):
            token = srv.add_user(f"clerk{i}", "clerk")
            import requests
            requests.post(f"{srv.url}/api/v1/counters/{100 + i}/sign-in", headers=srv.bearer(token), timeout=10)
            clerks.append(token)
        rows += [run(srv, "call", 1, a.seconds, clerks), run(srv, "call", 16, a.seconds, clerks),
                 run(srv, "call", 4, a.seconds, clerks, rate=100)]
    finally:
        srv.stop()
    head = ["operation", "clients", "load", "requests", "errors", "req/s", "p50 ms", "p99 ms"]
    lines = []
    for r in rows:
        lines.append([{"issue": "issue ticket", "call": "call next"}[r["op"]], str(r["clients"]), r["mode"],
                      str(r["requests"]), str(r["errors"]), f"{r['throughput']:.0f}", f"{r['p50_ms']:.2f}",
                      f"{r['p99_ms']:.2f}"])
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        for line in lines:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths)))


if __name__ == "__main__":
    main()
