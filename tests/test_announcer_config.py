"""Announcer configuration, quiet hours and the ``qms-announcer`` command line."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

import pytest

from display.announcer import audio
from display.announcer.cli import main
from display.announcer.config import AnnouncerConfig, config_from_dict, load_config
from display.announcer.service import AnnouncerService
from display.announcer.sinks import FileSink
from qms_common.clock import FakeClock, local_timestamp
from qms_common.errors import ConfigError
from qms_common.wire import CallEvent, encode

REPO = Path(__file__).resolve().parent.parent
TZ = "Asia/Ho_Chi_Minh"
DAY = date(2026, 3, 10)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "announcer.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- configuration -----------------------------------------------------------------------

def test_the_example_config_is_valid() -> None:
    config = load_config(REPO / "firmware_config" / "announcer.example.toml")
    assert config.voice.voice == "vi" and config.timezone == TZ


def test_defaults() -> None:
    config = config_from_dict({"center": "hcm-q1"})
    assert (config.voice.voice, config.voice.repetitions, config.voice.ticket_reading) == ("vi", 2, "digits")
    assert (config.quiet_hours.start, config.quiet_hours.end) == ("22:00", "06:00")
    assert config.output.kind == "player" and config.counters is None


def test_a_misspelt_field_is_named_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'center = "hcm-q1"\n[voice]\nrepetitons = 3\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: voice.repetitons: unknown field (a typo?)"


@pytest.mark.parametrize("toml, where", [
    ('center = "hcm q1"', "center"),
    ('center = "a"\ntimezone = "Asia/Saigonn"', "timezone"),
    ('center = "a"\n[voice]\nrate = 5', "voice.rate"),
    ('center = "a"\n[voice]\ntemplate = "Xin mời {ticket}"', "voice.template"),
    ('center = "a"\n[quiet_hours]\nstart = "25:00"', "quiet_hours.start"),
    ('center = "a"\n[output]\nkind = "files"', "output"),
    ('center = "a"\ncounters = [0, 2]', "counters"),
    ('center = "a"\n[mqtt]\nport = "x"', "mqtt.port"),
])
def test_bad_values_name_their_field(tmp_path: Path, toml: str, where: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError, match=rf"^{path}: {where}: "):
        load_config(path)


def test_bad_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "center = \n"))


# --- quiet hours (FakeClock, real synthesis) ---------------------------------------------

def service_at(tmp_path: Path, hhmm: str, **extra) -> tuple[AnnouncerService, FakeClock]:
    clock = FakeClock(local_timestamp(DAY, hhmm, TZ))
    config = config_from_dict({"center": "hcm-q1", "cache_dir": str(tmp_path / "cache"),
                               "output": {"kind": "files", "directory": str(tmp_path / "out")},
                               "voice": {"repetitions": 1}, **extra})
    return AnnouncerService(config, clock=clock), clock


def call(seq: int, clock: FakeClock, ticket: str = "HT-042", counter: int = 5) -> bytes:
    return encode(CallEvent(seq=seq, ticket=ticket, counter=counter, at=clock.now()))


def test_quiet_hours_skip_calls_and_log_them(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    service, clock = service_at(tmp_path, "22:30")
    service.worker.start()
    try:
        with caplog.at_level("INFO", "display.announcer.service"):
            assert service.handle_payload(call(1, clock)) is None
        assert "quiet hours (22:00-06:00): not announcing call #1, HT-042 to counter 5" in caplog.text
        assert service.counters.skipped_quiet == 1
        clock.set(local_timestamp(date(2026, 3, 11), "05:59", TZ))
        assert service.handle_payload(call(2, clock)) is None
        clock.advance(60)  # 06:00: the center's morning
        job = service.handle_payload(call(3, clock))
        assert job is not None and job.wait(30) and job.error is None
    finally:
        service.worker.stop()
    assert service.counters.skipped_quiet == 2
    assert len(FileSink(tmp_path / "out").files()) == 1


def test_quiet_hours_follow_the_center_timezone(tmp_path: Path) -> None:
    service, clock = service_at(tmp_path, "21:59")
    assert not service.in_quiet_hours()
    clock.advance(60)
    assert service.in_quiet_hours()
    disabled, _ = service_at(tmp_path, "23:00", quiet_hours={"enabled": False})
    assert not disabled.in_quiet_hours()


def test_a_daytime_quiet_window(tmp_path: Path) -> None:
    service, clock = service_at(tmp_path, "11:59", quiet_hours={"start": "12:00", "end": "13:30"})
    assert not service.in_quiet_hours()
    clock.advance(60)
    assert service.in_quiet_hours()
    clock.advance(90 * 60)
    assert not service.in_quiet_hours()


def test_stale_calls_and_other_halls_are_skipped(tmp_path: Path) -> None:
    service, clock = service_at(tmp_path, "09:00", counters=[1, 2], stale_after_s=60)
    old = encode(CallEvent(seq=1, ticket="A-001", counter=1, at=clock.now() - 61))
    assert service.handle_payload(old) is None and service.counters.skipped_stale == 1
    assert service.handle_payload(call(2, clock, counter=3)) is None
    assert service.counters.filtered == 1 and service.worker.depth == 0


# --- the command line --------------------------------------------------------------------

def test_say_writes_one_announcement(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    out = tmp_path / "x.wav"
    assert main(["say", "HT-042", "5", "--out", str(out)]) == 0
    pcm = audio.read_wav(out)
    assert 9.0 < pcm.duration_s < 16.0 and audio.rms(pcm) > 0.02
    printed = capsys.readouterr().out
    assert "Xin mời công dân có số thứ tự H T 0 4 2 đến quầy số 5" in printed
    assert "Audio saved" not in printed  # pyttsx3's own print is kept off stdout
    assert list((tmp_path / "xdg" / "qms-announcer").glob("*.wav"))


def test_say_uses_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, f'center = "hcm-q1"\ncache_dir = "{tmp_path / "c"}"\n'
                           '[voice]\nrepetitions = 1\nchime = false\n')
    out = tmp_path / "one.wav"
    assert main(["--config", str(path), "say", "A-1", "2", "--out", str(out)]) == 0
    assert audio.read_wav(out).duration_s < 5.0
    assert len(list((tmp_path / "c").glob("*.wav"))) == 1


@pytest.mark.parametrize("argv, message", [
    (["say", "HT-042"], "the following arguments are required: counter"),
    (["say", "HT-042", "five"], "counter must be a number"),
    (["say", "HT-042", "0"], "counter must be 1 or more"),
    (["say", "HT<042>", "5", "--out", "x.wav"], "ticket code 'HT<042>'"),
    (["say", "HT-042", "5", "--voice", "klingon", "--out", "x.wav"], "no voice 'klingon'"),
    (["say", "HT-042", "5", "--repetitions", "9", "--out", "x.wav"], "--repetitions: "),
    ([], "--config FILE is required"),
    (["--config", "/nonexistent/announcer.toml"], "configuration file not found"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_cli_errors_exit_2_with_a_message(argv: list[str], message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_bad_config_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, 'center = "hcm-q1"\n[quiet_hours]\nstrat = "22:00"\n')
    assert main(["--config", str(path)]) == 2
    assert f"{path}: quiet_hours.strat: unknown field (a typo?)" in capsys.readouterr().err


def test_example_config_documents_every_key() -> None:
    """Each key of the model appears in the example file (commented out or set)."""
    text = (REPO / "firmware_config" / "announcer.example.toml").read_text(encoding="utf-8")
    tomllib.loads(text)
    for name, field in AnnouncerConfig.model_fields.items():
        assert name in text, name
        sub = field.annotation
        for inner in getattr(sub, "model_fields", {}):
            assert inner in text, f"{name}.{inner}"


def test_a_reused_seq_with_another_ticket_is_still_announced(tmp_path: Path) -> None:
    """A replay repeats seq, ticket and counter; a server that restarted its numbering
    reuses only the seq, and that call must not be swallowed."""
    service, clock = service_at(tmp_path, "09:00")
    service.worker.start()
    try:
        first = service.handle_payload(call(1, clock, "HT-001", 1))
        replay = service.handle_payload(call(1, clock, "HT-001", 1))
        reused = service.handle_payload(call(1, clock, "TP-001", 2))
        assert first is not None and replay is None and reused is not None
        assert first.wait(30) and reused.wait(30)
    finally:
        service.worker.stop()
    assert service.counters.duplicates == 1 and service.worker.spoken == 2


def test_importing_starts_nothing() -> None:
    """No engine, thread or connection at import time."""
    code = ("import sys, threading\n"
            "import display.announcer.cli, display.announcer.service\n"
            "assert threading.active_count() == 1, threading.enumerate()\n"
            "assert 'pyttsx3' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_docs_describe_every_key_and_command() -> None:
    doc = (REPO / "docs" / "voice.md").read_text(encoding="utf-8")
    for name, field in AnnouncerConfig.model_fields.items():
        inner_fields = getattr(field.annotation, "model_fields", None)
        if inner_fields is None:
            assert f"`{name}`" in doc, name
            continue
        for inner in inner_fields:
            assert f"`{name}.{inner}`" in doc or f"`.{inner}`" in doc, f"{name}.{inner}"
    for command in ("qms-announcer say", "qms-announcer voices", "qms-announcer --config"):
        assert command in doc, command
