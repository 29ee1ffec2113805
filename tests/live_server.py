"""A real center server in a subprocess (gunicorn, one gevent worker), for browser, kiosk, MQTT and
durability tests. Flask-SocketIO's test client and a live server must not share a process.

Usage::

    with LiveServer(tmp_path) as srv:
        token = srv.add_device("kiosk-1", "kiosk")
        requests.post(srv.url + "/api/v1/tickets", json=..., headers=srv.bearer(token))
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import requests

from qms_common.clock import SystemClock
from server.config import sample_center_text

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_center(path: Path, *, enforce_hours: bool = False, public_url: str | None = None,
                 extra: str = "") -> Path:
    """The bundled ward center, with opening hours not enforced (tests run at any hour)."""
    path.write_text(sample_center_text(public_url=public_url, enforce_hours=enforce_hours) + extra,
                    encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))
    return path


class LiveServer:
    def __init__(self, state_dir: Path, *, port: int | None = None, settings_extra: str = "",
                 center_file: Path | None = None, threads: int = 8, serve_args: tuple[str, ...] = ()) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.center_file = center_file or write_center(self.state_dir / "center.toml", public_url=self.url)
        self.settings_file = self.state_dir / "server.toml"
        self.settings_file.write_text(
            f'state_dir = "{self.state_dir}"\ncenter_file = "{self.center_file}"\n'
            f'host = "127.0.0.1"\nport = {self.port}\nthreads = {threads}\npassword_profile = "cheapest-for-tests"\n'
            f'{settings_extra}', encoding="utf-8")
        self.serve_args = tuple(serve_args)  # e.g. ("--bench-clock-start", "2026-12-02T09:30")
        self.proc: subprocess.Popen | None = None
        self.log_path = self.state_dir / "server.log"

    # lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float = 30) -> "LiveServer":
        env = {**os.environ, "QMS_SECRET_KEY": "test-secret-key", "PYTHONUNBUFFERED": "1"}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "--settings", str(self.settings_file), "serve", *self.serve_args],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)  # polling a port with a deadline, not sleeping on hope
        raise TimeoutError(f"server did not answer on {self.url}:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()

    def kill(self) -> None:
        """kill -9 the whole server (gunicorn master and worker): a power cut for the process."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()

    def restart(self) -> "LiveServer":
        self.stop()
        return self.start()

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # seeding (straight into the same database, as `qms user add` does) -----------------
    def _auth(self):
        from server.auth import Auth
        from server.store import Store
        return Auth(Store(self.state_dir / "qms.db"), SystemClock(), password_profile="cheapest-for-tests")

    def add_user(self, username: str, role: str = "clerk", password: str = "matkhau-123",
                 name: str | None = None) -> str:
        self._auth().add_user(username, name or username, role, password)
        r = requests.post(self.url + "/api/v1/auth/login", json={"username": username, "password": password},
                          timeout=10)
        r.raise_for_status()
        return r.json()["token"]

    def add_device(self, device_id: str, kind: str, site: str | None = None, name: str = "") -> str:
        return self._auth().add_device(device_id, kind, name=name, site=site)

    @staticmethod
    def bearer(token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}
