"""PCM audio in memory: read and write WAV, make the chime, join segments, measure.

Everything is 16-bit signed mono at one sample rate (22,050 Hz, what espeak-ng writes
through pyttsx3), so joining is concatenating bytes. Only the standard library is used
(``wave``, ``array``, ``math``): the announcer runs on a Raspberry Pi image without numpy.
"""
from __future__ import annotations

import array
import io
import math
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 22_050
SAMPLE_WIDTH = 2  # bytes, 16-bit signed
CHANNELS = 1
_FULL_SCALE = 32767


class AudioFormatError(ValueError):
    """A WAV file that is not 16-bit mono at the expected rate."""


@dataclass(frozen=True)
class Pcm:
    """Raw 16-bit little-endian mono frames and their sample rate."""

    frames: bytes
    rate: int = SAMPLE_RATE

    @property
    def samples(self) -> int:
        return len(self.frames) // SAMPLE_WIDTH

    @property
    def duration_s(self) -> float:
        return self.samples / self.rate

    def __add__(self, other: Pcm) -> Pcm:
        if other.rate != self.rate:
            raise AudioFormatError(f"cannot join {self.rate} Hz and {other.rate} Hz audio")
        return Pcm(self.frames + other.frames, self.rate)

    def __repr__(self) -> str:
        return f"<Pcm {self.duration_s:.2f} s at {self.rate} Hz>"


def _to_array(frames: bytes) -> array.array:
    data = array.array("h")
    data.frombytes(frames)
    if sys.byteorder == "big":  # WAV is little-endian
        data.byteswap()
    return data


def _from_array(data: array.array) -> bytes:
    if sys.byteorder == "big":
        data = array.array("h", data)
        data.byteswap()
    return data.tobytes()


def read_wav(source: str | Path | bytes) -> Pcm:
    """Read a WAV file (or its bytes); refuse anything but 16-bit mono."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    with handle, wave.open(handle, "rb") as wav:
        if wav.getsampwidth() != SAMPLE_WIDTH or wav.getnchannels() != CHANNELS:
            raise AudioFormatError(
                f"{source if not isinstance(source, bytes) else 'WAV'}: expected 16-bit mono, got "
                f"{8 * wav.getsampwidth()}-bit with {wav.getnchannels()} channel(s)")
        return Pcm(wav.readframes(wav.getnframes()), wav.getframerate())


def wav_bytes(pcm: Pcm) -> bytes:
    """The PCM as a complete WAV file in memory."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(CHANNELS)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(pcm.rate)
        wav.writeframes(pcm.frames)
    return out.getvalue()


def silence(seconds: float, rate: int = SAMPLE_RATE) -> Pcm:
    return Pcm(b"\x00\x00" * max(0, round(seconds * rate)), rate)


def chime(rate: int = SAMPLE_RATE, volume: float = 0.5) -> Pcm:
    """A two-tone "ding-dong" (A5 then F5), about 1.1 s, made here rather than shipped.

    Each tone is a sine with a quieter octave partial for a bell-like colour, an
    exponential decay, and 10 ms / 30 ms ramps at its ends so that it starts and stops
    without a click. Built once per worker; cheap in pure Python.
    """
    data = array.array("h")
    for freq, length_s, decay in ((880.0, 0.45, 5.0), (698.46, 0.65, 4.0)):
        n = round(length_s * rate)
        attack = round(0.010 * rate)
        release = round(0.030 * rate)
        for i in range(n):
            t = i / rate
            envelope = math.exp(-decay * t) * min(1.0, i / attack, (n - i) / release)
            value = math.sin(2 * math.pi * freq * t) + 0.3 * math.sin(4 * math.pi * freq * t)
            data.append(round(_FULL_SCALE * volume * envelope * value / 1.3))
    return Pcm(_from_array(data), rate)


def rms(pcm: Pcm) -> float:
    """Root mean square level, 0.0 (silence) to 1.0 (full scale)."""
    data = _to_array(pcm.frames)
    if not data:
        return 0.0
    return math.sqrt(sum(s * s for s in data) / len(data)) / _FULL_SCALE


def scale(pcm: Pcm, gain: float) -> Pcm:
    """Multiply every sample by ``gain``, clipping at full scale."""
    if gain == 1.0:
        return pcm
    data = _to_array(pcm.frames)
    out = array.array("h", (max(-_FULL_SCALE, min(_FULL_SCALE, round(s * gain))) for s in data))
    return Pcm(_from_array(out), pcm.rate)


def join(parts: list[Pcm]) -> Pcm:
    """Concatenate segments of the same sample rate."""
    if not parts:
        return Pcm(b"")
    rate = parts[0].rate
    for part in parts:
        if part.rate != rate:
            raise AudioFormatError(f"cannot join {rate} Hz and {part.rate} Hz audio")
    return Pcm(b"".join(p.frames for p in parts), rate)
