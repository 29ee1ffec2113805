"""The director's controls on counters (server/engine/controls.py), at the engine level."""
from __future__ import annotations

import pytest

from qms_common.errors import Conflict, Forbidden, NotFound, QmsError
from server.engine import Engine
from server.engine.replay_check import check
from server.store import Store

# sample ward: counter 4 serves HT only; clerk bot4 is trained for HT, CT, XH


def test_a_counter_takes_a_new_service_at_its_next_call(engine):
    engine.sign_in(4, "bot4")
    ht, ct = engine.issue("HT"), engine.issue("CT")
    first = engine.call_next(4, "bot4")
    assert first["id"] == ht["id"]
    engine.start(first["id"], 4, "bot4")
    change = engine.apply_control(4, "set_services", services=["CT", "HT"], by="giamdoc", role="director")
    assert change["before"]["services"] == ["HT"] and change["after"]["services"] == ["CT", "HT"]
    # the citizen in hand is untouched, the next call follows the change
    assert engine.ticket(first["id"])["state"] == "serving"
    assert engine.call_next(4, "bot4")["id"] == ct["id"]
    view = next(c for c in engine.counters_view() if c["number"] == 4)
    assert view["services"] == ["CT", "HT"]
    assert "Quầy này nay phục vụ thêm: Chứng thực" in view["notice"]["message"]
    snap = next(c for c in engine.snapshot()["counters"] if c["number"] == 4)
    assert snap["services"] == ["CT", "HT"]


def test_the_event_says_what_changed_and_who_did_it(engine):
    engine.sign_in(4, "bot4")
    engine.apply_control(4, "take_first", service="CT", by="giamdoc", role="director")
    e = [e for e in engine.events_after(0) if e["type"] == "counter_control_applied"][-1]
    assert e["counter"] == 4
    assert {k: e["data"][k] for k in ("counter", "action", "by")} == {"counter": 4, "action": "take_first",
                                                                      "by": "giamdoc"}
    assert e["data"]["before"] == {"state": "open", "services": ["HT"]}
    assert e["data"]["after"] == {"state": "open", "services": ["CT", "HT"]}
    assert e["data"]["change_id"]


def test_the_estimate_sees_the_change(engine):
    engine.sign_in(4, "bot4")
    for _ in range(6):
        engine.issue("XH")
    before = engine.estimate_new("XH")
    engine.apply_control(4, "take_first", service="XH", by="giamdoc", role="director")
    assert engine.estimate_new("XH") < before


def test_only_services_the_clerk_is_trained_for(engine):
    engine.sign_in(4, "bot4")
    with pytest.raises(Conflict) as err:
        engine.apply_control(4, "set_services", services=["HT", "DD"], by="giamdoc", role="director")
    assert "chưa được đào tạo" in str(err.value) and err.value.http_status == 409
    # a clerk not in [[clerks]] serves only what the counter serves
    engine.sign_in(5, "someone")
    with pytest.raises(Conflict):
        engine.apply_control(5, "take_first", service="HT", by="giamdoc", role="director")
    assert engine.apply_control(5, "take_first", service="XD", by="giamdoc", role="director")["after"][
        "services"] == ["XD", "DD"]


def test_refusals_are_clear(engine):
    with pytest.raises(Conflict, match="đang đóng"):  # nobody at the counter
        engine.apply_control(4, "take_first", service="HT", by="giamdoc", role="director")
    with pytest.raises(NotFound):
        engine.apply_control(404, "take_first", service="HT", by="giamdoc", role="director")
    engine.sign_in(4, "bot4")
    with pytest.raises(Forbidden):
        engine.apply_control(4, "take_first", service="CT", by="bot4", role="clerk")
    with pytest.raises(Conflict, match="không có gì thay đổi"):
        engine.apply_control(4, "set_services", services=["HT"], by="giamdoc", role="director")
    with pytest.raises(QmsError, match="hai lần"):
        engine.apply_control(4, "set_services", services=["HT", "HT"], by="giamdoc", role="director")
    with pytest.raises(NotFound):
        engine.apply_control(4, "take_first", service="ZZ", by="giamdoc", role="director")
    with pytest.raises(Conflict, match="không tạm nghỉ"):
        engine.apply_control(4, "call_back", by="giamdoc", role="director")


def test_call_back_from_a_break_and_undo(engine):
    engine.sign_in(4, "bot4")
    engine.pause(4, "bot4")
    change = engine.apply_control(4, "call_back", by="giamdoc", role="director")
    assert engine.counter(4)["state"] == "open"
    t = engine.issue("HT")
    assert engine.call_next(4, "bot4")["id"] == t["id"]
    undone = engine.undo_control(change["change_id"], by="giamdoc", role="director")
    assert undone["undone_by"] == "giamdoc"
    assert engine.counter(4)["state"] == "paused"


def test_undo_restores_the_services_once(engine):
    engine.sign_in(4, "bot4")
    change = engine.apply_control(4, "set_services", services=["CT", "HT"], by="giamdoc", role="director")
    engine.undo_control(change["change_id"], by="giamdoc", role="director")
    assert next(c for c in engine.counters_view() if c["number"] == 4)["services"] == ["HT"]
    assert next(c for c in engine.counters_view() if c["number"] == 4)["notice"] is None
    with pytest.raises(Conflict, match="đã được hoàn tác"):
        engine.undo_control(change["change_id"], by="giamdoc", role="director")
    with pytest.raises(NotFound):
        engine.undo_control("nope", by="giamdoc", role="director")
    log = engine.control_log()
    assert [c["change_id"] for c in log] == [change["change_id"]] and log[0]["undone_at"] is not None


def test_undo_is_refused_when_the_counter_changed_since(engine):
    engine.sign_in(4, "bot4")
    change = engine.apply_control(4, "take_first", service="CT", by="giamdoc", role="director")
    engine.sign_out(4, "bot4")
    with pytest.raises(Conflict, match="đã thay đổi sau đó"):
        engine.undo_control(change["change_id"], by="giamdoc", role="director")


def test_a_change_survives_a_restart_and_the_replay_agrees(tmp_path, center, clock):
    store = Store(tmp_path / "q.db")
    engine = Engine(store, center, clock)
    engine.sign_in(4, "bot4")
    engine.sign_in(1, "bot1")
    engine.pause(1, "bot1")
    engine.apply_control(4, "set_services", services=["XH", "HT"], by="giamdoc", role="director")
    engine.apply_control(1, "call_back", by="giamdoc", role="director")
    c = engine.apply_control(1, "take_first", service="HT", by="giamdoc", role="director")
    engine.undo_control(c["change_id"], by="giamdoc", role="director")
    store.close()
    store = Store(tmp_path / "q.db")
    again = Engine(store, center, clock)
    views = {c["number"]: c for c in again.counters_view()}
    assert views[4]["services"] == ["XH", "HT"] and views[1]["state"] == "open"
    assert views[1]["services"] == ["CT"]
    result = check(store.conn(), [c.number for c in center.counters])
    assert result.ok, [d.message() for d in result.differences]
    store.close()


def test_the_replay_check_notices_services_changed_behind_its_back(tmp_path, center, clock):
    store = Store(tmp_path / "q.db")
    engine = Engine(store, center, clock)
    engine.sign_in(4, "bot4")
    with store.write() as conn:
        conn.execute("UPDATE counters SET services = '[\"DD\"]' WHERE number = 4")
    result = check(store.conn(), [c.number for c in center.counters])
    assert [d.field for d in result.differences] == ["services"]
    store.close()


def test_a_counter_paused_after_a_change_is_forecast_with_the_services_it_will_call_from(engine, clock):
    """The engine calls on resume from the services the counter had (a "take first" kept through
    the break); the forecast must play the same, not the roster row's."""
    from server.engine.waits import Shift
    now = clock.now()
    engine.roster = [Shift(4, "bot4", ("HT",), now - 600, now + 3600)]
    engine.sign_in(4, "bot4", services=["HT"])
    engine.apply_control(4, "set_services", services=["CT", "HT"], by="giamdoc", role="director")
    engine.pause(4, "bot4")
    conn = engine.store.conn()
    snap = engine.waits.snapshot(conn, engine.config.counter(4).site, engine.roster, clock.now())
    windows = next(c for c in snap.counters if c.number == 4).windows
    assert [w[2] for w in windows] == [("CT", "HT")]
    # and the engine, back from the break, calls CT first
    ht, ct = engine.issue("HT"), engine.issue("CT")
    engine.resume_counter(4, "bot4")
    assert engine.call_next(4, "bot4")["id"] == ct["id"] != ht["id"]


def test_a_clock_stepped_back_does_not_give_the_next_clerk_the_last_clerk_s_notice(engine, clock):
    """NTP steps the wall clock back five minutes after a change; the clerk signs out and another
    signs in: the notice of the change (made for the clerk who left) is not on the new console,
    since which came first is read from the event log's order, not from the times."""
    engine.sign_in(4, "bot4")
    engine.apply_control(4, "set_services", services=["CT", "HT"], by="giamdoc", role="director")
    assert "Chứng thực" in engine.counter_notices()[4]["message"]
    clock.jump(-300)
    engine.sign_out(4, "bot4")
    engine.sign_in(4, "bot4")
    assert 4 not in engine.counter_notices()
    assert next(c for c in engine.counters_view() if c["number"] == 4)["notice"] is None
