"""``qms-counter``: the device at a counter (number display, clerk buttons, rating keypad).

    qms-counter --config /etc/qms/counter.toml
    GPIOZERO_PIN_FACTORY=mock qms-counter --config counter.toml --keys   # a laptop

``--keys`` reads keys from the terminal, one per line, as if the buttons were pressed:
``n`` next, ``r`` recall, ``s`` start, ``f`` finish, ``x`` no-show, and ``4`` ``3`` ``2``
``1`` for the keypad (4 Rất hài lòng ... 1 Không hài lòng).

A bad configuration, argument or GPIO set-up prints one message and exits with code 2.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import NoReturn, Sequence, TextIO

from qms_common import sd
from qms_common.errors import ConfigError

from .config import CounterConfig, load_config

log = logging.getLogger("display.counter_device")

EXIT_USAGE = 2
KEYS = {"n": "next", "r": "recall", "s": "start", "f": "finish", "x": "no_show",
        "4": "very_satisfied", "3": "satisfied", "2": "neutral", "1": "unsatisfied"}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qms-counter", description="The device at a service counter.")
    parser.add_argument("--config", type=Path, required=True, help="counter device TOML file")
    parser.add_argument("--keys", action="store_true",
                        help="read key presses from stdin (n r s f x, 4 3 2 1)")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=args.log_level, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        config = load_config(args.config)
        config.mqtt.broker()
        if args.check:
            print(f"{args.config}: OK ({config.center}/{config.device}, keys: "
                  f"{', '.join(f'{k}=GPIO{p}' for k, p in config.pins().items()) or 'none'})")
            return 0
        return _run(config, sys.stdin if args.keys else None)
    except (UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _read_keys(device, stream: TextIO, stop: threading.Event) -> None:
    for line in stream:
        key = KEYS.get(line.strip().lower())
        if key:
            device.press(key)
        elif line.strip():
            print(f"? {line.strip()!r}: keys are {' '.join(KEYS)}", file=sys.stderr)
    stop.set()  # end of input ends the session


def _run(config: CounterConfig, keys: TextIO | None) -> int:
    from .service import CounterDevice

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    device = CounterDevice(config)
    device.start()  # opens GPIO: a ConfigError here still exits with 2
    watchdog = sd.Watchdog(device.healthy)
    try:
        sd.notify_ready()
        watchdog.start()
        if keys is not None:
            threading.Thread(target=_read_keys, args=(device, keys, stop), daemon=True).start()
        stop.wait()
    finally:
        watchdog.stop()
        device.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
