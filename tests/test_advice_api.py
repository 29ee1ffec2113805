"""The director's controls and the live advice over the REST API: roles, clear refusals, the
change taking effect at the counter's next call, undo."""
from __future__ import annotations

import pytest

from tests.history import earlier_days
from tests.staff import h, signed_in_tokens


@pytest.fixture
def tokens(app):
    return signed_in_tokens(app, (("bot4", "clerk"), ("bot1", "clerk"), ("giamdoc", "director"), ("quantri", "admin")))


def test_the_director_changes_a_counter_and_undoes_it(client, tokens):
    assert client.post("/api/v1/counters/4/sign-in", headers=h(tokens["bot4"])).status_code == 200
    ct = client.post("/api/v1/tickets", json={"service": "CT"}, headers=h(tokens["giamdoc"])).json
    # counter 4 serves HT only: nobody to call
    r = client.post("/api/v1/counters/4/controls", json={"action": "set_services", "services": ["HT", "CT"]},
                    headers=h(tokens["giamdoc"]))
    assert r.status_code == 201, r.json
    change = r.json
    assert change["after"]["services"] == ["HT", "CT"] and change["by"] == "giamdoc"
    assert change["message"].startswith("Quầy này nay phục vụ thêm: Chứng thực")
    called = client.post("/api/v1/counters/4/call-next", headers=h(tokens["bot4"])).json["ticket"]
    assert called["id"] == ct["id"]
    log = client.get("/api/v1/controls", headers=h(tokens["giamdoc"])).json["changes"]
    assert [c["change_id"] for c in log] == [change["change_id"]]
    r = client.post(f"/api/v1/controls/{change['change_id']}/undo", headers=h(tokens["giamdoc"]))
    assert r.status_code == 200 and r.json["undone_by"] == "giamdoc"
    counters = {c["number"]: c for c in client.get("/api/v1/counters", headers=h(tokens["bot4"])).json["counters"]}
    assert counters[4]["services"] == ["HT"]
    again = client.post(f"/api/v1/controls/{change['change_id']}/undo", headers=h(tokens["giamdoc"]))
    assert again.status_code == 409 and "hoàn tác" in again.json["message"]


def test_refusals(client, tokens):
    client.post("/api/v1/counters/4/sign-in", headers=h(tokens["bot4"]))
    body = {"action": "take_first", "service": "CT"}
    assert client.post("/api/v1/counters/4/controls", json=body, headers=h(tokens["bot4"])).status_code == 403
    assert client.post("/api/v1/counters/4/controls", json=body, headers=h(tokens["quantri"])).status_code == 403
    assert client.post("/api/v1/counters/4/controls", json=body).status_code == 401
    r = client.post("/api/v1/counters/999/controls", json=body, headers=h(tokens["giamdoc"]))
    assert r.status_code == 404 and "quầy số 999" in r.json["message"]
    r = client.post("/api/v1/counters/4/controls", json={"action": "take_first", "service": "DD"},
                    headers=h(tokens["giamdoc"]))
    assert r.status_code == 409 and "chưa được đào tạo" in r.json["message"]
    r = client.post("/api/v1/counters/4/controls", json={"action": "set_services"}, headers=h(tokens["giamdoc"]))
    assert r.status_code == 400 and "services" in r.json["message"]
    r = client.post("/api/v1/counters/4/controls", json={"action": "swap"}, headers=h(tokens["giamdoc"]))
    assert r.status_code == 400 and r.json["details"]["fields"] == ["action"]
    r = client.post("/api/v1/counters/5/controls", json=body, headers=h(tokens["giamdoc"]))
    assert r.status_code == 409 and "đang đóng" in r.json["message"]
    r = client.post("/api/v1/controls/nope/undo", headers=h(tokens["giamdoc"]))
    assert r.status_code == 404


def test_advice_proposes_and_apply_makes_the_change(client, tokens, app, clock):
    engine = app.extensions["qms"].engine
    earlier_days(engine, clock)  # a center with earlier days: a counter may be given a new service (rule 6)
    client.post("/api/v1/counters/1/sign-in", headers=h(tokens["bot1"]))   # counter 1: CT; bot1: CT, HT
    client.post("/api/v1/counters/4/sign-in", headers=h(tokens["bot4"]))   # counter 4: HT; bot4: HT, CT, XH
    for _ in range(14):
        engine.issue("CT")
    clock.advance(300)
    advice = client.get("/api/v1/advice", headers=h(tokens["giamdoc"])).json
    assert advice["proposals"], advice
    top = advice["proposals"][0]
    assert top["focus"] == "CT" and top["counter"] == 4
    assert top["share_after"] > top["share_before"]
    assert "Chứng thực:" in top["text"] and "→" in top["text"]
    assert client.post("/api/v1/advice/apply", json={"key": top["key"]}, headers=h(tokens["bot4"])).status_code == 403
    r = client.post("/api/v1/advice/apply", json={"key": top["key"]}, headers=h(tokens["giamdoc"]))
    assert r.status_code == 201 and r.json["proposal"] == top["key"]
    assert "CT" in engine.counter_notices()[4]["message"] or "Chứng thực" in engine.counter_notices()[4]["message"]
    called = client.post("/api/v1/counters/4/call-next", headers=h(tokens["bot4"])).json["ticket"]
    assert called["service"] == "CT"
    r = client.post("/api/v1/advice/apply", json={"key": "4:nothing"}, headers=h(tokens["giamdoc"]))
    assert r.status_code == 409
    assert client.get("/api/v1/advice?site=nowhere", headers=h(tokens["giamdoc"])).status_code == 404


def test_on_a_cold_day_no_counter_is_offered_a_new_service_and_the_director_is_told(client, tokens, app, clock):
    # the same state without earlier days: the forecast holds the last half hour and cannot see a
    # peak coming, and giving counter 4 Chứng thực is not proposed (docs/advice.md, rule 6)
    engine = app.extensions["qms"].engine
    client.post("/api/v1/counters/1/sign-in", headers=h(tokens["bot1"]))
    client.post("/api/v1/counters/4/sign-in", headers=h(tokens["bot4"]))
    for _ in range(14):
        engine.issue("CT")
    clock.advance(300)
    advice = client.get("/api/v1/advice", headers=h(tokens["giamdoc"])).json
    assert advice["cold"] is True
    assert [p for p in advice["proposals"] if p["counter"] == 4] == []
    vi, en = advice["cold_note"].split("; ", 1)
    assert "Chưa có số liệu các ngày trước" in vi and "no earlier days yet" in en
