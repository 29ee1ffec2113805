"""Text to WAV with pyttsx3 driving espeak-ng, without any audio device.

pyttsx3 keeps one espeak-ng engine per process (espeak can be initialised only once) and
is not thread-safe: two threads in ``runAndWait()`` raise "run loop already started" or
mix their audio. The announcer therefore synthesizes from one worker thread only, and
this module also serialises every use of the engine with one process-wide lock, so that
two :class:`Synthesizer` objects in one process (tests, the ``say`` command) are safe too.
"""
from __future__ import annotations

import atexit
import contextlib
import io
import logging
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Not connections: espeak-ng's state is process-wide inside the C library, so the engine
# and the lock that guards it are process-wide too. The engine is created on first use
# (never at import) and then kept for the life of the process, see _engine().
_ENGINE_LOCK = threading.Lock()
_engine_instance: Any = None


class SynthError(RuntimeError):
    """Speech could not be produced (missing espeak-ng, unknown voice, empty audio)."""


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    languages: tuple[str, ...]


def _engine() -> Any:
    """The process's one pyttsx3 engine; call with ``_ENGINE_LOCK`` held.

    Kept alive on purpose. pyttsx3 holds engines only weakly, and when a dropped engine is
    garbage-collected its driver calls espeak's ``SetSynthCallback(None)``, which is
    process-wide: it silently breaks whatever engine is synthesizing at that moment (seen
    in tests as a WAV never written, or one spoken at pyttsx3's default rate of 200).
    """
    global _engine_instance
    if _engine_instance is not None:
        return _engine_instance
    try:
        import pyttsx3  # imported here: no work, and no espeak initialisation, at import time
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise SynthError("pyttsx3 is not installed (pip install pyttsx3)") from exc
    try:
        _engine_instance = pyttsx3.init("espeak")
    except Exception as exc:  # espeak-ng library missing or broken
        raise SynthError(f"cannot start espeak-ng through pyttsx3 ({exc}); "
                         "install it with: apt install espeak-ng") from exc
    # Let it go while the interpreter is still whole; dropped during shutdown, pyttsx3's
    # destructor prints an "Exception ignored" traceback.
    atexit.register(_release_engine)
    return _engine_instance


def _release_engine() -> None:
    global _engine_instance
    with _ENGINE_LOCK:
        _engine_instance = None


def _wait_for_espeak_idle() -> None:
    """Wait until espeak-ng's command queue is empty; call with ``_ENGINE_LOCK`` held.

    pyttsx3 2.99 starts ``runAndWait()`` by running its queued "end loop" command at once,
    which calls ``espeak_Cancel()`` whenever espeak's asynchronous command FIFO is still
    busy: with the rate and volume just set (they are FIFO commands) or with the end of
    the previous phrase. That cancels the phrase about to be synthesized, leaving an empty
    WAV or none, and resets rate and volume to espeak's defaults. Under CPU load this hit
    about 1 phrase in 400; waiting for the FIFO to drain first removed it (0 in 2,000).
    """
    try:
        from pyttsx3.drivers import _espeak
    except ImportError:  # pragma: no cover - another pyttsx3 layout: nothing to wait for
        return
    synchronize = getattr(_espeak, "Synchronize", None)
    if synchronize is not None:
        synchronize()


def list_voices() -> list[VoiceInfo]:
    """The voices espeak-ng offers on this machine."""
    with _ENGINE_LOCK:
        engine = _engine()
        return [VoiceInfo(str(v.id), str(v.name), tuple(v.languages or ()))
                for v in engine.getProperty("voices")]


def resolve_voice(wanted: str, voices: list[VoiceInfo]) -> VoiceInfo:
    """Find a voice by id (``aav/vi``), short id (``vi``, ``vi-vn-x-south``) or language.

    espeak silently keeps the previous voice when asked for one it does not know, so an
    unknown name must be refused here, not discovered by listening.
    """
    key = wanted.strip().lower()
    for match in (lambda v: v.id.lower() == key,
                  lambda v: v.id.lower().rsplit("/", 1)[-1] == key,
                  lambda v: key in (lang.lower() for lang in v.languages)):
        for voice in voices:
            if match(voice):
                return voice
    vietnamese = sorted(v.id.rsplit("/", 1)[-1] for v in voices
                        if any(lang.lower().startswith("vi") for lang in v.languages))
    raise SynthError(f"espeak-ng has no voice {wanted!r}; Vietnamese voices here: "
                     f"{', '.join(vietnamese) or 'none (install espeak-ng-data)'}")


class Synthesizer:
    """Writes one phrase to one WAV file per call; counts how often the engine ran."""

    def __init__(self, voice: str = "vi", rate: int = 150, volume: float = 1.0) -> None:
        self.voice = resolve_voice(voice, list_voices())
        self.rate = rate
        self.volume = volume
        self.engine_calls = 0

    def synthesize(self, text: str, path: str | Path) -> None:
        """Synthesize ``text`` into a 22,050 Hz mono WAV at ``path``.

        Tried twice: an empty result is retried once (with a warning) before it is an error.
        """
        if not text.strip():
            raise SynthError("nothing to say: empty text")
        path = Path(path)
        try:
            self._synthesize_once(text, path)
        except SynthError as exc:
            log.warning("synthesis failed (%s); trying once more", exc)
            self._synthesize_once(text, path)

    def _synthesize_once(self, text: str, path: Path) -> None:
        path.unlink(missing_ok=True)
        with _ENGINE_LOCK:
            engine = _engine()
            # Set every property each time: the engine is shared by the whole process, and
            # espeak resets the rate when the voice changes, so the voice goes first.
            engine.setProperty("voice", self.voice.id)
            engine.setProperty("rate", self.rate)
            engine.setProperty("volume", self.volume)
            engine.save_to_file(text, str(path))
            _wait_for_espeak_idle()
            # pyttsx3 prints "Audio saved to ..." on stdout; keep stdout for our own output.
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    engine.runAndWait()
                except Exception as exc:
                    raise SynthError(f"espeak-ng failed on {text[:60]!r}: {exc}") from exc
            self.engine_calls += 1
        try:
            with wave.open(str(path), "rb") as wav:
                frames = wav.getnframes()
        except (OSError, EOFError, wave.Error) as exc:
            raise SynthError(f"espeak-ng wrote no usable WAV for {text[:60]!r}: {exc}") from exc
        if frames == 0:
            raise SynthError(f"espeak-ng produced no audio for {text[:60]!r}")
        log.debug("synthesized %r (%d samples) with %s", text, frames, self.voice.id)

    def __repr__(self) -> str:
        return f"<Synthesizer {self.voice.id} rate={self.rate} volume={self.volume}>"
