"""The display agent: real stand-in browser processes, a real HTTP /healthz, a real Mosquitto.

The "browser" is a small Python process that appends its pid to a file and then exits or
sleeps, so restarts are counted from what really ran. Back-off is checked in virtual time
(FakeClock); everything else waits on conditions with deadlines.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from display.agent.backoff import Backoff
from display.agent.browser import BrowserSupervisor
from display.agent.cli import main
from display.agent.config import DEFAULT_COMMAND, config_from_dict, load_config
from display.agent.probe import ProbeResult
from display.agent.service import DisplayAgent
from qms_common import wire
from qms_common.clock import FakeClock
from tests.mosquitto_fixture import CENTER, BrokerSetup, MqttProbe, center_setup
from tests.waiting import wait_for

DEVICE = "display-hall"


def stand_in(pid_file: Path, *, sleep_s: float = 0.0) -> list[str]:
    """A harmless 'browser': appends its pid (and the URL it was given) to a file."""
    code = ("import os, sys, time\n"
            "with open(sys.argv[1], 'a') as f: f.write(f'{os.getpid()} {sys.argv[2]}\\n')\n"
            f"time.sleep({sleep_s})\n")
    return [sys.executable, "-c", code, str(pid_file), "{url}"]


def runs(pid_file: Path) -> list[str]:
    return pid_file.read_text().splitlines() if pid_file.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); read its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class Healthz:
    """A tiny real HTTP server answering /healthz; can go away and come back on its port."""

    def __init__(self) -> None:
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self.up()

    def up(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                body = json.dumps({"ok": True, "center": CENTER, "seq": 1}).encode()
                self.send_response(200 if self.path == "/healthz" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[BrokerSetup]:
    setup = center_setup(tmp_path_factory.mktemp("agent-broker"), devices=[("display", DEVICE)], tls=False)
    with setup.broker:
        yield setup


@pytest.fixture
def healthz() -> Iterator[Healthz]:
    server = Healthz()
    yield server
    server.down()


def agent_config(broker: BrokerSetup, url: str, command: list[str], **overrides) -> dict:
    data = {
        "center": CENTER, "device": DEVICE, "url": f"{url}/display?site=main&token=t0k3n",
        "tick_s": 0.02, "health_interval_s": 30,
        "browser": {"command": command, "restart_initial_s": 0.05, "restart_max_s": 0.2,
                    "stable_after_s": 5, "stop_timeout_s": 2},
        "server": {"interval_s": 0.05, "timeout_s": 0.5, "stale_after_s": 0.3},
        "mqtt": {"port": broker.broker.port(1883), "username": DEVICE,
                 "password": broker.passwords[DEVICE]},
    }
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    return data


def health_of(msg) -> dict:
    health = wire.decode(wire.HEALTH, msg.payload)
    assert isinstance(health, wire.Health)
    return {"faults": health.faults, **health.detail}


@pytest.fixture
def watcher(broker: BrokerSetup) -> Iterator[MqttProbe]:
    probe = MqttProbe.connect(broker.broker.port(1883), "server", broker.passwords["server"])
    probe.subscribe(f"qms/{CENTER}/display/{DEVICE}/#")
    yield probe
    probe.close()


def health_where(watcher: MqttProbe, predicate: Callable[[dict], bool], what: str,
                 timeout: float = 10) -> dict:
    topic = wire.HEALTH.topic(center=CENTER, cls="display", device=DEVICE)
    found: list[dict] = []

    def seen() -> bool:
        for msg in watcher.messages:
            if msg.topic == topic and predicate(h := health_of(msg)):
                found.append(h)
                return True
        return False

    watcher.wait(seen, timeout, what)
    return found[0]


# --- back-off, in virtual time ---------------------------------------------------------------

def test_backoff_doubles_caps_and_resets_after_a_stable_run() -> None:
    b = Backoff(initial_s=1, maximum_s=8, stable_after_s=60)
    assert [b.after_exit(0.5) for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    assert b.after_exit(61) == 1  # it had run long enough: a fresh crash
    assert b.after_exit(1) == 2


def test_supervisor_waits_the_backoff_before_restarting(tmp_path: Path) -> None:
    clock = FakeClock()
    pid_file = tmp_path / "pids"
    argv = [p.replace("{url}", "http://x/display") for p in stand_in(pid_file)]
    sup = BrowserSupervisor(argv, clock=clock, backoff=Backoff(1, 4, 60))
    try:
        assert sup.step() and sup.starts == 1
        for expected_delay in (1, 2, 4, 4):
            assert sup.wait_exit(10)
            assert sup.step()  # notices the exit, schedules the restart
            assert sup.last_exit is not None and sup.last_exit.restart_in_s == expected_delay
            started = sup.starts
            clock.advance(expected_delay - 0.01)
            sup.step()
            assert sup.starts == started, "restarted before the back-off ended"
            clock.advance(0.01)
            assert sup.step() and sup.starts == started + 1
        wait_for(lambda: len(runs(pid_file)) == 5, 10, "five runs of the stand-in")
        assert sup.restarts == 4 and sup.crashes == 4
        assert all(line.endswith("http://x/display") for line in runs(pid_file))
    finally:
        sup.stop()


def test_missing_browser_binary_is_retried_not_fatal() -> None:
    clock = FakeClock()
    sup = BrowserSupervisor(["/nonexistent/chromium", "--kiosk"], clock=clock, backoff=Backoff(1, 4, 60))
    sup.step()
    assert not sup.running and "cannot start /nonexistent/chromium" in (sup.last_error or "")
    assert sup.next_start_in_s == 1


# --- reload policy, in virtual time with a scripted probe ----------------------------------

class Script:
    def __init__(self) -> None:
        self.up = True

    def __call__(self, url: str, timeout: float) -> ProbeResult:
        return ProbeResult(True) if self.up else ProbeResult(False, "unreachable: refused")


def test_reload_policy(tmp_path: Path, broker: BrokerSetup) -> None:
    clock, script = FakeClock(), Script()
    pid_file = tmp_path / "pids"
    config = config_from_dict(agent_config(broker, "http://127.0.0.1:9", stand_in(pid_file, sleep_s=60),
                                           server={"stale_after_s": 120, "interval_s": 5}))
    agent = DisplayAgent(config, clock=clock, check=script)
    try:
        agent.step()
        assert agent.browser.running and agent.browser.starts == 1 and agent.reloads == 0
        # a short outage: the page reconnects by itself; no restart
        script.up = False
        clock.advance(5)
        agent.step()
        assert agent.health().faults == ["server_unreachable"]
        clock.advance(60)
        agent.step()
        script.up = True
        clock.advance(5)
        agent.step()
        assert agent.reloads == 0 and agent.browser.starts == 1 and agent.health().faults == []
        # a long outage: the page may be stale; restart the browser once the server is back
        script.up = False
        clock.advance(5)
        agent.step()
        clock.advance(125)
        agent.step()
        assert agent.health().detail["server_down_s"] == 125
        script.up = True
        clock.advance(5)
        agent.step()
        assert agent.reloads == 1 and agent.browser.starts == 2 and agent.browser.crashes == 0
        # the browser crashes during a (short) outage: the restarted page never loaded, so it
        # is loaded again as soon as the server answers
        script.up = False
        clock.advance(5)
        agent.step()
        os.killpg(agent.browser.pid, 9)
        assert agent.browser.wait_exit(5)
        agent.step()  # notices the crash
        clock.advance(5)
        agent.step()  # back-off over: started while the server is down
        assert agent.browser.starts == 3 and agent.browser.running
        script.up = True
        clock.advance(5)
        agent.step()
        assert agent.reloads == 2 and agent.browser.starts == 4
    finally:
        agent.browser.stop()


# --- the whole agent: real processes, real HTTP, real broker --------------------------------

def test_agent_restarts_a_browser_that_dies_and_reports_it(tmp_path: Path, broker: BrokerSetup,
                                                           healthz: Healthz, watcher: MqttProbe) -> None:
    pid_file = tmp_path / "pids"
    config = config_from_dict(agent_config(broker, healthz.url, stand_in(pid_file)))
    agent = DisplayAgent(config, client_id=f"agent-{tmp_path.name}")
    agent.start()
    try:
        wait_for(lambda: len(runs(pid_file)) >= 4, 15, "the dying browser to be restarted 3 times")
        health = health_where(watcher, lambda h: h["browser_restarts"] >= 3, "health with 3 restarts")
        assert health["server_reachable"] is True
        assert health["page"] == f"{healthz.url}/display", "the token must not leave the device"
        assert "t0k3n" in runs(pid_file)[0]  # ...but the browser got the full URL
        watcher.wait(lambda: any(m.topic.endswith("/availability") and m.payload == b"online"
                                 for m in watcher.messages), 5, "online")
    finally:
        agent.stop()
    watcher.wait(lambda: watcher.received(f"qms/{CENTER}/display/{DEVICE}/availability")[-1].payload
                 == b"offline", 5, "offline after stop")


def test_server_outage_is_reported_and_a_long_one_reloads_the_page(
        tmp_path: Path, broker: BrokerSetup, healthz: Healthz, watcher: MqttProbe) -> None:
    pid_file = tmp_path / "pids"
    config = config_from_dict(agent_config(broker, healthz.url, stand_in(pid_file, sleep_s=60)))
    agent = DisplayAgent(config, client_id=f"agent-{tmp_path.name}")
    agent.start()
    try:
        health_where(watcher, lambda h: h["server_reachable"] is True and h["browser_running"],
                     "browser running, server reachable")
        wait_for(lambda: len(runs(pid_file)) == 1, 5, "the browser to start")
        first_pid = int(runs(pid_file)[0].split()[0])
        healthz.down()
        down = health_where(watcher, lambda h: "server_unreachable" in h["faults"], "server_unreachable")
        assert down["server_reachable"] is False and down["server_error"]
        assert down["browser_running"] is True  # the browser is left alone during the outage
        wait_for(lambda: agent.probe.down_for_s() > config.server.stale_after_s, 5, "a long outage")
        healthz.up()
        back = health_where(watcher, lambda h: h["server_reachable"] is True and h["page_reloads"] == 1,
                            "server back and the page reloaded")
        assert back["faults"] == [] and back["browser_crashes"] == 0
        wait_for(lambda: len(runs(pid_file)) == 2, 5, "the browser restarted")
        wait_for(lambda: not alive(first_pid), 5, "the old browser gone")
    finally:
        agent.stop()
    for line in runs(pid_file):
        wait_for(lambda: not alive(int(line.split()[0])), 5, "every browser stopped with the agent")


# --- configuration and command line ------------------------------------------------------------

def test_default_command_is_cage_kiosk_chromium() -> None:
    config = config_from_dict({"center": CENTER, "url": "http://server:8000/display?site=main"})
    assert config.browser.command == DEFAULT_COMMAND
    assert config.browser.command[:3] == ["cage", "--", "chromium"] and "--kiosk" in DEFAULT_COMMAND
    assert config.healthz() == "http://server:8000/healthz"


def test_cli_reports_config_errors_in_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "display.toml"
    bad.write_text('center = "phuong-mau"\nurl = "http://s:8000/display"\n[browser]\ncomand = ["x"]\n')
    assert main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "display.toml: browser.comand: unknown field" in err and "Traceback" not in err
    bad.write_text('center = "phuong-mau"\nurl = "ftp://s/display"\n')
    assert main(["--config", str(bad)]) == 2
    assert "url" in capsys.readouterr().err
    bad.write_text('center = "phuong-mau"\nurl = "http://s/display?token={token}"\n'
                   f'token_file = "{tmp_path / "missing"}"\n')
    assert main(["--config", str(bad)]) == 2
    assert "token_file: cannot read" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "nope.toml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main([]) == 2
    assert "--config" in capsys.readouterr().err


def test_example_config_is_valid(tmp_path: Path, capsys) -> None:
    example = Path(__file__).resolve().parents[1] / "firmware_config" / "display.example.toml"
    config = load_config(example)
    assert config.browser.command == DEFAULT_COMMAND and config.token_file is not None
    # --check also reads the token and password files the example points to
    token, password = tmp_path / "display.token", tmp_path / "mqtt-password"
    token.write_text("t0k3n\n")
    password.write_text("secret\n")
    text = example.read_text(encoding="utf-8").replace("/etc/qms/display.token", str(token))
    local = tmp_path / "display.toml"
    local.write_text(text.replace("/etc/qms/display.mqtt-password", str(password)), encoding="utf-8")
    assert main(["--config", str(local), "--check"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "OK" in out and "t0k3n" not in out
