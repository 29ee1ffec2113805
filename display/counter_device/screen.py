"""Where the counter's view goes: the seam between the device logic and a screen.

- :class:`StdoutScreen` prints the view to a terminal (a console on the Pi, a laptop).
- :class:`ImageFileScreen` renders a PNG with Pillow and DejaVu Sans (which has every
  Vietnamese letter) and replaces the file atomically on each change. A small SPI or HDMI
  screen shows it with an image viewer or a framebuffer tool (``fbi``); drivers for such
  screens are not part of this project.
- :class:`NullScreen` shows nothing (buttons and keypad only).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from qms_common.errors import ConfigError

from . import texts
from .config import ScreenSettings

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
)


@dataclass(frozen=True)
class ScreenView:
    """Everything on the screen at one moment."""

    counter: int
    ticket: str | None
    state: str  # open / paused / closed / unknown
    status: str = ""  # a status line (Vietnamese), e.g. an error from the server
    alert: bool = False  # the status line is an error

    def lines(self) -> list[str]:
        head = texts.COUNTER_TITLE.format(counter=self.counter)
        number = self.ticket or texts.NO_TICKET
        state = texts.STATE_LABELS.get(self.state, self.state)
        if self.state == "open" and not self.ticket:
            state = texts.IDLE
        return [head, number, state] + ([("⚠ " if self.alert else "") + self.status] if self.status else [])


class Screen(Protocol):
    def show(self, view: ScreenView) -> None: ...

    def close(self) -> None: ...


class NullScreen:
    def show(self, view: ScreenView) -> None:
        pass

    def close(self) -> None:
        pass


class StdoutScreen:
    """One framed block per change."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def show(self, view: ScreenView) -> None:
        lines = view.lines()
        width = max(24, *(len(line) for line in lines)) + 2
        out = ["┌" + "─" * width + "┐"]
        out += [f"│ {line:<{width - 2}} │" for line in lines]
        out.append("└" + "─" * width + "┘")
        self.stream.write("\n".join(out) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class ImageFileScreen:
    """Renders the view into a PNG of the screen's size."""

    def __init__(self, path: Path, width: int, height: int, font: Path | None = None) -> None:
        try:
            from PIL import ImageFont  # noqa: F401 (checked here, used in show)
        except ImportError:  # pragma: no cover - depends on the installation
            raise ConfigError("screen.kind = 'image-file' needs Pillow (pip install pillow)") from None
        self.path = path
        self.width = width
        self.height = height
        self.font_path = font or self._default_font()
        if not self.font_path.is_file():
            raise ConfigError(f"screen.font: {self.font_path} not found")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frames = 0

    @staticmethod
    def _default_font() -> Path:
        for candidate in FONT_CANDIDATES:
            if Path(candidate).is_file():
                return Path(candidate)
        raise ConfigError("screen: DejaVu Sans Bold not found (apt install fonts-dejavu-core) "
                          "and screen.font is not set")

    def _font(self, size: int):
        from PIL import ImageFont

        return ImageFont.truetype(str(self.font_path), size)

    def render(self, view: ScreenView):
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (self.width, self.height), (0, 32, 96))
        draw = ImageDraw.Draw(image)
        w, h = self.width, self.height
        lines = view.lines()
        self._centered(draw, lines[0], h * 0.04, self._fit(draw, lines[0], w * 0.9, int(h * 0.14)), "white")
        number_font = self._fit(draw, lines[1], w * 0.92, int(h * 0.38))
        self._centered(draw, lines[1], h * 0.22, number_font, (255, 214, 0))
        self._centered(draw, lines[2], h * 0.64, self._fit(draw, lines[2], w * 0.9, int(h * 0.1)), "white")
        if view.status:
            colour = (255, 96, 96) if view.alert else (160, 255, 160)
            self._centered(draw, lines[3], h * 0.8, self._fit(draw, lines[3], w * 0.96, int(h * 0.08)), colour)
        return image

    def _fit(self, draw, text: str, max_width: float, size: int):
        font = self._font(size)
        while size > 8 and draw.textlength(text, font=font) > max_width:
            size = int(size * 0.9)
            font = self._font(size)
        return font

    def _centered(self, draw, text: str, top: float, font, fill) -> None:
        x = (self.width - draw.textlength(text, font=font)) / 2
        draw.text((x, top), text, font=font, fill=fill)

    def show(self, view: ScreenView) -> None:
        image = self.render(view)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        image.save(tmp, format="PNG")
        os.replace(tmp, self.path)  # a viewer never reads half a frame
        self.frames += 1

    def close(self) -> None:
        pass


def make_screen(settings: ScreenSettings) -> Screen:
    if settings.kind == "image-file":
        assert settings.path is not None  # the config model requires it
        return ImageFileScreen(settings.path, settings.width, settings.height, settings.font)
    if settings.kind == "stdout":
        return StdoutScreen()
    return NullScreen()
