"""The announcer's speech path with real espeak-ng synthesis (pyttsx3 is never mocked)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from display.announcer import audio
from display.announcer.cache import PhraseCache, PhraseKey
from display.announcer.composer import CHIME_PAUSE_S, CallRequest, Composer
from display.announcer.config import VoiceSettings
from display.announcer.phrase import TicketFormatError, announcement_text, spell_ticket
from display.announcer.sinks import FileSink, PlayerSink, SinkError
from display.announcer.synth import SynthError, Synthesizer, list_voices, resolve_voice
from display.announcer.worker import SpeechWorker

SENTENCE = "Xin mời công dân có số thứ tự H T 0 4 2 đến quầy số 5"
MIN_RMS = 0.02  # speech here is about 0.1; silence is 0


@pytest.fixture(scope="module")
def synthesizer() -> Synthesizer:
    return Synthesizer("vi", rate=150, volume=1.0)


def make_composer(tmp_path: Path, synthesizer: Synthesizer, **voice) -> Composer:
    settings = VoiceSettings(**voice)
    return Composer(settings, PhraseCache(tmp_path / "cache"), synthesizer)


# --- the sentence ------------------------------------------------------------------------

def test_ticket_is_read_letter_by_letter_and_digit_by_digit() -> None:
    assert spell_ticket("HT-042") == "H T 0 4 2"
    assert spell_ticket("ht042") == "H T 0 4 2"
    assert spell_ticket("HT-042", "number") == "H T 42"
    assert spell_ticket("A-000", "number") == "A 0"
    assert spell_ticket("Đ-7") == "Đ 7"
    assert announcement_text("HT-042", 5) == SENTENCE


@pytest.mark.parametrize("bad", ["", "-", "HT 042 <break/>", "x" * 21, "HT-042;rm", "số"])
def test_unreadable_ticket_codes_are_refused(bad: str) -> None:
    with pytest.raises(TicketFormatError):
        spell_ticket(bad)


# --- real synthesis ----------------------------------------------------------------------

def test_synthesis_is_vietnamese_speech_of_sane_length(tmp_path: Path, synthesizer: Synthesizer) -> None:
    out = tmp_path / "phrase.wav"
    synthesizer.synthesize(SENTENCE, out)
    pcm = audio.read_wav(out)
    assert pcm.rate == 22_050
    assert 2.5 < pcm.duration_s < 8.0, pcm
    assert audio.rms(pcm) > MIN_RMS
    assert synthesizer.voice.id == "aav/vi"
    assert "vi" in synthesizer.voice.languages


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs the espeak-ng command")
def test_the_vietnamese_voice_is_the_one_speaking(tmp_path: Path, synthesizer: Synthesizer) -> None:
    """Same sentence through espeak-ng's own command: as long with -v vi, far from -v en.

    An English voice spells the diacritics out and takes three times as long, so the
    duration tells the voices apart without listening.
    """
    ours = tmp_path / "ours.wav"
    synthesizer.synthesize(SENTENCE, ours)
    lengths = {}
    for voice in ("vi", "en"):
        ref = tmp_path / f"{voice}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(ref), SENTENCE], check=True)
        lengths[voice] = audio.read_wav(ref).duration_s
    mine = audio.read_wav(ours).duration_s
    assert abs(mine - lengths["vi"]) / lengths["vi"] < 0.03
    assert abs(mine - lengths["en"]) / lengths["en"] > 0.3


def test_unknown_voice_is_refused_by_name() -> None:
    with pytest.raises(SynthError, match="no voice 'klingon'.*vi-vn-x-south"):
        Synthesizer("klingon")


def test_voice_lookup_accepts_short_and_full_ids() -> None:
    voices = list_voices()
    assert resolve_voice("vi", voices).id == "aav/vi"
    assert resolve_voice("AAV/VI-VN-X-SOUTH", voices).id == "aav/vi-vn-x-south"


def test_cache_makes_a_repeated_phrase_skip_the_engine(tmp_path: Path, synthesizer: Synthesizer) -> None:
    composer = make_composer(tmp_path, synthesizer)
    cache = composer.cache
    before = synthesizer.engine_calls
    first = composer.phrase(SENTENCE)
    assert (cache.misses, cache.hits, len(cache.files())) == (1, 0, 1)
    second = composer.phrase(SENTENCE)
    assert (cache.misses, cache.hits, len(cache.files())) == (1, 1, 1)
    assert synthesizer.engine_calls == before + 1
    assert first == second
    # Anything that changes the sound is a new key.
    other_rate = PhraseKey(SENTENCE, synthesizer.voice.id, 151, 1.0)
    assert other_rate.digest() != PhraseKey(SENTENCE, synthesizer.voice.id, 150, 1.0).digest()
    assert not cache.path_for(other_rate).exists()


def test_cache_keeps_only_max_files(tmp_path: Path, synthesizer: Synthesizer) -> None:
    cache = PhraseCache(tmp_path / "cache", max_files=10)
    for n in range(12):
        cache.get_or_create(PhraseKey(f"quầy số {n}", "aav/vi", 150, 1.0),
                            lambda tmp, n=n: synthesizer.synthesize(f"quầy số {n}", tmp))
    assert len(cache.files()) == 10
    assert not list((tmp_path / "cache").glob("*.tmp*"))


# --- composition -------------------------------------------------------------------------

def test_chime_is_two_tones_of_about_a_second() -> None:
    chime = audio.chime()
    assert 0.9 < chime.duration_s < 1.5
    assert audio.rms(chime) > MIN_RMS
    tail = audio.Pcm(chime.frames[-(chime.samples // 4) * 2:])
    assert audio.rms(tail) < audio.rms(chime) / 2  # it decays


def test_two_repetitions_are_about_twice_as_long_as_one(tmp_path: Path,
                                                        synthesizer: Synthesizer) -> None:
    once = make_composer(tmp_path, synthesizer, repetitions=1, chime=False, gap_s=0)
    twice = make_composer(tmp_path, synthesizer, repetitions=2, chime=False, gap_s=0)
    request = CallRequest("HT-042", 5)
    one, two = once.compose(request).duration_s, twice.compose(request).duration_s
    assert 1.95 < two / one < 2.05
    # With chime and gap: exactly chime + pause + sentence + gap + sentence.
    full = make_composer(tmp_path, synthesizer, repetitions=2, gap_s=1.0).compose(request)
    expected = audio.chime().duration_s + CHIME_PAUSE_S + 2 * one + 1.0
    assert abs(full.duration_s - expected) < 0.01
    assert audio.rms(full) > MIN_RMS


def test_recall_sentence_and_number_reading(tmp_path: Path, synthesizer: Synthesizer) -> None:
    composer = make_composer(tmp_path, synthesizer, ticket_reading="number",
                             recall_template="Xin mời lại công dân số {ticket} đến quầy {counter}")
    assert composer.text_for(CallRequest("HT-042", 12)) == \
        "Xin mời công dân có số thứ tự H T 42 đến quầy số 12"
    assert composer.text_for(CallRequest("HT-042", 12, recall=True)) == \
        "Xin mời lại công dân số H T 42 đến quầy 12"


# --- the worker: one thread, a queue, nothing lost, nothing overlapping ------------------

def test_three_calls_at_once_from_three_threads_come_out_in_order(tmp_path: Path,
                                                                  synthesizer: Synthesizer) -> None:
    composer = make_composer(tmp_path, synthesizer, repetitions=1, gap_s=0.2)
    sink = FileSink(tmp_path / "out")
    worker = SpeechWorker(composer, sink)
    worker.start()
    barrier = threading.Barrier(3)
    jobs = []
    jobs_lock = threading.Lock()

    def counter_calls(counter: int) -> None:
        barrier.wait(5)
        job = worker.submit(CallRequest(f"HT-{counter:03d}", counter, label=f"counter {counter}"))
        with jobs_lock:
            jobs.append(job)

    threads = [threading.Thread(target=counter_calls, args=(c,)) for c in (3, 5, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    try:
        for job in jobs:
            assert job.wait(30), job
            assert job.error is None, job.error
    finally:
        worker.stop(drain=True)
    files = sink.files()
    assert [f.name for f in files] == [f"announcement-00000{i}.wav" for i in (1, 2, 3)]
    assert worker.spoken == 3 and worker.failed == 0
    # Queue order is output order, and each file holds exactly its own call.
    by_output = sorted(jobs, key=lambda j: j.output)
    for job, path in zip(by_output, files, strict=True):
        assert job.output == str(path)
        assert audio.read_wav(path) == composer.compose(job.request)
    assert {j.request.counter for j in jobs} == {3, 5, 7}


def test_player_sink_plays_one_at_a_time(tmp_path: Path, synthesizer: Synthesizer) -> None:
    """A stand-in player logs start and end; the intervals must not overlap."""
    log = tmp_path / "player.log"
    player = tmp_path / "player.py"
    player.write_text(
        "import sys, time, wave\n"
        "log, wav = sys.argv[1], sys.argv[2]\n"
        "with open(log, 'a') as f: f.write(f'start {time.monotonic()}\\n')\n"
        "with wave.open(wav) as w: assert w.getnframes() > 0\n"
        "with open(log, 'a') as f: f.write(f'end {time.monotonic()}\\n')\n")
    sink = PlayerSink([sys.executable, str(player), str(log)], timeout_s=20)
    worker = SpeechWorker(make_composer(tmp_path, synthesizer, repetitions=1), sink)
    worker.start()
    jobs = [worker.submit(CallRequest("A-001", n)) for n in (1, 2, 3, 4)]
    try:
        for job in jobs:
            assert job.wait(30) and job.error is None, job.error
    finally:
        worker.stop()
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["start", "end"] * 4
    times = [float(e[1]) for e in events]
    assert times == sorted(times)


def test_a_failing_player_is_reported_and_the_worker_goes_on(tmp_path: Path,
                                                              synthesizer: Synthesizer) -> None:
    sink = PlayerSink([sys.executable, "-c", "import sys; sys.exit('no sound card')"])
    worker = SpeechWorker(make_composer(tmp_path, synthesizer, repetitions=1), sink)
    worker.start()
    try:
        first, second = worker.submit(CallRequest("A-1", 1)), worker.submit(CallRequest("A-2", 2))
        assert first.wait(30) and second.wait(30)
    finally:
        worker.stop()
    assert "no sound card" in (first.error or "")
    assert worker.failed == 2 and worker.last_ok is False


def test_missing_player_command_is_a_clear_error() -> None:
    with pytest.raises(SinkError, match="not found"):
        PlayerSink(["no-such-player-xyz"])


def test_file_sink_continues_numbering_after_a_restart(tmp_path: Path) -> None:
    first = FileSink(tmp_path)
    first.emit(audio.silence(0.1), "a")
    first.emit(audio.silence(0.1), "b")
    again = FileSink(tmp_path)
    assert again.emit(audio.silence(0.1), "c").endswith("announcement-000003.wav")


def test_back_to_back_synthesis_keeps_every_phrase_and_its_rate(tmp_path: Path,
                                                                 synthesizer: Synthesizer) -> None:
    """Regression: pyttsx3 could cancel a phrase (empty WAV, rate reset to espeak's
    default) when espeak's command queue was still busy. Two voices/rates alternate and
    every phrase must keep its own length."""
    fast = Synthesizer("vi-vn-x-south", rate=220)
    lengths: dict[str, set[float]] = {"slow": set(), "fast": set()}
    for i in range(30):
        name, synth = ("slow", synthesizer) if i % 2 else ("fast", fast)
        out = tmp_path / f"{i}.wav"
        synth.synthesize("quầy số 7", out)
        lengths[name].add(round(audio.read_wav(out).duration_s, 2))
    assert len(lengths["slow"]) == 1 and len(lengths["fast"]) == 1, lengths
    assert min(lengths["slow"]) > max(lengths["fast"]) * 1.3
