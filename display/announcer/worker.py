"""The one speech worker: a thread that takes calls from a queue and says them in turn.

Calls arrive from several counters at once (on paho's network thread, from the CLI, from
tests). They are put on a FIFO queue and a single thread composes and plays each one to
the end before taking the next, so announcements are spoken one after the other, none
lost and none overlapping, and pyttsx3 is only ever used from this thread.
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field

from qms_common.clock import Clock, SystemClock

from .composer import CallRequest, Composer
from .phrase import TicketFormatError
from .sinks import Sink, SinkError
from .synth import SynthError

log = logging.getLogger(__name__)


@dataclass
class Job:
    """A queued announcement; wait on :attr:`done` to know it was said (or why not)."""

    request: CallRequest
    done: threading.Event = field(default_factory=threading.Event)
    output: str | None = None
    error: str | None = None
    cancelled: bool = False

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


class WorkerStopped(RuntimeError):
    """The worker no longer accepts calls."""


class SpeechWorker:
    """Owns the speech thread. ``start()``, ``submit()`` from any thread, ``stop()``."""

    def __init__(self, composer: Composer, sink: Sink, clock: Clock | None = None) -> None:
        self.composer = composer
        self.sink = sink
        self.clock = clock or SystemClock()
        self.spoken = 0
        self.failed = 0
        self.last_error: str | None = None
        self.last_ok: bool | None = None  # None until the first announcement
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._busy_since: float | None = None
        self._thread = threading.Thread(target=self._run, name="speech-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: CallRequest) -> Job:
        job = Job(request)
        with self._lock:
            if self._closed:
                raise WorkerStopped("the speech worker is stopped")
            self._queue.put(job)
        return job

    @property
    def depth(self) -> int:
        """Announcements waiting, plus the one being said."""
        return self._queue.qsize() + (1 if self._busy_since is not None else 0)

    def healthy(self, max_job_s: float = 120.0) -> bool:
        """Alive and not stuck in one announcement (a hung player or engine)."""
        if not self._thread.is_alive():
            return False
        started = self._busy_since
        return started is None or self.clock.monotonic() - started < max_job_s

    def stop(self, *, drain: bool = False, timeout: float = 30.0) -> None:
        """Stop taking calls; say what is queued if ``drain``, else cancel it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not drain:
                while True:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is not None:
                        job.cancelled = True
                        job.error = "cancelled: announcer stopping"
                        job.done.set()
            self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("speech worker still busy after %.0f s; leaving it", timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._busy_since = self.clock.monotonic()
            label = job.request.label or job.request.ticket
            try:
                pcm = self.composer.compose(job.request)
                job.output = self.sink.emit(pcm, label)
                self.spoken += 1
                self.last_ok = True
                log.info("said %s (%.1f s, %s)", label, pcm.duration_s, job.output)
            except (SynthError, SinkError, TicketFormatError, OSError) as exc:
                self._fail(job, label, str(exc))
            except Exception as exc:  # the worker must outlive any single announcement
                log.exception("unexpected failure announcing %s", label)
                self._fail(job, label, f"{type(exc).__name__}: {exc}", logged=True)
            finally:
                self._busy_since = None
                job.done.set()

    def _fail(self, job: Job, label: str, message: str, logged: bool = False) -> None:
        self.failed += 1
        self.last_ok = False
        self.last_error = message
        job.error = message
        if not logged:
            log.error("could not announce %s: %s", label, message)

    def __repr__(self) -> str:
        return f"<SpeechWorker depth={self.depth} spoken={self.spoken} failed={self.failed}>"
