"""A small ESC/POS decoder for tests: what would the printer do with these bytes?

No ESC/POS parser is packaged anywhere we can install, so this one understands the
commands our kiosk sends (and a few neighbours) and refuses anything else loudly, which
is what a test wants: an unexpected command is a finding, not noise to skip.

Raster images (``GS v 0 m xL xH yL yH d1...dk``, k = (xL + 256·xH)·(yL + 256·yH)) are
rebuilt as PIL images; consecutive blocks (bands) are stacked into one image.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

ESC, GS, DLE, LF = 0x1B, 0x1D, 0x10, 0x0A

#: ESC commands with a fixed number of parameter bytes.
_ESC_FIXED = {
    ord("@"): ("init", 0),
    ord("d"): ("feed_lines", 1),
    ord("J"): ("feed_dots", 1),
    ord("a"): ("align", 1),
    ord("E"): ("bold", 1),
    ord("!"): ("print_mode", 1),
    ord("t"): ("codepage", 1),
    ord("2"): ("line_spacing_default", 0),
    ord("3"): ("line_spacing", 1),
}
#: GS V m: these m take one more byte (feed amount before the cut).
_CUT_WITH_FEED = {65, 66, 97, 98, 103, 104}
_CUT_PLAIN = {0, 1, 48, 49}


class EscposDecodeError(ValueError):
    """The bytes are not ESC/POS this decoder understands; the message gives the offset."""


@dataclass(frozen=True)
class Command:
    name: str  # init, feed_lines, cut, raster, status_query, text, lf, ...
    offset: int
    args: tuple[int, ...] = ()


@dataclass
class Decoded:
    commands: list[Command] = field(default_factory=list)
    #: One image per run of consecutive raster blocks, bands stacked top to bottom.
    images: list[Image.Image] = field(default_factory=list)
    #: Each raster block as sent (the bands), in order.
    bands: list[Image.Image] = field(default_factory=list)

    def names(self) -> list[str]:
        return [c.name for c in self.commands]

    def count(self, name: str) -> int:
        return sum(1 for c in self.commands if c.name == name)

    @property
    def image(self) -> Image.Image:
        """The single image of the job; raises if there is not exactly one."""
        if len(self.images) != 1:
            raise EscposDecodeError(f"expected exactly one image, found {len(self.images)}")
        return self.images[0]


def raster_to_image(width_bytes: int, height: int, data: bytes) -> Image.Image:
    """ESC/POS raster data (1 = black dot, MSB first) as a mode "1" image (0 = black)."""
    if len(data) != width_bytes * height:
        raise EscposDecodeError(f"raster data is {len(data)} bytes, expected {width_bytes}×{height}")
    inverted = data.translate(_INVERT)
    return Image.frombytes("1", (width_bytes * 8, height), inverted)


_INVERT = bytes(b ^ 0xFF for b in range(256))


def stack(bands: list[Image.Image]) -> Image.Image:
    widths = {b.width for b in bands}
    if len(widths) != 1:
        raise EscposDecodeError(f"bands of one image have different widths: {sorted(widths)}")
    out = Image.new("1", (bands[0].width, sum(b.height for b in bands)), 255)
    y = 0
    for band in bands:
        out.paste(band, (0, y))
        y += band.height
    return out


def decode(data: bytes) -> Decoded:
    """Parse ``data`` (e.g. ``Dummy().output``) into commands and images."""
    out = Decoded()
    run: list[Image.Image] = []
    i, n = 0, len(data)

    def need(count: int, what: str) -> None:
        if i + count > n:
            raise EscposDecodeError(f"truncated {what} at offset {i}: needs {count} bytes, {n - i} left")

    while i < n:
        start = i
        byte = data[i]
        if byte == GS and data[i + 1 : i + 3] == b"v0":
            need(8, "GS v 0 header")
            m, xl, xh, yl, yh = data[i + 3 : i + 8]
            width_bytes, height = xl + 256 * xh, yl + 256 * yh
            if m not in (0, 1, 2, 3, 48, 49, 50, 51):
                raise EscposDecodeError(f"GS v 0 at offset {i}: invalid mode {m}")
            if width_bytes == 0 or height == 0:
                raise EscposDecodeError(f"GS v 0 at offset {i}: empty image {width_bytes}×{height}")
            i += 8
            need(width_bytes * height, f"GS v 0 data ({width_bytes}×{height} bytes)")
            band = raster_to_image(width_bytes, height, data[i : i + width_bytes * height])
            i += width_bytes * height
            out.commands.append(Command("raster", start, (m, width_bytes * 8, height)))
            out.bands.append(band)
            run.append(band)
            continue
        if run:
            out.images.append(stack(run))
            run = []
        if byte == ESC:
            need(2, "ESC command")
            spec = _ESC_FIXED.get(data[i + 1])
            if spec is None:
                raise EscposDecodeError(f"unknown command ESC 0x{data[i + 1]:02x} at offset {i}")
            name, nargs = spec
            need(2 + nargs, f"ESC {chr(data[i + 1])}")
            out.commands.append(Command(name, start, tuple(data[i + 2 : i + 2 + nargs])))
            i += 2 + nargs
        elif byte == GS:
            need(2, "GS command")
            op = data[i + 1]
            if op == ord("V"):
                need(3, "GS V")
                m = data[i + 2]
                if m in _CUT_PLAIN:
                    out.commands.append(Command("cut", start, (m,)))
                    i += 3
                elif m in _CUT_WITH_FEED:
                    need(4, "GS V m n")
                    out.commands.append(Command("cut", start, (m, data[i + 3])))
                    i += 4
                else:
                    raise EscposDecodeError(f"GS V at offset {i}: invalid cut mode {m}")
            else:
                raise EscposDecodeError(f"unknown command GS 0x{op:02x} at offset {i}")
        elif byte == DLE:
            need(3, "DLE EOT n")
            if data[i + 1] != 0x04:
                raise EscposDecodeError(f"unknown command DLE 0x{data[i + 1]:02x} at offset {i}")
            out.commands.append(Command("status_query", start, (data[i + 2],)))
            i += 3
        elif byte == LF:
            out.commands.append(Command("lf", start))
            i += 1
        elif 0x20 <= byte < 0x7F or byte >= 0x80:
            j = i
            while j < n and (0x20 <= data[j] < 0x7F or data[j] >= 0x80):
                j += 1
            out.commands.append(Command("text", start, tuple(data[i:j])))
            i = j
        else:
            raise EscposDecodeError(f"unexpected control byte 0x{byte:02x} at offset {i}")
    if run:
        out.images.append(stack(run))
    return out
