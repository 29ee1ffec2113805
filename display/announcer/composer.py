"""From a call to one WAV: chime, then the sentence, repeated with a gap between.

The sentence is synthesized once through the phrase cache and repeated by copying
samples, so a repetition costs nothing and sounds exactly the same each time.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import audio
from .audio import Pcm
from .cache import PhraseCache, PhraseKey
from .config import VoiceSettings
from .phrase import announcement_text
from .synth import Synthesizer

#: Pause between the chime and the first sentence.
CHIME_PAUSE_S = 0.3


@dataclass(frozen=True)
class CallRequest:
    """One thing to announce; ``label`` names it in logs (e.g. ``call #17``)."""

    ticket: str
    counter: int
    recall: bool = False
    label: str = ""


class Composer:
    """Builds the announcement audio; used by the one speech worker thread only."""

    def __init__(self, voice: VoiceSettings, cache: PhraseCache,
                 synthesizer: Synthesizer | None = None) -> None:
        self.settings = voice
        self.cache = cache
        self.synthesizer = synthesizer or Synthesizer(voice.voice, voice.rate, voice.volume)
        self._chime: Pcm | None = None

    def text_for(self, request: CallRequest) -> str:
        template = (self.settings.recall_template if request.recall and self.settings.recall_template
                    else self.settings.template)
        return announcement_text(request.ticket, request.counter,
                                 reading=self.settings.ticket_reading, template=template)

    def phrase(self, text: str) -> Pcm:
        """The synthesized sentence, from the cache when it was said before."""
        key = PhraseKey(text, self.synthesizer.voice.id, self.synthesizer.rate,
                        self.synthesizer.volume)
        path: Path = self.cache.get_or_create(key, lambda tmp: self.synthesizer.synthesize(text, tmp))
        return audio.read_wav(path)

    def chime(self, rate: int) -> Pcm:
        if self._chime is None or self._chime.rate != rate:
            self._chime = audio.chime(rate, self.settings.chime_volume)
        return self._chime

    def compose(self, request: CallRequest) -> Pcm:
        speech = self.phrase(self.text_for(request))
        parts: list[Pcm] = []
        if self.settings.chime:
            parts += [self.chime(speech.rate), audio.silence(CHIME_PAUSE_S, speech.rate)]
        gap = audio.silence(self.settings.gap_s, speech.rate)
        for i in range(self.settings.repetitions):
            if i:
                parts.append(gap)
            parts.append(speech)
        return audio.join(parts)
