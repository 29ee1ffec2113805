"""The REST API: roles, validation, errors as JSON naming the problem, never a 500."""
from __future__ import annotations

import pytest

from tests.staff import h, signed_in_tokens



@pytest.fixture
def tokens(app):
    auth = app.extensions["qms"].auth
    out = signed_in_tokens(app, (("lan", "clerk"), ("minh", "clerk"), ("giamdoc", "director"), ("quantri", "admin")))
    out["kiosk"] = auth.add_device("kiosk-1", "kiosk")
    out["display"] = auth.add_device("display-1", "display")
    return out



def test_kiosk_issues_and_clerk_serves(client, tokens):
    r = client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk"]))
    assert r.status_code == 201
    t = r.json
    assert t["code"] == "HT-001" and t["people_ahead"] == 0 and t["status_url"].startswith("http")
    assert client.post("/api/v1/counters/4/sign-in", headers=h(tokens["lan"])).json["state"] == "open"
    called = client.post("/api/v1/counters/4/call-next", headers=h(tokens["lan"])).json["ticket"]
    assert called["code"] == "HT-001" and called["counter"] == 4
    for action in ("recall", "start", "finish"):
        r = client.post(f"/api/v1/tickets/{t['id']}/{action}", json={"counter": 4}, headers=h(tokens["lan"]))
        assert r.status_code == 200, r.json
    assert r.json["state"] == "done"
    assert client.post("/api/v1/counters/4/call-next", headers=h(tokens["lan"])).json == {"ticket": None}


def test_every_route_needs_the_right_role(client, tokens):
    assert client.post("/api/v1/tickets", json={"service": "HT"}).status_code == 401
    assert client.post("/api/v1/tickets", json={"service": "HT"}, headers=h("not-a-token")).status_code == 401
    r = client.post("/api/v1/counters/4/sign-in", headers=h(tokens["kiosk"]))
    assert r.status_code == 403 and "kiosk" in r.json["message"]
    assert client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["display"])).status_code == 403
    assert client.get("/api/v1/events", headers=h(tokens["lan"])).status_code == 403
    assert client.get("/api/v1/events", headers=h(tokens["giamdoc"])).status_code == 200
    assert client.post("/api/v1/kiosk/blocks", json={"service": "HT"}, headers=h(tokens["lan"])).status_code == 403
    assert client.get("/api/v1/snapshot", headers=h(tokens["display"])).status_code == 200


def test_a_clerk_cannot_work_another_clerks_counter(client, tokens):
    client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk"]))
    client.post("/api/v1/counters/4/sign-in", headers=h(tokens["lan"]))
    r = client.post("/api/v1/counters/4/call-next", headers=h(tokens["minh"]))
    assert r.status_code == 403
    t = client.post("/api/v1/counters/4/call-next", headers=h(tokens["lan"])).json["ticket"]
    r = client.post(f"/api/v1/tickets/{t['id']}/start", json={"counter": 4}, headers=h(tokens["minh"]))
    assert r.status_code == 403 and "minh" in r.json["message"]


@pytest.mark.parametrize("body, field", [
    ({}, "service"),
    ({"service": "HT", "colour": "red"}, "colour"),
    ({"service": "HT", "priority": "maybe"}, "priority"),
    ({"service": ""}, "service"),
    ({"service": "HT", "client_ref": "x"}, "client_ref"),
    ([1, 2, 3], "body"),
])
def test_bad_bodies_get_400_naming_the_field(client, tokens, body, field):
    r = client.post("/api/v1/tickets", json=body, headers=h(tokens["kiosk"]))
    assert r.status_code == 400
    assert r.json["error"] == "validation_error" and field in r.json["message"]


def test_malformed_json_and_wrong_types(client, tokens):
    r = client.post("/api/v1/tickets", data=b"{not json", headers={**h(tokens["kiosk"]), "Content-Type": "application/json"})
    assert r.status_code == 400
    r = client.post("/api/v1/counters/abc/sign-in", headers=h(tokens["lan"]))
    assert r.status_code == 404 and r.is_json
    r = client.post("/api/v1/counters/0/sign-in", headers=h(tokens["lan"]))
    assert r.status_code == 400 and "number" in r.json["message"]
    r = client.get("/api/v1/tickets", query_string={"state": "flying"}, headers=h(tokens["lan"]))
    assert r.status_code == 400 and "state" in r.json["message"]
    r = client.delete("/api/v1/tickets", headers=h(tokens["lan"]))
    assert r.status_code == 405 and r.is_json


def test_impossible_transition_is_409_naming_ticket_and_state(client, tokens):
    t = client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk"])).json
    r = client.post(f"/api/v1/tickets/{t['id']}/finish", json={"counter": 4}, headers=h(tokens["giamdoc"]))
    assert r.status_code == 409
    assert r.json["error"] == "invalid_transition"
    assert "HT-001" in r.json["message"] and "waiting" in r.json["message"]


def test_unknown_ticket_is_404(client, tokens):
    r = client.get("/api/v1/tickets/20261123-HT-999", headers=h(tokens["lan"]))
    assert r.status_code == 404 and "HT-999" in r.json["message"]


def test_idempotent_issue_with_client_ref(client, tokens):
    body = {"service": "CT", "client_ref": "kiosk-1-0000001"}
    a = client.post("/api/v1/tickets", json=body, headers=h(tokens["kiosk"])).json
    b = client.post("/api/v1/tickets", json=body, headers=h(tokens["kiosk"])).json
    assert a["id"] == b["id"]


def test_citizen_status_needs_no_login_and_reveals_nobody_else(client, tokens):
    t = client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk"])).json
    client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk"]))
    token = t["status_url"].rsplit("/", 1)[1]
    r = client.get(f"/api/v1/status/{token}")
    assert r.status_code == 200
    assert set(r.json) == {"seq", "code", "service", "state", "priority", "issued_at", "people_ahead",
                           "estimated_wait_s", "estimated_wait_range_s", "estimated_wait_text", "counter",
                           "called_at"}
    assert r.json["code"] == "HT-001"
    assert client.get("/api/v1/status/" + "A" * 22).status_code == 404


def test_login_errors(client, tokens):
    r = client.post("/api/v1/auth/login", json={"username": "lan", "password": "sai-mat-khau"})
    assert r.status_code == 401 and "mật khẩu" in r.json["message"]
    r = client.post("/api/v1/auth/login", json={"username": "ai-do", "password": "x"})
    assert r.status_code == 401


def test_session_expires(client, tokens, clock):
    assert client.get("/api/v1/auth/me", headers=h(tokens["lan"])).status_code == 200
    clock.advance(13 * 3600)
    assert client.get("/api/v1/auth/me", headers=h(tokens["lan"])).status_code == 401


def test_kiosk_offline_block_and_handover(client, tokens, clock):
    blk = client.post("/api/v1/kiosk/blocks", json={"service": "HT", "size": 3}, headers=h(tokens["kiosk"]))
    assert blk.status_code == 201
    b = blk.json
    body = {"client_ref": "offline-k1-000001", "service": "HT", "number": b["first"], "day": b["day"],
            "issued_at": clock.now() - 20}
    r1 = client.post("/api/v1/kiosk/offline-tickets", json=body, headers=h(tokens["kiosk"]))
    r2 = client.post("/api/v1/kiosk/offline-tickets", json=body, headers=h(tokens["kiosk"]))
    assert r1.status_code == 201 and r2.status_code == 201
    assert r1.json["id"] == r2.json["id"] and r1.json["code"] == "HT-901"
    bad = {**body, "client_ref": "offline-k1-000002", "number": b["last"] + 5}
    r = client.post("/api/v1/kiosk/offline-tickets", json=bad, headers=h(tokens["kiosk"]))
    assert r.status_code == 403


def test_print_failure_and_reprint(client, tokens):
    t = client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk"])).json
    r = client.post(f"/api/v1/tickets/{t['id']}/print-result", json={"printed": False, "fault": "no_paper"},
                    headers=h(tokens["kiosk"]))
    assert r.json["printed"] == 0 and r.json["print_fault"] == "no_paper"
    client.post("/api/v1/counters/4/sign-in", headers=h(tokens["lan"]))  # counter 4 serves HT
    r = client.post(f"/api/v1/tickets/{t['id']}/reprint", headers=h(tokens["lan"]))
    assert r.status_code == 200
    events = client.get("/api/v1/events", headers=h(tokens["giamdoc"])).json["events"]
    assert events[-1]["type"] == "ticket_reprint_requested" and events[-1]["device"] == "kiosk-1"


def test_snapshot_and_stats(client, tokens):
    client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk"]))
    snap = client.get("/api/v1/snapshot", headers=h(tokens["display"])).json
    assert snap["seq"] >= 1 and snap["center"]["timezone"] == "Asia/Ho_Chi_Minh"
    ht = next(s for s in snap["services"] if s["service"] == "HT")
    assert ht["waiting"] == 1 and ht["name"] == "Hộ tịch"


def test_openapi_document_lists_every_route(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/tickets", "/api/v1/counters/{number}/call-next", "/api/v1/status/{token}",
                 "/api/v1/kiosk/offline-tickets", "/api/v1/tickets/{ticket_id}/transfer"):
        assert path in doc["paths"]
    assert "IssueIn" in doc["components"]["schemas"]


def test_offline_qr_page_is_valid_before_the_hand_over_and_live_after(client, tokens, clock):
    b = client.post("/api/v1/kiosk/blocks", json={"service": "HT", "size": 2}, headers=h(tokens["kiosk"])).json
    assert len(b["tokens"]) == 2
    token = b["tokens"][0]
    pending = client.get(f"/api/v1/status/{token}")
    assert pending.status_code == 200 and pending.json["state"] == "pending" and pending.json["code"] == "HT-901"
    page = client.get(f"/s/{token}")
    assert page.status_code == 200 and "HT-901" in page.text
    body = {"client_ref": "offline-k1-000009", "service": "HT", "number": b["first"], "day": b["day"],
            "issued_at": clock.now()}
    assert client.post("/api/v1/kiosk/offline-tickets", json=body, headers=h(tokens["kiosk"])).status_code == 201
    arrived = client.get(f"/api/v1/status/{token}").json
    assert arrived["state"] == "waiting" and arrived["code"] == "HT-901"
    assert client.get("/s/not-a-token-at-all").status_code == 404


def test_refused_hand_over_is_an_alert_staff_can_resolve(client, tokens, clock):
    b = client.post("/api/v1/kiosk/blocks", json={"service": "CT", "size": 2}, headers=h(tokens["kiosk"])).json
    body = {"client_ref": "offline-k1-000010", "service": "CT", "number": b["last"] + 50, "day": b["day"],
            "issued_at": clock.now()}
    assert client.post("/api/v1/kiosk/offline-tickets", json=body, headers=h(tokens["kiosk"])).status_code == 403
    snap = client.get("/api/v1/snapshot", headers=h(tokens["giamdoc"])).json
    [alert] = [a for a in snap["alerts"] if a["kind"] == "handover_refused"]
    code = f"CT-{b['last'] + 50:03d}"
    assert alert["code"] == code and code in alert["message"] and alert["resolvable"]
    listed = client.get("/api/v1/handover-alerts", headers=h(tokens["lan"])).json["alerts"]
    assert [a["id"] for a in listed] == [alert["id"]]
    # bad input: a clear 4xx, never a 500; kiosks and displays may not resolve
    assert client.post("/api/v1/handover-alerts/0/resolve", headers=h(tokens["lan"])).status_code == 400
    assert client.post("/api/v1/handover-alerts/abc/resolve", headers=h(tokens["lan"])).status_code == 404
    assert client.post("/api/v1/handover-alerts/999999/resolve", headers=h(tokens["lan"])).status_code == 404
    assert client.post(f"/api/v1/handover-alerts/{alert['id']}/resolve",
                       headers=h(tokens["kiosk"])).status_code == 403
    r = client.post(f"/api/v1/handover-alerts/{alert['id']}/resolve", headers=h(tokens["lan"]))
    assert r.status_code == 200 and r.json["resolved"] is True
    snap = client.get("/api/v1/snapshot", headers=h(tokens["giamdoc"])).json
    assert not [a for a in snap["alerts"] if a["kind"] == "handover_refused"]


@pytest.mark.parametrize("path", ["/api/v1/snapshot", "/api/v1/services/stats"])
def test_a_screen_asking_for_a_site_the_center_has_not_is_told_so(client, tokens, path):
    # it was a 200 with an empty center: a display set up with a misspelt site showed "nobody waiting"
    r = client.get(path + "?site=zz", headers=h(tokens["display"]))
    assert r.status_code == 404, r.json
    assert r.json["error"] == "not_found" and r.json["details"]["site"] == "zz"
    assert r.json["message"].startswith("Không có điểm tiếp nhận 'zz' (các điểm: ")
    main = client.get(path, headers=h(tokens["display"]))
    assert main.status_code == 200
    sites = client.get("/api/v1/config", headers=h(tokens["display"])).json.get("sites") or []
    for s in sites:
        assert client.get(f"{path}?site={s['id']}", headers=h(tokens["display"])).status_code == 200
