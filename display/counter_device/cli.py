"""``qms-counter``: the device at a counter (number display, clerk buttons, rating keypad).

    qms-counter --config /etc/qms/counter.toml
    GPIOZERO_PIN_FACTORY=mock qms-counter --config counter.toml --keys   # a laptop

``--keys`` reads keys from the terminal, one per line, as if the buttons were pressed:
``n`` next, ``r`` recall, ``s`` start, ``f`` finish, ``x`` no-show, and ``4`` ``3`` ``2``
``1`` for the keypad (4 Rất hài lòng ... 1 Không hài lòng).

A bad configuration, argument or GPIO set-up prints one message and exits with code 2.
"""
from __future__ import annotations

import sys
import threading
from typing import Sequence, TextIO

from qms_common.errors import ConfigError
from qms_common.service_cli import EXIT_USAGE, UsageError, device_parser, run_until_signalled, setup_logging

from .config import CounterConfig, load_config

KEYS = {"n": "next", "r": "recall", "s": "start", "f": "finish", "x": "no_show",
        "4": "very_satisfied", "3": "satisfied", "2": "neutral", "1": "unsatisfied"}


def build_parser():
    parser = device_parser("qms-counter", "The device at a service counter.", "counter device TOML file")
    parser.add_argument("--keys", action="store_true", help="read key presses from stdin (n r s f x, 4 3 2 1)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        setup_logging(args.log_level)
        config = load_config(args.config)
        config.mqtt.broker(config.device)
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

    device = CounterDevice(config)

    def read_keys(stop: threading.Event) -> None:
        if keys is not None:
            threading.Thread(target=_read_keys, args=(device, keys, stop), daemon=True).start()

    # start() opens GPIO: a ConfigError there still exits with 2
    return run_until_signalled(device, started=read_keys)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
