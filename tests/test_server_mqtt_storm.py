"""A storm of bad messages: the server logs and drops every one and keeps working.

Over a real Mosquitto: a few thousand generated bad messages (random bytes, wrong JSON
types, wrong or missing schema version, oversized payloads, unknown topics, bad ids in
topics, answers asked on someone else's topic), then good ones that must take effect.
In process: the router alone against arbitrary topics and payloads.
"""
from __future__ import annotations

import json
import logging
import random
import string

import pytest
from paho.mqtt.client import topic_matches_sub
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from qms_common import wire
from server.devices import DeviceRegistry
from server.mqtt import Inbound, Incoming
from server.robot_dispatch import RobotDispatcher
from tests.mosquitto_fixture import MqttProbe, require_mosquitto
from tests.server_mqtt_kit import CENTER, EngineEvents, anon_broker, request, response, start_link

pytestmark = pytest.mark.broker

DEVICES = {"kiosk": "k1", "counter": "counter-5", "robot": "robot-1", "display": "d1"}
# ids a broker accepts in a topic but the contract does not (wildcards and NUL never reach us)
BAD_IDS = ["bad id", "ở-đây", "x" * 41, "a.b", "", "semi;colon", "dấu", "k1 ", "-" * 41]


def _good_payloads(ticket_id: str) -> dict[str, dict]:
    """One valid payload (as a dict) per subscribed entry, to be broken in many ways."""
    return {
        "availability": None,
        "health": {"v": 1, "at": 1.0, "uptime_s": 1.0},
        "ticket_offline": {"v": 1, "client_ref": "k1-xxxxxxxx", "service": "HT", "number": 1,
                           "day": "2026-11-23", "issued_at": 1.0},
        "print_result": {"v": 1, "ticket_id": ticket_id, "printed": True},
        "counter_request": {"v": 1, "action": "next"},
        "rating": {"v": 1, "score": 3, "at": 1.0},
        "robot_telemetry": {"v": 1, "state": "idle", "battery_pct": 50, "at": 1.0},
        "robot_task": {"v": 1, "task_id": "t-1", "outcome": "done", "at": 1.0},
    }


def _topic(entry: wire.Topic, device: str, cls: str = "kiosk") -> str:
    return entry.pattern.format(center=CENTER, cls=cls, device=device)


def contract_valid(topic: str, payload: bytes) -> bool:
    """Would this message pass the contract? (The storm keeps only those that would not.)"""
    found = wire.resolve(topic)
    if found is None:
        return False
    entry, parts = found
    try:
        entry.topic(**parts)
        wire.decode(entry, payload)
    except wire.WireError:
        return False
    if b"NaN" in payload or b"Infinity" in payload:
        return False  # the contract lets these through; the server drops them itself
    return parts.get("cls", "kiosk") in wire.DEVICE_CLASSES and parts.get("center") == CENTER


def bad_messages(rng: random.Random, ticket_id: str, n: int) -> list[tuple[str, bytes]]:
    goods = _good_payloads(ticket_id)
    entries = [e for e in Inbound.TOPICS]
    wrong_values = [None, True, -1, 1e308, "x", [], {}, [1, 2], "9" * 50, -0.5, 10 ** 30]
    out: list[tuple[str, bytes]] = []
    while len(out) < n:
        entry = rng.choice(entries)
        cls = "kiosk" if "{cls}" not in entry.pattern else rng.choice(list(DEVICES))
        device = DEVICES.get(cls, "k1") if "kiosk" not in entry.pattern.split("{device}")[0] else "k1"
        if "/counter/{device}" in entry.pattern:
            device = "counter-5"
        elif "/robot/{device}" in entry.pattern:
            device = "robot-1"
        good = goods[entry.name]
        kind = rng.randrange(11)
        if kind == 0:  # random bytes
            payload = rng.randbytes(rng.randrange(0, 300))
        elif kind == 1 and good is not None:  # a field of the wrong type
            broken = dict(good)
            key = rng.choice([k for k in good if k != "v"] or ["v"])
            broken[key] = rng.choice(wrong_values)
            payload = json.dumps(broken).encode()
        elif kind == 2 and good is not None:  # wrong, missing or mistyped schema version
            broken = dict(good)
            choice = rng.randrange(4)
            if choice == 0:
                broken.pop("v")
            else:
                broken["v"] = [2, "1", 1.5][choice - 1]
            payload = json.dumps(broken).encode()
        elif kind == 3:  # oversized
            payload = json.dumps({**(good or {}), "pad": "x" * (wire.MAX_PAYLOAD_BYTES + rng.randrange(1, 50000))}).encode()
        elif kind == 4:  # JSON that is not an object
            payload = json.dumps(rng.choice([[1, 2], "online", 42, None, True, [good]])).encode()
        elif kind == 5:  # a bad id in the topic
            device = rng.choice(BAD_IDS)
            payload = json.dumps(good).encode() if good else b"online"
        elif kind == 6:  # unknown device class or unknown leaf or another center
            topic = rng.choice([
                f"qms/{CENTER}/toaster/t1/availability", f"qms/{CENTER}/toaster/t1/health",
                f"qms/{CENTER}/kiosk/k1/ticket/unknown", f"qms/other-center/kiosk/k1/ticket/printed",
                f"qms/{CENTER}/kiosk/k1", "qms", f"elsewhere/{rng.randrange(1000)}",
            ])
            out.append((topic, json.dumps(good).encode() if good else b"online"))
            continue
        elif kind == 7 and good is not None:  # unknown extra fields
            payload = json.dumps({**good, "surprise": 1}).encode()
        elif kind == 8:  # non-finite numbers and junk strings where enums are expected
            payload = (json.dumps(good).replace("1.0", "NaN").replace("50", "Infinity").encode()
                       if good else rng.choice([b"ONLINE", b"", b"offline\n", b"\xff\xfe"]))
        elif kind == 9:  # a valid payload on the wrong topic
            other = goods[rng.choice([k for k in goods if k != entry.name and goods[k] is not None])]
            payload = json.dumps(other).encode()
        else:  # truncated JSON / invalid UTF-8
            text = json.dumps(good).encode() if good else b"online"
            payload = text[: rng.randrange(0, max(1, len(text) - 1))] + rng.choice([b"", b"\xc3", b"{"])
        topic = _topic(entry, device, cls)
        if not contract_valid(topic, payload):
            out.append((topic, payload))
    return out


def test_bad_message_storm_then_good_messages_still_work(engine, clock, tmp_path, caplog):
    require_mosquitto()
    caplog.set_level(logging.WARNING, logger="server.mqtt")
    broker = anon_broker(tmp_path)
    with broker:
        port = broker.port(1883)
        link = start_link(engine, clock, port)
        events = EngineEvents(engine)
        try:
            ticket = engine.issue("CT", source="kiosk", device="k1")
            engine.sign_in(5, "clerk-5")
            dd = engine.issue("DD")
            rng = random.Random(6)
            storm = bad_messages(rng, ticket["id"], 3000)
            watcher = MqttProbe.connect(port, client_id="watcher")
            sender = MqttProbe.connect(port, client_id="storm")
            try:
                # nobody may trick the server into answering on topics that are not the requester's
                for topic in (wire.CALL.topic(center=CENTER),
                              wire.RESPONSE.topic(center=CENTER, cls="kiosk", device="k2")):
                    watcher.subscribe(topic)
                for i, (topic, payload) in enumerate(storm):
                    props = None
                    if i % 7 == 0:
                        props = Properties(PacketTypes.PUBLISH)
                        props.ResponseTopic = rng.choice([wire.CALL.topic(center=CENTER),
                                                          wire.RESPONSE.topic(center=CENTER, cls="kiosk", device="k2"),
                                                          "not/a/response", "qms/x/kiosk/k1/response"])
                        props.CorrelationData = b"storm"
                    info = sender.client.publish(topic, payload, qos=1, properties=props)
                    assert info.rc == 0, (topic, info.rc)
                info.wait_for_publish(30)

                # good messages after the storm: a print result and a keypad request with an answer
                sender.publish(wire.PRINT_RESULT.topic(center=CENTER, device="k1"),
                               wire.encode(wire.PrintResult(ticket_id=ticket["id"], printed=True)))
                resp = wire.RESPONSE.topic(center=CENTER, cls="counter", device="counter-5")
                sender.subscribe(resp)
                request(sender, wire.COUNTER_REQUEST.topic(center=CENTER, device="counter-5"),
                        wire.CounterRequest(action="next"), response_topic=resp, correlation=b"good")
                answer = response(sender, resp, b"good", timeout=30)
                events.wait(lambda e: e["type"] == "ticket_print_result" and e["ticket_id"] == ticket["id"])
                assert answer.status == "ok" and answer.data["ticket"] == dd["code"]
                assert engine.ticket(ticket["id"])["printed"] == 1
                assert link.sync()
                k2 = wire.RESPONSE.topic(center=CENTER, cls="kiosk", device="k2")
                assert watcher.received(k2) == []
                watcher.wait(lambda: watcher.received(wire.CALL.topic(center=CENTER)), 10, "the good call")
                calls = watcher.received(wire.CALL.topic(center=CENTER))
                assert [wire.decode(wire.CALL, m.payload).ticket for m in calls] == [dd["code"]]
            finally:
                sender.close()
                watcher.close()

            filters = [f for f, _ in link.inbound.filters()]
            delivered = sum(1 for topic, _ in storm if any(topic_matches_sub(f, topic) for f in filters))
            stats = link.inbound.stats
            assert link.alive() and link.connected.is_set()
            assert stats.failed == 0, stats
            assert stats.received >= delivered + 2
            assert stats.dropped >= delivered and stats.refused == 0
            assert {"bad_payload", "bad_topic"} <= set(stats.by_reason)
            # drops are logged, but throttled
            assert 0 < sum(1 for r in caplog.records if r.levelno == logging.WARNING) < 200
        finally:
            link.stop()


def _random_topic(rng: random.Random) -> str:
    parts = ["qms", CENTER] + [rng.choice(["kiosk", "counter", "robot", "server", "display", "k1", "counter-5",
                                           "+", "#", "", "ticket", "offline", "printed", "request", "rating",
                                           "health", "availability", "telemetry", "task", "ở", "x" * 50])
                               for _ in range(rng.randrange(0, 5))]
    if rng.random() < 0.1:
        parts = ["".join(rng.choice(string.printable) for _ in range(rng.randrange(0, 30)))]
    return "/".join(parts)


def test_router_alone_survives_arbitrary_input(engine, clock):
    """Without a broker, many more cases: arbitrary topics (even ones no subscription would
    deliver), arbitrary payloads and response topics. Nothing raises, nothing unexpected."""
    answers: list[tuple[str, wire.Response]] = []
    registry = DeviceRegistry(clock)
    robots = RobotDispatcher(engine, clock, lambda t, m: None, center=CENTER)
    inbound = Inbound(engine, registry, robots, center=CENTER, server_id="main",
                      respond=lambda topic, r, c: answers.append((topic, r)))
    rng = random.Random(7)
    ticket = engine.issue("CT", source="kiosk", device="k1")
    goods = _good_payloads(ticket["id"])
    for _ in range(5000):
        topic = _random_topic(rng)
        good = rng.choice(list(goods.values()))
        payload = rng.choice([rng.randbytes(rng.randrange(0, 64)), json.dumps(good).encode() if good else b"online",
                              b"online", b"offline", b"{}", b"null"])
        response_topic = rng.choice([None, "", topic, "qms/phuong-mau/kiosk/k1/response", "#"])
        inbound.handle(Incoming(topic, payload, retained=rng.random() < 0.2, response_topic=response_topic,
                                correlation=b"c"))
    assert inbound.stats.failed == 0
    assert inbound.stats.received == 5000

    # numbers that are not numbers: dropped before they reach the engine
    block = engine.reserve_block("k1", "HT", 5)
    nan = (b'{"v":1,"client_ref":"k1-nan-0001","service":"HT","number":%d,"day":"%s","issued_at":NaN}'
           % (block["first"], block["day"].encode()))
    inbound.handle(Incoming(wire.TICKET_OFFLINE.topic(center=CENTER, device="k1"), nan))
    assert inbound.stats.by_reason["bad_payload"] >= 1 and inbound.stats.failed == 0
    assert not [t for t in engine.tickets() if t["client_ref"] == "k1-nan-0001"]
    # every answer went to a response topic of the device that asked
    for topic, _ in answers:
        found = wire.resolve(topic)
        assert found is not None and found[0] is wire.RESPONSE
