"""The voice announcer: says "Xin mời công dân có số thứ tự H T 0 4 2 đến quầy số 5".

One module per job:

- :mod:`.config`   the TOML configuration (strict pydantic models)
- :mod:`.phrase`   the sentence for a call ("HT-042" read letter by letter)
- :mod:`.synth`    text to WAV with pyttsx3 + espeak-ng (one engine, one lock)
- :mod:`.cache`    synthesized phrases kept as WAV files
- :mod:`.audio`    PCM helpers and the generated two-tone chime
- :mod:`.composer` chime + sentence x repetitions into one WAV
- :mod:`.sinks`    where it goes: a player command (aplay) or numbered files
- :mod:`.worker`   the one speech thread fed by a queue
- :mod:`.service`  MQTT CallEvents in, availability and health out
- :mod:`.cli`      ``qms-announcer`` (systemd READY/WATCHDOG via :mod:`qms_common.sd`)

Importing this package starts nothing: no engine, no thread, no connection.
"""
