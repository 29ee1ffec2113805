"""The robot dispatcher: rules in virtual time (FakeClock, commands captured), then the whole
loop over a real Mosquitto with a fake robot answering its tasks."""
from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest

from qms_common import wire
from server.robot_dispatch import RobotDispatcher
from server.settings import RobotPolicy
from tests.mosquitto_fixture import require_mosquitto
from tests.server_mqtt_kit import CENTER, anon_broker, start_link


class Sent:
    def __init__(self) -> None:
        self.commands: list[tuple[str, wire.RobotCommand]] = []

    def __call__(self, topic: str, message: wire.RobotCommand) -> None:
        self.commands.append((topic, message))

    def to(self, robot: str) -> list[wire.RobotCommand]:
        topic = wire.ROBOT_COMMAND.topic(center=CENTER, device=robot)
        return [m for t, m in self.commands if t == topic]


def telemetry(state="idle", battery=80.0, at=0.0, task=None) -> wire.RobotTelemetry:
    return wire.RobotTelemetry(state=state, battery_pct=battery, task_id=task, at=at)


def result(task_id: str, outcome="done", error=None) -> wire.RobotTaskResult:
    return wire.RobotTaskResult(task_id=task_id, outcome=outcome, error=error, at=0.0)


@pytest.fixture
def sent():
    return Sent()


def make(engine, clock, sent, **policy) -> RobotDispatcher:
    return RobotDispatcher(engine, clock, sent, center=CENTER, policy=RobotPolicy(**policy),
                           site_of=lambda robot: "diem-1" if robot.startswith("sat-") else None)


def test_water_goes_to_the_longest_waiter_past_the_threshold_once(engine, clock, sent):
    d = make(engine, clock, sent, water_after_s=600)
    d.on_telemetry("robot-1", telemetry())
    first = engine.issue("HT")
    clock.advance(120)
    second = engine.issue("CT")
    clock.advance(479)
    assert d.evaluate() == []  # 599 s: not yet
    clock.advance(1)
    [task] = d.evaluate()
    assert (task.robot, task.action, task.ticket_id, task.ticket) == ("robot-1", "bring_water", first["id"], "HT-001")
    [cmd] = sent.to("robot-1")
    assert cmd.task_id == task.id and cmd.action == "bring_water" and cmd.ticket == "HT-001" and cmd.service == "HT"
    assert d.evaluate() == []  # the robot has a task: nothing more for it
    d.on_task_result("robot-1", result(task.id))
    assert d.task(task.id)["state"] == "done"
    # the robot still says it is busy until its telemetry says idle
    d.on_telemetry("robot-1", telemetry("busy", task=task.id))
    assert d.evaluate() == []
    clock.advance(120)
    d.on_telemetry("robot-1", telemetry())
    [again] = d.evaluate()
    assert again.ticket_id == second["id"]  # the first citizen had water: never twice
    d.on_task_result("robot-1", result(again.id))
    assert d.evaluate() == []
    assert len(sent.commands) == 2


def test_only_idle_robots_with_battery_above_the_floor(engine, clock, sent):
    d = make(engine, clock, sent, water_after_s=600, min_battery_pct=30)
    d.on_telemetry("low", telemetry(battery=30))
    d.on_telemetry("busy", telemetry(state="busy", battery=90))
    d.on_telemetry("charging", telemetry(state="charging", battery=95))
    d.on_telemetry("gone", telemetry(battery=99))
    d.on_presence("gone", False)
    engine.issue("HT")
    clock.advance(700)
    assert d.evaluate() == [] and sent.commands == []
    d.on_telemetry("ok", telemetry(battery=31))
    [task] = d.evaluate()
    assert task.robot == "ok"


def test_failed_or_timed_out_water_is_dispatched_again_up_to_max_attempts(engine, clock, sent):
    d = make(engine, clock, sent, water_after_s=600, task_timeout_s=120, max_attempts=3)
    d.on_telemetry("robot-1", telemetry())
    d.on_telemetry("robot-2", telemetry(battery=50))
    t = engine.issue("DD")
    clock.advance(600)
    [a] = d.evaluate()
    assert a.robot == "robot-1" and a.attempt == 1  # the fuller battery goes first
    d.on_task_result("robot-1", result(a.id, "failed", "cup fell"))
    [b] = d.evaluate()
    assert b.ticket_id == t["id"] and b.id != a.id and b.attempt == 2
    # a result for someone else's task, or for an ended task, changes nothing
    d.on_task_result("robot-2" if b.robot == "robot-1" else "robot-1", result(b.id))
    d.on_task_result(b.robot, result(a.id))
    assert d.task(b.id)["state"] == "sent"
    clock.advance(121)  # no result in time
    [c] = d.evaluate()
    assert d.task(b.id)["state"] == "failed" and d.task(b.id)["error"].startswith("no result within")
    assert c.attempt == 3 and c.ticket_id == t["id"]
    d.on_presence(c.robot, False)  # its robot drops off the network
    assert d.task(c.id)["state"] == "failed" and d.task(c.id)["error"] == "robot went offline"
    assert d.evaluate() == []  # three attempts: given up
    assert [x.action for _, x in sent.commands] == ["bring_water"] * 3


def test_water_stays_at_the_robots_site_and_stops_when_called(engine, clock, sent):
    d = make(engine, clock, sent, water_after_s=600)
    d.on_telemetry("sat-1", telemetry())  # a robot at the satellite point diem-1
    main = engine.issue("HT")
    clock.advance(700)
    assert d.evaluate() == []
    sat = engine.issue("HT", site="diem-1")
    clock.advance(700)
    [task] = d.evaluate()
    assert task.ticket_id == sat["id"]
    d.on_task_result("sat-1", result(task.id))
    engine.sign_in(4, "clerk-4")
    engine.call_next(4, "clerk-4")  # the main-site citizen is called: no water for them now
    d.on_telemetry("robot-1", telemetry())
    assert engine.ticket(main["id"])["state"] == "called"
    assert d.evaluate() == []


def test_water_can_be_switched_off(engine, clock, sent):
    d = make(engine, clock, sent, water=False)
    d.on_telemetry("robot-1", telemetry())
    engine.issue("HT")
    clock.advance(3600)
    assert d.evaluate() == []


def test_greet_and_guide_only_when_enabled(engine, clock, sent):
    quiet = make(engine, clock, sent)
    quiet.on_telemetry("robot-1", telemetry())
    events: list[dict] = []
    engine.add_listener(events.append)
    t = engine.issue("HT")
    engine.sign_in(3, "clerk-3")
    engine.call_next(3, "clerk-3")
    for e in events:
        quiet.on_event(e)
    assert sent.commands == []

    polite = make(engine, clock, sent, greet=True, guide=True)
    polite.on_telemetry("robot-1", telemetry())
    polite.on_event(events[0])
    [greet] = sent.to("robot-1")
    assert (greet.action, greet.ticket, greet.service) == ("greet", t["code"], "HT")
    polite.on_event(next(e for e in events if e["type"] == "ticket_call"))
    assert len(sent.commands) == 1  # the robot is busy greeting
    polite.on_task_result("robot-1", result(greet.task_id))
    polite.on_event(next(e for e in events if e["type"] == "ticket_call"))
    guide = sent.to("robot-1")[-1]
    assert (guide.action, guide.ticket, guide.counter) == ("guide", t["code"], 3)
    polite.on_task_result("robot-1", result(guide.task_id, "failed"))
    assert polite.evaluate() == [] and len(sent.commands) == 2  # courtesies are not retried

    task = polite.request_issue_ticket(service="CT", priority=True)
    assert task is not None and task["action"] == "issue_ticket" and task["robot"] == "robot-1"
    assert sent.to("robot-1")[-1].priority is True
    assert polite.request_issue_ticket() is None  # no free robot left
    assert {t["id"] for t in polite.tasks(active_only=True)} == {task["id"]}
    assert [r["id"] for r in polite.robots()] == ["robot-1"]


@pytest.mark.broker
def test_a_robot_takes_a_ticket_for_a_citizen_and_the_number_is_recorded(engine, clock, sent):
    d = make(engine, clock, sent)
    d.on_telemetry("robot-1", telemetry())
    view = d.request_issue_ticket(service="HT", priority=True)
    [cmd] = sent.to("robot-1")
    assert (cmd.action, cmd.service, cmd.priority, cmd.task_id) == ("issue_ticket", "HT", True, view["id"])
    d.on_task_result("robot-1", wire.RobotTaskResult(task_id=cmd.task_id, outcome="done", ticket="HT-007", at=0.0))
    [done] = d.tasks()
    assert (done["state"], done["ticket"]) == ("done", "HT-007")


def test_water_over_a_real_broker_with_a_fake_robot(engine, clock, tmp_path):
    require_mosquitto()
    broker = anon_broker(tmp_path)
    with broker:
        port = broker.port(1883)
        link = start_link(engine, clock, port, policy=RobotPolicy(water_after_s=600, min_battery_pct=30))
        robots = {name: FakeRobot(port, name, battery) for name, battery in (("robot-1", 80), ("robot-2", 20))}
        try:
            first = engine.issue("HT")
            clock.advance(100)
            second = engine.issue("CT")
            clock.advance(600)
            link.wake()
            r1 = robots["robot-1"]
            r1.wait_for(3)  # HT-001 (fails), HT-001 again (done), CT-001 (done)
            tickets = [c.ticket for c in r1.commands]
            assert tickets == [first["code"], first["code"], second["code"]]
            assert len({c.task_id for c in r1.commands}) == 3
            assert link.sync() and link.sync()
            assert len(r1.commands) == 3  # one task per ticket: nothing more
            assert robots["robot-2"].commands == []  # battery below the floor
            tasks = {t["id"]: t for t in link.robots.tasks()}
            assert [tasks[c.task_id]["state"] for c in r1.commands] == ["failed", "done", "done"]
            assert link.registry.get("robot", "robot-1")["health"]["battery_pct"] == 80
        finally:
            for r in robots.values():
                r.close()
            link.stop()


class FakeRobot:
    """A paho client that does what a robot would: telemetry, then answers each task."""

    def __init__(self, port: int, name: str, battery: float) -> None:
        self.name = name
        self.battery = battery
        self.commands: list[wire.RobotCommand] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(10), f"{name} did not subscribe"

    def _pub(self, entry: wire.Topic, message: wire.Message, retain: bool = False) -> None:
        self.client.publish(entry.topic(center=CENTER, device=self.name), wire.encode(message), qos=1, retain=retain)

    def _on_connect(self, client, userdata, flags, rc, props) -> None:
        client.subscribe(wire.ROBOT_COMMAND.topic(center=CENTER, device=self.name), qos=1)
        client.publish(wire.AVAILABILITY.topic(center=CENTER, cls="robot", device=self.name), wire.ONLINE,
                       qos=1, retain=True)
        self._pub(wire.ROBOT_TELEMETRY, telemetry(battery=self.battery), retain=True)

    def _on_message(self, client, userdata, msg) -> None:
        cmd = wire.decode(wire.ROBOT_COMMAND, msg.payload)
        with self.cond:
            self.commands.append(cmd)
            n = len(self.commands)
            self.cond.notify_all()
        self._pub(wire.ROBOT_TELEMETRY, telemetry("busy", self.battery, task=cmd.task_id), retain=True)
        outcome = "failed" if n == 1 else "done"
        self._pub(wire.ROBOT_TASK, result(cmd.task_id, outcome, "spilled" if outcome == "failed" else None))
        self._pub(wire.ROBOT_TELEMETRY, telemetry(battery=self.battery), retain=True)

    def wait_for(self, n: int, timeout: float = 15.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.commands) >= n, timeout), \
                f"{self.name} got {len(self.commands)} of {n} commands"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
