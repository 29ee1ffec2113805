"""The robot greeter: real Mosquitto (the shipped ACL), real espeak-ng speech to WAV files,
motion in virtual time, and a real center server for issue_ticket.

A test-side paho client logged in as ``server`` sends commands and watches telemetry and
task results. Nothing sleeps and hopes: every wait is on a condition with a deadline, and
travel takes no real time (a FakeClock advanced by the robot's own simulation).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Iterator

import pytest

from display.announcer import audio
from display.robot import phrases
from display.robot.api import TicketApi, client_ref_for
from display.robot.cli import main
from display.robot.config import config_from_dict, load_config
from display.robot.motion import Battery, Kinematics, VirtualTime
from display.robot.service import RobotService
from display.robot.speech import Utterance
from qms_common import wire
from qms_common.clock import FakeClock
from tests.live_server import LiveServer
from tests.mosquitto_fixture import CENTER, BrokerSetup, MqttProbe, center_setup

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

DEVICE = "robot-1"
REPO = Path(__file__).resolve().parents[1]
TELEMETRY = wire.ROBOT_TELEMETRY.topic(center=CENTER, device=DEVICE)
TASK = wire.ROBOT_TASK.topic(center=CENTER, device=DEVICE)
COMMAND = wire.ROBOT_COMMAND.topic(center=CENTER, device=DEVICE)


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[BrokerSetup]:
    setup = center_setup(tmp_path_factory.mktemp("robot-broker"), devices=[("robot", DEVICE)], tls=False)
    with setup.broker:
        yield setup


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("robot-phrases")  # shared: a phrase is synthesized once


@pytest.fixture
def server(broker: BrokerSetup) -> Iterator[MqttProbe]:
    probe = MqttProbe.connect(broker.broker.port(1883), "server", broker.passwords["server"])
    probe.subscribe(f"qms/{CENTER}/robot/{DEVICE}/#")
    yield probe
    probe.close()


def robot_config(broker: BrokerSetup, tmp_path: Path, cache_dir: Path, **overrides) -> dict:
    data = {
        "center": CENTER, "device": DEVICE, "tick_s": 0.02, "telemetry_interval_s": 5,
        "spots": {"home": [0, 0], "water": [3, 4], "waiting": [0, 4]},
        "counters": {"5": [6, 8]},  # 10 m from home: 20 s at 0.5 m/s
        "motion": {"speed_m_s": 0.5, "step_s": 0.5, "pickup_s": 5},
        "battery": {"initial_pct": 100, "drain_pct_per_m": 0.2, "charge_pct_per_min": 2,
                    "charge_below_pct": 30, "charge_until_pct": 95, "reserve_pct": 10},
        "cache_dir": str(cache_dir), "voice": {"rate": 220},
        "output": {"kind": "files", "directory": str(tmp_path / "speech")},
        "mqtt": {"port": broker.broker.port(1883), "username": DEVICE, "password": broker.passwords[DEVICE]},
    }
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(data.get(key), dict) else value
    return data


@pytest.fixture
def start_robot(broker: BrokerSetup, server: MqttProbe, tmp_path: Path, cache_dir: Path):
    started: list[RobotService] = []

    def start(**overrides) -> tuple[RobotService, FakeClock]:
        clock = FakeClock()
        service = RobotService(config_from_dict(robot_config(broker, tmp_path, cache_dir, **overrides)),
                               clock=clock, client_id=f"{DEVICE}-{time.monotonic_ns()}")
        service.start()
        started.append(service)
        server.wait(lambda: any(m.topic.endswith("/availability") and m.payload == b"online"
                                for m in server.messages), 10, "the robot online")
        return service, clock

    yield start
    for service in started:
        service.stop()


def command(task_id: str, action: str, **fields) -> bytes:
    return wire.encode(wire.RobotCommand(task_id=task_id, action=action, **fields))


def results(server: MqttProbe) -> list[wire.RobotTaskResult]:
    return [wire.decode(wire.ROBOT_TASK, m.payload) for m in server.received(TASK)]


def telemetry(server: MqttProbe) -> list[wire.RobotTelemetry]:
    return [wire.decode(wire.ROBOT_TELEMETRY, m.payload) for m in server.received(TELEMETRY)]


def wait_result(server: MqttProbe, task_id: str, timeout: float = 30) -> wire.RobotTaskResult:
    server.wait(lambda: any(r.task_id == task_id for r in results(server)), timeout, f"result of {task_id}")
    return next(r for r in results(server) if r.task_id == task_id)


def spoken(service: RobotService) -> list[Path]:
    return [Path(p) for p in service.voice.outputs]


def assert_says(service: RobotService, path: Path, text: str) -> None:
    pcm = audio.read_wav(path)
    assert pcm.duration_s > 0.5 and audio.rms(pcm) > 0.01, "silent speech"
    assert pcm == service.voice.composer.compose(Utterance(ticket="", counter=0, text=text))


# --- simulation, without a broker ------------------------------------------------------------

def test_travel_time_is_distance_over_speed_in_virtual_time() -> None:
    clock = FakeClock()
    battery = Battery(50, drain_pct_per_m=0.5, charge_pct_per_s=0)
    body = Kinematics((0, 0), speed_m_s=0.5, step_s=0.3)
    start, steps = clock.monotonic(), []
    outcome = body.travel((3, 4), VirtualTime(clock), battery, on_step=lambda: steps.append(body.position))
    assert outcome.arrived and outcome.metres == pytest.approx(5)
    assert clock.monotonic() - start == pytest.approx(10) and battery.pct == pytest.approx(47.5)
    assert len(steps) == 34 and body.position == (3, 4)
    empty = Battery(1, drain_pct_per_m=0.5, charge_pct_per_s=0)
    outcome = Kinematics((0, 0), 0.5, 0.5).travel((10, 0), VirtualTime(clock), empty)
    assert not outcome.arrived and outcome.reason == "battery_empty" and outcome.metres == pytest.approx(2)


# --- the robot on MQTT --------------------------------------------------------------------------

def test_guide_moves_speaks_and_reports_done(start_robot, server) -> None:
    service, clock = start_robot()
    t0 = clock.now()
    server.publish(COMMAND, command("t-guide", "guide", ticket="HT-042", counter=5))
    result = wait_result(server, "t-guide")
    assert result.outcome == "done" and result.error is None
    assert result.at - t0 >= 20  # 10 m at 0.5 m/s, in virtual time
    states = [t.state for t in telemetry(server)]
    assert "moving" in states and "busy" in states
    moving = [t for t in telemetry(server) if t.state == "moving"]
    assert all(t.task_id == "t-guide" for t in moving) and len(moving) >= 4  # every 5 s on the way
    server.wait(lambda: telemetry(server)[-1].state == "idle", 10, "idle again")
    assert telemetry(server)[-1].battery_pct == pytest.approx(98)  # 10 m x 0.2 %/m
    files = spoken(service)
    assert len(files) == 2
    assert_says(service, files[0], "Mời công dân có số thứ tự H T 0 4 2 đi theo tôi đến quầy số 5.")
    assert_says(service, files[1], "Đây là quầy số 5. Xin mời ông bà.")
    health = service.health()
    assert health.detail["spot"] == "counter-5" and (health.detail["x"], health.detail["y"]) == (6, 8)
    # bring water to the citizen at counter 5, then go home
    server.publish(COMMAND, command("t-water", "bring_water", ticket="HT-042", counter=5))
    server.publish(COMMAND, command("t-home", "return_home"))
    assert wait_result(server, "t-water").outcome == "done"
    assert wait_result(server, "t-home").outcome == "done"
    assert service.robot.spot == "home" and service.robot.motion.position == (0, 0)
    assert_says(service, spoken(service)[2], "Xin mời công dân có số thứ tự H T 0 4 2 dùng nước ạ.")


def test_low_battery_fails_the_task_with_a_reason_and_charges_at_home(start_robot, server) -> None:
    service, clock = start_robot(battery={"initial_pct": 12})
    server.publish(COMMAND, command("t-low", "guide", ticket="HT-001", counter=5))
    result = wait_result(server, "t-low")
    assert result.outcome == "failed"
    assert result.error.startswith("Pin yếu (12%)") and "battery too low" in result.error
    assert not spoken(service) and service.robot.spot == "home"
    server.wait(lambda: telemetry(server)[-1].state == "charging", 10, "charging at home")
    clock.advance(120)  # 2 %/min
    server.wait(lambda: any(t.battery_pct >= 15 for t in telemetry(server)), 10, "the battery charging")
    # greeting needs no travel: still possible while charging
    server.publish(COMMAND, command("t-hi", "greet"))
    assert wait_result(server, "t-hi").outcome == "done"
    assert_says(service, spoken(service)[0], phrases.GREETING)


def test_unknown_counter_and_bad_commands(start_robot, server) -> None:
    service, clock = start_robot()
    server.publish(COMMAND, command("t-9", "guide", ticket="HT-001", counter=9))
    assert wait_result(server, "t-9").error == "Không biết vị trí quầy số 9; unknown counter 9"
    server.publish(COMMAND, command("t-noticket", "bring_water"))
    assert wait_result(server, "t-noticket").error == "Thiếu số thứ tự; missing ticket"
    good = json.loads(command("t-x", "greet"))
    garbage = [b"", b"\xff\xfe", b"null", b"[]", b"{", b"[" * 5000, b"x" * (wire.MAX_PAYLOAD_BYTES + 1),
               json.dumps({**good, "v": 2}).encode(), json.dumps({**good, "action": "dance"}).encode(),
               json.dumps({**good, "task_id": ""}).encode(), json.dumps({**good, "extra": 1}).encode()]
    for payload in garbage:
        server.publish(COMMAND, payload)
    server.publish(COMMAND, command("t-ok", "greet"))
    server.publish(COMMAND, command("t-ok", "greet"))  # a redelivery: done once
    server.publish(COMMAND, command("t-after", "return_home"))
    wait_result(server, "t-after")
    assert [r.task_id for r in results(server)].count("t-ok") == 1
    assert service.dropped == len(garbage) and service.robot.stats.duplicates == 1
    assert service.healthy()


def test_issue_ticket_against_the_real_server(start_robot, server, tmp_path: Path) -> None:
    with LiveServer(tmp_path / "server") as srv:
        token = srv.add_device(DEVICE, "robot")
        service, clock = start_robot(server_url=srv.url, token=token)
        server.publish(COMMAND, command("t-ticket", "issue_ticket", service="HT"))
        result = wait_result(server, "t-ticket")
        assert result.outcome == "done", result.error
        (code,) = service.robot.issued
        assert code.startswith("HT-") and result.ticket == code  # the server learns the number
        spelled = " ".join(["H", "T", *code.split("-")[1]])
        assert_says(service, spoken(service)[0],
                    f"Số thứ tự của ông bà là {spelled}. Xin mời ông bà ngồi chờ đến lượt.")
        # the same task again (client_ref from the task id) returns the same ticket, not a new one
        api = TicketApi(srv.url, token)
        again = api.issue("HT", False, client_ref_for(DEVICE, "t-ticket"))
        assert again.code == code
        # a refusal from the server is the task's error, in the server's words
        server.publish(COMMAND, command("t-bad", "issue_ticket", service="ZZ"))
        bad = wait_result(server, "t-bad")
        assert bad.outcome == "failed" and bad.error.startswith("Không có lĩnh vực")
        assert_says(service, spoken(service)[1], phrases.ticket_not_issued())
    # the server is gone: unreachable, said so
    server.publish(COMMAND, command("t-down", "issue_ticket", service="HT"))
    assert wait_result(server, "t-down").error.startswith("Không kết nối được máy chủ")


# --- configuration and command line ----------------------------------------------------------------

def test_config_errors_exit_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "robot.toml"
    bad.write_text('center = "phuong-mau"\nhome = "dock"\n')
    assert main(["--config", str(bad), "--check"]) == 2
    err = capsys.readouterr().err
    assert "home = 'dock' is not in spots" in err and "Traceback" not in err
    bad.write_text('center = "phuong-mau"\n[battery]\ncharge_below_pct = 50\ncharge_until_pct = 40\n')
    assert main(["--config", str(bad)]) == 2
    assert "robot.toml: battery:" in capsys.readouterr().err
    bad.write_text('center = "phuong-mau"\n[motion]\nsped_m_s = 1\n')
    assert main(["--config", str(bad)]) == 2
    assert "motion.sped_m_s: unknown field" in capsys.readouterr().err
    bad.write_text(f'center = "phuong-mau"\ntoken_file = "{tmp_path / "none"}"\n')
    assert main(["--config", str(bad)]) == 2
    assert "token_file: cannot read" in capsys.readouterr().err
    example = load_config(REPO / "firmware_config" / "robot.example.toml")
    assert example.counters[5] == (8.0, 9.0) and example.home in example.spots
