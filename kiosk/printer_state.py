"""What the kiosk knows about its printer, and when to look again.

Fed by every print job and every status probe; read by the health report (MQTT and
``/healthz``), the local page and the systemd status line. :meth:`PrinterState.update`
says whether anything a director would see changed, so the kiosk publishes its health
*at once* on a fault or a recovery instead of waiting for the periodic report.

While the printer is faulted it is probed every ``FAULT_RECHECK_S`` seconds (a refilled or
unjammed printer is seen as recovered within that time), otherwise every
``printer.status_interval_s`` (a printer unplugged or emptied between tickets is seen within
that time).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from .printer import MESSAGES_VI, FaultCode, HealthValue, health_value

#: how often a faulted printer is looked at again (seconds, injected clock)
FAULT_RECHECK_S = 2.0

#: the printer's state for people: the local page, ``systemctl status``
STATE_VI: dict[str, str] = {
    "unknown": "chưa rõ", "ok": "tốt", "no_paper": "hết giấy", "paper_low": "sắp hết giấy",
    "cover_open": "mở nắp", "offline": "mất kết nối", "error": "lỗi", "stuck": "bị treo (không nhận lệnh in)",
}


@dataclass(frozen=True)
class PrinterView:
    state: str  # "unknown", "ok" or a fault code (``stuck``, ``no_paper``…)
    health: HealthValue | None  # for wire.Health.printer; None before the first job or probe
    faults: tuple[str, ...]  # ``printer_<fault>`` for wire.Health.faults
    message: str  # Vietnamese, for the screen
    detail: str  # technical, for logs and health
    since: float  # monotonic time of the last change

    @property
    def faulted(self) -> bool:
        return bool(self.faults) and self.state != "paper_low"


class PrinterState:
    """Thread-safe: written by the worker, read by MQTT's health thread and the web server."""

    def __init__(self, now: float) -> None:
        self._lock = threading.Lock()
        self._view = PrinterView("unknown", None, (), "", "", now)
        self._last_check = float("-inf")
        #: (monotonic time, state) of every change: tests and the bench read it
        self.changes: list[tuple[float, str]] = []

    def get(self) -> PrinterView:
        with self._lock:
            return self._view

    def update(self, fault: FaultCode | None, detail: str, now: float) -> bool:
        """Record what a job or probe found; True if the state a director sees changed."""
        state = fault or "ok"
        view = PrinterView(state, health_value(fault), (f"printer_{fault}",) if fault else (),
                           MESSAGES_VI[fault] if fault else "", detail[:120], now)
        with self._lock:
            self._last_check = now
            changed = (view.state, view.faults) != (self._view.state, self._view.faults)
            if changed:
                self._view = view
                self.changes.append((now, state))
            else:
                self._view = PrinterView(view.state, view.health, view.faults, view.message, view.detail,
                                         self._view.since)
        return changed

    def check_due(self, now: float, interval_s: float) -> bool:
        """Whether to probe the printer now: every ``interval_s``, or ``FAULT_RECHECK_S`` when faulted."""
        with self._lock:
            every = min(interval_s, FAULT_RECHECK_S) if self._view.faults else interval_s
            return now - self._last_check >= every

    def recheck_soon(self) -> None:
        """Probe at the next idle moment (an abandoned job's blocked call returned)."""
        with self._lock:
            self._last_check = float("-inf")
