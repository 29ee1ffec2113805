"""A deadline for every print job, for printers that hang instead of failing.

A jammed or out-of-paper printer behind the kernel's ``usblp`` (``/dev/usb/lp0``), a serial
line held by flow control, or a device file nobody reads can block ``open()`` or
``write()`` for as long as it likes. A thread blocked in ``write()`` cannot be killed in
Python, so the job does not run on the kiosk's worker thread:

- :meth:`JobGuard.run` runs each job (a print or a status probe) on a new daemon thread and
  waits for it. The deadline is on *progress*: the job must not spend more than
  ``timeout_s`` in one step (opening the device, one write). A slow serial printer that
  keeps taking bytes is not stuck; one that takes none for ``timeout_s`` is.
- Past the deadline the job is *abandoned*: the guard answers "stuck" at once and the
  worker goes on (the ticket is recorded as not printed, the next press is served).
  The job's :class:`Progress` is marked abandoned, so the moment the blocked call returns,
  the job's next write raises :class:`JobAbandoned`: nothing more of that ticket is sent,
  and a printer that wakes up minutes later does not print a stale ticket.
- While an abandoned job's thread is still blocked, no new job is started (that would
  pile up blocked threads on the same device): :meth:`run` answers "stuck" immediately.
  When the thread finally returns, ``on_release`` is called (on that thread), so the kiosk
  can look at the printer again at once instead of at its next periodic check.

Time comes from the injected clock; the guard wakes every ``poll_s`` (real time) to look
at it, so a test moving a :class:`~qms_common.clock.FakeClock` sees the deadline pass.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from qms_common.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobAbandoned(RuntimeError):
    """The job's deadline passed while it was blocked: it must not send anything more."""


class Progress:
    """What a running job reports: a step began or ended (``tick``); whether it was abandoned."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.at = clock.monotonic()
        self.steps = 0
        self.abandoned = threading.Event()

    def tick(self) -> None:
        """Mark progress; raises :class:`JobAbandoned` if the guard gave up on this job."""
        if self.abandoned.is_set():
            raise JobAbandoned("the print job's deadline passed; nothing more is sent")
        self.at = self.clock.monotonic()
        self.steps += 1


@dataclass(frozen=True)
class GuardResult(Generic[T]):
    """How a guarded job ended: its value, its exception, or ``stuck``."""

    value: T | None = None
    error: BaseException | None = None
    stuck: bool = False
    #: True when the job was not even started, because an earlier one is still blocked
    quarantined: bool = False
    waited_s: float = 0.0


class JobGuard:
    """Runs one job at a time with a progress deadline; see the module docstring."""

    def __init__(self, clock: Clock, timeout_s: float, *, poll_s: float = 0.05, grace_s: float = 0.5,
                 on_release: Callable[[], None] | None = None) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.clock = clock
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        #: real time an abandoned job gets to notice and return (a non-blocking writer does)
        self.grace_s = grace_s
        self.on_release = on_release
        self.abandoned_jobs = 0
        self._lock = threading.Lock()
        self._blocked: threading.Thread | None = None

    @property
    def blocked(self) -> bool:
        """An abandoned job's thread is still blocked in the device."""
        thread = self._blocked
        return thread is not None and thread.is_alive()

    def run(self, job: Callable[[Progress], T], name: str = "job") -> GuardResult[T]:
        with self._lock:
            if self.blocked:
                return GuardResult(stuck=True, quarantined=True)
            self._blocked = None
            progress = Progress(self.clock)
            started = self.clock.monotonic()
            done = threading.Event()
            box: dict[str, Any] = {}

            def target() -> None:
                try:
                    box["value"] = job(progress)
                except BaseException as exc:  # handed to the caller, who classifies it
                    box["error"] = exc
                finally:
                    done.set()
                    if self._blocked is threading.current_thread():
                        log.warning("an abandoned print job returned after all (%s)",
                                    type(box.get("error")).__name__ if "error" in box else "finished")
                        self._released()

            thread = threading.Thread(target=target, name=f"printer-{name}", daemon=True)
            thread.start()
            while not done.wait(self.poll_s):
                if self.clock.monotonic() - progress.at >= self.timeout_s:
                    progress.abandoned.set()
                    self.abandoned_jobs += 1
                    if done.wait(self.grace_s):  # it noticed (or returned just now): nothing left blocked
                        log.error("printer %s took nothing for %.1f s: job abandoned", name, self.timeout_s)
                    else:
                        self._blocked = thread
                        log.error("printer %s made no progress for %.1f s: abandoned, its thread is still "
                                  "blocked in the device", name, self.timeout_s)
                    return GuardResult(stuck=True, waited_s=self.clock.monotonic() - started)
            return GuardResult(value=box.get("value"), error=box.get("error"),
                               waited_s=self.clock.monotonic() - started)

    def _released(self) -> None:
        hook = self.on_release
        if hook is not None:
            try:
                hook()
            except Exception:  # pragma: no cover - a hook must never kill the job thread's report
                log.exception("printer release hook failed")
