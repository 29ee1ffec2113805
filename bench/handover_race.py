"""Bench: the stalled-server race, 50+ trials; every press must end as one ticket, under the
printed number, called once, with a working QR code.

    .venv/bin/python bench/handover_race.py [--trials 60] [--seed 1]

Method (``tests/handover_race.py``): a real center server (gunicorn subprocess), one kiosk
(``KioskApp``, MockFactory, python-escpos Dummy through the printer seam, 1 s online timeout),
two clerk bots calling, starting and finishing through the REST API as fast as the server lets
them. Each trial: one press, then the server's process group is stopped (SIGSTOP) for a stall
length drawn around the timeout (0.3-12 s), two presses while it is silent, SIGCONT, one press
after. The kiosk's late requests are then carried out by the server *and* handed over from the
outbox: both paths complete. Counted per trial: presses, offline tickets, take-overs of an
online copy (and of those, copies already called, whose call was repeated under the printed
number), and problems (a press with no ticket, a number on the server 0 or 2 times, called
other than once, its QR not opening, its place not the press's, a ticket nobody holds).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STALLS = [0.3, 0.6, 0.9, 1.0, 1.1, 1.4, 2.0, 3.0, 5.0, 8.0, 12.0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import logging

    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from kiosk.app import KioskApp
    from kiosk.config import config_from_dict
    from kiosk.testing import RecordingPrinters, config_dict
    from qms_common.clock import SystemClock
    from tests.handover_race import Clerks, Rig, sign_in_clerks
    from tests.live_server import LiveServer

    logging.basicConfig(level=logging.ERROR)
    Device.pin_factory = MockFactory()
    rng = random.Random(args.seed)
    rows: dict[float, Counter] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp) / "server", threads=32) as server:
        director = server.add_user("giamdoc", "director")
        clerks = Clerks(server, sign_in_clerks(server, director))
        data = config_dict(Path(tmp) / "kiosk", server.url, server.add_device("kiosk-1", "kiosk"))
        data["buttons"].update(cooldown_s=0, per_minute=120, debounce_s=0)
        data["server"]["retry_interval_s"] = 0.2
        data["offline"].update(block_size=50, min_spare=20)
        kiosk = KioskApp(config_from_dict(data, "bench"), clock=SystemClock(), connect=RecordingPrinters())
        kiosk.start()
        kiosk.sender.wait_first_round(15)
        clerks.start()
        rig = Rig(server, kiosk, director)
        try:
            for i in range(args.trials):
                stall_s = STALLS[i % len(STALLS)] * rng.uniform(0.9, 1.1)
                trial = rig.trial(stall_s, rng)
                key = STALLS[i % len(STALLS)]
                c = rows.setdefault(key, Counter())
                c.update(trials=1, presses=len(trial.presses), offline=trial.offline, takeovers=trial.takeovers,
                         repeated=trial.repeated_calls, problems=len(trial.problems))
                problems += [f"stall {stall_s:.2f} s: {p}" for p in trial.problems]
                print(f"trial {i + 1}/{args.trials}: stall {stall_s:5.2f} s, {len(trial.presses)} presses, "
                      f"{trial.offline} offline, {trial.takeovers} take-overs ({trial.repeated_calls} called), "
                      f"{len(trial.problems)} problems", file=sys.stderr, flush=True)
        finally:
            clerks.stop()
            kiosk.stop()
    total = sum(rows.values(), Counter())
    print("| stall (s) | trials | presses | offline | take-overs | of which called | problems |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for key in sorted(rows):
        c = rows[key]
        print(f"| {key} | {c['trials']} | {c['presses']} | {c['offline']} | {c['takeovers']} | {c['repeated']} | "
              f"{c['problems']} |")
    print(f"| **all** | {total['trials']} | {total['presses']} | {total['offline']} | {total['takeovers']} | "
          f"{total['repeated']} | {total['problems']} |")
    for p in problems:
        print("problem:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
