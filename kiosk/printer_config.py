"""Configuration of the kiosk's ticket printer (the ``[printer]`` table of the kiosk config).

Example::

    [printer]
    paper = "80mm"
    profile = "TM-T20II"

    [printer.connection]
    type = "usb"
    vendor_id = "0x0416"     # strings are hex, as lsusb prints them; integers are taken as is
    product_id = "5011"
    timeout = 2000           # milliseconds; never 0: python-escpos would wait forever

Connection types: ``usb``, ``serial``, ``network``, ``file`` and ``dummy`` (no printer:
laptops, tests and demos; ``simulate`` makes it fail the way a real printer does).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from qms_common.config import StrictModel, validate_model

#: Print width in dots of each paper at 203 dpi.
PAPER_WIDTH_PX: dict[str, int] = {"80mm": 576, "58mm": 384}

#: Faults the ``dummy`` connection can pretend to have.
#: ``silent``: prints, but never answers a status query (many cheap printers).
SimulatedFault = Literal["none", "unplugged", "timeout", "no_paper", "paper_low", "cover_open", "error", "silent"]


def _usb_id(value: Any) -> Any:
    """USB ids as lsusb shows them ("0416", "0x0416") or as integers (0x0416 in TOML)."""
    if isinstance(value, bool):
        raise ValueError("expected a USB id such as 0x0416 or \"0416\"")
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0x")
        try:
            return int(text, 16)
        except ValueError:
            raise ValueError(f"{value!r} is not a hexadecimal USB id such as \"0416\"") from None
    return value


UsbId = Annotated[int, BeforeValidator(_usb_id), Field(ge=0, le=0xFFFF)]
Endpoint = Annotated[int, BeforeValidator(_usb_id), Field(ge=0, le=0xFF)]


class UsbConnection(StrictModel):
    type: Literal["usb"]
    vendor_id: UsbId
    product_id: UsbId
    timeout: int = Field(2000, ge=100, le=60_000, description="USB write timeout, milliseconds")
    in_ep: Endpoint | None = Field(None, description="default 0x82")
    out_ep: Endpoint | None = Field(None, description="default 0x01")


class SerialConnection(StrictModel):
    type: Literal["serial"]
    devfile: str = Field(min_length=1, description="e.g. /dev/ttyUSB0 or /dev/serial0")
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = 9600
    timeout: float = Field(2.0, gt=0, le=60, description="read/write timeout, seconds")


class NetworkConnection(StrictModel):
    type: Literal["network"]
    host: str = Field(min_length=1)
    port: int = Field(9100, ge=1, le=65535)
    timeout: float = Field(5.0, gt=0, le=60, description="connect/send timeout, seconds")


class FileConnection(StrictModel):
    """A printer the kernel exposes as a device file (usblp): no status can be read."""

    type: Literal["file"]
    devfile: str = Field("/dev/usb/lp0", min_length=1)


class DummyConnection(StrictModel):
    """No printer: bytes are kept in memory. ``simulate`` injects a fault on every job."""

    type: Literal["dummy"]
    simulate: SimulatedFault = "none"


Connection = Annotated[
    UsbConnection | SerialConnection | NetworkConnection | FileConnection | DummyConnection,
    Field(discriminator="type"),
]


class PrinterConfig(StrictModel):
    connection: Connection
    paper: Literal["80mm", "58mm"] = "80mm"
    profile: str | None = Field(None, description="python-escpos printer profile, e.g. TM-T20II")
    font_path: str | None = Field(None, description="a .ttf file or a directory with DejaVuSans.ttf")
    status_check: bool = Field(True, description="ask the printer for paper/cover state before each job")
    band_rows: int = Field(256, ge=24, le=2048, description="rows per GS v 0 raster block")
    cut: Literal["full", "partial"] = "full"
    job_timeout_s: float = Field(
        4.0, ge=0.5, le=60,
        description="a printer that takes nothing for this long (open, one write) is stuck: the job is "
        "abandoned, the ticket recorded as not printed; keep it under 5 s for health to say so within 5 s")
    copy_dir: str | None = Field(
        None, description="a folder where each ticket printed is also saved as a PNG, as the paper shows it "
        "(the demo's virtual printer; a real kiosk leaves it unset)")
    status_interval_s: float = Field(
        4.0, ge=1, le=600,
        description="how often the idle printer is asked its state: a printer unplugged or emptied between "
        "tickets is reported within this time (a faulted one is asked every 2 s)")

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from escpos.capabilities import CAPABILITIES  # imported here: loading it is slow

        if value not in CAPABILITIES["profiles"]:
            raise ValueError(f"unknown python-escpos profile {value!r} (see `python-escpos` docs: printer profiles)")
        return value

    @property
    def paper_width_px(self) -> int:
        return PAPER_WIDTH_PX[self.paper]


def printer_config(data: dict[str, Any], source: str = "printer") -> PrinterConfig:
    """Validate a ``[printer]`` table; raises :class:`~qms_common.errors.ConfigError` naming the field."""
    return validate_model(PrinterConfig, data, source)
