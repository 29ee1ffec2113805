"""``qms-robot``: the reference robot greeter.

    qms-robot --config /etc/qms/robot.toml
    qms-robot --config robot.toml --check        # validate the file (and read the token) and exit

A bad configuration or argument prints one message naming the problem and exits with
code 2, never a traceback. Under systemd (``Type=notify``) it reports READY and pings the
watchdog while the robot and its speech worker are alive.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import NoReturn, Sequence

from display.announcer.sinks import SinkError
from display.announcer.synth import SynthError
from qms_common import sd
from qms_common.errors import ConfigError

from .config import RobotConfig, load_config

log = logging.getLogger("display.robot")

EXIT_USAGE = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qms-robot", description="Reference robot greeter (simulated motion).")
    parser.add_argument("--config", type=Path, required=True, help="robot TOML file")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=args.log_level, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        config = load_config(args.config)
        config.device_token()
        config.mqtt.broker()
        if args.check:
            print(f"{args.config}: OK ({config.center}/{config.device}, {len(config.spots)} spots, "
                  f"{len(config.counters)} counters)")
            return 0
        return _run(config)
    except (UsageError, ConfigError, SynthError, SinkError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _run(config: RobotConfig) -> int:
    from .service import RobotService

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service = RobotService(config)  # an unknown voice or a missing player: SynthError/SinkError, exit 2
    watchdog = sd.Watchdog(service.healthy)
    service.start()
    try:
        sd.notify_ready()
        watchdog.start()
        stop.wait()
    finally:
        watchdog.stop()
        service.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
