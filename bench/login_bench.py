"""Sign-in under the production server: memory of parallel password checks, and whether the
answer time tells which user names exist.

Starts the real server (gunicorn, one worker, threads) with the production password profile,
creates a user whose hash has the current parameters and one whose hash has argon2-cffi's
default (64 MiB, the parameters of earlier versions), then:

* 16 sign-ins at once, for each user: the worker's resident memory before and its peak
  (``VmHWM`` of /proc, the high-water mark) after, and the wall time of the burst;
* 40 wrong sign-ins for the known user and 40 for unknown names, interleaved: median and p90
  answer times (the throttle is widened for this run so that it does not interfere).

Usage: .venv/bin/python bench/login_bench.py [--markdown] [--old-settings]
(``--old-settings``: do not write the ``[login]`` section, for running this script against a
checkout from before it existed.) docs/performance.md records the method and a run.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402

from qms_common.clock import SystemClock  # noqa: E402
from server.auth import Auth  # noqa: E402
from server.store import Store  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402

PASSWORD = "matkhau-123"


def worker_pid(srv: LiveServer) -> int:
    children = Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()
    return int(children[0])


def proc_kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


def burst(url: str, username: str, n: int) -> tuple[float, list[int]]:
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(n + 1)

    def one() -> None:
        start.wait()
        r = requests.post(url + "/api/v1/auth/login", json={"username": username, "password": PASSWORD}, timeout=120)
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, sorted(statuses)


def timed_failures(url: str, names: list[str]) -> list[float]:
    session = requests.Session()
    out = []
    for name in names:
        t0 = time.perf_counter()
        r = session.post(url + "/api/v1/auth/login", json={"username": name, "password": "sai-mat-khau"}, timeout=60)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 401, (len(out), r.text)
    return out


def p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10)[-1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--old-settings", action="store_true")
    ap.add_argument("--parallel", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        extra = "" if args.old_settings else (
            "[login]\nfree_failures_per_user = 100\nfree_failures_per_address = 1000\n")
        srv = LiveServer(Path(tmp) / "srv", settings_extra=extra)
        text = srv.settings_file.read_text().replace('password_profile = "cheapest-for-tests"\n', "")
        srv.settings_file.write_text(text)
        srv.start()
        try:
            auth = Auth(Store(srv.state_dir / "qms.db"), SystemClock())  # the production parameters
            auth.add_user("lan", "Lan", "clerk", PASSWORD)
            auth.add_user("cu", "Cũ", "clerk", PASSWORD)
            with auth.store.write() as conn:  # a hash made by an earlier version (argon2-cffi's default)
                conn.execute("UPDATE users SET password_hash = ? WHERE username = 'cu'", (PasswordHasher().hash(PASSWORD),))
            pid = worker_pid(srv)
            requests.post(srv.url + "/api/v1/auth/login", json={"username": "lan", "password": PASSWORD}, timeout=60)
            rows = []
            for user, label in (("lan", "current hash"), ("cu", "old 64 MiB hash")):
                before = proc_kib(pid, "VmRSS")
                wall, statuses = burst(srv.url, user, args.parallel)
                peak = proc_kib(pid, "VmHWM")
                rows.append((label, args.parallel, before / 1024, peak / 1024, wall, statuses))
            # interleaved, so that the machine's other work falls on both alike
            names = [n for _ in range(40) for n in ("lan", f"khong-co-{uuid.uuid4().hex[:8]}")]
            times = timed_failures(srv.url, names)
            known, unknown = times[0::2], times[1::2]
        finally:
            srv.stop()
    if args.markdown:
        print("| sign-ins at once | hash | worker RSS before MB | peak RSS MB | burst s | answers |")
        print("|---|---|---|---|---|---|")
        for label, n, before, peak, wall, statuses in rows:
            answers = ", ".join(f"{statuses.count(s)}×{s}" for s in sorted(set(statuses)))
            print(f"| {n} | {label} | {before:.0f} | {peak:.0f} | {wall:.2f} | {answers} |")
        print()
        print("| wrong sign-in for | n | p50 ms | p90 ms |")
        print("|---|---|---|---|")
        print(f"| a known user | {len(known)} | {statistics.median(known):.1f} | {p90(known):.1f} |")
        print(f"| an unknown user name | {len(unknown)} | {statistics.median(unknown):.1f} | {p90(unknown):.1f} |")
    else:
        for row in rows:
            print(row)
        print("known p50", statistics.median(known), "unknown p50", statistics.median(unknown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
