"""``qms-display-agent``: keep the wall display's browser running and the page fresh.

    qms-display-agent --config /etc/qms/display.toml
    qms-display-agent --config display.toml --check      # validate the file and exit

A bad configuration or argument prints one message naming the problem and exits with
code 2, never a traceback. Under systemd (``Type=notify``, ``WatchdogSec=``) it reports
READY and pings the watchdog while its loop is alive.
"""
from __future__ import annotations

import sys
from typing import Sequence

from qms_common.errors import ConfigError
from qms_common.service_cli import EXIT_USAGE, UsageError, device_parser, run_until_signalled, setup_logging

from .config import DisplayAgentConfig, load_config


def build_parser():
    return device_parser("qms-display-agent", "Runs the wall display's kiosk browser and watches the server.",
                         "display agent TOML file")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        setup_logging(args.log_level)
        config = load_config(args.config)
        config.page_url()  # a missing token file is a configuration error, found now
        config.mqtt.broker(config.device)
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

    return run_until_signalled(DisplayAgent(config))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
