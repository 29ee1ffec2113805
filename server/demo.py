"""``qms demo``: the whole center on loopback, with simulated citizens and clerks.

Starts, each as its own process as on the real Pis: a Mosquitto broker, the center server
(gunicorn), a kiosk (mock GPIO pins, a virtual printer), the voice announcer, the robot
greeter; then a stream of citizens pressing the kiosk's buttons and clerk bots serving them.
Prints the URLs of the screens. Everything lives in ``var/demo`` and is started afresh.
"""
from __future__ import annotations

import getpass
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import requests

from qms_common.clock import SystemClock

from .auth import Auth
from .config import load_center, sample_center_text
from .demo_stream import CitizenStream, ClerkBot
from .scenario import load_scenario
from .store import Store

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
DEMO_PASSWORD = "demo1234"
BOT_COUNTERS = [1, 2, 3, 4, 5, 6, 7, 8, 21]  # 9 and 22 stay free for you


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError("no free port")


def _wait_port(port: int, proc: subprocess.Popen, name: str, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}); see {log_path}:\n"
                               + log_path.read_text(errors="replace")[-2000:])
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{name} did not open port {port}; see {log_path}")


class Demo:
    def __init__(self, port: int, speed: float, state_dir: str | None, scenario: str | None) -> None:
        self.dir = Path(state_dir or ROOT / "var" / "demo").resolve()
        self.speed = speed
        self.port = _free_port(port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.broker_port = _free_port(1883)
        self.kiosk_port = _free_port(8088)
        self.scenario = load_scenario(scenario or "ward-weekday")
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    # set-up -------------------------------------------------------------------------------
    def prepare(self) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        (self.dir / "center.toml").write_text(sample_center_text(public_url=self.url, enforce_hours=False),
                                              encoding="utf-8")
        self.center = load_center(self.dir / "center.toml")
        (self.dir / "server.toml").write_text(
            f'state_dir = "{self.dir}"\ncenter_file = "{self.dir / "center.toml"}"\nhost = "127.0.0.1"\n'
            f'port = {self.port}\n\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\n'
            f'port = {self.broker_port}\nusername = "server"\n', encoding="utf-8")
        (self.dir / "mosquitto.conf").write_text(
            "# demo broker: loopback only, anonymous (the real one: firmware_config/mosquitto/center.conf)\n"
            f"listener {self.broker_port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            # run as root, mosquitto would drop to its own user and could not write the demo's folder
            f"user {getpass.getuser()}\n"
            f"persistence_location {self.dir}/\nlog_dest stderr\nlog_type error\nlog_type warning\n",
            encoding="utf-8")
        auth = Auth(Store(self.dir / "qms.db"), SystemClock())
        auth.add_user("giamdoc", "Giám đốc Trần Văn Hùng", "director", DEMO_PASSWORD)
        auth.add_user("canbo", "Nguyễn Thị Lan", "clerk", DEMO_PASSWORD)
        auth.add_user("quantri", "Quản trị", "admin", DEMO_PASSWORD)
        for n in BOT_COUNTERS:
            auth.add_user(f"bot{n}", f"Cán bộ quầy {n}", "clerk", DEMO_PASSWORD)
        self.display_token = auth.add_device("display-1", "display")
        (self.dir / "kiosk.token").write_text(auth.add_device("kiosk-1", "kiosk") + "\n")
        (self.dir / "robot.token").write_text(auth.add_device("robot-1", "robot") + "\n")
        self._write_kiosk_config()
        self._write_announcer_config()

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

    # processes ----------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log_path = self.dir / f"{name}.log"
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def start(self) -> None:
        py = sys.executable
        broker = self.spawn("mosquitto", [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c",
                                          str(self.dir / "mosquitto.conf")])
        _wait_port(self.broker_port, broker, "mosquitto", self.dir / "mosquitto.log")
        server = self.spawn("server", [py, "-m", "server.cli", "--settings", str(self.dir / "server.toml"), "serve"],
                            env={"QMS_SECRET_KEY": os.urandom(16).hex()})
        _wait_port(self.port, server, "server", self.dir / "server.log")
        self.spawn("announcer", [py, "-m", "display.announcer", "--config", str(self.dir / "announcer.toml")])
        kiosk = self.spawn("kiosk", [py, "-m", "kiosk", "--config", str(self.dir / "kiosk.toml")],
                           env={"GPIOZERO_PIN_FACTORY": "mock"})
        _wait_port(self.kiosk_port, kiosk, "kiosk", self.dir / "kiosk.log")
        self._start_robot()

    def _start_robot(self) -> None:
        example = ROOT / "firmware_config" / "robot.example.toml"
        if not example.exists():
            return
        self.robot = self.spawn("robot", [sys.executable, "-m", "display.robot", "--config", str(self._robot_config())])

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

    def press(self, service: str, priority: bool) -> None:
        """A citizen presses the kiosk's buttons (through its local page, like the keyboard)."""
        for button in (["P"] if priority else []) + [service]:
            req = urllib.request.Request(f"http://127.0.0.1:{self.kiosk_port}/api/press",
                                         data=json.dumps({"button": button}).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=35) as r:
                r.read()

    def stream(self) -> None:
        rng = random.Random(7)
        service_times: dict[str, list[float]] = {}
        for a in self.scenario.arrivals:
            service_times.setdefault(a.service, []).append(a.service_s)
        for n in BOT_COUNTERS:
            token = requests.post(self.url + "/api/v1/auth/login",
                                  json={"username": f"bot{n}", "password": DEMO_PASSWORD}, timeout=10).json()["token"]
            bot = ClerkBot(self.url, token, n, self.speed, service_times, self.stop, random.Random(rng.random()))
            self.threads.append(threading.Thread(target=bot.run, name=f"clerk-{n}", daemon=True))
        citizens = CitizenStream(self.scenario, self.press, self.speed, self.stop,
                                 {s.code for s in self.center.services})
        self.threads.append(threading.Thread(target=citizens.run, name="citizens", daemon=True))
        for t in self.threads:
            t.start()

    def banner(self) -> str:
        return f"""
Trung tâm mẫu đang chạy / the demo center is running ({self.speed:g}x speed):

  Màn hình chờ / wall display     {self.url}/display?token={self.display_token}
  Quầy cán bộ / clerk console     {self.url}/console     (canbo / {DEMO_PASSWORD}; counters 9 and 22 are free)
  Giám đốc / director dashboard   {self.url}/dashboard   (giamdoc / {DEMO_PASSWORD})
  Kiosk (bấm số / press a button) http://127.0.0.1:{self.kiosk_port}/
  API (OpenAPI)                   {self.url}/api/v1/openapi.json
  Lời gọi số / announcements      {self.announcements}
  Logs and data                   {self.dir}

Ctrl-C stops everything.
"""

    def shutdown(self) -> None:
        self.stop.set()
        for thread in self.threads:  # let the clerk bots finish their request before the server goes
            thread.join(timeout=3)
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def watch(self, duration_s: float | None) -> int:
        end = time.monotonic() + duration_s if duration_s else None
        while not self.stop.wait(1.0):
            for name, proc in self.procs:
                if proc.poll() is not None:
                    print(f"qms demo: {name} stopped ({proc.returncode}); see {self.dir / (name + '.log')}",
                          file=sys.stderr)
                    return 1
            if end and time.monotonic() > end:
                return 0
        return 0


def run_demo(*, port: int = 8000, speed: float = 20.0, state_dir: str | None = None, scenario: str | None = None,
             duration_s: float | None = None) -> int:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        print("qms demo: mosquitto is not installed (apt install mosquitto); ./scripts/demo installs it",
              file=sys.stderr)
        return 2
    demo = Demo(port, speed, state_dir, scenario)
    for sig in (signal.SIGTERM, signal.SIGINT):  # Ctrl-C, or systemd/kill: stop everything cleanly
        signal.signal(sig, lambda *_: demo.stop.set())
    try:
        demo.prepare()
        demo.start()
        demo.stream()
        print(demo.banner(), flush=True)
        return demo.watch(duration_s)
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"qms demo: {exc}", file=sys.stderr)
        return 1
    finally:
        demo.shutdown()
