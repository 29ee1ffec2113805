"""Finding a TrueType font that can draw Vietnamese, once, at kiosk start-up.

The ticket is rendered as an image (thermal printers' own code pages mangle Vietnamese
tone marks), so the kiosk cannot print anything without a font that really has glyphs
for letters such as "ỹ", "ự" and "ẫ". A font that silently lacks them prints boxes
("tofu"), which nobody notices until citizens hold unreadable tickets; we check at
start-up and refuse to run instead.

Pillow does not expose a font's character map, so :func:`missing_glyphs` uses a
practical test: a character the font lacks is drawn with the font's ``.notdef`` glyph,
which is exactly what a codepoint no font has (a private-use plane-16 codepoint) draws.
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from qms_common.errors import ConfigError

#: The files from Debian's ``fonts-dejavu-core`` (and most other distributions).
REGULAR_NAME = "DejaVuSans.ttf"
BOLD_NAME = "DejaVuSans-Bold.ttf"

#: Where distributions put DejaVu. Searched in order after a configured path.
DEFAULT_SEARCH_DIRS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu",  # Debian, Ubuntu, Raspberry Pi OS
    "/usr/share/fonts/dejavu",  # Fedora, Arch (ttf-dejavu)
    "/usr/share/fonts/TTF",  # Arch (older)
    "/usr/share/fonts/truetype",
    "/usr/local/share/fonts",
    "/Library/Fonts",  # macOS laptops used for demos
)

#: Letters a Vietnamese ticket needs: every vowel with a hook, horn or breve plus tones,
#: and the stacked capitals of an upper-cased center name.
VIETNAMESE_PROBE = "ăâđêôơưĂÂĐÊÔƠƯỹựẫạảấầẩậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữỳỵỷẤỰỸ"

#: A codepoint no font maps (plane 16 private use); it always draws ``.notdef``.
_NOTDEF_PROBE = "\U0010fffd"

INSTALL_HINT = (
    "install the DejaVu fonts (`sudo apt install fonts-dejavu-core`) "
    "or set the printer's `font_path` to a TrueType font that covers Vietnamese"
)


class FontError(ConfigError):
    """No usable Vietnamese font: the kiosk cannot render tickets."""

    code = "font_missing"


def missing_glyphs(font: ImageFont.FreeTypeFont, text: str) -> list[str]:
    """The characters of ``text`` that ``font`` would draw as its missing-glyph box."""
    notdef = _mask_signature(font, _NOTDEF_PROBE)
    seen: list[str] = []
    for ch in dict.fromkeys(text):  # unique, in order
        if ch.isspace():
            continue
        if _mask_signature(font, ch) == notdef:
            seen.append(ch)
    return seen


def _mask_signature(font: ImageFont.FreeTypeFont, ch: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(ch, mode="L")
    return mask.size, bytes(mask)


def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    """Load exactly this file.

    Given a file name, Pillow falls back to a system font *of the same name* when the file
    cannot be read, so a broken configured font would pass unnoticed; given the bytes,
    it cannot.
    """
    try:
        data = path.read_bytes()
        return ImageFont.truetype(io.BytesIO(data), size)
    except OSError as exc:
        raise FontError(f"font {path} cannot be loaded ({exc}); {INSTALL_HINT}", path=str(path)) from None


def check_vietnamese(path: Path) -> None:
    """Raise :class:`FontError` unless ``path`` loads and draws every Vietnamese letter."""
    font = load_font(path, 32)
    lacking = missing_glyphs(font, VIETNAMESE_PROBE)
    if lacking:
        raise FontError(
            f"font {path} has no glyphs for Vietnamese letters {''.join(lacking)!r}; {INSTALL_HINT}",
            path=str(path),
        )


@dataclass(frozen=True)
class FontSet:
    """The regular and bold faces the ticket uses; ``get()`` caches sized fonts."""

    regular: Path
    bold: Path
    _cache: dict[tuple[bool, int], ImageFont.FreeTypeFont] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def get(self, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
        key = (bold, size)
        font = self._cache.get(key)
        if font is None:
            font = load_font(self.bold if bold else self.regular, size)
            self._cache[key] = font
        return font


def find_fonts(
    font_path: str | Path | None = None,
    search_dirs: Sequence[str | Path] = DEFAULT_SEARCH_DIRS,
) -> FontSet:
    """Locate and verify the ticket fonts. Call once at start-up.

    ``font_path`` (from configuration) may be a directory holding ``DejaVuSans.ttf`` and
    ``DejaVuSans-Bold.ttf`` or a single ``.ttf`` file (used for both weights, unless a
    ``DejaVuSans-Bold.ttf`` sits beside it). A configured path that does not exist is an
    error, not a reason to fall back silently: the installer meant something.
    """
    if font_path is not None:
        regular, bold = _from_configured(Path(font_path))
    else:
        found = _search(Path(d) for d in search_dirs)
        if found is None:
            dirs = ", ".join(str(d) for d in search_dirs)
            raise FontError(f"no {REGULAR_NAME} found in {dirs}; {INSTALL_HINT}")
        regular, bold = found
    check_vietnamese(regular)
    if bold != regular:
        check_vietnamese(bold)
    return FontSet(regular=regular, bold=bold)


def _from_configured(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        regular = path / REGULAR_NAME
        if not regular.is_file():
            raise FontError(f"font_path {path}: no {REGULAR_NAME} in it; {INSTALL_HINT}", path=str(path))
        bold = path / BOLD_NAME
        return regular, bold if bold.is_file() else regular
    if not path.is_file():
        raise FontError(f"font_path {path} does not exist; {INSTALL_HINT}", path=str(path))
    sibling = path.with_name(BOLD_NAME)
    return path, sibling if sibling.is_file() and sibling != path else path


def _search(dirs: Iterable[Path]) -> tuple[Path, Path] | None:
    for d in dirs:
        regular = d / REGULAR_NAME
        if regular.is_file():
            bold = d / BOLD_NAME
            return regular, bold if bold.is_file() else regular
    return None


@lru_cache(maxsize=4)
def default_fonts(font_path: str | None = None) -> FontSet:
    """:func:`find_fonts`, memoised per configured path (rendering calls it per ticket)."""
    return find_fonts(font_path)
