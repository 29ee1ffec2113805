"""python-escpos' ``File`` printer that never blocks: ``O_NONBLOCK`` writes and ``poll()``.

``escpos.printer.File`` opens the device with ``open(devfile, "wb")`` and writes with
blocking calls. On a printer that hangs (``/dev/usb/lp0`` of a jammed printer, a FIFO
nobody reads) both can block for ever, and a blocked thread cannot be stopped. This
subclass opens with ``O_WRONLY | O_NONBLOCK`` and writes what the device takes, waiting
for it with ``poll()`` in short slices, so it notices its job being abandoned
(:class:`~kiosk.print_guard.Progress`) and returns instead of blocking:

- a FIFO with no reader: ``open`` fails at once with ``ENXIO`` (the printer is offline);
- a device that accepts the open but takes no bytes: each write waits at most one poll
  slice; the job's guard gives up after its deadline and the next write raises
  :class:`~kiosk.print_guard.JobAbandoned`;
- :meth:`writable` answers without waiting whether the device would take bytes now, which
  is the only status a device file has (no ``DLE EOT`` answers come back through it);
- :meth:`flush` waits (in slices, under the same deadline) until the device took the last
  block: with ``O_NONBLOCK``, ``usblp`` accepts a write, submits it and returns, and its
  ``release`` kills a write still pending, so closing at once would lose the end of the
  ticket and its cut (see the comment above ``usblp_wwait`` in ``drivers/usb/class/usblp.c``).
"""
from __future__ import annotations

import errno
import logging
import os
import select

from escpos.exceptions import DeviceNotFoundError
from escpos.printer import File

from .print_guard import Progress

log = logging.getLogger(__name__)

POLL_SLICE_S = 0.05


class NonBlockingFile(File):
    """A ``File`` printer whose writes wait for the device in slices, reporting progress."""

    def __init__(self, devfile: str = "", *args: object, **kwargs: object) -> None:
        super().__init__(devfile, *args, **kwargs)  # type: ignore[arg-type]
        self.fd: int | None = None
        self.progress: Progress | None = None
        self.written = 0

    def open(self, raise_not_found: bool = True) -> None:
        if self.fd is not None:
            self.close()
        try:
            self.fd = os.open(self.devfile, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            self.fd = None
            reason = "nothing reads it (ENXIO)" if exc.errno == errno.ENXIO else exc.strerror
            if raise_not_found:
                raise DeviceNotFoundError(f"Could not open the printer device {self.devfile}: {reason}") from exc
            log.error("printer device %s cannot be opened: %s", self.devfile, reason)
            return
        self._device = True  # File.close() and Escpos look at this

    def writable(self) -> bool:
        """Whether the device would take bytes right now (never waits)."""
        if self.fd is None:
            return False
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        events = poller.poll(0)
        return any(mask & select.POLLOUT for _fd, mask in events)

    def _raw(self, msg: bytes) -> None:
        if self.fd is None:
            raise DeviceNotFoundError(f"printer device {self.devfile} is not open")
        view = memoryview(msg)
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                n = 0
            if n:
                view = view[n:]
                self.written += n
                if self.progress is not None:
                    self.progress.tick()
                continue
            for _fd, mask in poller.poll(int(POLL_SLICE_S * 1000)):
                if mask & (select.POLLERR | select.POLLHUP):
                    raise OSError(errno.EPIPE, f"printer device {self.devfile} went away")
            if self.progress is not None and self.progress.abandoned.is_set():
                self.progress.tick()  # raises JobAbandoned: stop sending this ticket

    def flush(self) -> None:
        """Wait until the device took the last block (it is writable again)."""
        if self.fd is None:
            return
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        while True:
            events = poller.poll(int(POLL_SLICE_S * 1000))
            if any(mask & (select.POLLERR | select.POLLHUP) for _fd, mask in events):
                raise OSError(errno.EPIPE, f"printer device {self.devfile} went away")
            if any(mask & select.POLLOUT for _fd, mask in events):
                return
            if self.progress is not None and self.progress.abandoned.is_set():
                self.progress.tick()  # raises JobAbandoned

    def close(self) -> None:
        fd, self.fd = self.fd, None
        self._device = False
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                log.debug("closing %s failed", self.devfile, exc_info=True)
