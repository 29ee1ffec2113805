"""The end of the working day the same evening (server/engine/day_end.py): by itself once the
hours and their grace are over with no clerk left, or by the director from the dashboard's API.
Real engine, real app, the injected clock (a Monday; the sample ward closes at 17:00, grace 30 min)."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from server.config import load_center
from server.engine import Engine
from server.engine.states import END_OF_DAY
from server.reporting import files, period
from server.store import Store
from tests.staff import h, signed_in_tokens

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = date(2026, 11, 23)


def at(hhmm: str, day: date = MONDAY) -> float:
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=TZ).timestamp()


@pytest.fixture
def server_engine(engine):
    """The engine as the server runs it (``create_app`` turns the evening's end on)."""
    engine.ends_day_by_itself = True
    return engine


def a_day_left_waiting(engine, clock) -> list[dict]:
    """09:00 three HT citizens; counter 4 serves one and its clerk leaves at 09:10."""
    engine.sign_in(4, "bot4")
    first, *left = [engine.issue("HT") for _ in range(3)]
    engine.call_next(4, "bot4")
    engine.start(first["id"], 4, "bot4")
    clock.advance(10 * 60)
    engine.finish(first["id"], 4, "bot4")
    engine.sign_out(4, "bot4")
    return left


def ended_events(engine) -> list[dict]:
    return [e for e in engine.events_after(0) if e["type"] == "ticket_abandon"
            and e["data"].get("reason") == END_OF_DAY]


def test_the_day_ends_by_itself_at_closes_plus_the_grace_with_no_clerk_on(server_engine, clock):
    engine = server_engine
    left = a_day_left_waiting(engine, clock)
    clock.set(at("16:59"))
    assert any(a["kind"] == "wait_breach" for a in engine.alerts())          # red all afternoon
    clock.set(at("17:29"))                                                   # closed, within the grace
    assert [t["state"] for t in engine.tickets(state="waiting")] == ["waiting", "waiting"]
    clock.set(at("17:30"))
    snap = engine.snapshot()                                                 # the next look ends it
    assert {engine.ticket(t["id"])["state"] for t in left} == {"abandoned"}
    assert [e["ticket_id"] for e in ended_events(engine)] == [t["id"] for t in left]   # one event each, in line order
    assert {e["actor"] for e in ended_events(engine)} == {"system"}
    assert not [a for a in snap["alerts"] if a["kind"] in ("wait_breach", "predicted_breach")]
    assert sum(s["waiting"] for s in snap["services"]) == 0
    seq = engine.last_seq()
    clock.advance(3600)
    engine.snapshot()
    engine.alerts()
    assert engine.last_seq() == seq and len(ended_events(engine)) == 2       # idempotent: nothing twice


def test_a_dossier_set_aside_ends_too(server_engine, clock):
    engine = server_engine
    engine.sign_in(4, "bot4")
    t = engine.issue("HT")
    engine.call_next(4, "bot4")
    engine.start(t["id"], 4, "bot4")
    engine.park(t["id"], 4, "bot4")
    engine.sign_out(4, "bot4")
    clock.set(at("17:45"))
    engine.counters_view()
    assert engine.ticket(t["id"])["state"] == "abandoned" and engine.ticket(t["id"])["reason"] == END_OF_DAY


def test_not_while_a_clerk_is_still_signed_in_nor_serving(server_engine, clock):
    engine = server_engine
    engine.sign_in(4, "bot4")
    serving, waiting = engine.issue("HT"), engine.issue("HT")
    engine.call_next(4, "bot4")
    engine.start(serving["id"], 4, "bot4")
    clock.set(at("18:00"))                                                   # a long last service
    engine.snapshot()
    assert engine.ticket(waiting["id"])["state"] == "waiting"
    assert engine.ticket(serving["id"])["state"] == "serving" and not ended_events(engine)
    engine.finish(serving["id"], 4, "bot4")
    clock.advance(60)
    engine.snapshot()
    assert engine.ticket(waiting["id"])["state"] == "waiting"                # still signed in: may call them
    engine.sign_out(4, "bot4")
    engine.position(waiting["id"])                                           # the citizen's page looks
    assert engine.ticket(waiting["id"])["state"] == "abandoned"
    assert engine.ticket(serving["id"])["state"] == "done"


def test_only_the_site_whose_counters_have_all_closed(server_engine, clock):
    engine = server_engine
    engine.sign_in(21, "canbo")                                              # the satellite point works late
    here, there = engine.issue("HT"), engine.issue("HT", site="diem-1")
    clock.set(at("17:40"))
    engine.snapshot()
    assert engine.ticket(here["id"])["state"] == "abandoned"
    assert engine.ticket(there["id"])["state"] == "waiting"


def test_not_before_closes_even_with_no_clerk(server_engine, clock):
    engine = server_engine
    left = a_day_left_waiting(engine, clock)
    clock.set(at("16:59"))
    engine.snapshot()
    assert {engine.ticket(t["id"])["state"] for t in left} == {"waiting"}


def test_a_clock_jump_forward_ends_it_at_the_first_look_and_the_night_has_nothing_left(server_engine, clock):
    engine = server_engine
    left = a_day_left_waiting(engine, clock)
    clock.jump(at("20:00") - clock.now())                                   # NTP, a Pi off all afternoon
    engine.tickets()
    assert {engine.ticket(t["id"])["state"] for t in left} == {"abandoned"}
    n = len(engine.events_after(0))
    clock.jump(at("07:30", date(2026, 11, 24)) - clock.now())
    engine.snapshot()
    assert len(engine.events_after(0)) == n                                  # the morning's close found none


def test_the_simulator_and_tools_never_end_a_day_early(tmp_path, clock):
    """An engine not made by create_app (the simulator, tools) and a center whose hours are not
    enforced (the demo, the simulator's scenarios) keep the old rule: the next morning closes it."""
    plain = Engine(Store(tmp_path / "a.db"), load_center(), clock)
    left = a_day_left_waiting(plain, clock)
    clock.set(at("19:00"))
    plain.snapshot()
    assert {plain.ticket(t["id"])["state"] for t in left} == {"waiting"}
    center = load_center()
    anytime = Engine(Store(tmp_path / "b.db"), center.model_copy(
        update={"hours": center.hours.model_copy(update={"enforce": False})}), clock)
    anytime.ends_day_by_itself = True
    t = anytime.issue("HT")
    clock.advance(3600)
    anytime.snapshot()
    assert anytime.ticket(t["id"])["state"] == "waiting"


def test_the_report_of_such_a_day_reads_as_the_next_mornings_close_did(server_engine, clock):
    """tests/test_report_end_of_day.py's day, ended at 17:30 instead of the next morning."""
    engine = server_engine
    engine.sign_in(1, "bot1")
    first, left = engine.issue("CT"), engine.issue("CT")
    engine.call_next(1, "bot1")
    engine.start(first["id"], 1, "bot1")
    clock.advance(40 * 60)
    engine.finish(first["id"], 1, "bot1")
    engine.sign_out(1, "bot1")
    clock.set(at("17:30"))
    engine.snapshot()
    assert engine.ticket(left["id"])["state"] == "abandoned"
    report = files.build(engine, period.days(MONDAY))
    assert report["promise_broken"] == [
        {"day": "2026-11-23", "tickets": 1, "longest_wait_min": 40.0, "from": "09:15", "to": "09:40", "minutes": 25.0}]
    assert report["totals"]["abandoned"] == 1 and report["totals"]["served"] == 1


@pytest.mark.parametrize("value", [-1, 361, "half an hour", 2.5])
def test_the_grace_is_validated(value):
    from qms_common.errors import ConfigError
    from server.config import CenterConfig, sample_center_text
    import tomllib
    data = tomllib.loads(sample_center_text())
    data["hours"]["end_day_after_min"] = value
    with pytest.raises((ConfigError, ValueError)) as err:
        CenterConfig.model_validate(data)
    assert "end_day_after_min" in str(err.value)


# --- the director, over the REST API -----------------------------------------------------------

@pytest.fixture
def tokens(app):
    return signed_in_tokens(app, (("bot4", "clerk"), ("giamdoc", "director"), ("quantri", "admin")))


def test_the_director_ends_the_day(client, tokens, clock):
    director, clerk = h(tokens["giamdoc"]), h(tokens["bot4"])
    assert client.post("/api/v1/counters/4/sign-in", headers=clerk).status_code == 200
    made = [client.post("/api/v1/tickets", json={"service": "HT"}, headers=director).json for _ in range(3)]
    called = client.post("/api/v1/counters/4/call-next", headers=clerk).json["ticket"]
    clock.set(at("17:05"))
    state = client.get("/api/v1/day", headers=director).json
    assert (state["waiting"], state["in_hand"], state["can_end"], state["can_force"]) == (
        2, [{"counter": 4, "ticket": called["code"]}], False, False)
    assert state["ends_by_itself_at"] == at("17:30")
    r = client.post("/api/v1/day/end", json={"force": True}, headers=director)
    assert r.status_code == 409 and r.json["message"].startswith("Còn công dân đang được gọi hoặc phục vụ: quầy 4")
    client.post(f"/api/v1/tickets/{called['id']}/no-show", json={"counter": 4}, headers=clerk)
    r = client.post("/api/v1/day/end", json={}, headers=director)
    assert r.status_code == 409 and r.json["details"]["reason"] == "signed_in"
    assert r.json["message"].startswith("Còn cán bộ đăng nhập: quầy 4 (bot4)")
    # only the director; strict input
    assert client.post("/api/v1/day/end", json={}, headers=clerk).status_code == 403
    assert client.post("/api/v1/day/end", json={}, headers=h(tokens["quantri"])).status_code == 403
    assert client.post("/api/v1/day/end", json={}).status_code == 401
    for bad, status, words in (({"force": "yes"}, 400, "force: phải là true hoặc false"),
                               ({"everything": True}, 400, "everything: trường không được phép"),
                               ({"site": "nowhere"}, 404, "Không có điểm tiếp nhận 'nowhere'")):
        r = client.post("/api/v1/day/end", json=bad, headers=director)
        assert r.status_code == status and words in r.json["message"], (bad, r.json)
    r = client.post("/api/v1/day/end", json={"force": True}, headers=director)
    assert r.status_code == 200, r.json
    ended = r.json
    assert (ended["ended"], ended["by"], ended["forced"]) == (2, "giamdoc", True)
    assert ended["tickets"] == [t["code"] for t in made[1:]]
    events = [e for e in client.get("/api/v1/events", headers=director).json["events"]
              if e["type"] == "ticket_abandon"]
    assert [(e["actor"], e["data"]["reason"], e["data"]["role"]) for e in events] == [
        ("giamdoc", END_OF_DAY, "director")] * 2
    again = client.post("/api/v1/day/end", json={"force": True}, headers=director)
    assert again.status_code == 200 and again.json["ended"] == 0               # the second click: nothing twice
    assert client.get("/api/v1/day", headers=director).json["waiting"] == 0


def test_before_closes_it_needs_force(client, tokens, clock):
    director = h(tokens["giamdoc"])
    t = client.post("/api/v1/tickets", json={"service": "HT"}, headers=director).json
    r = client.post("/api/v1/day/end", json={}, headers=director)
    assert r.status_code == 409 and "Chưa đến giờ đóng cửa (17:00)" in r.json["message"]
    assert client.get("/api/v1/day", headers=director).json["before_closes"] is True
    assert client.post("/api/v1/day/end", json={"force": True}, headers=director).json["tickets"] == [t["code"]]


def test_the_citizens_page_says_the_day_has_ended(app, client, tokens, clock):
    director = h(tokens["giamdoc"])
    t = client.post("/api/v1/tickets", json={"service": "HT"}, headers=director).json
    token = t["status_url"].rsplit("/", 1)[1]
    assert "day_ended" not in client.get(f"/api/v1/status/{token}").json
    clock.set(at("17:30"))                                                   # nobody signed in all day
    status = client.get(f"/api/v1/status/{token}").json                     # the phone's look ends it
    assert status["state"] == "abandoned" and status["day_ended"] is True
    assert status["notice"] == ("Trung tâm đã kết thúc ngày làm việc. Kính mời ông/bà quay lại vào ngày làm việc "
                                "tiếp theo (thứ Ba, 24/11/2026, từ 07:30) và lấy số mới.")
    assert status["notice_en"].startswith("The center has ended its working day. You are invited to come back "
                                          "on the next working day (Tuesday 24/11/2026")
    page = client.get(f"/s/{token}").get_data(as_text=True)
    assert "Trung tâm đã kết thúc ngày làm việc" in page
    snap = client.get("/api/v1/snapshot", headers=director).json             # the wall display drops them
    assert sum(s["waiting"] for s in snap["services"]) == 0


def test_friday_evening_invites_back_on_monday(server_engine, clock):
    from server.realtime_views import citizen_status
    engine = server_engine
    friday = date(2026, 11, 27)
    clock.jump(at("16:00", friday) - clock.now())
    t = engine.issue("HT")
    clock.set(at("17:30", friday))
    status = citizen_status(engine, t["id"])
    assert "(thứ Hai, 30/11/2026, từ 07:30)" in status["notice"]


# --- the province's view: the retained alerts on MQTT ----------------------------------------------

@pytest.mark.broker
def test_the_breach_clears_on_mqtt_when_the_day_ends(server_engine, clock, tmp_path):
    from qms_common import wire
    from server.insight.watch import Watch
    from tests.mosquitto_fixture import MqttProbe, require_mosquitto
    from tests.server_mqtt_kit import CENTER, anon_broker, decoded, start_link
    require_mosquitto()
    engine = server_engine
    a_day_left_waiting(engine, clock)
    clock.set(at("16:00"))
    with anon_broker(tmp_path) as broker:
        port = broker.port(1883)
        link = start_link(engine, clock, port, stream_interval_s=30, watch=Watch(engine, clock))
        probe = MqttProbe.connect(port, client_id="probe-province")
        try:
            events, state = wire.ALERT_EVENT.topic(center=CENTER), wire.ALERTS.topic(center=CENTER)
            probe.subscribe(events)
            probe.subscribe(state)

            def breach(entry):
                return [m for m in decoded(probe, events, wire.ALERT_EVENT)
                        if m.alert.kind == "wait_breach" and m.event == entry]

            link.wake()
            probe.wait(lambda: any(a.kind == "wait_breach" for m in decoded(probe, state, wire.ALERTS)
                                   for a in m.alerts), 30, "retained breach")
            clock.set(at("17:30"))
            link.wake()                        # the link's own tick: nobody else looks at the engine
            probe.wait(lambda: breach("cleared"), 30, "breach cleared")
            probe.wait(lambda: not any(a.kind in ("wait_breach", "predicted_breach")
                                       for a in decoded(probe, state, wire.ALERTS)[-1].alerts), 30,
                       "retained alerts without the breach")
            assert {e["actor"] for e in ended_events(engine)} == {"system"} and len(ended_events(engine)) == 2
        finally:
            probe.close()
            link.stop()
