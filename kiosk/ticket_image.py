"""Rendering a queue ticket as a black-and-white image for a thermal printer.

Why an image and not printer text: thermal printers' code pages print Vietnamese tone
marks beside the letter or not at all, so the whole ticket is drawn with Pillow and a
TrueType font that covers Vietnamese, then sent as one raster image.

The layout scales with the paper: 576 dots for 80 mm paper, 384 for 58 mm (203 dpi).
Vietnamese comes first on every line, English follows in smaller type. Every text block
wraps to the width; the ticket number is fitted to be the largest thing on the paper.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

from qms_common.clock import local_datetime
from qms_common.wait_words import wait_range_phrase

from .fonts import FontSet, default_fonts

if TYPE_CHECKING:
    from qms_common.wire import TicketInfo

WIDTH_80MM = 576
WIDTH_58MM = 384
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_MAX_WAIT_S = 15 * 60

PRIORITY_VI = "Ưu tiên: người cao tuổi, người khuyết tật, phụ nữ mang thai, người có con nhỏ"
PRIORITY_EN = "Priority: the elderly, people with disabilities, pregnant women, parents of small children"
OFFLINE_VI = "Số phát khi mất kết nối – vẫn có giá trị"
OFFLINE_EN = "Issued while offline – still valid"

_WHITE = 255
_BLACK = 0


@dataclass(frozen=True)
class TicketView:
    """Everything printed on one ticket, already in display form.

    ``people_ahead`` and ``estimated_wait_s`` may be None on a ticket issued offline,
    when the kiosk does not know the queue; their lines are then left out. Without a
    ``status_url`` there is no QR code.
    """

    center_name: str
    service_name: str
    code: str
    issued_at: float
    people_ahead: int | None = None
    estimated_wait_s: float | None = None
    status_url: str | None = None
    service_name_en: str | None = None
    priority: bool = False
    offline: bool = False
    timezone: str = DEFAULT_TIMEZONE
    max_wait_target_s: int | None = DEFAULT_MAX_WAIT_S
    estimated_wait_range_s: tuple[float, float] | None = None  # the 80% interval: printed as a range
    # the server's words for the estimate: printed instead of the range when present (the server
    # says "Có thể không kịp phục vụ trong hôm nay" rather than a range for a call that may not come)
    estimated_wait_text: tuple[str, str] | None = None

    @classmethod
    def from_ticket(
        cls,
        info: TicketInfo,
        *,
        center_name: str,
        service_name: str,
        service_name_en: str | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        max_wait_target_s: int | None = DEFAULT_MAX_WAIT_S,
    ) -> TicketView:
        """Build the view from the server's :class:`~qms_common.wire.TicketInfo`."""
        return cls(
            center_name=center_name,
            service_name=service_name,
            service_name_en=service_name_en,
            code=info.code,
            issued_at=info.issued_at,
            people_ahead=info.people_ahead,
            estimated_wait_s=info.estimated_wait_s,
            status_url=info.status_url,
            priority=info.priority,
            offline=info.offline,
            timezone=timezone,
            max_wait_target_s=max_wait_target_s,
        )


# --- wording ---------------------------------------------------------------------------

def wait_phrase(seconds: float) -> tuple[str, str]:
    """The estimated wait in words (Vietnamese, English).

    An estimate is not a promise: under five minutes we say so instead of a number; up to
    an hour we round to 5 minutes; beyond, to a quarter of an hour.
    """
    minutes = max(0.0, seconds) / 60
    if minutes < 5:
        return "dưới 5 phút", "under 5 minutes"
    if minutes < 57.5:
        rounded = max(5, int(math.floor(minutes / 5 + 0.5)) * 5)
        return f"khoảng {rounded} phút", f"about {rounded} minutes"
    quarters = int(math.floor(minutes / 15 + 0.5))
    hours, rest = divmod(quarters * 15, 60)
    vi = f"khoảng {hours} giờ" + (f" {rest} phút" if rest else "")
    en = f"about {hours} h" + (f" {rest} min" if rest else "")
    return vi, en


def format_issued(ts: float, tz: str = DEFAULT_TIMEZONE) -> str:
    """Issue time in the center's timezone, as Vietnamese write it: ``24/11/2025 23:00``."""
    return local_datetime(ts, tz).strftime("%d/%m/%Y %H:%M")


def promise_phrase(max_wait_s: int) -> tuple[str, str]:
    minutes = max(1, round(max_wait_s / 60))
    return (
        f"Trung tâm cam kết thời gian chờ không quá {minutes} phút",
        f"The center promises a wait of at most {minutes} minutes",
    )


# --- layout primitives -----------------------------------------------------------------

def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Greedy word wrap by measured width; a word longer than the line is cut by letters."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            for piece in _split_long_word(word, font, max_width):
                candidate = f"{current} {piece}" if current else piece
                if font.getlength(candidate) <= max_width:
                    current = candidate
                else:
                    if current:
                        lines.append(current)
                    current = piece
        lines.append(current)
    return lines


def balanced_wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Wrap into as few lines as :func:`wrap_text`, but as even as possible (no lone "HUẾ")."""
    lines = wrap_text(text, font, max_width)
    if len(lines) < 2:
        return lines
    lo, hi = 1, max_width
    while lo < hi:  # the narrowest width that still needs no more lines
        mid = (lo + hi) // 2
        if len(wrap_text(text, font, mid)) <= len(lines):
            hi = mid
        else:
            lo = mid + 1
    return wrap_text(text, font, lo)


def _split_long_word(word: str, font: ImageFont.FreeTypeFont, max_width: int) -> Iterator[str]:
    if font.getlength(word) <= max_width:
        yield word
        return
    piece = ""
    for ch in word:
        if piece and font.getlength(piece + ch) > max_width:
            yield piece
            piece = ch
        else:
            piece += ch
    if piece:
        yield piece


def _vertical_extent(font: ImageFont.FreeTypeFont) -> tuple[int, int]:
    """Pixels above and below the baseline that any Vietnamese line can reach.

    Stacked marks on capitals (Ấ, Ặ) rise above the font's nominal ascent and the dot
    below (Ỵ) drops under the descent; measure them instead of trusting the metrics.
    """
    left, top, right, bottom = font.getbbox("ẤỸẶĐgjpqyỵ", anchor="ls")
    ascent, descent = font.getmetrics()
    return max(-top, ascent), max(bottom, descent)


class _Canvas:
    """A tall white page drawn top to bottom, cropped to what was used."""

    def __init__(self, width: int, fonts: FontSet, scale: float) -> None:
        self.width = width
        self.fonts = fonts
        self.scale = scale
        self.margin = max(8, round(16 * scale))
        self.inner = width - 2 * self.margin
        self.image = Image.new("1", (width, 4000), _WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self.y = self.margin

    def px(self, base: float) -> int:
        return max(1, round(base * self.scale))

    def font(self, base_size: float, bold: bool = False, minimum: int = 15) -> ImageFont.FreeTypeFont:
        return self.fonts.get(max(minimum, round(base_size * self.scale)), bold=bold)

    def gap(self, base: float) -> None:
        self.y += self.px(base)

    def text(self, text: str, font: ImageFont.FreeTypeFont, *, align: str = "center",
             line_gap: float = 4, fill: int = _BLACK, width: int | None = None,
             balanced: bool = False) -> None:
        max_width = width if width is not None else self.inner
        wrap = balanced_wrap if balanced else wrap_text
        lines = wrap(text, font, max_width)
        if " – " in text and len(lines) > 1:  # break at the dash if that costs no extra line
            at_dash = wrap(text.replace(" – ", " –\n"), font, max_width)
            if len(at_dash) <= len(lines):
                lines = at_dash
        above, below = _vertical_extent(font)
        for line in lines:
            baseline = self.y + above
            if align == "center":
                x = (self.width - font.getlength(line)) / 2
            else:
                x = self.margin
            self.draw.text((x, baseline), line, font=font, fill=fill, anchor="ls")
            self.y = baseline + below + self.px(line_gap)

    def banner(self, text: str, font: ImageFont.FreeTypeFont) -> None:
        """White text on a black band: the priority mark, visible at a glance."""
        above, below = _vertical_extent(font)
        pad = self.px(6)
        lines = wrap_text(text, font, self.inner - 2 * pad)
        height = len(lines) * (above + below) + 2 * pad
        self.draw.rectangle((self.margin, self.y, self.width - self.margin - 1, self.y + height), fill=_BLACK)
        self.y += pad
        for line in lines:
            x = (self.width - font.getlength(line)) / 2
            self.draw.text((x, self.y + above), line, font=font, fill=_WHITE, anchor="ls")
            self.y += above + below
        self.y += pad

    def rule(self, dashed: bool = False) -> None:
        thickness = max(2, self.px(2))
        if dashed:
            dash = self.px(10)
            for x in range(self.margin, self.width - self.margin, 2 * dash):
                self.draw.rectangle((x, self.y, min(x + dash, self.width - self.margin) - 1,
                                     self.y + thickness - 1), fill=_BLACK)
        else:
            self.draw.rectangle((self.margin, self.y, self.width - self.margin - 1,
                                 self.y + thickness - 1), fill=_BLACK)
        self.y += thickness

    def paste_centered(self, img: Image.Image) -> None:
        self.image.paste(img, ((self.width - img.width) // 2, self.y))
        self.y += img.height

    def finish(self) -> Image.Image:
        return self.image.crop((0, 0, self.width, self.y + self.margin))


def fit_font(fonts: FontSet, text: str, max_width: int, max_height: int, bold: bool = True,
             largest: int = 220, smallest: int = 24) -> ImageFont.FreeTypeFont:
    """The largest font size at which ``text`` fits in ``max_width`` × ``max_height``."""
    for size in range(largest, smallest - 1, -2):
        font = fonts.get(size, bold=bold)
        left, top, right, bottom = font.getbbox(text)
        if right - left <= max_width and bottom - top <= max_height:
            return font
    return fonts.get(smallest, bold=bold)


def qr_image(data: str, target_px: int, min_module_px: int = 4, max_module_px: int = 10) -> Image.Image:
    """A QR code with the standard 4-module quiet zone, modules an integer number of dots.

    Integer module sizes keep edges sharp on a 203 dpi head; 4 dots (0.5 mm) is about the
    smallest a phone camera reads reliably from thermal paper.
    """
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=1)
    qr.add_data(data)
    qr.make(fit=True)
    matrix = qr.get_matrix()  # includes the border
    modules = len(matrix)
    module_px = min(max_module_px, max(min_module_px, target_px // modules))
    small = Image.new("1", (modules, modules), _WHITE)
    small.putdata([_BLACK if cell else _WHITE for row in matrix for cell in row])
    return small.resize((modules * module_px, modules * module_px), Image.Resampling.NEAREST)


# --- the ticket ------------------------------------------------------------------------

def render_ticket(view: TicketView, width_px: int = WIDTH_80MM, fonts: FontSet | None = None) -> Image.Image:
    """Draw ``view`` as a mode "1" image exactly ``width_px`` dots wide, black on white."""
    if width_px < 200:
        raise ValueError(f"width_px {width_px} is too narrow for a ticket (58 mm paper is 384)")
    fonts = fonts or default_fonts()
    scale = max(width_px / WIDTH_80MM, 0.8)
    c = _Canvas(width_px, fonts, scale)
    small = c.font(19, minimum=16)

    c.text(view.center_name.upper(), c.font(24, bold=True, minimum=18), line_gap=2, balanced=True)
    c.gap(8)
    c.rule()
    c.gap(10)

    c.text("SỐ THỨ TỰ CỦA BẠN  ·  YOUR NUMBER", small)
    code_font = fit_font(fonts, view.code, c.inner, max_height=c.px(130),
                         largest=round(200 * scale))
    left, top, right, bottom = code_font.getbbox(view.code, anchor="ls")
    c.gap(4)
    c.draw.text(((width_px - (right - left)) / 2 - left, c.y - top), view.code,
                font=code_font, fill=_BLACK, anchor="ls")
    c.y += bottom - top
    c.gap(12)
    if view.priority:
        c.banner("ƯU TIÊN  ·  PRIORITY", c.font(26, bold=True))
        c.gap(8)

    c.text(view.service_name, c.font(28, bold=True, minimum=20), line_gap=2, balanced=True)
    if view.service_name_en:
        c.text(view.service_name_en, small)
    c.gap(4)
    c.text(format_issued(view.issued_at, view.timezone).replace(" ", "   "), c.font(24, minimum=19))
    c.gap(6)
    c.rule(dashed=True)
    c.gap(10)

    info = c.font(23, minimum=18)
    if view.people_ahead is not None:
        c.text(f"Số người đang chờ trước bạn: {view.people_ahead}", info, line_gap=1)
        c.text(f"People ahead of you: {view.people_ahead}", small)
        c.gap(6)
    if view.estimated_wait_text is not None:
        vi, en = view.estimated_wait_text
    elif view.estimated_wait_range_s is not None:
        vi, en = wait_range_phrase(*view.estimated_wait_range_s)
    elif view.estimated_wait_s is not None:
        vi, en = wait_phrase(view.estimated_wait_s)
    if view.estimated_wait_s is not None or view.estimated_wait_range_s is not None or view.estimated_wait_text:
        c.text(f"Thời gian chờ dự kiến: {vi}", info, line_gap=1)
        if en:
            c.text(f"Estimated wait: {en}", small)
        c.gap(6)
    if view.offline:
        c.text(OFFLINE_VI, c.font(20, bold=True, minimum=17), line_gap=1)
        c.text(OFFLINE_EN, small)
        c.gap(6)

    if view.status_url:
        c.paste_centered(qr_image(view.status_url, target_px=round(width_px * (0.48 if width_px >= 500 else 0.62))))
        caption = "Quét mã để theo dõi lượt  ·  Scan to follow your turn"
        if small.getlength(caption) > c.inner:
            caption = "Quét mã để theo dõi lượt của bạn\nScan to follow your turn"
        c.text(caption, small, line_gap=1)
        c.gap(4)

    c.rule(dashed=True)
    c.gap(10)
    footer = c.font(20, minimum=17)
    if view.priority:
        c.text(PRIORITY_VI, footer, line_gap=2)
        c.text(PRIORITY_EN, small)
    elif view.max_wait_target_s:
        vi, en = promise_phrase(view.max_wait_target_s)
        c.text(vi, footer, line_gap=2)
        c.text(en, small)
    return c.finish()
