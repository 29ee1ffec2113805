"""``qms-display-agent``: keep the wall display's browser running and the page fresh.

    qms-display-agent --config /etc/qms/display.toml
    qms-display-agent --config display.toml --check      # validate the file and exit

A bad configuration or argument prints one message naming the problem and exits with
code 2, never a traceback. Under systemd (``Type=notify``, ``WatchdogSec=``) it reports
READY and pings the watchdog while its loop is alive.
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

from qms_common import sd
from qms_common.errors import ConfigError

from .config import DisplayAgentConfig, load_config

log = logging.getLogger("display.agent")

EXIT_USAGE = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qms-display-agent",
                     description="Runs the wall display's kiosk browser and watches the server.")
    parser.add_argument("--config", type=Path, required=True, help="display agent TOML file")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=args.log_level, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        config = load_config(args.config)
        config.page_url()  # a missing token file is a configuration error, found now
        config.mqtt.broker()
        if args.check:
            print(f"{args.config}: OK ({config.center}/{config.device}, {config.public_url()})")
            return 0
        return _run(config)
    except (UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _run(config: DisplayAgentConfig) -> int:
    from .service import DisplayAgent

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent = DisplayAgent(config)
    watchdog = sd.Watchdog(agent.healthy)
    agent.start()
    try:
        sd.notify_ready()
        watchdog.start()
        stop.wait()
    finally:
        watchdog.stop()
        agent.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
