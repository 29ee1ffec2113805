"""Spoken confirmation in Vietnamese, where the kiosk has a loudspeaker.

Reuses the voice announcer's parts: its single :class:`~display.announcer.worker.SpeechWorker`
thread (pyttsx3/espeak-ng is not thread-safe), the phrase cache, the synthesizer and the
sinks (the sound card, or numbered WAV files for tests). Only the sentences differ:

- "Số thứ tự của bạn là H T 0 4 2. Xin mời chờ đến lượt."
- "Máy in gặp lỗi. Số thứ tự của bạn là H T 0 4 2. Xin ghi nhớ số trên màn hình."
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from display.announcer import audio
from display.announcer.audio import Pcm
from display.announcer.cache import PhraseCache, PhraseKey
from display.announcer.composer import CallRequest
from display.announcer.phrase import spell_ticket
from display.announcer.sinks import Sink, make_sink
from display.announcer.synth import Synthesizer
from display.announcer.worker import Job, SpeechWorker

from .config import VoiceSettings

log = logging.getLogger(__name__)

ISSUED_TEMPLATE = "Số thứ tự của bạn là {ticket}. Xin mời chờ đến lượt."
NOT_PRINTED_TEMPLATE = "Máy in gặp lỗi. Số thứ tự của bạn là {ticket}. Xin ghi nhớ số trên màn hình."


@dataclass(frozen=True)
class KioskPhrase(CallRequest):
    """A sentence for the speech worker (it only needs ``label``/``ticket`` for its log)."""

    text: str = ""


def sentence(code: str, printed: bool) -> str:
    template = ISSUED_TEMPLATE if printed else NOT_PRINTED_TEMPLATE
    return template.format(ticket=spell_ticket(code))


class KioskComposer:
    """The announcer's composer interface (``compose(request) -> Pcm``) for kiosk sentences."""

    def __init__(self, settings: VoiceSettings, cache: PhraseCache, synthesizer: Synthesizer | None = None) -> None:
        self.cache = cache
        self.synthesizer = synthesizer or Synthesizer(settings.voice, settings.rate, settings.volume)

    def compose(self, request: KioskPhrase) -> Pcm:
        key = PhraseKey(request.text, self.synthesizer.voice.id, self.synthesizer.rate, self.synthesizer.volume)
        path = self.cache.get_or_create(key, lambda tmp: self.synthesizer.synthesize(request.text, tmp))
        return audio.read_wav(path)


class KioskVoice:
    def __init__(self, settings: VoiceSettings, sink: Sink | None = None) -> None:
        self.settings = settings
        self.worker = SpeechWorker(KioskComposer(settings, PhraseCache(settings.cache_dir, 200)),
                                   sink or make_sink(settings.output))
        self.last_job: Job | None = None

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop(drain=False, timeout=5)

    def say_ticket(self, code: str, printed: bool) -> Job | None:
        try:
            text = sentence(code, printed)
            self.last_job = self.worker.submit(KioskPhrase(ticket=code, counter=0, label=f"kiosk {code}", text=text))
            return self.last_job
        except Exception as exc:  # speech is a courtesy: never let it stop a ticket
            log.warning("cannot say ticket %s: %s", code, exc)
            return None

    def healthy(self) -> bool:
        return self.worker.healthy()
