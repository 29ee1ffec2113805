"""The files of ``qms demo``'s processes, written into the demo's folder: the kiosk's, the voice
announcer's and the robot greeter's configuration (each in the format of its role's example in
``firmware_config/``, on loopback, with the demo's ports), and ten generated working days of
planning history. A mixin of :class:`server.demo.Demo`, whose ``dir``, ``center``, ``url`` and
ports they read.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from qms_common.clock import local_day

ROOT = Path(__file__).resolve().parents[1]


class DemoFiles:
    def _write_history(self) -> Path:
        """Ten generated working days of a ward, the two weeks before this one: what the plan page
        (``/dashboard/plan``) plans from (``data/scenarios/generate.py``; about 0.1 s)."""
        today = local_day(time.time(), self.center.center.timezone)
        first = today - timedelta(days=today.weekday() + 14)  # the Monday two weeks ago
        out = self.dir / "history"
        subprocess.run([sys.executable, str(ROOT / "data" / "scenarios" / "generate.py"), "ward", "--date",
                        first.isoformat(), "--days", "10", "--seed", "500", "--out", str(out)],
                       check=True, capture_output=True)
        return out

    def _write_kiosk_config(self) -> None:
        buttons = "".join(
            f'\n[[buttons.services]]\nservice = "{s.code}"\nlabel = "{s.name}"\nlabel_en = "{s.name_en}"\npin = {p}\n'
            for s, p in zip(self.center.services, (17, 27, 22, 23, 24, 25, 16)))
        (self.dir / "kiosk.toml").write_text(f"""# demo kiosk: mock GPIO pins, a virtual printer
device = "kiosk-1"
center = "{self.center.center.id}"
center_name = "{self.center.center.name}"
timezone = "{self.center.center.timezone}"
public_url = "{self.url}"
outbox_path = "{self.dir / 'kiosk-outbox.db'}"

[server]
url = "{self.url}"
token_file = "{self.dir / 'kiosk.token'}"

[buttons]
priority_pin = 26
cooldown_s = 0.2
per_minute = 120
{buttons}
[printer]
paper = "80mm"
copy_dir = "{self.dir / 'tickets'}"

[printer.connection]
type = "dummy"

[mqtt]
enabled = true
host = "127.0.0.1"
port = {self.broker_port}

[web]
enabled = true
host = "127.0.0.1"
port = {self.kiosk_port}
""", encoding="utf-8")

    def _write_announcer_config(self) -> None:
        has_sound = Path("/dev/snd").exists() and shutil.which("aplay") is not None
        output = ('kind = "player"' if has_sound else
                  f'kind = "files"\ndirectory = "{self.dir / "announcements"}"')
        (self.dir / "announcer.toml").write_text(f"""center = "{self.center.center.id}"
device = "announcer-1"
timezone = "{self.center.center.timezone}"
cache_dir = "{self.dir / 'voice-cache'}"

[quiet_hours]
enabled = false

[output]
{output}

[mqtt]
host = "127.0.0.1"
port = {self.broker_port}
""", encoding="utf-8")
        self.announcements = "the speakers" if has_sound else str(self.dir / "announcements")

    def _robot_config(self) -> Path:
        """The robot greeter's file (format: firmware_config/robot.example.toml), in the demo's hall."""
        counters = "\n".join(f"{c.number} = [8.0, {1.0 + 1.5 * i:.1f}]" for i, c in enumerate(self.center.counters))
        has_sound = Path("/dev/snd").exists() and shutil.which("aplay") is not None
        output = 'kind = "player"' if has_sound else f'kind = "files"\ndirectory = "{self.dir / "robot-speech"}"'
        path = self.dir / "robot.toml"
        path.write_text(f"""center = "{self.center.center.id}"
device = "robot-1"
server_url = "{self.url}"
token_file = "{self.dir / 'robot.token'}"
cache_dir = "{self.dir / 'voice-cache'}"

[spots]
home = [0.0, 0.0]
water = [2.0, 0.0]
waiting = [4.0, 3.0]
entrance = [0.0, 6.0]

[counters]
{counters}

[output]
{output}

[mqtt]
host = "127.0.0.1"
port = {self.broker_port}
""", encoding="utf-8")
        return path
