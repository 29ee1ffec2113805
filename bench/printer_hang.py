"""Bench: a printer that hangs. How long until the kiosk says so, serves the next press, and
sees the printer again once it takes bytes.

    .venv/bin/python bench/printer_hang.py [--trials 10] [--job-timeout 4.0]

Method: one real :class:`kiosk.app.KioskApp` (gpiozero MockFactory presses, its local page
for ``/healthz``) against the real center server (``tests.live_server.LiveServer``), printing
through the configured ``file`` printer onto a FIFO whose reader holds it open and never
reads: the device accepts the open and stops taking bytes once its 64 KiB buffer is full.
Each trial: press (the job fills the buffer, then hangs until its deadline); a second press
after the fault; then the reader drains the FIFO and keeps reading (the printer is fixed).
A thread polls ``/healthz`` every 20 ms to time when it first says ``stuck`` and ``ok``.

Columns (seconds, from the press unless said): ``fault`` the screen shows the number as not
printed; ``healthz`` /healthz first says stuck; ``next`` second press to its number on the
screen; ``recovered`` printer fixed to the kiosk's printer state ``ok`` (the faulted-printer
recheck runs every 2 s).
"""
from __future__ import annotations

import argparse
import os
import select
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(trials: int, job_timeout: float) -> list[dict[str, float]]:
    import logging

    import requests
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from kiosk.app import KioskApp
    from kiosk.config import config_from_dict
    from kiosk.testing import config_dict
    from kiosk.web import KioskWeb
    from tests.live_server import LiveServer
    from tests.test_printer_hang import drain

    logging.basicConfig(level=logging.CRITICAL, force=True)
    Device.pin_factory = MockFactory()
    tmp = Path(tempfile.mkdtemp(prefix="printer-hang-bench-"))
    device = tmp / "lp0"
    os.mkfifo(device)
    reader = os.open(device, os.O_RDONLY | os.O_NONBLOCK)
    rows: list[dict[str, float]] = []
    with LiveServer(tmp / "server") as srv:
        token = srv.add_device("kiosk-bench", "kiosk")
        data = config_dict(tmp / "kiosk", srv.url, token, device="kiosk-bench")
        data["buttons"].update(cooldown_s=0.0, per_minute=120, debounce_s=0.0)
        data["offline"].update(block_size=200, min_spare=2 * trials + 1)
        data["printer"] = {"connection": {"type": "file", "devfile": str(device)}, "job_timeout_s": job_timeout}
        app = KioskApp(config_from_dict(data, "bench"))
        web = KioskWeb(app, "127.0.0.1", 0)
        app.start()
        web.start()
        app.sender.wait_first_round(30)
        pin = Device.pin_factory.pin(17)
        seen: dict[str, float] = {}
        stop = threading.Event()

        def poll_healthz() -> None:
            while not stop.is_set():
                state = requests.get(web.url + "/healthz", timeout=5).json()["printer"]
                seen.setdefault(state, time.monotonic())
                stop.wait(0.02)

        try:
            app.screen.wait_for(lambda s: s.printer == "ok", 30)
            for _ in range(trials):
                seen.clear()
                poller = threading.Thread(target=poll_healthz, daemon=True)
                stop.clear()
                poller.start()
                jobs = len(app.jobs)
                t0 = time.monotonic()
                pin.drive_low()
                pin.drive_high()
                app.screen.wait_for(lambda s: len(app.jobs) > jobs and not s.busy, 60)
                t_fault = time.monotonic()
                assert app.jobs[-1][1].fault == "stuck", app.jobs[-1]
                t1 = time.monotonic()
                pin.drive_low()
                pin.drive_high()
                app.screen.wait_for(lambda s: len(app.jobs) > jobs + 1 and not s.busy, 60)
                t_next = time.monotonic()
                seen.pop("ok", None)
                t_fix = time.monotonic()
                fixed = threading.Event()

                def printer_works() -> None:
                    while not fixed.is_set():
                        if select.select([reader], [], [], 0.02)[0]:
                            drain(reader)

                worker = threading.Thread(target=printer_works, daemon=True)
                worker.start()
                app.screen.wait_for(lambda s: s.printer == "ok", 30)
                t_ok = time.monotonic()
                fixed.set()
                worker.join(5)
                stop.set()
                poller.join(5)
                drain(reader)
                rows.append({"fault": t_fault - t0, "healthz": seen.get("stuck", float("nan")) - t0,
                             "next": t_next - t1, "recovered": t_ok - t_fix})
        finally:
            stop.set()
            web.stop()
            app.stop()
            os.close(reader)
    Device.pin_factory.reset()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--job-timeout", type=float, default=4.0)
    args = parser.parse_args()
    rows = run(args.trials, args.job_timeout)
    print(f"job_timeout_s = {args.job_timeout}, {len(rows)} trials (seconds)")
    print(f"| {'measure':<44} | {'median':>7} | {'max':>7} |")
    print(f"|{'-' * 46}|{'-' * 9}|{'-' * 9}|")
    labels = {"fault": "press -> number shown as not printed", "healthz": "press -> /healthz says stuck",
              "next": "next press -> its number on screen", "recovered": "printer fixed -> state ok"}
    for key, label in labels.items():
        values = [r[key] for r in rows]
        print(f"| {label:<44} | {statistics.median(values):>7.3f} | {max(values):>7.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
