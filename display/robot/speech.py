"""The robot's voice: the announcer's one speech worker, fed free sentences.

The announcer's :class:`~display.announcer.worker.SpeechWorker` (one thread, a queue,
pyttsx3 used from that thread only), its phrase cache, synthesizer and sinks are reused as
they are. Only the text differs: an announcer request is turned into "Xin mời ... đến quầy
số ..." by its composer; an :class:`Utterance` carries its own sentence, and
:class:`PhraseComposer` says it once, without the chime.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from display.announcer.cache import PhraseCache
from display.announcer.composer import CallRequest, Composer
from display.announcer.config import OutputSettings
from display.announcer.config import VoiceSettings as AnnouncerVoice
from display.announcer.sinks import Sink, make_sink
from display.announcer.worker import SpeechWorker
from qms_common.clock import Clock


@dataclass(frozen=True)
class Utterance(CallRequest):
    """A free sentence for the speech worker (``ticket``/``counter`` are for its log only)."""

    text: str = ""


class PhraseComposer(Composer):
    def text_for(self, request: CallRequest) -> str:
        if isinstance(request, Utterance) and request.text:
            return request.text
        return super().text_for(request)


class SpeechFailed(RuntimeError):
    pass


class RobotVoice:
    """``start()``, ``say(text)`` (blocks until said), ``stop()``."""

    def __init__(self, voice: str, rate: int, volume: float, cache_dir: Path, output: OutputSettings,
                 clock: Clock, *, sink: Sink | None = None, timeout_s: float = 60.0) -> None:
        settings = AnnouncerVoice(voice=voice, rate=rate, volume=volume, repetitions=1, gap_s=0.0,
                                  chime=False)
        self.composer = PhraseComposer(settings, PhraseCache(cache_dir))
        self.worker = SpeechWorker(self.composer, sink or make_sink(output), clock)
        self.timeout_s = timeout_s
        self.outputs: list[str] = []

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop(drain=False, timeout=10)

    def say(self, text: str, label: str, *, ticket: str = "", counter: int = 0) -> str:
        """Say ``text`` and wait until it was said; where it went, or :class:`SpeechFailed`."""
        job = self.worker.submit(Utterance(ticket=ticket, counter=counter, label=label, text=text))
        if not job.wait(self.timeout_s):
            raise SpeechFailed(f"speech did not finish within {self.timeout_s:.0f} s")
        if job.error or job.output is None:
            raise SpeechFailed(job.error or "no output")
        self.outputs.append(job.output)
        return job.output
