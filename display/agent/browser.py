"""The browser process: started, watched, and restarted with back-off.

The process is started in its own session (process group), because ``cage`` starts
Chromium which starts a dozen helpers: stopping sends SIGTERM to the whole group and
SIGKILL after a timeout, so that no orphan keeps the screen or the GPU.

:class:`BrowserSupervisor` does nothing by itself: the agent calls :meth:`step` on its own
thread every tick. Time comes from an injected clock, so the back-off is testable in
virtual time with real processes.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
from dataclasses import dataclass
from typing import Mapping, Sequence

from qms_common.clock import Clock

from .backoff import Backoff

log = logging.getLogger(__name__)


class BrowserStartError(RuntimeError):
    """The browser command could not be started at all (not installed, not executable)."""


@dataclass(frozen=True)
class ExitRecord:
    code: int | None
    ran_for_s: float
    restart_in_s: float


class BrowserSupervisor:
    """Owns one browser process. Not thread-safe: call it from one thread."""

    def __init__(self, argv: Sequence[str], *, clock: Clock, backoff: Backoff,
                 env: Mapping[str, str] | None = None, stop_timeout_s: float = 5.0) -> None:
        self.argv = list(argv)
        self.clock = clock
        self.backoff = backoff
        self.env = dict(env or {})
        self.stop_timeout_s = stop_timeout_s
        self.starts = 0
        self.restarts = 0  # every start after the first, crash or deliberate
        self.crashes = 0
        self.last_exit: ExitRecord | None = None
        self.last_error: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at: float | None = None
        self._next_start_at: float | None = None  # None: start on the next step
        self._stopped = False

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc else None

    @property
    def next_start_in_s(self) -> float | None:
        if self.running or self._next_start_at is None:
            return None
        return max(0.0, self._next_start_at - self.clock.monotonic())

    def step(self) -> bool:
        """Notice an exit, start when due. True when the browser state changed."""
        if self._stopped:
            return False
        changed = False
        if self._proc is not None and self._proc.poll() is not None:
            self._on_exit(self._proc.returncode)
            changed = True
        if self._proc is None and (self._next_start_at is None
                                   or self.clock.monotonic() >= self._next_start_at):
            self._start()
            changed = True
        return changed

    def restart(self, reason: str) -> None:
        """Stop the browser now and start it again at once (not a crash: no back-off)."""
        log.info("restarting the browser: %s", reason)
        self._terminate()
        self._proc = None
        self._next_start_at = None
        if not self._stopped:
            self._start()

    def stop(self) -> None:
        self._stopped = True
        self._terminate()
        self._proc = None

    def wait_exit(self, timeout: float) -> bool:
        """Block until the current process exits (for tests and shutdown)."""
        if self._proc is None:
            return True
        try:
            self._proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    # --- internals --------------------------------------------------------------------------

    def _start(self) -> None:
        if self.starts:
            self.restarts += 1
        self.starts += 1
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                          env={**os.environ, **self.env}, start_new_session=True)
        except OSError as exc:
            self._proc = None
            self.last_error = f"cannot start {self.argv[0]}: {exc.strerror or exc}"
            delay = self.backoff.after_exit(0.0)
            self._next_start_at = self.clock.monotonic() + delay
            log.error("%s; trying again in %.1f s", self.last_error, delay)
            return
        self._started_at = self.clock.monotonic()
        self._next_start_at = None
        log.info("browser started (pid %d, start #%d)", self._proc.pid, self.starts)

    def _on_exit(self, code: int | None) -> None:
        now = self.clock.monotonic()
        ran = now - (self._started_at if self._started_at is not None else now)
        delay = self.backoff.after_exit(ran)
        self.crashes += 1
        self.last_exit = ExitRecord(code, ran, delay)
        self.last_error = f"browser exited with code {code} after {ran:.1f} s"
        self._kill_group(signal.SIGKILL)  # helpers the browser left behind
        self._proc = None
        self._next_start_at = now + delay
        log.warning("%s; restarting in %.1f s", self.last_error, delay)

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self._kill_group(signal.SIGTERM)
        try:
            proc.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("browser ignored SIGTERM for %.0f s; killing it", self.stop_timeout_s)
            self._kill_group(signal.SIGKILL)
            proc.wait(5)

    def _kill_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, sig)  # the session we started: the browser and its helpers
        except (ProcessLookupError, PermissionError):
            pass

    def __repr__(self) -> str:
        return f"<BrowserSupervisor {self.argv[0]} running={self.running} restarts={self.restarts}>"
