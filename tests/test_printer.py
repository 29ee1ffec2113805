"""The printer layer end to end: ticket -> ESC/POS bytes -> decoded image -> QR, and faults.

Printers here are python-escpos' own ``Dummy`` (or our fault-injecting subclass of it),
a ``File`` printer writing into a temporary file, and a ``Network`` printer pointed at a
port nobody listens on. Nothing is mocked.
"""
from __future__ import annotations

import dataclasses
import socket

import pytest
import zxingcpp
from escpos.printer import Dummy
from PIL import Image, ImageChops

from kiosk.fonts import FontSet
from kiosk.printer import MESSAGES_VI, FaultInjectingDummy, PrintOutcome, TicketPrinter, media_width_px
from kiosk.printer_config import PrinterConfig, printer_config
from kiosk.ticket_image import TicketView, render_ticket
from qms_common.errors import ConfigError
from tests.escpos_decode import decode
from tests.ticket_fixtures import URL, fonts, view  # noqa: F401  (fixtures)



def dummy(paper: str = "80mm", **extra: object) -> PrinterConfig:
    return printer_config({"connection": {"type": "dummy"}, "paper": paper, **extra})


def same_image(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("L"), b.convert("L")).getbbox() is None


# --- the happy path ------------------------------------------------------------------------

@pytest.mark.parametrize(("paper", "width"), [("80mm", 576), ("58mm", 384)])
def test_printed_bytes_decode_to_the_ticket(view: TicketView, fonts: FontSet, paper: str, width: int) -> None:
    printer = TicketPrinter(dummy(paper), fonts=fonts)
    assert printer.width_px == width
    outcome = printer.print_view(view)
    assert outcome == PrintOutcome(printed=True)

    job = decode(printer.last_output or b"")
    assert job.names()[0] == "init"
    assert job.names()[-2:] == ["feed_lines", "cut"]  # fed past the cutter, then cut
    assert job.count("cut") == 1
    assert all(c.args[0] == 0 for c in job.commands if c.name == "raster")  # GS v 0, normal density
    assert all(band.height <= 256 for band in job.bands)
    assert same_image(job.image, render_ticket(view, width, fonts))
    assert [r.text for r in zxingcpp.read_barcodes(job.image.convert("L"))] == [URL]


def test_tall_ticket_is_sent_in_bands(view: TicketView, fonts: FontSet) -> None:
    tall = dataclasses.replace(view, priority=True, offline=True, center_name=view.center_name * 4)
    image = render_ticket(tall, 576, fonts)
    assert image.height > 960  # beyond one comfortable GS v 0 block
    printer = TicketPrinter(dummy(band_rows=200), fonts=fonts)
    assert printer.print_ticket(image).printed
    job = decode(printer.last_output or b"")
    assert len(job.bands) == -(-image.height // 200)
    assert all(b.height <= 200 and b.width == 576 for b in job.bands)
    assert same_image(job.image, image)


def test_plain_escpos_dummy_without_status_still_prints(view: TicketView, fonts: FontSet) -> None:
    """python-escpos' Dummy (like File) raises NotImplementedError on status: print anyway."""
    printer = TicketPrinter(dummy(), fonts=fonts, connect=Dummy)
    assert printer.print_view(view).printed
    assert decode(printer.last_output or b"").count("cut") == 1
    status = printer.status()
    assert (status.fault, status.checked, status.health) == (None, False, "ok")


def test_file_printer_writes_the_job(view: TicketView, fonts: FontSet, tmp_path) -> None:
    devfile = tmp_path / "lp0"
    printer = TicketPrinter(printer_config({"connection": {"type": "file", "devfile": str(devfile)}}), fonts=fonts)
    # an unplugged usblp printer has no /dev/usb/lp0: offline, and no regular file is made there
    missing = printer.print_view(view)
    assert (missing.printed, missing.fault) == (False, "offline") and not devfile.exists()
    devfile.touch()
    assert printer.print_view(view).printed
    job = decode(devfile.read_bytes())
    assert job.count("status_query") == 0  # a device file cannot answer: never ask
    assert same_image(job.image, render_ticket(view, 576, fonts))


def test_status_queries_are_not_printed(view: TicketView, fonts: FontSet) -> None:
    printer = TicketPrinter(dummy(), fonts=fonts)
    printer.print_view(view)
    assert decode(printer.last_output or b"").count("status_query") == 0
    assert printer.status().checked is True


# --- faults ----------------------------------------------------------------------------------

def test_unplugged_then_replugged(view: TicketView, fonts: FontSet) -> None:
    printer = TicketPrinter(dummy(), fonts=fonts)
    printer.simulate("unplugged")
    outcome = printer.print_view(view)
    assert (outcome.printed, outcome.fault) == (False, "offline")
    assert outcome.message == MESSAGES_VI["offline"] and "Máy in chưa kết nối" in outcome.message
    assert "DeviceNotFoundError" in outcome.detail
    first_device = printer.last_device
    assert printer.status().health == "offline"

    printer.simulate("none")  # plugged back in: the next job opens a new device
    assert printer.print_view(view).printed
    assert printer.last_device is not first_device
    assert decode(printer.last_output or b"").count("cut") == 1


@pytest.mark.parametrize(
    ("fault", "code", "printed", "words"),
    [
        ("no_paper", "no_paper", False, "Máy in hết giấy"),
        ("cover_open", "cover_open", False, "Nắp máy in đang mở"),
        ("error", "error", False, "lỗi"),
        ("timeout", "offline", False, "chưa kết nối"),
        ("paper_low", "paper_low", True, "sắp hết giấy"),
    ],
)
def test_fault_outcomes(view: TicketView, fonts: FontSet, fault, code, printed, words) -> None:
    printer = TicketPrinter(dummy(), fonts=fonts)
    printer.simulate(fault)
    outcome = printer.print_view(view)
    assert (outcome.printed, outcome.fault) == (printed, code)
    assert words in outcome.message
    sent = decode(printer.last_output or b"")
    assert sent.count("raster") > 0 if printed else sent.count("raster") == 0
    assert printer.status().fault == code


def test_printer_that_never_answers_status_still_prints(view: TicketView, fonts: FontSet) -> None:
    printer = TicketPrinter(dummy(), fonts=fonts)
    printer.simulate("silent")
    assert printer.print_view(view) == PrintOutcome(printed=True)
    status = printer.status()
    assert (status.fault, status.checked) == (None, False)


def test_fault_from_configuration(view: TicketView, fonts: FontSet) -> None:
    printer = TicketPrinter(printer_config({"connection": {"type": "dummy", "simulate": "no_paper"}}), fonts=fonts)
    assert printer.print_view(view).fault == "no_paper"
    assert printer.status().health == "no_paper"


def test_status_check_can_be_turned_off(view: TicketView, fonts: FontSet) -> None:
    printer = TicketPrinter(dummy(status_check=False), fonts=fonts)
    printer.simulate("no_paper")  # the printer would say so, but nobody asks
    assert printer.print_view(view).printed


def test_simulate_only_on_dummy() -> None:
    printer = TicketPrinter(printer_config({"connection": {"type": "network", "host": "127.0.0.1"}}))
    with pytest.raises(ValueError, match="dummy"):
        printer.simulate("no_paper")


def test_network_printer_nobody_listening(view: TicketView, fonts: FontSet) -> None:
    with socket.socket() as sock:  # bound, not listening: the connection is refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        printer = TicketPrinter(
            printer_config({"connection": {"type": "network", "host": "127.0.0.1", "port": port, "timeout": 1}}),
            fonts=fonts,
        )
        outcome = printer.print_view(view)
    assert (outcome.printed, outcome.fault) == (False, "offline")


def test_missing_device_file(view: TicketView, fonts: FontSet, tmp_path) -> None:
    cfg = printer_config({"connection": {"type": "file", "devfile": str(tmp_path / "no" / "lp0")}})
    outcome = TicketPrinter(cfg, fonts=fonts).print_view(view)
    assert (outcome.printed, outcome.fault) == (False, "offline")


@pytest.mark.parametrize(
    "connection",
    [
        {"type": "usb", "vendor_id": "0x0416", "product_id": "0x5011", "timeout": 200},
        {"type": "serial", "devfile": "/dev/nonexistent-ttyUSB9", "timeout": 0.2},
    ],
)
def test_absent_hardware_never_raises(view: TicketView, fonts: FontSet, connection: dict) -> None:
    """Without the device (or without pyusb/pyserial installed) the job fails cleanly."""
    outcome = TicketPrinter(printer_config({"connection": connection}), fonts=fonts).print_view(view)
    assert outcome.printed is False
    assert outcome.fault in ("offline", "error")
    assert outcome.message


def test_image_wider_than_the_paper_is_an_error_not_a_crash(fonts: FontSet, view: TicketView) -> None:
    printer = TicketPrinter(dummy("58mm"), fonts=fonts)
    outcome = printer.print_ticket(render_ticket(view, 576, fonts))
    assert (outcome.printed, outcome.fault) == (False, "error")


def test_fault_dummy_is_an_escpos_dummy() -> None:
    device = FaultInjectingDummy("paper_low")
    assert isinstance(device, Dummy)
    assert device.paper_status() == 1 and device.is_online()
    assert FaultInjectingDummy("no_paper").paper_status() == 0
    assert not FaultInjectingDummy("cover_open").is_online()


# --- configuration ---------------------------------------------------------------------------

def test_usb_config_accepts_hex_strings_and_ints() -> None:
    cfg = printer_config({"connection": {"type": "usb", "vendor_id": "0416", "product_id": 0x5011}})
    assert (cfg.connection.vendor_id, cfg.connection.product_id) == (0x0416, 0x5011)
    assert cfg.connection.timeout == 2000  # never python-escpos' "wait forever"
    assert cfg.paper_width_px == 576


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"connection": {"type": "dummy"}, "papr": "80mm"}, "papr"),
        ({"connection": {"type": "usb", "vendor_id": "0416", "product_id": "5011", "tmeout": 5}}, "tmeout"),
        ({"connection": {"type": "usb"}}, "vendor_id"),
        ({"connection": {"type": "usb", "vendor_id": "0416"}}, "product_id"),
        ({"connection": {"type": "usb", "vendor_id": "zz", "product_id": "1"}}, "vendor_id"),
        ({"connection": {"type": "usb", "vendor_id": "1", "product_id": "1", "timeout": 0}}, "timeout"),
        ({"connection": {"type": "network", "host": "10.0.0.5", "port": 70000}}, "port"),
        ({"connection": {"type": "network", "host": "10.0.0.5", "port": "abc"}}, "port"),
        ({"connection": {"type": "parallel"}}, "connection"),
        ({"connection": {"type": "dummy"}, "paper": "76mm"}, "paper"),
        ({"connection": {"type": "dummy"}, "profile": "NoSuchPrinter"}, "profile"),
        ({"connection": {"type": "dummy", "simulate": "fire"}}, "simulate"),
        ({}, "connection"),
    ],
)
def test_bad_config_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        printer_config(data, source="kiosk.toml: printer")
    assert field in str(err.value)
    assert "kiosk.toml: printer" in str(err.value)


def test_profile_width_narrows_the_ticket() -> None:
    assert media_width_px(dummy(profile="TM-T88V")) == 512  # 180 dpi 80 mm head
    assert media_width_px(dummy(profile="TM-T20II")) == 576
    assert media_width_px(dummy("58mm", profile="TM-T20II")) == 384


def test_a_copy_folder_keeps_each_printed_ticket_as_the_paper_shows_it(view: TicketView, fonts: FontSet,
                                                                          tmp_path) -> None:
    """The demo's virtual printer: whoever tries the demo sees the tickets it printed (PNG files in
    ``copy_dir``, named by the center's time of issue and the number); a ticket not printed has none."""
    printer = TicketPrinter(dummy(copy_dir=str(tmp_path / "tickets")), fonts=fonts)
    assert printer.print_view(view).printed
    (copy,) = (tmp_path / "tickets").iterdir()
    assert copy.name.endswith(f"-{view.code}.png") and copy.name[:8].isdigit()
    assert same_image(Image.open(copy), decode(printer.last_output or b"").image)
    printer.simulate("no_paper")
    assert not printer.print_view(dataclasses.replace(view, code="HT-002")).printed
    assert [p.name for p in (tmp_path / "tickets").iterdir()] == [copy.name]
