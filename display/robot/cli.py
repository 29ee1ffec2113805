"""``qms-robot``: the reference robot greeter.

    qms-robot --config /etc/qms/robot.toml
    qms-robot --config robot.toml --check        # validate the file (and read the token) and exit

A bad configuration or argument prints one message naming the problem and exits with
code 2, never a traceback. Under systemd (``Type=notify``) it reports READY and pings the
watchdog while the robot and its speech worker are alive.
"""
from __future__ import annotations

import sys
from typing import Sequence

from display.announcer.sinks import SinkError
from display.announcer.synth import SynthError
from qms_common.errors import ConfigError
from qms_common.service_cli import EXIT_USAGE, UsageError, device_parser, run_until_signalled, setup_logging

from .config import RobotConfig, load_config


def build_parser():
    return device_parser("qms-robot", "Reference robot greeter (simulated motion).", "robot TOML file")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        setup_logging(args.log_level)
        config = load_config(args.config)
        config.device_token()
        config.mqtt.broker(config.device)
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

    # an unknown voice or a missing player raises SynthError/SinkError here: exit 2
    return run_until_signalled(RobotService(config))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
