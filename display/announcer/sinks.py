"""Where a composed announcement goes: the seam between speech and hardware.

- :class:`PlayerSink` writes a temporary WAV and plays it with an audio command
  (``aplay -q`` through ALSA, or ``paplay`` through PulseAudio/PipeWire), waiting until it
  has finished so that announcements never overlap.
- :class:`FileSink` writes each announcement as ``announcement-000001.wav``,
  ``-000002.wav``, ... into a folder: for tests, laptops, and recording what was said.

Chosen by ``output.kind`` in the configuration (:func:`make_sink`).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from .audio import Pcm, wav_bytes
from .config import OutputSettings

log = logging.getLogger(__name__)


class SinkError(RuntimeError):
    """The announcement could not be played or written."""


class Sink(Protocol):
    def emit(self, pcm: Pcm, label: str) -> str:
        """Play or store one announcement; return where it went (for the log)."""
        ...


def default_player_command() -> list[str]:
    """``aplay -q`` where ALSA's player is installed, else ``paplay``."""
    if shutil.which("aplay"):
        return ["aplay", "-q"]
    if shutil.which("paplay"):
        return ["paplay"]
    raise SinkError("no audio player found: install alsa-utils (aplay) or pulseaudio-utils "
                    "(paplay), or set output.command")


class PlayerSink:
    """Plays through the sound card with a subprocess and waits for it to finish."""

    def __init__(self, command: list[str] | None = None, timeout_s: float = 15.0) -> None:
        self.command = list(command) if command else default_player_command()
        if shutil.which(self.command[0]) is None:
            raise SinkError(f"audio player {self.command[0]!r} not found (output.command)")
        self.timeout_s = timeout_s

    def emit(self, pcm: Pcm, label: str) -> str:
        fd, name = tempfile.mkstemp(prefix="qms-announce-", suffix=".wav")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(wav_bytes(pcm))
            argv = [*self.command, name]
            try:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE,
                                      timeout=pcm.duration_s + self.timeout_s, check=False)
            except subprocess.TimeoutExpired:
                raise SinkError(f"{self.command[0]} did not finish within "
                                f"{pcm.duration_s + self.timeout_s:.0f} s; killed") from None
            except OSError as exc:
                raise SinkError(f"cannot run {self.command[0]}: {exc.strerror}") from None
            if done.returncode != 0:
                err = done.stderr.decode("utf-8", "replace").strip().splitlines()
                raise SinkError(f"{self.command[0]} exited with {done.returncode}: "
                                f"{err[-1] if err else 'no message'}")
            return f"played with {self.command[0]}"
        finally:
            Path(name).unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"<PlayerSink {' '.join(self.command)}>"


class FileSink:
    """Writes ``announcement-NNNNNN.wav`` files with an increasing index.

    The index continues after the highest file already in the folder, so a restart never
    overwrites an earlier announcement. Each file appears complete (written under a
    hidden name, then renamed), so whoever watches the folder never reads half a WAV.
    """

    _NAME = re.compile(r"^announcement-(\d{6,})\.wav$")

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = [int(m.group(1)) for p in self.directory.iterdir()
                    if (m := self._NAME.match(p.name))]
        self._next = max(existing, default=0) + 1
        self._lock = threading.Lock()

    def emit(self, pcm: Pcm, label: str) -> str:
        with self._lock:
            index = self._next
            self._next += 1
        path = self.directory / f"announcement-{index:06d}.wav"
        tmp = self.directory / f".{path.name}.tmp"
        try:
            tmp.write_bytes(wav_bytes(pcm))
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SinkError(f"cannot write {path}: {exc.strerror}") from None
        return str(path)

    def files(self) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if self._NAME.match(p.name))

    def __repr__(self) -> str:
        return f"<FileSink {self.directory}>"


def make_sink(settings: OutputSettings) -> Sink:
    if settings.kind == "files":
        assert settings.directory is not None  # the config model requires it
        return FileSink(settings.directory)
    return PlayerSink(settings.command, settings.play_timeout_s)
