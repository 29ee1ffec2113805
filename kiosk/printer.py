"""Sending a rendered ticket to the thermal printer, and turning every failure into a fault.

Rules this module keeps, each learnt the hard way:

- A new printer object is opened for every job and closed after it. A USB printer that
  was unplugged and plugged back gets a new device handle; a long-lived object keeps
  the dead one and fails until the kiosk restarts.
- Nothing a device does escapes as an exception. :meth:`TicketPrinter.print_ticket`
  returns a :class:`PrintOutcome` with a fault code and a Vietnamese message for the
  screen; the kiosk decides what to do (offer a reprint, call staff).
- The ticket goes as a ``GS v 0`` raster image (python-escpos' default implementation)
  in bands of ``band_rows`` rows. ``impl="graphics"`` writes a wrong length for images
  over 64 KiB and garbles the rest of the ticket.
- Status is asked with ``DLE EOT`` where the connection can read (USB, serial,
  network; ``kiosk/escpos_status.py``); a silent printer is "unknown, try to print".
- Every job has a deadline (``job_timeout_s``) and runs on its own thread
  (``kiosk/print_guard.py``): a printer that hangs in ``open()`` or ``write()`` ends the
  job as ``stuck`` instead of freezing the kiosk. Device files are written without
  blocking (``kiosk/devfile.py``).

Importing this module imports python-escpos, which calls ``logging.basicConfig()`` at
import time: the kiosk application should configure logging with ``force=True``.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from PIL import Image

from qms_common.clock import Clock, SystemClock

from .devfile import NonBlockingFile
from .dummy_printer import FaultInjectingDummy
from .escpos_status import FaultCode, can_read, read_status
from .fonts import FontSet, default_fonts
from .print_guard import JobAbandoned, JobGuard, Progress
from .printer_config import (
    DummyConnection,
    FileConnection,
    NetworkConnection,
    PrinterConfig,
    SerialConnection,
    SimulatedFault,
    UsbConnection,
)
from .ticket_image import TicketView, render_ticket

log = logging.getLogger(__name__)

#: What the kiosk screen shows for each fault. Short, plain, and says who to ask.
MESSAGES_VI: dict[str, str] = {
    "offline": "Máy in chưa kết nối. Vui lòng báo cán bộ hướng dẫn.",
    "no_paper": "Máy in hết giấy. Vui lòng báo cán bộ hướng dẫn.",
    "paper_low": "Máy in sắp hết giấy.",
    "cover_open": "Nắp máy in đang mở. Vui lòng báo cán bộ hướng dẫn.",
    "error": "Máy in đang gặp lỗi. Vui lòng báo cán bộ hướng dẫn.",
    "stuck": "Máy in không nhận lệnh in (có thể kẹt giấy). Vui lòng báo cán bộ hướng dẫn.",
}

#: Faults that stop a job before anything is sent. ``paper_low`` prints and warns.
BLOCKING_FAULTS: frozenset[str] = frozenset({"offline", "no_paper", "cover_open", "error", "stuck"})

@dataclass(frozen=True)
class PrintOutcome:
    """What happened to one print job."""

    printed: bool
    fault: FaultCode | None = None
    message: str = ""  # Vietnamese, for the kiosk screen; empty when all is well
    detail: str = ""  # technical, for logs and the health report

    @classmethod
    def ok(cls) -> PrintOutcome:
        return cls(printed=True)

    @classmethod
    def failed(cls, fault: FaultCode, detail: str = "", printed: bool = False) -> PrintOutcome:
        return cls(printed=printed, fault=fault, message=MESSAGES_VI[fault], detail=detail)


@dataclass(frozen=True)
class PrinterStatus:
    """The printer's state for health reports.

    ``checked`` is False when the connection cannot read status (``file``, plain
    ``dummy``) or the printer did not answer: it opened, which is all we know.
    """

    fault: FaultCode | None
    checked: bool
    message: str = ""
    detail: str = ""

    @property
    def health(self) -> HealthValue:
        """The value for :attr:`qms_common.wire.Health.printer`."""
        return health_value(self.fault)


HealthValue = Literal["ok", "no_paper", "paper_low", "cover_open", "offline", "error"]


def health_value(fault: FaultCode | None) -> HealthValue:
    """A fault as :attr:`qms_common.wire.Health.printer` says it: an unknown ``error`` has
    always been reported as ``offline`` (staff check the cable first); a ``stuck`` printer
    is ``error``, with ``printer_stuck`` in the health's faults."""
    if fault is None:
        return "ok"
    if fault == "error":
        return "offline"
    if fault == "stuck":
        return "error"
    return fault


class DriverMissing(RuntimeError):
    """The Python library for this connection type (pyusb, pyserial) is not installed."""


# --- opening printers ----------------------------------------------------------------------

def open_printer(config: PrinterConfig, simulate: SimulatedFault | None = None) -> Escpos:
    """A new, opened python-escpos printer for one job. Raises what the library raises."""
    conn = config.connection
    printer: Escpos
    if isinstance(conn, UsbConnection):
        from escpos.printer import Usb

        if not Usb.is_usable():  # checked first: a Usb object without pyusb fails even in __del__
            raise DriverMissing("a USB printer needs pyusb and libusb: pip install pyusb; apt install libusb-1.0-0")
        extra = {k: v for k, v in (("in_ep", conn.in_ep), ("out_ep", conn.out_ep)) if v is not None}
        printer = Usb(conn.vendor_id, conn.product_id, timeout=conn.timeout, profile=config.profile, **extra)
    elif isinstance(conn, SerialConnection):
        from escpos.printer import Serial

        if not Serial.is_usable():
            raise DriverMissing("a serial printer needs pyserial: pip install pyserial")
        printer = Serial(conn.devfile, baudrate=conn.baudrate, timeout=conn.timeout, profile=config.profile)
    elif isinstance(conn, NetworkConnection):
        from escpos.printer import Network

        printer = Network(conn.host, port=conn.port, timeout=conn.timeout, profile=config.profile)
    elif isinstance(conn, FileConnection):
        printer = NonBlockingFile(conn.devfile, profile=config.profile)
    elif isinstance(conn, DummyConnection):
        printer = FaultInjectingDummy(simulate or conn.simulate, profile=config.profile)
    else:  # pragma: no cover - the config union is closed
        raise TypeError(f"unknown connection {conn!r}")
    printer.open()
    return printer


def media_width_px(config: PrinterConfig) -> int:
    """Dots per line: the paper's width, or less if the printer profile says so (TM-T88: 512)."""
    width = config.paper_width_px
    if config.profile:
        from escpos.capabilities import get_profile

        pixels = get_profile(config.profile).profile_data.get("media", {}).get("width", {}).get("pixels")
        if isinstance(pixels, int) and 0 < pixels < width:
            width = pixels
    return width


def _set_media_width(printer: Escpos, width: int) -> None:
    """Tell this printer object its width, so ``image()`` checks it (and stays quiet).

    With a profile that does not know its width, python-escpos prints a warning to
    stdout on every image. The profile data is shared per class: copy, do not mutate.
    """
    data = dict(printer.profile.profile_data)
    media = dict(data.get("media") or {})
    media["width"] = {**(media.get("width") or {}), "pixels": width}
    data["media"] = media
    printer.profile.profile_data = data


def _close_quietly(printer: Escpos) -> None:
    try:
        printer.close()
    except Exception:  # closing a dead device fails; the job's outcome is already decided
        log.debug("closing the printer failed", exc_info=True)


# --- the printer -------------------------------------------------------------------------------

class TicketPrinter:
    """The kiosk's ticket printer: one job at a time, each with a deadline.

    Every job (a print, a status probe) opens a new printer object and runs under a
    :class:`~kiosk.print_guard.JobGuard`: a device that takes nothing for
    ``config.job_timeout_s`` makes the job end as ``stuck`` instead of blocking the caller.
    ``connect`` replaces how a printer object is made (tests pass python-escpos' plain
    ``Dummy`` or ``File``); by default it follows the configuration. ``on_release`` is
    called (on the job's thread) when an abandoned job's blocked call finally returns.
    """

    def __init__(
        self,
        config: PrinterConfig,
        fonts: FontSet | None = None,
        connect: Callable[[], Escpos] | None = None,
        *,
        clock: Clock | None = None,
        on_release: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.fonts = fonts
        self.width_px = media_width_px(config)
        self._connect = connect
        self._simulate: SimulatedFault | None = None
        self.guard = JobGuard(clock or SystemClock(), config.job_timeout_s, on_release=on_release)
        self.last_device: Escpos | None = None
        self._last_stuck = False

    # -- simulation (dummy connection only) --
    def simulate(self, fault: SimulatedFault) -> None:
        """Make the ``dummy`` connection fail like this from the next job on (demos, tests)."""
        if not isinstance(self.config.connection, DummyConnection):
            raise ValueError("only a printer with connection type 'dummy' can simulate faults")
        self._simulate = fault

    @property
    def last_output(self) -> bytes | None:
        """The bytes of the last job, when the connection keeps them (dummy)."""
        output = getattr(self.last_device, "output", None)
        return output if isinstance(output, bytes) else None

    @property
    def blocked(self) -> bool:
        """An abandoned job is still blocked in the device (no new job is started meanwhile)."""
        return self.guard.blocked

    # -- jobs --
    def print_view(self, view: TicketView) -> PrintOutcome:
        """Render ``view`` for this printer's width and print it."""
        try:
            image = render_ticket(view, self.width_px, self.fonts or default_fonts(self.config.font_path))
        except Exception as exc:  # a bug or a missing font must not take the kiosk down
            log.exception("rendering ticket %s failed", view.code)
            return PrintOutcome.failed("error", f"rendering failed: {exc}")
        outcome = self.print_ticket(image)
        if self.config.copy_dir and outcome.printed:
            self._save_copy(view, image)
        return outcome

    def _save_copy(self, view: TicketView, image: Image.Image) -> None:
        """The ticket as printed, in ``copy_dir`` (``YYYYMMDD-HHMMSS-CODE.png``, the center's time)."""
        try:
            folder = Path(self.config.copy_dir)
            folder.mkdir(parents=True, exist_ok=True)
            at = datetime.fromtimestamp(view.issued_at, ZoneInfo(view.timezone)).strftime("%Y%m%d-%H%M%S")
            image.save(folder / f"{at}-{view.code}.png")
        except (OSError, ValueError) as exc:  # a full disk must not fail a ticket that printed
            log.warning("could not save a copy of ticket %s: %s", view.code, exc)

    def print_ticket(self, image: Image.Image) -> PrintOutcome:
        """Print one rendered ticket and cut. Never raises for a device fault, never blocks
        longer than the deadline."""
        result = self.guard.run(lambda progress: self._job(image, progress), "print")
        if result.stuck:
            outcome = PrintOutcome.failed("stuck", _stuck_detail(result.quarantined, self.config.job_timeout_s))
        elif result.error is not None:
            outcome = PrintOutcome.failed(*_classify(result.error))
        else:
            assert result.value is not None
            outcome = result.value
        self._last_stuck = outcome.fault == "stuck"
        if outcome.fault:
            log.warning("print job: %s (%s)", outcome.fault, outcome.detail)
        return outcome

    def status(self) -> PrinterStatus:
        """Open the printer, ask its state, close it. For health reports; same deadline."""
        result = self.guard.run(self._status, "status")
        if result.stuck:
            detail = _stuck_detail(result.quarantined, self.config.job_timeout_s)
            return PrinterStatus("stuck", checked=True, message=MESSAGES_VI["stuck"], detail=detail)
        if result.error is not None:
            fault, detail = _classify(result.error)
            return PrinterStatus(fault, checked=True, message=MESSAGES_VI[fault], detail=detail)
        assert result.value is not None
        self._last_stuck = result.value.fault == "stuck"
        return result.value

    # -- internals (on the guard's job thread) --
    def _open(self, progress: Progress) -> Escpos:
        if self._connect is not None:
            printer = self._connect()
            printer.open()
        else:
            printer = open_printer(self.config, simulate=self._simulate)
        try:
            progress.tick()  # raises if the open blocked past the deadline: send nothing
        except JobAbandoned:
            _close_quietly(printer)
            raise
        _set_media_width(printer, self.width_px)
        if isinstance(printer, NonBlockingFile):
            printer.progress = progress
        raw = printer._raw

        def guarded_raw(msg: bytes) -> None:
            progress.tick()  # an abandoned job sends nothing more
            raw(msg)
            progress.tick()

        printer._raw = guarded_raw  # type: ignore[method-assign]
        self.last_device = printer
        return printer

    def _status(self, progress: Progress) -> PrinterStatus:
        printer = self._open(progress)
        try:
            fault, answered = self._probe(printer)
        finally:
            _close_quietly(printer)
        return PrinterStatus(fault, checked=answered, message=MESSAGES_VI[fault] if fault else "")

    def _probe(self, printer: Escpos) -> tuple[FaultCode | None, bool]:
        if isinstance(printer, NonBlockingFile):
            # a device file has no status, but it can say it would not take a byte now
            return (None, True) if printer.writable() else ("stuck", True)
        if not self.config.status_check:
            return None, False
        if not can_read(printer):
            return None, False  # plain File and Dummy: opening it is all we can know
        return read_status(printer)

    def _job(self, image: Image.Image, progress: Progress) -> PrintOutcome:
        printer = self._open(progress)
        try:
            fault, _ = self._probe(printer)
            if fault == "stuck" and not self._last_stuck:
                fault = None  # a busy device file: worth a try, the deadline guards the job
            if fault in BLOCKING_FAULTS:
                return PrintOutcome.failed(fault, "printer reported it before printing")
            self._send(printer, image)
            if fault == "paper_low":
                return PrintOutcome.failed("paper_low", "printed; paper near end", printed=True)
            return PrintOutcome.ok()
        finally:
            _close_quietly(printer)

    def _send(self, printer: Escpos, image: Image.Image) -> None:
        if image.width > self.width_px:
            raise ValueError(f"ticket image is {image.width} dots wide, the paper {self.width_px}")
        printer.hw("INIT")
        printer.image(image, impl="bitImageRaster", fragment_height=self.config.band_rows)
        printer.cut(mode="PART" if self.config.cut == "partial" else "FULL", feed=True)
        flush = getattr(printer, "flush", None)
        if callable(flush):
            flush()


def _stuck_detail(quarantined: bool, timeout_s: float) -> str:
    if quarantined:
        return "an earlier job is still blocked in the printer device; nothing sent"
    return f"the printer took nothing for {timeout_s:g} s; job abandoned"


def _classify(exc: BaseException) -> tuple[FaultCode, str]:
    """Map an exception from python-escpos, pyusb, pyserial or the socket to a fault."""
    detail = f"{type(exc).__name__}: {exc}".strip()
    # USBError, USBTimeoutError, SerialException, socket errors and timeouts are OSErrors.
    if isinstance(exc, (DeviceNotFoundError, OSError, AssertionError)):
        return "offline", detail
    if isinstance(exc, JobAbandoned):
        return "stuck", detail
    if isinstance(exc, DriverMissing):
        return "error", detail
    log.error("unexpected printer failure", exc_info=exc)
    return "error", detail
