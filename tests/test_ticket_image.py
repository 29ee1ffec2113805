"""Ticket rendering: layout, Vietnamese glyphs, wrapping, QR, fonts, and the test decoder."""
from __future__ import annotations

import dataclasses

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from kiosk.fonts import FontError, FontSet, find_fonts, missing_glyphs
from kiosk.ticket_image import (
    WIDTH_58MM,
    WIDTH_80MM,
    TicketView,
    fit_font,
    format_issued,
    qr_image,
    render_ticket,
    wait_phrase,
    wrap_text,
)
from qms_common.errors import ConfigError
from qms_common.wire import TicketInfo
from tests.escpos_decode import EscposDecodeError, decode
from tests.ticket_fixtures import URL, fonts, view  # noqa: F401  (fixtures)

NOTDEF = "\U0010fffd"


def _black_columns(img: Image.Image) -> set[int]:
    """x of every column with at least one black dot."""
    px = img.load()
    return {x for x in range(img.width) for y in range(img.height) if px[x, y] == 0}


@pytest.mark.parametrize("width", [WIDTH_80MM, WIDTH_58MM])
def test_renders_black_on_white_at_paper_width(view: TicketView, fonts: FontSet, width: int) -> None:
    img = render_ticket(view, width, fonts)
    assert img.mode == "1"
    assert img.width == width
    assert 400 < img.height < 900  # fits one GS v 0 block comfortably
    colours = dict((v, n) for n, v in img.getcolors())
    assert set(colours) == {0, 255} and colours[255] > colours[0]  # mostly white paper


@pytest.mark.parametrize("width", [WIDTH_80MM, WIDTH_58MM])
def test_qr_decodes_to_status_url(view: TicketView, fonts: FontSet, width: int) -> None:
    img = render_ticket(view, width, fonts)
    results = zxingcpp.read_barcodes(img.convert("L"))
    assert [r.text for r in results] == [URL]
    pos = results[0].position
    centre_x = (pos.top_left.x + pos.bottom_right.x) / 2
    assert abs(centre_x - width / 2) < 4  # centered on the paper


def test_qr_modules_are_whole_dots_with_quiet_zone() -> None:
    img = qr_image(URL, target_px=270)
    assert img.width == img.height
    px = img.load()
    first = next(i for i in range(img.width) if px[i, i] == 0)  # top-left corner of the finder
    run = next(x for x in range(first, img.width) if px[x, first] == 255) - first  # finder: 7 modules
    module = run // 7
    assert run == 7 * module and module >= 4
    assert first == 4 * module  # a 4-module quiet zone
    assert img.width % module == 0


def test_vietnamese_text_has_real_glyphs(fonts: FontSet) -> None:
    text = "Số người đang chờ trước bạn · Thời gian chờ dự kiến · ỹ ự ẫ Ưu tiên ĐẶNG"
    for bold in (False, True):
        font = fonts.get(24, bold=bold)
        assert missing_glyphs(font, text) == []
        # and the check itself notices a character DejaVu lacks
        assert missing_glyphs(font, "ư中") == ["中"]


def _draw(text: str, fonts: FontSet) -> bytes:
    img = Image.new("1", (700, 60), 255)
    ImageDraw.Draw(img).text((4, 8), text, font=fonts.get(28), fill=0)
    return img.tobytes()


def test_diacritics_are_not_tofu(fonts: FontSet) -> None:
    """Each accented letter draws differently from the font's missing-glyph box."""
    font = fonts.get(28)
    notdef = bytes(font.getmask(NOTDEF))
    for ch in "ưỹựẫđơăâêô":
        assert bytes(font.getmask(ch)) != notdef, ch
    vietnamese = "Thời gian chờ dự kiến"
    tofu = "".join(NOTDEF if ord(c) > 127 else c for c in vietnamese)
    assert _draw(vietnamese, fonts) != _draw(tofu, fonts)


def test_long_names_wrap_inside_the_paper(view: TicketView, fonts: FontSet) -> None:
    long_view = dataclasses.replace(
        view,
        center_name="Trung tâm Phục vụ hành chính công và Bộ phận Tiếp nhận, Trả kết quả "
        "giải quyết thủ tục hành chính liên thông cấp tỉnh, cấp huyện, cấp xã " * 2,
        service_name="Chứng thực bản sao từ bản chính giấy tờ, văn bản do cơ quan có thẩm quyền cấp",
        service_name_en="Certification of copies from originals " + "x" * 120,  # one unbreakable word
    )
    for width in (WIDTH_80MM, WIDTH_58MM):
        img = render_ticket(long_view, width, fonts)
        assert img.width == width
        margin = max(8, round(16 * max(width / WIDTH_80MM, 0.8)))
        inked = _black_columns(img)
        assert min(inked) >= margin - 1 and max(inked) <= width - margin, "text ran into the margin"
        assert img.height < 1400


def test_wrap_text_respects_width(fonts: FontSet) -> None:
    font = fonts.get(26, bold=True)
    text = "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG TỈNH BÀ RỊA – VŨNG TÀU " + "Ư" * 60
    lines = wrap_text(text, font, 300)
    assert len(lines) > 3
    assert all(font.getlength(line) <= 300 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_number_is_the_largest_text(view: TicketView, fonts: FontSet) -> None:
    font = fit_font(fonts, view.code, WIDTH_80MM - 32, max_height=130)
    assert font.size >= 100  # about 12 mm tall on a 203 dpi head
    small_paper = fit_font(fonts, view.code, WIDTH_58MM - 26, max_height=104)
    assert small_paper.size >= 70


@pytest.mark.parametrize(
    ("seconds", "vi"),
    [
        (0, "dưới 5 phút"),
        (299, "dưới 5 phút"),
        (300, "khoảng 5 phút"),
        (11 * 60, "khoảng 10 phút"),
        (13 * 60, "khoảng 15 phút"),
        (56 * 60, "khoảng 55 phút"),
        (60 * 60, "khoảng 1 giờ"),
        (80 * 60, "khoảng 1 giờ 15 phút"),
        (-5, "dưới 5 phút"),
    ],
)
def test_wait_phrase(seconds: float, vi: str) -> None:
    assert wait_phrase(seconds)[0] == vi


def test_issue_time_in_center_timezone() -> None:
    assert format_issued(1_764_000_000.0) == "24/11/2025 23:00"
    assert format_issued(1_764_000_000.0, "UTC") == "24/11/2025 16:00"


def test_priority_offline_and_unknown_queue_render(view: TicketView, fonts: FontSet) -> None:
    plain = render_ticket(view, WIDTH_80MM, fonts)
    special = render_ticket(dataclasses.replace(view, priority=True, offline=True), WIDTH_80MM, fonts)
    assert special.height > plain.height  # banner, offline line, longer footer
    bare = dataclasses.replace(view, people_ahead=None, estimated_wait_s=None, status_url=None, offline=True)
    img = render_ticket(bare, WIDTH_58MM, fonts)
    assert img.height < plain.height
    assert zxingcpp.read_barcodes(img.convert("L")) == []


def test_view_from_server_ticket() -> None:
    info = TicketInfo(ticket_id="t1", code="HT-042", service="HT", priority=True, issued_at=1.0,
                      people_ahead=2, estimated_wait_s=120, status_url=URL)
    view = TicketView.from_ticket(info, center_name="Trung tâm", service_name="Hộ tịch")
    assert (view.code, view.priority, view.people_ahead, view.status_url) == ("HT-042", True, 2, URL)


def test_too_narrow_is_refused(view: TicketView, fonts: FontSet) -> None:
    with pytest.raises(ValueError):
        render_ticket(view, 100, fonts)


# --- fonts ------------------------------------------------------------------------------

def test_missing_font_path_is_a_clear_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError) as err:
        find_fonts(tmp_path / "nope.ttf")
    assert isinstance(err.value, FontError)
    assert "apt install fonts-dejavu-core" in str(err.value)
    assert "nope.ttf" in str(err.value)


def test_no_font_in_search_dirs(tmp_path) -> None:
    with pytest.raises(FontError, match="fonts-dejavu-core"):
        find_fonts(search_dirs=[tmp_path])


def test_not_a_font_file(tmp_path) -> None:
    bogus = tmp_path / "DejaVuSans.ttf"
    bogus.write_bytes(b"not a font")
    with pytest.raises(FontError, match="cannot be loaded"):
        find_fonts(tmp_path)


def test_font_dir_and_single_file(fonts: FontSet) -> None:
    by_dir = find_fonts(fonts.regular.parent)
    assert by_dir.regular == fonts.regular and by_dir.bold.name == "DejaVuSans-Bold.ttf"
    by_file = find_fonts(fonts.regular)
    assert by_file.bold.name == "DejaVuSans-Bold.ttf"


# --- the test decoder itself -------------------------------------------------------------

def _known_image() -> Image.Image:
    img = Image.new("1", (16, 3), 255)
    for x, y in [(0, 0), (7, 0), (8, 1), (15, 2), (3, 2)]:
        img.putpixel((x, y), 0)
    return img


def test_decoder_on_a_known_image() -> None:
    # GS v 0, m=0, 2 bytes wide, 3 rows: bit 1 = black, MSB = leftmost dot
    raw = b"\x1b@" + b"\x1dv0\x00\x02\x00\x03\x00" + bytes([0x81, 0x00, 0x00, 0x80, 0x10, 0x01]) + b"\x1dV\x00"
    out = decode(raw)
    assert out.names() == ["init", "raster", "cut"]
    assert out.image.tobytes() == _known_image().tobytes()


def test_decoder_stacks_bands_and_reads_escpos_bytes() -> None:
    from escpos.printer import Dummy

    img = Image.new("1", (24, 10), 255)
    ImageDraw.Draw(img).line((0, 0, 23, 9), fill=0)
    printer = Dummy()
    printer.image(img, fragment_height=4)
    printer.cut()
    out = decode(printer.output)
    assert [c.args[2] for c in out.commands if c.name == "raster"] == [4, 4, 2]
    assert out.image.tobytes() == img.tobytes()
    assert out.count("cut") == 1 and out.count("feed_lines") == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x1dv0\x00\x02\x00\x03\x00\x81", "truncated GS v 0 data"),
        (b"\x1dv0\x00\x02", "truncated GS v 0 header"),
        (b"\x1b\x99", "unknown command ESC 0x99"),
        (b"\x1dV\x07", "invalid cut mode"),
        (b"\x07", "unexpected control byte 0x07"),
        (b"\x1dv0\x00\x00\x00\x01\x00", "empty image"),
    ],
)
def test_decoder_rejects_malformed(raw: bytes, message: str) -> None:
    with pytest.raises(EscposDecodeError, match=message):
        decode(raw)


def _printed_lines(view: TicketView, fonts: FontSet, monkeypatch) -> list[str]:
    """Every line of text the ticket draws (recorded at the canvas, then drawn as usual)."""
    from kiosk import ticket_image
    lines: list[str] = []
    original = ticket_image._Canvas.text

    def record(self, text, font, **kw):
        lines.append(text)
        return original(self, text, font, **kw)
    monkeypatch.setattr(ticket_image._Canvas, "text", record)
    render_ticket(view, WIDTH_80MM, fonts)
    return lines


def test_the_server_s_words_are_printed_instead_of_a_range(view: TicketView, fonts: FontSet, monkeypatch) -> None:
    """A call the forecast says may not come today: the paper says so, not "khoảng 3 giờ"."""
    from qms_common.wait_words import NOT_SURE_TODAY
    ranged = dataclasses.replace(view, estimated_wait_range_s=(600.0, 900.0))
    assert "Thời gian chờ dự kiến: khoảng 10–15 phút" in _printed_lines(ranged, fonts, monkeypatch)
    unsure = dataclasses.replace(view, estimated_wait_range_s=(9000.0, 11000.0), estimated_wait_text=NOT_SURE_TODAY)
    lines = _printed_lines(unsure, fonts, monkeypatch)
    assert f"Thời gian chờ dự kiến: {NOT_SURE_TODAY[0]}" in lines
    assert f"Estimated wait: {NOT_SURE_TODAY[1]}" in lines
    assert not any("hơn" in line or "khoảng" in line for line in lines)


def test_the_tickets_english_line_says_the_same_promise_as_the_vietnamese():
    # the English said "we aim to serve you within 15 minutes": a promise about service, not the wait
    from kiosk.ticket_image import promise_phrase
    vi, en = promise_phrase(900)
    assert vi == "Trung tâm cam kết thời gian chờ không quá 15 phút"
    assert en == "The center promises a wait of at most 15 minutes"
