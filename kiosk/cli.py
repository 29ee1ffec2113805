"""``qms-kiosk``: run a kiosk, check its configuration, or press a button of a running one.

    qms-kiosk --config /etc/qms/kiosk.toml             # run (systemd Type=notify)
    qms-kiosk --config /etc/qms/kiosk.toml check       # validate the file and the font, then exit
    qms-kiosk --config /etc/qms/kiosk.toml press HT    # press a button through the local page

Exit status: 0 done, 2 bad configuration (the message names the file and the field),
1 anything else.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import urllib.error
import urllib.request

from qms_common.errors import ConfigError
from qms_common.sd import Watchdog, notify_ready

from .config import KioskConfig, load_config

log = logging.getLogger("kiosk")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qms-kiosk", description="Queue ticket kiosk (buttons, printer, offline outbox)")
    p.add_argument("--config", required=True, help="kiosk TOML file (see firmware_config/kiosk.example.toml)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = p.add_subparsers(dest="command")
    sub.add_parser("run", help="run the kiosk (the default)")
    sub.add_parser("check", help="validate the configuration, token file and font, then exit")
    press = sub.add_parser("press", help="press a button of the running kiosk through its local page")
    press.add_argument("button", help="service code, key 1..9, or P")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # python-escpos calls logging.basicConfig() on import: take the configuration back
    logging.basicConfig(level=args.log_level, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        if args.command == "press":
            return _press(config, args.button)
        config.server.read_token()
        from .fonts import default_fonts

        default_fonts(config.printer.font_path)
        if config.mqtt.enabled:
            config.mqtt.broker(config.device)
    except ConfigError as exc:
        print(f"qms-kiosk: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(f"{args.config}: ok ({len(config.buttons.services)} service buttons, printer "
              f"{config.printer.connection.type}, paper {config.printer.paper})")
        return 0
    return _run(config)


def _press(config: KioskConfig, button: str) -> int:
    if not config.web.enabled:
        print("qms-kiosk: press needs [web] enabled = true", file=sys.stderr)
        return 2
    url = f"http://{config.web.host}:{config.web.port}/api/press"
    data = json.dumps({"button": button}).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=35) as response:
            print(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:  # the kiosk answered: say what it said, not "cannot reach"
        try:
            message = json.loads(exc.read()).get("message") or exc.reason
        except (ValueError, AttributeError):
            message = exc.reason
        print(f"qms-kiosk: press {button!r} refused ({exc.code}): {message}", file=sys.stderr)
        return 2
    except (urllib.error.URLError, OSError) as exc:
        print(f"qms-kiosk: cannot reach the kiosk at {url}: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(config: KioskConfig) -> int:
    from .app import KioskApp
    from .web import KioskWeb

    app = KioskApp(config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    web = KioskWeb(app, config.web.host, config.web.port) if config.web.enabled else None
    app.start()
    if web:
        web.start()
    # pings while the worker serves presses; the printer's state goes to STATUS= (systemctl status)
    watchdog = Watchdog(app.healthy, status=app.status_line)
    watchdog.start()
    notify_ready()
    log.info("kiosk %s ready%s", config.device, f"; page on {web.url}" if web else "")
    try:
        while not stop.wait(1.0):
            if not app.healthy():
                log.error("a kiosk thread died; exiting for systemd to restart us")
                return 1
    finally:
        watchdog.stop()
        if web:
            web.stop()
        app.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
