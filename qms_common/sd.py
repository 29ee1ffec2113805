"""systemd notification (``Type=notify``) and watchdog pings; no-ops outside systemd.

Every role's unit (``systemd/qms-*.service``) is ``Type=notify`` with ``WatchdogSec=``::

    from qms_common import sd

    sd.notify_ready()                                  # once the role is really serving
    watchdog = sd.Watchdog(healthy=lambda: mqtt.connected.is_set() or printer_ok())
    watchdog.start()                                   # pings at half of WATCHDOG_USEC
    ...
    sd.notify_stopping(); watchdog.stop()

The watchdog thread pings only while ``healthy()`` returns True (an exception counts as
False). A process that is stuck or unhealthy for longer than ``WatchdogSec`` is then killed
and restarted by systemd (``Restart=on-failure``). Pinging from a thread alone would hide a
deadlocked main loop, so ``healthy`` should look at something the main loop updates (e.g. a
heartbeat timestamp, see :class:`Heartbeat`). ``status=`` (a callable returning one line)
is sent as ``STATUS=`` whenever it changes, so ``systemctl status`` shows a degraded part
(the kiosk: a stuck printer) that is not worth a restart.

Outside systemd (``NOTIFY_SOCKET`` unset: tests, a developer's shell) every call is a no-op.
``WATCHDOG_PID`` is deliberately not checked: under gunicorn the worker process, not the
main process systemd started, sends the pings, which needs ``NotifyAccess=all`` in the unit.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

import sdnotify

log = logging.getLogger(__name__)

_lock = threading.Lock()
_cached: tuple[str, sdnotify.SystemdNotifier] | None = None


def _notifier() -> sdnotify.SystemdNotifier | None:
    """One notifier per NOTIFY_SOCKET value (re-created if the variable changes)."""
    global _cached
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return None
    with _lock:
        if _cached is None or _cached[0] != address:
            try:
                _cached = (address, sdnotify.SystemdNotifier(debug=True))
            except OSError as exc:
                log.warning("cannot reach systemd's NOTIFY_SOCKET %s: %s", address, exc)
                return None
        return _cached[1]


def notify(state: str) -> bool:
    """Send one sd_notify state string (e.g. ``READY=1``); True if it was sent."""
    notifier = _notifier()
    if notifier is None:
        return False
    try:
        # sdnotify encodes with latin-1; systemd reads UTF-8 (a Vietnamese STATUS= line):
        # hand it the UTF-8 bytes as latin-1 characters, which it encodes back unchanged
        notifier.notify(state.encode("utf-8").decode("latin-1"))
        return True
    except OSError as exc:
        log.warning("sd_notify %r failed: %s", state.split("=", 1)[0], exc)
        return False


def notify_ready(status: str | None = None) -> bool:
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def notify_watchdog() -> bool:
    return notify("WATCHDOG=1")


def notify_status(status: str) -> bool:
    return notify(f"STATUS={status}")


def notify_stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_interval() -> float | None:
    """``WatchdogSec`` in seconds as systemd passed it (WATCHDOG_USEC), or None."""
    raw = os.environ.get("WATCHDOG_USEC", "")
    try:
        usec = int(raw)
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None


class Heartbeat:
    """A timestamp the main loop refreshes; ``fresh`` is a ready-made ``healthy`` check."""

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._at = time.monotonic()

    def beat(self) -> None:
        self._at = time.monotonic()

    def fresh(self) -> bool:
        return time.monotonic() - self._at <= self.max_age_s


class Watchdog:
    """Pings the systemd watchdog at half its interval while ``healthy()`` says so.

    ``interval_s`` overrides WatchdogSec (tests); ``start()`` does nothing when there is no
    NOTIFY_SOCKET or no watchdog interval.
    """

    def __init__(self, healthy: Callable[[], bool] | None = None, *, interval_s: float | None = None,
                 status: Callable[[], str] | None = None) -> None:
        self.healthy = healthy or (lambda: True)
        #: an optional one-line state (``systemctl status`` shows it), sent when it changes
        self.status = status
        self.last_status: str | None = None
        watchdog = interval_s if interval_s is not None else watchdog_interval()
        self.interval = watchdog / 2 if watchdog else 0.0
        self.pings = 0
        self.missed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "Watchdog":
        if not self.interval or not os.environ.get("NOTIFY_SOCKET") or self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
        self._thread.start()
        return self

    def _check(self) -> bool:
        try:
            return bool(self.healthy())
        except Exception:
            log.exception("health check failed; not pinging the watchdog")
            return False

    def _report_status(self) -> None:
        if self.status is None:
            return
        try:
            text = self.status()
        except Exception:
            log.exception("status line failed")
            return
        if text != self.last_status and notify_status(text):
            self.last_status = text

    def _run(self) -> None:
        was_healthy = True
        while not self._stop.wait(self.interval):
            healthy = self._check()
            if healthy:
                self._report_status()
            if healthy:
                if notify_watchdog():
                    self.pings += 1
                if not was_healthy:
                    log.info("healthy again; watchdog pings resumed")
            else:
                self.missed += 1
                if was_healthy:
                    log.warning("unhealthy: withholding watchdog pings (systemd restarts us after WatchdogSec)")
                    notify_status("unhealthy: watchdog pings withheld")
            was_healthy = healthy

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
