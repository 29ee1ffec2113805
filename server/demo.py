"""``qms demo``: the whole center on loopback, with simulated citizens and clerks.

Starts, each as its own process as on the real Pis: a Mosquitto broker, the center server
(gunicorn), a kiosk (mock GPIO pins, a virtual printer), the voice announcer, the robot
greeter; then a stream of citizens pressing the kiosk's buttons and clerk bots serving them.
Prints the URLs of the screens. Everything lives in a fresh folder of its own (a new temporary
folder each run, or ``--state-dir``), never inside the checkout, so two demos, or a demo and a
test run, cannot clobber each other. The terminal shows only the banner and short Vietnamese
notices; the detail goes to ``demo.log`` and each process's log in that folder.
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
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import requests

from qms_common.clock import SystemClock

from .auth import Auth
from .config import load_center, sample_center_text
from .demo_files import ROOT, DemoFiles
from .demo_stream import CitizenStream, ClerkBot
from .scenario import load_scenario
from .store import Store

log = logging.getLogger(__name__)
DEMO_PASSWORD = "demo1234"
BOT_COUNTERS = [1, 2, 3, 4, 5, 6, 7, 8, 21]  # 9 and 22 stay free for you
# as the role's systemd units do (Restart=on-failure, RestartSec=3, systemd's default start limit
# of 5 starts in 10 s, here 5 restarts in 60 s): a process that dies is started again after
# RESTART_S; one that keeps dying stops the demo, with its name and log
RESTART_S = 3.0
RESTART_BURST, RESTART_WINDOW_S = 5, 60.0


MARKER = ".qms-demo"  # a folder the demo made: it may wipe it and start afresh


class PortBusy(OSError):
    pass


class FolderNotOurs(OSError):
    pass


def _check_port(port: int, what: str, option: str) -> int:
    """A busy port is said, never silently swapped for another."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise PortBusy(f"cổng {port} ({what}) đang được dùng: chọn cổng khác bằng {option}; port {port} "
                           f"({what}) is busy: choose another with {option}") from None
    return port


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


class Demo(DemoFiles):
    def __init__(self, port: int, speed: float, state_dir: str | None, scenario: str | None,
                 kiosk_port: int | None = None, broker_port: int | None = None) -> None:
        self.given_dir = state_dir is not None
        self.dir = Path(state_dir).resolve() if state_dir else Path(tempfile.mkdtemp(prefix="qms-demo-"))
        if self.given_dir and self.dir.exists() and any(self.dir.iterdir()) and not (self.dir / MARKER).exists():
            raise FolderNotOurs(f"{self.dir} đã có dữ liệu không phải của bản chạy thử: chọn thư mục khác; "
                                f"{self.dir} holds data the demo did not make: choose another --state-dir")
        self.speed = speed
        self.port = _check_port(port, "máy chủ / server", "--port")
        self.url = f"http://127.0.0.1:{self.port}"
        self.kiosk_port = _check_port(kiosk_port or port + 1, "trang ki-ốt / kiosk page", "--kiosk-port")
        self.broker_port = _check_port(broker_port or port + 2, "MQTT broker", "--broker-port")
        self.scenario = load_scenario(scenario or "ward-weekday")
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.specs: dict[str, tuple[list[str], dict | None]] = {}  # how each was started, to restart it
        self.restarts: dict[str, list[float]] = {}  # monotonic times of each process's restarts
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    # set-up -------------------------------------------------------------------------------
    def prepare(self) -> None:
        if self.given_dir and self.dir.exists() and any(self.dir.iterdir()):
            shutil.rmtree(self.dir)  # a folder an earlier demo made (checked when the demo was set up)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / MARKER).write_text("made by qms demo: it may wipe this folder at its next start\n")
        (self.dir / "center.toml").write_text(sample_center_text(public_url=self.url, enforce_hours=False),
                                              encoding="utf-8")
        self.center = load_center(self.dir / "center.toml")
        history = self._write_history()
        (self.dir / "server.toml").write_text(
            f'state_dir = "{self.dir}"\ncenter_file = "{self.dir / "center.toml"}"\nhost = "127.0.0.1"\n'
            f'port = {self.port}\n\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\n'
            f'port = {self.broker_port}\nusername = "server"\n\n[planning]\nhistory = ["{history}"]\n',
            encoding="utf-8")
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
        (self.dir / "kiosk.token").write_text(auth.add_device("kiosk-1", "kiosk") + "\n")
        (self.dir / "robot.token").write_text(auth.add_device("robot-1", "robot") + "\n")
        self._write_kiosk_config()
        self._write_announcer_config()

    # processes ----------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log_path = self.dir / f"{name}.log"
        with open(log_path, "ab") as log_file:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(argv, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        self.specs[name] = (argv, env)
        for i, (known, _) in enumerate(self.procs):
            if known == name:  # a restart takes the place of the one that died (the shutdown order)
                self.procs[i] = (name, proc)
                return proc
        self.procs.append((name, proc))
        return proc

    def _restart(self, name: str, proc: subprocess.Popen) -> bool:
        """Start a process that died again, as systemd would; False when it died too often."""
        now = time.monotonic()
        recent = [t for t in self.restarts.get(name, []) if now - t < RESTART_WINDOW_S]
        log_path = self.dir / f"{name}.log"
        if len(recent) >= RESTART_BURST:
            print(f"qms demo: {name} đã dừng {len(recent) + 1} lần trong {RESTART_WINDOW_S:g} giây, "
                  f"dừng bản chạy thử; xem {log_path} / {name} keeps dying, the demo stops",
                  file=sys.stderr, flush=True)
            return False
        print(f"qms demo: {name} đã dừng ({proc.returncode}), khởi động lại sau {RESTART_S:g} giây; "
              f"xem {log_path} / {name} stopped, restarting", file=sys.stderr, flush=True)
        if self.stop.wait(RESTART_S):
            return True  # asked to stop meanwhile: nothing to restart
        self.restarts[name] = recent + [time.monotonic()]
        argv, env = self.specs[name]
        self.spawn(name, argv, env)
        return True

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

    def first_status_link(self, timeout_s: float = 15.0) -> str | None:
        """A citizen's page, to open in one click: the first ticket the simulated citizens took."""
        token = requests.post(self.url + "/api/v1/auth/login", json={"username": "giamdoc", "password": DEMO_PASSWORD},
                              timeout=10).json()["token"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.stop.is_set():
            tickets = requests.get(self.url + "/api/v1/tickets?state=waiting&limit=5",
                                   headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["tickets"]
            if tickets:
                t = tickets[-1]
                return f"{t['status_url']}   (vé {t['code']})"
            self.stop.wait(0.5)
        return None

    def banner(self, status_link: str | None = None) -> str:
        citizen = status_link or f"{self.url}/s/<mã trên phiếu>  (quét mã QR trên phiếu)"
        return f"""
Trung tâm mẫu đang chạy / the demo center is running.
Công dân ảo đến và được phục vụ nhanh gấp {self.speed:g} lần thời gian thực (--speed); đồng hồ, thời gian chờ
trên các màn hình vẫn là thời gian thực. Simulated citizens arrive and are served {self.speed:g}x faster than real
time; clocks and waits on the screens are real time.

  Giám đốc / director dashboard   {self.url}/dashboard   (giamdoc / {DEMO_PASSWORD})
  Kế hoạch nhân sự / staffing     {self.url}/dashboard/plan   (từ 10 ngày làm việc mẫu / 10 generated days)
  Màn hình gọi số / wall display  {self.url}/display     (mở sau khi đăng nhập bảng điều hành, hoặc ghép nối
                                  bằng mã hiện trên màn hình: Bảng điều hành → Ghép nối màn hình)
  Quầy cán bộ / clerk console     {self.url}/console     (canbo / {DEMO_PASSWORD}; quầy 9 và 22 đang trống)
  Ki-ốt lấy số / kiosk            http://127.0.0.1:{self.kiosk_port}/   (bấm nút để lấy số)
  Trang của công dân / citizen    {citizen}
  API (OpenAPI)                   {self.url}/api/v1/openapi.json
  Phiếu đã in / printed tickets   {self.dir / "tickets"}   (ảnh mỗi phiếu ki-ốt in ra / each ticket as printed, PNG)
  Lời gọi số / announcements      {self.announcements}
  Nhật ký, dữ liệu / logs, data   {self.dir}

Ctrl-C để dừng tất cả / stops everything.
"""

    def shutdown(self) -> None:
        self.stop.set()
        for thread in self.threads:  # let the clerk bots finish their request before the server goes
            if thread.ident is not None:  # a start-up that failed half-way has threads not yet started
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
        answering, last_check = True, 0.0
        while not self.stop.wait(1.0):
            for name, proc in list(self.procs):
                if proc.poll() is not None and not self.stop.is_set() and not self._restart(name, proc):
                    return 1
            if time.monotonic() - last_check >= 5:  # one short line when the server stalls or comes back
                last_check = time.monotonic()
                ok = _answers(self.url + "/healthz")
                if ok != answering:
                    answering = ok
                    print("qms demo: máy chủ hoạt động trở lại / the server answers again" if ok else
                          f"qms demo: máy chủ không trả lời / the server is not answering (xem {self.dir}/server.log)",
                          file=sys.stderr, flush=True)
            if end and time.monotonic() > end:
                return 0
        return 0


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=3).ok
    except requests.RequestException:
        return False


def _quiet_terminal(log_file: Path) -> None:
    """Detail to the log file; the terminal shows only errors (and the demo's own lines)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.ERROR)
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    root.setLevel(logging.INFO)


def run_demo(*, port: int = 8000, speed: float = 20.0, state_dir: str | None = None, scenario: str | None = None,
             duration_s: float | None = None, kiosk_port: int | None = None, broker_port: int | None = None) -> int:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        print("qms demo: mosquitto is not installed (apt install mosquitto); ./scripts/demo installs it",
              file=sys.stderr)
        return 2
    try:
        demo = Demo(port, speed, state_dir, scenario, kiosk_port=kiosk_port, broker_port=broker_port)
    except (PortBusy, FolderNotOurs) as exc:
        print(f"qms demo: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):  # Ctrl-C, or systemd/kill: stop everything cleanly
        signal.signal(sig, lambda *_: demo.stop.set())
    try:
        demo.prepare()
        _quiet_terminal(demo.dir / "demo.log")
        print(f"qms demo: đang khởi động trong {demo.dir} … / starting", flush=True)
        demo.start()
        demo.stream()
        print(demo.banner(demo.first_status_link()), flush=True)
        return demo.watch(duration_s)
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"qms demo: {exc}", file=sys.stderr)
        return 1
    finally:
        demo.shutdown()
