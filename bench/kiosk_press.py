"""Bench: from a button press to the ticket's printer bytes being ready, online and offline.

    .venv/bin/python bench/kiosk_press.py [--presses 200]

Method: one kiosk (the real :class:`kiosk.app.KioskApp`, gpiozero's MockFactory, python-escpos'
Dummy through the printer seam) against the real center server in a subprocess
(``tests.live_server.LiveServer``, gunicorn). A press is a mock pin driven low; the time is
from the press callback to the end of the print job (ticket issued, recorded durably in
SQLite, rendered with Pillow, encoded as ESC/POS and written to the Dummy), read from the
worker's own timestamps. "online": the server answers. "offline": the server is stopped
(connection refused at once), so each press issues from a reserved block into the outbox.
Cool-down and rate limit are off; presses are sequential (one citizen at a time).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def run(presses: int) -> list[tuple[str, list[float]]]:
    import logging

    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from kiosk.app import KioskApp
    from kiosk.config import config_from_dict
    from kiosk.testing import RecordingPrinters, config_dict
    from tests.live_server import LiveServer

    logging.basicConfig(level=logging.ERROR, force=True)
    Device.pin_factory = MockFactory()
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    results: list[tuple[str, list[float]]] = []
    with LiveServer(tmp / "server") as srv:
        token = srv.add_device("kiosk-bench", "kiosk")
        data = config_dict(tmp / "kiosk", srv.url, token, device="kiosk-bench")
        data["buttons"].update(cooldown_s=0.0, per_minute=120, debounce_s=0.0)
        data["offline"].update(block_size=200, min_spare=presses + 1)
        app = KioskApp(config_from_dict(data, "bench"), connect=RecordingPrinters())
        app.filter.per_minute = 10**6  # the bench presses faster than any citizen
        app.start()
        app.sender.wait_first_round(30)
        pin = Device.pin_factory.pin(17)

        def measure(label: str, expect_offline: bool) -> None:
            times: list[float] = []
            for i in range(presses):
                before = app.screen.get()
                done = sum(before.counters.values())
                t0 = time.perf_counter()
                pin.drive_low()
                pin.drive_high()
                app.screen.wait_for(lambda s: sum(s.counters.values()) > done and not s.busy, 30)
                times.append((time.perf_counter() - t0) * 1000)
                assert app.jobs[-1][1].printed
                if i == 0:
                    screen = app.screen.get()
                    assert screen.ticket and screen.ticket.offline == expect_offline, screen
            results.append((label, times))

        measure("online (server answers)", False)
        srv.stop()
        measure("offline (server down)", True)
        app.stop()
    Device.pin_factory.reset()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=200)
    args = parser.parse_args()
    rows = run(args.presses)
    print(f"{'mode':<26} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8}")
    for label, times in rows:
        print(f"{label:<26} {len(times):>5} {statistics.median(times):>8.1f} {percentile(times, 99):>8.1f} "
              f"{max(times):>8.1f} {statistics.fmean(times):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
