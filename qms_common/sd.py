"""systemd notification (Type=notify) and watchdog pings; no-ops outside systemd."""
from __future__ import annotations

import os
import threading
from typing import Callable

import sdnotify


def _notifier() -> sdnotify.SystemdNotifier | None:
    return sdnotify.SystemdNotifier() if os.environ.get("NOTIFY_SOCKET") else None


def notify_ready() -> None:
    n = _notifier()
    if n:
        n.notify("READY=1")


def notify_watchdog() -> None:
    n = _notifier()
    if n:
        n.notify("WATCHDOG=1")


class Watchdog:
    """Pings the systemd watchdog at half its interval while ``healthy()`` says so."""

    def __init__(self, healthy: Callable[[], bool] | None = None) -> None:
        self.healthy = healthy or (lambda: True)
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        self.interval = usec / 2e6 if usec else 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.interval or not os.environ.get("NOTIFY_SOCKET"):
            return
        self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.healthy():
                notify_watchdog()

    def stop(self) -> None:
        self._stop.set()
