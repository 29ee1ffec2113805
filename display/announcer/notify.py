"""systemd ``Type=notify`` support: ``READY=1`` once started, ``WATCHDOG=1`` while healthy.

Does nothing when ``NOTIFY_SOCKET`` is not set (a laptop, a test, a plain terminal).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)

DEFAULT_WATCHDOG_PERIOD_S = 10.0


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.enabled = bool(env.get("NOTIFY_SOCKET"))
        self._notifier = None
        if self.enabled:
            import sdnotify  # only needed under systemd

            self._notifier = sdnotify.SystemdNotifier()
        usec = env.get("WATCHDOG_USEC", "")
        # Ping at half the watchdog timeout, as sd_watchdog_enabled(3) recommends.
        self.watchdog_period_s = (int(usec) / 2e6 if usec.isdigit() and int(usec) > 0
                                  else DEFAULT_WATCHDOG_PERIOD_S)

    def _send(self, state: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(state)

    def ready(self, status: str = "") -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")
