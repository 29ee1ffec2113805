"""Printers that hang instead of failing: a FIFO nobody reads, a FIFO whose reader never reads
(the device accepts the open, never takes the bytes), python-escpos' own blocking ``File`` on
it. Every job ends by its deadline, an abandoned job sends nothing more, and a printer that
starts taking bytes again prints the next ticket whole.

The guard's deadline is on the injected clock (a FakeClock the test moves); the FIFO tests
run on the real clock with a short deadline and wait on the outcome, never on a sleep.
"""
from __future__ import annotations

import fcntl
import os
import select
import termios
import threading
import time
from pathlib import Path

import pytest
from escpos.printer import File

from kiosk.fonts import FontSet
from kiosk.print_guard import JobAbandoned, JobGuard, Progress
from kiosk.printer import MESSAGES_VI, TicketPrinter
from kiosk.printer_config import printer_config
from kiosk.ticket_image import TicketView, render_ticket
from qms_common.clock import FakeClock
from qms_common.errors import ConfigError
from tests.escpos_decode import decode
from tests.test_printer import same_image
from tests.ticket_fixtures import fonts, view  # noqa: F401  (fixtures)

F_GETPIPE_SZ = 1032  # Linux fcntl: the pipe's capacity


def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "lp0"
    os.mkfifo(path)
    return path


def idle_reader(path: Path) -> int:
    """Open the read end and never read: the writer's open succeeds, its writes fill the pipe."""
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def fill(path: Path) -> int:
    """Fill the FIFO's buffer (the printer stopped taking bytes after earlier jobs); bytes written."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    written = 0
    try:
        while True:
            try:
                written += os.write(fd, b"\0" * 4096)
            except BlockingIOError:
                return written
    finally:
        os.close(fd)


def unread(fd: int) -> int:
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")


def drain(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


def file_printer(path: Path, timeout_s: float = 0.5, **extra) -> dict:
    return {"connection": {"type": "file", "devfile": str(path)}, "job_timeout_s": timeout_s, **extra}


# --- the guard on an injected clock -----------------------------------------------------------

def test_guard_abandons_a_blocked_job_then_quarantines_until_it_returns() -> None:
    clock = FakeClock()
    released = threading.Event()
    guard = JobGuard(clock, timeout_s=4.0, poll_s=0.01, on_release=released.set)
    entered, unblock = threading.Event(), threading.Event()
    sent: list[str] = []

    def hanging(progress: Progress) -> str:
        progress.tick()
        entered.set()
        unblock.wait(30)  # a write() that does not return
        progress.tick()  # the next write of this job: refused once abandoned
        sent.append("rest of the ticket")
        return "printed"

    results = []
    caller = threading.Thread(target=lambda: results.append(guard.run(hanging, "print")))
    caller.start()
    assert entered.wait(10)
    clock.advance(3.9)  # not yet: the job still has 0.1 s
    caller.join(0.2)
    assert caller.is_alive() and not results
    clock.advance(0.1)
    caller.join(10)
    [result] = results
    assert result.stuck and not result.quarantined and guard.blocked and guard.abandoned_jobs == 1

    # while the abandoned thread is blocked, no second job touches the device
    calls: list[int] = []
    again = guard.run(lambda p: calls.append(1), "print")
    assert again.stuck and again.quarantined and calls == []

    unblock.set()  # the device returns from write() at last
    assert released.wait(10)
    assert sent == []  # the abandoned job sent nothing more
    assert not guard.blocked
    assert guard.run(lambda p: "ok", "print").value == "ok"


def test_a_job_that_keeps_making_progress_is_not_stuck() -> None:
    """A slow printer (a serial line) that takes every band in time finishes, however long in total."""
    clock = FakeClock()
    guard = JobGuard(clock, timeout_s=4.0, poll_s=0.01)

    def slow(progress: Progress) -> int:
        for _ in range(10):  # ten bands, 3 s each: 30 s in all
            clock.advance(3.0)
            progress.tick()
        return progress.steps

    result = guard.run(slow, "print")
    assert not result.stuck and result.value == 10


def test_job_timeout_is_validated() -> None:
    for bad in (0, 0.1, 61, "soon"):
        with pytest.raises(ConfigError, match="job_timeout_s"):
            printer_config({"connection": {"type": "dummy"}, "job_timeout_s": bad})
    assert printer_config({"connection": {"type": "dummy"}}).job_timeout_s == 4.0


# --- device files that hang -------------------------------------------------------------------

def test_fifo_nobody_reads_is_offline_at_once(tmp_path, view: TicketView, fonts: FontSet) -> None:
    """python-escpos' File would block in open() here for ever; O_NONBLOCK gets ENXIO."""
    printer = TicketPrinter(printer_config(file_printer(fifo(tmp_path), timeout_s=60)), fonts=fonts)
    outcome = printer.print_view(view)
    assert (outcome.printed, outcome.fault) == (False, "offline") and "ENXIO" in outcome.detail
    assert outcome.message == MESSAGES_VI["offline"]
    assert printer.status().fault == "offline" and not printer.blocked


def test_fifo_that_takes_no_bytes_is_stuck_then_prints_when_it_drains(tmp_path, view: TicketView,
                                                                      fonts: FontSet) -> None:
    path = fifo(tmp_path)
    reader = idle_reader(path)
    try:
        printer = TicketPrinter(printer_config(file_printer(path)), fonts=fonts)
        first = printer.print_view(view)
        assert (first.printed, first.fault) == (False, "stuck") and "took nothing for 0.5 s" in first.detail
        assert "kẹt giấy" in first.message
        assert not printer.blocked  # the non-blocking writer returned: no thread left behind
        taken = unread(reader)  # what the printer took before it stopped taking (the pipe is full)
        assert 0 < taken <= fcntl.fcntl(reader, F_GETPIPE_SZ)
        assert printer.status().fault == "stuck"  # the device file says it would not take a byte

        second = printer.print_view(view)  # still full: refused without waiting or sending
        assert second.fault == "stuck" and unread(reader) == taken

        drain(reader)  # the printer takes bytes again (paper refilled, jam cleared)
        assert printer.status().fault is None
        received = bytearray()
        done = threading.Event()

        def printer_reads() -> None:  # a printer that keeps taking bytes until the job is closed
            while not done.is_set():
                if select.select([reader], [], [], 0.05)[0]:
                    received.extend(drain(reader))

        t = threading.Thread(target=printer_reads)
        t.start()
        try:
            third = printer.print_view(view)
        finally:
            done.set()
            t.join(10)
        received.extend(drain(reader))
        assert third.printed and third.fault is None
        assert same_image(decode(bytes(received)).image, render_ticket(view, 576, fonts))
    finally:
        os.close(reader)


def test_blocking_escpos_file_is_abandoned_and_sends_nothing_when_released(tmp_path, view: TicketView,
                                                                           fonts: FontSet) -> None:
    """The hang the kiosk had: python-escpos' File blocked in open() on a FIFO with no reader."""
    path = fifo(tmp_path)
    released = threading.Event()
    printer = TicketPrinter(printer_config(file_printer(path)), fonts=fonts,
                            connect=lambda: File(str(path)), on_release=released.set)
    first = printer.print_view(view)
    assert first.fault == "stuck" and printer.blocked
    second = printer.status()
    assert second.fault == "stuck" and "still blocked" in second.detail  # no second thread on the device
    assert printer.print_view(view).fault == "stuck"

    reader = idle_reader(path)  # someone opens the other end: the blocked open() returns
    try:
        assert released.wait(10)
        assert not printer.blocked
        deadline = time.monotonic() + 10
        while True:  # the abandoned job closes its end: EOF, with not one byte of its ticket
            try:
                assert os.read(reader, 1 << 16) == b""
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "the abandoned job kept the device open"
                select.select([reader], [], [], 0.05)
    finally:
        os.close(reader)


def test_abandoned_progress_refuses_further_writes() -> None:
    progress = Progress(FakeClock())
    progress.tick()
    progress.abandoned.set()
    with pytest.raises(JobAbandoned):
        progress.tick()


# --- the watchdog's view ------------------------------------------------------------------------

def test_watchdog_sees_a_stuck_worker_not_a_faulted_printer(tmp_path) -> None:
    """A faulted printer leaves the kiosk healthy (it still issues and shows numbers; systemd
    would not fix a jam by restarting); a worker that stops coming back to its queue is not."""
    from kiosk.app import KioskApp
    from kiosk.config import config_from_dict
    from kiosk.testing import config_dict

    clock = FakeClock(time.time())
    data = config_dict(tmp_path / "k", "http://127.0.0.1:9", "token")  # no server: refused at once
    data["printer"] = {"connection": {"type": "file", "devfile": str(fifo(tmp_path))}, "job_timeout_s": 1.0}
    app = KioskApp(config_from_dict(data, "test"), clock=clock, gpio=False)
    app.start()
    try:
        app.screen.wait_for(lambda s: s.printer == "offline")  # nobody reads the FIFO: ENXIO
        assert app.healthy() and app.health_report()["status"] == "degraded"
        assert "máy in: mất kết nối" in app.status_line()
        # stand-in for a worker stuck in anything: it blocks on the screen's lock, held here
        with app.screen._cond:
            app.press("1", wait=False)
            deadline = time.monotonic() + 10
            while app.events.qsize():  # the worker took the press; polled with a deadline
                assert time.monotonic() < deadline
                time.sleep(0.01)
            clock.advance(app.max_busy_s - 0.5)
            assert app.healthy()  # still within what one press may take
            clock.advance(1.0)
            assert not app.healthy() and app.health_report()["status"] == "down"
        deadline = time.monotonic() + 10
        while not app.healthy():  # the worker is back at its queue: pings resume
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        app.stop()


def test_idle_printer_fault_and_recovery_are_seen_at_the_next_probe(tmp_path) -> None:
    """Unplugged between tickets: seen at the next idle probe (``status_interval_s`` on the
    injected clock), and back every 2 s while faulted; each change reported as it happens."""
    from kiosk.app import KioskApp
    from kiosk.config import config_from_dict
    from kiosk.testing import RecordingPrinters, config_dict

    clock = FakeClock(time.time())
    printers = RecordingPrinters()
    data = config_dict(tmp_path / "k", "http://127.0.0.1:9", "token")
    data["printer"]["status_interval_s"] = 4.0
    app = KioskApp(config_from_dict(data, "test"), clock=clock, gpio=False, connect=printers)
    app.start()
    try:
        app.screen.wait_for(lambda s: s.printer == "ok")
        probes = len(printers.devices)
        printers.fault = "unplugged"
        clock.advance(3.5)  # not due yet: the worker idles, nobody opens the printer
        with pytest.raises(TimeoutError):
            app.screen.wait_for(lambda s: s.printer != "ok", timeout=1.5)
        assert len(printers.devices) == probes
        clock.advance(0.5)
        screen = app.screen.wait_for(lambda s: s.printer == "offline")
        assert "Máy in chưa kết nối" in screen.printer_message
        assert app.health().faults[:1] == ["printer_offline"] and app.health().printer == "offline"
        printers.fault = "none"  # plugged back
        clock.advance(2.0)
        app.screen.wait_for(lambda s: s.printer == "ok")
        assert [state for _at, state in app.printer_state.changes] == ["ok", "offline", "ok"]
    finally:
        app.stop()
