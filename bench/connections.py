"""Many idle connections, one server: does it still issue tickets and reach its screens?

The real server (``qms serve`` in a subprocess, as in production) against separate client
processes (``tests/idle_clients.py``), each connection from its own loopback address
(``127.0.0.x``, 10 connections an address, as phones on the center's Wi-Fi):

1. **memory idle**: resident memory of the server's processes (gunicorn master + worker)
   after start-up and seeding;
2. **call to N screens** (``--screens``, default 50 and 500): N Socket.IO screens connected;
   a clerk calls one citizen at a time (``--calls``, ``--gap-ms`` apart); latency = arrival of
   the ``ticket_call`` event at a screen - the moment before ``POST .../call-next``, one sample
   per screen per call (both sides read CLOCK_MONOTONIC);
3. **2,000 idle connections** (``--idle``): a mix of screens, phones (status pages),
   keep-alive HTTP connections and half-sent requests (``--mix``), reopened whenever the server
   closes them; meanwhile a kiosk issues tickets at ``--rate`` per second for ``--seconds``
   (open loop, keep-alive, 5 s timeout), a monitor asks ``/healthz`` once a second on a new
   connection, and calls go to the screens of the mix; memory is read at the end.

    .venv/bin/python bench/connections.py                      # everything (about 3 minutes)
    .venv/bin/python bench/connections.py --screens --idle 0   # only the screen fan-out
    .venv/bin/python bench/connections.py --threads 200        # the gthread server before gevent
    .venv/bin/python bench/connections.py --local-time 19:00   # the center's evening, after its hours

The server runs as if it were ``--local-time`` (default 09:30, the center's morning) on
``--local-date`` (default: the center's latest working day up to today), through
``qms serve --bench-clock-start`` (a clock that starts there and runs at real speed:
server/bench_clock.py); ``--local-time real`` runs it on the real clock, as before. The
figures depend on it: during the center's day the roster's counters have the whole queue
ahead of them, in its evening none has (docs/performance.md, section 8). ``--counters`` (default
9, all of the bundled ward's main site) have a clerk signed in, as on a staffed morning; only
counter 1 calls.

``--threads`` is written to the server settings (for the old one-thread-per-connection server,
whose results are in docs/performance.md). Latencies in ms; a request that timed out counts
as its timeout.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import queue
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.idle_clients import process_main  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402

PER_ADDRESS = 10
CONNECTIONS_PER_PROCESS = 500


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, MiB."""
    return sum(rss_parts(server_pids(pid)))


def parts(pid: int) -> str:
    """The same, process by process (gunicorn's master first, then its worker)."""
    return " + ".join(f"{x:.1f}" for x in rss_parts(server_pids(pid)))


def server_pids(pid: int) -> list[int]:
    """A process and its children."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry))
    return pids


def rss_parts(pids: list[int]) -> list[float]:
    """VmRSS of each process, MiB (the server's: master first, then its worker and any child)."""
    out = []
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return out


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def renice(pid: int, nice: int) -> None:
    """Every thread of a process and its children at ``nice`` (the server as a Pi's main process)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if int(entry) != pid and ppid != pid:
                continue
            for tid in os.listdir(f"/proc/{entry}/task"):
                os.setpriority(os.PRIO_PROCESS, int(tid), nice)
        except OSError:
            continue


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def source(i: int, base: int = 2) -> str:
    """The i-th client's address: 127.0.<b>.<c>, PER_ADDRESS connections each."""
    n = base + i // PER_ADDRESS
    return f"127.0.{n // 250}.{n % 250 + 2}"


class Clients:
    """Client processes holding ``specs``, CONNECTIONS_PER_PROCESS each."""

    def __init__(self, srv: LiveServer, specs: list) -> None:
        ctx = mp.get_context("spawn")
        self.procs, self.commands, self.reports = [], [], []
        for first in range(0, len(specs), CONNECTIONS_PER_PROCESS):
            cq, rq = ctx.Queue(), ctx.Queue()
            p = ctx.Process(target=process_main,
                            args=("127.0.0.1", srv.port, specs[first:first + CONNECTIONS_PER_PROCESS], cq, rq),
                            daemon=True)
            p.start()
            self.procs.append(p)
            self.commands.append(cq)
            self.reports.append(rq)

    def report(self) -> dict:
        for c in self.commands:
            c.put("report")
        out = {"open": {}, "reopened": 0, "refused": 0, "arrivals": []}
        for r in self.reports:
            rep = r.get(timeout=60)
            for k, v in rep["open"].items():
                out["open"][k] = out["open"].get(k, 0) + v
            out["reopened"] += rep["reopened"]
            out["refused"] += rep["refused"]
            out["arrivals"] += rep["arrivals"]
        return out

    def wait_open(self, want: dict, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            rep = self.report()
            if all(rep["open"].get(k, 0) >= n for k, n in want.items()) or time.monotonic() > deadline:
                return rep
            time.sleep(1)

    def stop(self) -> None:
        for c in self.commands:
            c.put("stop")
        for r, p in zip(self.reports, self.procs):
            try:
                r.get(timeout=30)
            except queue.Empty:
                pass
            p.join(10)
            if p.is_alive():
                p.kill()


class Center:
    """The server with a kiosk, a display token, a clerk at counter 1 and citizens waiting."""

    def __init__(self, workdir: Path, threads: int | None, citizens: int, clock_start: str | None = None,
                 counters: int = 1) -> None:
        self.srv = LiveServer(workdir, threads=threads or 8,
                              serve_args=("--bench-clock-start", clock_start) if clock_start else ())
        self.citizens = citizens
        self.counters = counters

    def start(self) -> "Center":
        srv = self.srv.start()
        self.kiosk = srv.add_device("kiosk-bench", "kiosk", site="main")
        self.display = srv.add_device("display-bench", "display", site="main")
        self.clerk = srv.add_user("bench-clerk", "clerk")
        self.http = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        self.port = srv.port
        self.status_tokens = []
        for _ in range(self.citizens):
            t = self.post("/api/v1/tickets", {"service": "CT"}, self.kiosk)
            self.status_tokens.append(t["status_url"].rsplit("/", 1)[1])
        self.post("/api/v1/counters/1/sign-in", None, self.clerk)
        for n in range(2, self.counters + 1):  # the other counters staffed (they call nobody here)
            self.post(f"/api/v1/counters/{n}/sign-in", None, srv.add_user(f"bench-clerk-{n}", "clerk"))
        return self

    def post(self, path: str, body, token: str):
        for attempt in (1, 2):  # the server closes keep-alive connections idle for idle_timeout_s
            try:
                self.http.request("POST", path, body=json.dumps(body) if body is not None else None,
                                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                r = self.http.getresponse()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                self.http.close()
                if attempt == 2:
                    raise
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{path}: {r.status} {data[:200]!r}")
        return json.loads(data)

    def calls(self, clients: Clients, n_screens: int, rounds: int, gap_s: float) -> list[float]:
        """One call at a time; latency of its event at every screen."""
        samples: list[float] = []
        clients.report()  # drop earlier arrivals
        for _ in range(rounds):
            t0 = time.monotonic()
            ticket = self.post("/api/v1/counters/1/call-next", None, self.clerk)["ticket"]
            got: dict[str, float] = {}
            deadline = time.monotonic() + 10
            while len(got) < n_screens and time.monotonic() < deadline:
                time.sleep(0.05)
                for tid, t in clients.report()["arrivals"]:
                    if tid == ticket["id"]:
                        got[f"{len(got)}"] = t
            samples += [(t - t0) * 1000 for t in got.values()]
            samples += [10_000.0] * (n_screens - len(got))  # missed: counted as the 10 s deadline
            self.post(f"/api/v1/tickets/{ticket['id']}/start", {"counter": 1}, self.clerk)
            time.sleep(gap_s)
        return samples


def issue_load(port: int, kiosk: str, rate: float, seconds: float, src: str) -> tuple[list[float], int]:
    """Open loop: a request every 1/rate s on one keep-alive connection (reopened on error)."""
    lat, errors = [], 0
    conn = None
    start = time.monotonic()
    n = int(rate * seconds)
    for i in range(n):
        due = start + i / rate
        if time.monotonic() > due + 5:  # the previous requests hung: these were never sent
            lat.append(5000.0)
            errors += 1
            continue
        time.sleep(max(0.0, due - time.monotonic()))
        t0 = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(src, 0))
            conn.request("POST", "/api/v1/tickets", body=json.dumps({"service": "HT"}),
                         headers={"Authorization": f"Bearer {kiosk}", "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status != 201:
                errors += 1
            lat.append((time.monotonic() - t0) * 1000)
            if os.environ.get("QMS_BENCH_ISSUES"):  # each issue's start (CLOCK_MONOTONIC) and ms, to study the tail
                with open(os.environ["QMS_BENCH_ISSUES"], "a") as fh:
                    fh.write(f"{t0:.6f} {lat[-1]:.2f}\n")
        except OSError:
            errors += 1
            lat.append(max(5000.0, (time.monotonic() - t0) * 1000))
            if conn is not None:
                conn.close()
            conn = None
    return lat, errors


def healthz_probe(port: int, src: str) -> float | None:
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(src, 0))
        c.request("GET", "/healthz")
        ok = c.getresponse().status == 200
        c.close()
        return (time.monotonic() - t0) * 1000 if ok else None
    except OSError:
        return None


def screens_phase(center: Center, n: int, rounds: int, gap_s: float) -> dict:
    specs = [("screen", source(i), {"token": center.display}) for i in range(n)]
    clients = Clients(center.srv, specs)
    try:
        rep = clients.wait_open({"screen": n})
        rss = rss_mib(center.srv.proc.pid)
        rss_each = parts(center.srv.proc.pid)
        samples = center.calls(clients, n, rounds, gap_s) if rep["open"].get("screen", 0) else []
        return {"what": f"call to {n} screens", "connected": rep["open"].get("screen", 0), "rss_mib": rss,
                "rss_parts": rss_each,
                "load_average": load_average(),
                "samples": len(samples), "p50": percentile(samples, 50), "p99": percentile(samples, 99),
                "max": max(samples) if samples else float("nan")}
    finally:
        clients.stop()


def idle_phase(center: Center, total: int, mix: dict, rate: float, seconds: float, rounds: int,
               gap_s: float) -> dict:
    counts = {k: int(total * share) for k, share in mix.items()}
    specs = []
    for kind, n in counts.items():
        for _ in range(n):
            auth = {"token": center.display} if kind == "screen" else None
            if kind == "phone":
                auth = {"status": center.status_tokens[len(specs) % len(center.status_tokens)]}
            specs.append((kind, source(len(specs)), auth))
    clients = Clients(center.srv, specs)
    out: dict = {"what": f"{total} idle connections", "mix": counts}
    try:
        rep = clients.wait_open(counts, timeout=90)
        out["open_before"] = rep["open"]
        health = [healthz_probe(center.srv.port, "127.0.1.250")]
        cpu0, t0 = cpu_s(center.srv.proc.pid), time.monotonic()
        t_end = t0 + seconds
        import threading
        result: dict = {}
        th = threading.Thread(target=lambda: result.update(
            zip(("lat", "errors"), issue_load(center.srv.port, center.kiosk, rate, seconds, "127.0.1.251"))))
        th.start()
        while time.monotonic() < t_end:
            time.sleep(1)
            health.append(healthz_probe(center.srv.port, "127.0.1.250"))
        th.join()
        out["server_cpu_pct"] = round(100 * (cpu_s(center.srv.proc.pid) - cpu0) / (time.monotonic() - t0), 1)
        out["load_average"] = load_average()
        rep = clients.report()
        out["open_during"] = rep["open"]
        out["reopened"], out["refused"] = rep["reopened"], rep["refused"]
        out["rss_mib"] = rss_mib(center.srv.proc.pid)
        out["rss_parts"] = parts(center.srv.proc.pid)
        lat = result["lat"]
        out.update(issued=len(lat), errors=result["errors"], p50=percentile(lat, 50), p99=percentile(lat, 99),
                   max=max(lat))
        ok = [h for h in health if h is not None]
        out["healthz"] = f"{len(ok)}/{len(health)} answered, p50 {percentile(ok, 50):.1f} ms, max {max(ok or [0]):.1f} ms"
        print(json.dumps(out, ensure_ascii=False), flush=True)  # before the calls: a frozen server never gets there
        n_screens = rep["open"].get("screen", 0)
        if out["errors"] > len(lat) // 10:
            out["calls"] = "skipped: the server does not answer"
        elif n_screens and rounds:
            samples = center.calls(clients, n_screens, rounds, gap_s)
            out["calls"] = {"screens": n_screens, "samples": len(samples), "p50": percentile(samples, 50),
                            "p99": percentile(samples, 99), "max": max(samples)}
    finally:
        clients.stop()
    return out


def clock_start(local_time: str, local_date: str | None, center_file: Path | None = None) -> str | None:
    """``--bench-clock-start`` for the server: ``local_time`` on ``local_date`` or, by default, on the
    center's latest working day up to today (its local today); None for ``real``."""
    if local_time == "real":
        return None
    from server.config import load_center
    center = load_center(center_file)  # the bench's center: the bundled ward (tests/live_server.py)
    try:
        datetime.strptime(local_time, "%H:%M")
    except ValueError:
        raise SystemExit(f"--local-time {local_time!r}: HH:MM (the center's time) or 'real'") from None
    if local_date:
        day = date.fromisoformat(local_date)
    else:
        day = datetime.now(center.tz).date()
        while day.isoweekday() not in center.hours.work_days:
            day -= timedelta(days=1)
    return f"{day.isoformat()}T{local_time}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--screens", type=int, nargs="*", default=[50, 500])
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--gap-ms", type=float, default=300)
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--mix", default="screen=0.05,phone=0.45,keepalive=0.25,halfsent=0.25",
                    help="shares of the idle connections (default: 100 screens, 900 phones, 500 + 500 HTTP)")
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--threads", type=int, default=None, help="threads = N in server.toml (the old server)")
    ap.add_argument("--server-log", help="keep the server's log here (e.g. with GEVENT_MAX_BLOCKING_TIME=0.04 "
                                         "GEVENT_MONITOR_THREAD_ENABLE=true: what held the event loop)")
    ap.add_argument("--server-nice", type=int, default=None,
                    help="renice the server's threads (e.g. -10): on a shared machine, the server as the main "
                         "process of its Pi; the clients keep their priority")
    ap.add_argument("--local-time", default="09:30",
                    help="the center's local time the server runs as if it were (HH:MM; default 09:30, its "
                         "morning), or 'real' for the real clock")
    ap.add_argument("--local-date", help="the day for --local-time, YYYY-MM-DD (default: the center's latest "
                                         "working day up to its today)")
    ap.add_argument("--counters", type=int, default=9,
                    help="counters 1..N of the main site with a clerk signed in (default 9: all of the bundled "
                         "ward's, a staffed morning); only counter 1 calls")
    args = ap.parse_args()
    start_at = clock_start(args.local_time, args.local_date)
    print(f"server clock: {'real' if start_at is None else 'starts at ' + start_at + ' (center time)'}", flush=True)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server and clients on kill
    mix = {k: float(v) for k, v in (part.split("=") for part in args.mix.split(","))}
    # every phone watches its own ticket, as citizens do
    citizens = args.calls * (len(args.screens) + 1) + 50 + int(args.idle * mix.get("phone", 0))
    with tempfile.TemporaryDirectory() as tmp:
        center = Center(Path(tmp) / "srv", args.threads, citizens, start_at, args.counters).start()
        try:
            time.sleep(2)
            if args.server_nice is not None:
                renice(center.srv.proc.pid, args.server_nice)
            idle_rss = rss_mib(center.srv.proc.pid)
            print(f"memory idle: {idle_rss:.0f} MiB ({parts(center.srv.proc.pid)})", flush=True)
            for n in args.screens:
                row = screens_phase(center, n, args.calls, args.gap_ms / 1000)
                print(json.dumps(row), flush=True)
            if args.idle:
                row = idle_phase(center, args.idle, mix, args.rate, args.seconds, args.calls, args.gap_ms / 1000)
                print(json.dumps(row, ensure_ascii=False), flush=True)
        finally:
            center.srv.stop()
            if args.server_log:
                Path(args.server_log).write_bytes(center.srv.log_path.read_bytes())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
