"""``qms-announcer``: run the announcer service, or say one announcement.

    qms-announcer --config /etc/qms/announcer.toml            # the service (systemd)
    qms-announcer say HT-042 5 --out /tmp/test.wav             # one announcement to a file
    qms-announcer --config announcer.toml say HT-042 5         # ... through the loudspeaker
    qms-announcer voices                                       # the Vietnamese voices here

Errors a person can fix (a bad config file, a bad argument, no audio player, an unknown
voice) print one message and exit with code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from qms_common.errors import ConfigError
from qms_common.service_cli import EXIT_USAGE, StrictParser, UsageError, run_until_signalled

from . import audio
from .cache import PhraseCache
from .composer import CallRequest, Composer
from .config import AnnouncerConfig, OutputSettings, VoiceSettings, default_cache_dir, load_config
from .phrase import TicketFormatError
from .sinks import SinkError, make_sink
from .synth import SynthError, list_voices

log = logging.getLogger("display.announcer")

def _counter(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"counter must be a number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"counter must be 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = StrictParser(prog="qms-announcer",
                     description="Voice announcer for the queue management system.")
    parser.add_argument("--config", type=Path, help="announcer TOML file")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", parser_class=StrictParser)
    say = sub.add_parser("say", help="synthesize one announcement (to --out, else the speaker)")
    say.add_argument("ticket", help="ticket code, e.g. HT-042")
    say.add_argument("counter", type=_counter, help="counter number, e.g. 5")
    say.add_argument("--out", type=Path, help="write the WAV here instead of playing it")
    say.add_argument("--recall", action="store_true", help="use the recall sentence")
    say.add_argument("--voice", help="espeak-ng voice (default from config, else vi)")
    say.add_argument("--rate", type=int, help="words per minute")
    say.add_argument("--repetitions", type=int, help="times the sentence is said")
    say.add_argument("--reading", choices=["digits", "number"], help="how ticket digits are read")
    say.add_argument("--no-chime", action="store_true")
    sub.add_parser("voices", help="list the Vietnamese voices espeak-ng has here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        logging.basicConfig(level=args.log_level, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if args.command == "say":
            return _say(args)
        if args.command == "voices":
            return _voices()
        if args.config is None:
            raise UsageError("qms-announcer: --config FILE is required to run the announcer "
                             "(or use: qms-announcer say TICKET COUNTER --out FILE)")
        return _run(load_config(args.config))
    except (UsageError, ConfigError, SynthError, SinkError, TicketFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _voice_settings(args: argparse.Namespace, base: VoiceSettings) -> VoiceSettings:
    changes = {k: v for k, v in (("voice", args.voice), ("rate", args.rate),
                                 ("repetitions", args.repetitions),
                                 ("ticket_reading", args.reading)) if v is not None}
    if args.no_chime:
        changes["chime"] = False
    try:
        return VoiceSettings.model_validate({**base.model_dump(), **changes})
    except ValidationError as exc:
        first = exc.errors()[0]
        option = {"ticket_reading": "reading"}.get(str(first["loc"][0]), str(first["loc"][0]))
        raise UsageError(f"qms-announcer say: --{option}: {first['msg']}") from None


def _say(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else None
    base = config.voice if config else VoiceSettings()
    voice = _voice_settings(args, base)
    cache = (PhraseCache(config.cache_dir, config.cache_max_files) if config
             else PhraseCache(default_cache_dir()))
    composer = Composer(voice, cache)
    request = CallRequest(args.ticket, args.counter, args.recall, "say")
    text = composer.text_for(request)
    pcm = composer.compose(request)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(audio.wav_bytes(pcm))
        where = str(args.out)
    else:
        where = make_sink(config.output if config else OutputSettings()).emit(pcm, "say")
    print(f"{text!r} x{voice.repetitions} with {composer.synthesizer.voice.id}: "
          f"{pcm.duration_s:.2f} s, {where}")
    return 0


def _voices() -> int:
    for voice in list_voices():
        if any(lang.lower().startswith("vi") for lang in voice.languages):
            print(f"{voice.id.rsplit('/', 1)[-1]:20} {voice.name}")
    return 0


def _run(config: AnnouncerConfig) -> int:
    from .service import AnnouncerService

    # The watchdog is fed only while the speech worker is alive and not stuck in one
    # announcement, so systemd's WatchdogSec restarts an announcer whose player or engine hangs.
    return run_until_signalled(AnnouncerService(config), status=f"announcing calls of {config.center}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
