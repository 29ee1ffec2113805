"""What every device program's command line shares: a parser whose mistakes end in one
message and exit status 2 (never a traceback), logging set-up, and the run loop under
systemd (READY, a watchdog fed while the service says it is healthy, a clean stop on
SIGTERM or Ctrl-C)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Callable, NoReturn, Protocol

from . import sd

EXIT_USAGE = 2
log = logging.getLogger(__name__)


class UsageError(Exception):
    """A wrong argument: printed as one line, exit status 2."""


class StrictParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def device_parser(prog: str, description: str, config_help: str) -> StrictParser:
    """``--config FILE``, ``--check`` and ``--log-level``, as every device program takes them."""
    parser = StrictParser(prog=prog, description=description)
    parser.add_argument("--config", type=Path, required=True, help=config_help)
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def setup_logging(level: str) -> None:
    # force: some libraries (python-escpos) call basicConfig() when imported
    logging.basicConfig(level=level, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


class Service(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def healthy(self) -> bool: ...


def run_until_signalled(service: Service, *, status: str | None = None, stop: threading.Event | None = None,
                        started: Callable[[threading.Event], None] | None = None) -> int:
    """Start ``service``, tell systemd it is ready, feed the watchdog while it is healthy,
    and stop it on SIGTERM/SIGINT (or when ``stop`` is set by someone else)."""
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.start()
    watchdog = sd.Watchdog(service.healthy)
    try:
        sd.notify_ready(status)
        watchdog.start()
        if started is not None:
            started(stop)
        stop.wait()
    finally:
        sd.notify_stopping()
        watchdog.stop()
        service.stop()
    return 0
