"""Bad input gets a clear 4xx naming the problem, Vietnamese first, never a 500; bodies are
read strictly, query strings strictly on format; client_ref tells a replay from a conflict."""
from __future__ import annotations

import pytest

from server.api.guard import MAX_BODY_BYTES, MAX_JSON_DEPTH, json_depth


@pytest.fixture
def tokens(app):
    auth = app.extensions["qms"].auth
    auth.add_user("lan", "Lan", "clerk", "matkhau-123")
    auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
    return {"lan": auth.login("lan", "matkhau-123")[0], "giamdoc": auth.login("giamdoc", "matkhau-123")[0],
            "kiosk": auth.add_device("kiosk-1", "kiosk"), "kiosk2": auth.add_device("kiosk-2", "kiosk"),
            "robot": auth.add_device("robot-1", "robot")}


def h(token):
    return {"Authorization": f"Bearer {token}"}



# --- bodies that used to be 500s ---------------------------------------------------------

@pytest.mark.parametrize("path, auth", [("/api/v1/auth/login", None), ("/api/v1/tickets", "kiosk")])
def test_json_nested_1000_deep_is_a_400_before_parsing(client, tokens, path, auth):
    deep = "[" * 1000 + "]" * 1000
    r = client.post(path, data=deep, content_type="application/json", headers=h(tokens[auth]) if auth else {})
    assert r.status_code == 400 and r.json["error"] == "json_too_deep"
    assert r.json["message"].startswith("Dữ liệu JSON lồng quá sâu") and "1000" in r.json["message"]
    nested = '{"username": "lan", "password": ' + "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1) + "}"
    assert client.post("/api/v1/auth/login", data=nested, content_type="application/json").status_code == 400


def test_brackets_inside_strings_do_not_count_as_depth(client, tokens):
    password = "[[[{{{" * 20 + '\\"]]]'
    assert json_depth(('{"password": "' + password + '"}').encode()) == 1
    r = client.post("/api/v1/auth/login", data='{"username": "lan", "password": "' + password + '"}',
                    content_type="application/json")
    assert r.status_code == 401  # read as a (wrong) password, not refused as too deep


def test_malformed_json_names_the_problem(client, tokens):
    r = client.post("/api/v1/tickets", data=b'{"service": "HT",', content_type="application/json",
                    headers=h(tokens["kiosk"]))
    assert r.status_code == 400 and r.json["error"] == "invalid_json"
    assert r.json["message"].startswith("Dữ liệu JSON không hợp lệ; malformed JSON")


def test_a_body_over_the_limit_is_a_413(client, tokens):
    big = '{"service": "HT", "site": "' + "x" * MAX_BODY_BYTES + '"}'
    r = client.post("/api/v1/tickets", data=big, content_type="application/json", headers=h(tokens["kiosk"]))
    assert r.status_code == 413 and r.is_json and r.json["message"].startswith("Nội dung yêu cầu quá lớn")


def test_event_sequence_beyond_64_bits_is_a_400_naming_after(client, tokens):
    r = client.get("/api/v1/events?after=99999999999999999999999", headers=h(tokens["giamdoc"]))
    assert r.status_code == 400 and r.json["details"]["fields"] == ["after"]
    assert "after: quá lớn (tối đa 9223372036854775807)" in r.json["message"]
    r = client.get(f"/api/v1/events?after={2**63 - 1}", headers=h(tokens["giamdoc"]))
    assert r.status_code == 200 and r.json == {"events": []}


# --- strict bodies ----------------------------------------------------------------------

@pytest.mark.parametrize("path, who, body, field", [
    ("/api/v1/tickets", "kiosk", {"service": "HT", "priority": "yes"}, "priority"),
    ("/api/v1/tickets", "kiosk", {"service": "HT", "priority": 1}, "priority"),
    ("/api/v1/tickets", "kiosk", {"service": 5}, "service"),
    ("/api/v1/tickets/20261123-HT-001/start", "giamdoc", {"counter": "2"}, "counter"),
    ("/api/v1/tickets/20261123-HT-001/start", "giamdoc", {"counter": True}, "counter"),
    ("/api/v1/tickets/20261123-HT-001/start", "giamdoc", {"counter": 2.5}, "counter"),
    ("/api/v1/kiosk/blocks", "kiosk", {"service": "HT", "size": "10"}, "size"),
    ("/api/v1/tickets/20261123-HT-001/print-result", "kiosk", {"printed": "false"}, "printed"),
    ("/api/v1/kiosk/offline-tickets", "kiosk", {"client_ref": "kiosk-1-abcdefgh", "service": "HT", "number": "901",
                                                "day": "2026-11-23", "issued_at": 1.0}, "number"),
    ("/api/v1/kiosk/offline-tickets", "kiosk", {"client_ref": "kiosk-1-abcdefgh", "service": "HT", "number": 901,
                                                "day": 20261123, "issued_at": 1.0}, "day"),
    ("/api/v1/kiosk/offline-tickets", "kiosk", {"client_ref": "kiosk-1-abcdefgh", "service": "HT", "number": 901,
                                                "day": "2026-11-23", "issued_at": "1.0"}, "issued_at"),
])
def test_a_wrong_type_is_a_400_naming_the_field(client, tokens, path, who, body, field):
    r = client.post(path, json=body, headers=h(tokens[who]))
    assert r.status_code == 400, r.json
    assert r.json["error"] == "validation_error" and r.json["details"]["fields"] == [field]
    vi, en = r.json["message"].split(" / ")
    assert vi.startswith(f"Dữ liệu không hợp lệ: {field}: ") and en.startswith(f"invalid request: {field}: ")


def test_whole_numbers_in_a_body_may_be_written_2_0(client, tokens):
    # JSON Schema, and so the OpenAPI document, counts 10.0 as an integer
    r = client.post("/api/v1/kiosk/blocks", json={"service": "HT", "size": 10.0}, headers=h(tokens["kiosk"]))
    assert r.status_code == 201 and r.json["last"] - r.json["first"] == 9


def test_transfer_needs_a_destination(client, tokens):
    t = client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk"])).json
    r = client.post(f"/api/v1/tickets/{t['id']}/transfer", json={}, headers=h(tokens["giamdoc"]))
    assert r.status_code == 400 and "service" in r.json["message"] and "to_counter" in r.json["message"]


# --- query strings: text, parsed strictly on format ---------------------------------------

@pytest.mark.parametrize("path, field", [
    ("/api/v1/reports/daily?to=0", "to"),
    ("/api/v1/reports/daily?from=1795399200", "from"),
    ("/api/v1/reports/daily?to=2026-11-23T00:00:00", "to"),
    ("/api/v1/reports/daily?to=2026-02-30", "to"),
    ("/api/v1/tickets?day=20261123", "day"),
    ("/api/v1/tickets?limit=5.0", "limit"),
    ("/api/v1/tickets?limit=%2B5", "limit"),
    ("/api/v1/tickets?limit=%205", "limit"),
    ("/api/v1/tickets?limit=1_0", "limit"),
    ("/api/v1/tickets?limit=5%0A", "limit"),
    ("/api/v1/tickets?limit=%D9%A5", "limit"),  # an Arabic-Indic five
    ("/api/v1/tickets?day=2026-11-23%0A", "day"),
    ("/api/v1/events?after=-1", "after"),
])
def test_query_values_must_be_written_plainly(client, tokens, path, field):
    r = client.get(path, headers=h(tokens["giamdoc"]))
    assert r.status_code == 400, r.json
    assert r.json["details"]["fields"] == [field] and r.json["message"].startswith(f"Dữ liệu không hợp lệ: {field}: ")


@pytest.mark.parametrize("query, field, said", [
    ("site=main&site=diem-1", "site", "site: chỉ được ghi một lần"),
    ("site=main&colour=red", "colour", "colour: tham số không được phép"),
])
def test_a_query_holds_its_parameters_once_each(client, tokens, query, field, said):
    r = client.get(f"/api/v1/snapshot?{query}", headers=h(tokens["lan"]))
    assert r.status_code == 400 and r.json["details"]["fields"] == [field]
    assert r.json["message"].startswith(f"Dữ liệu không hợp lệ: {said}")
    r = client.get(f"/api/v1/center?{query}")  # a route without parameters
    assert r.status_code == 400 and set(r.json["details"]["fields"]) == {p.split("=")[0] for p in query.split("&")}


def test_plain_query_values_are_read(client, tokens):
    client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk"]))
    r = client.get("/api/v1/tickets?day=2026-11-23&limit=5", headers=h(tokens["giamdoc"]))
    assert r.status_code == 200 and len(r.json["tickets"]) == 1
    r = client.get("/api/v1/reports/daily?from=2026-11-23&to=2026-11-23", headers=h(tokens["giamdoc"]))
    assert r.status_code == 200 and r.json["from"] == "2026-11-23"
    assert client.get("/api/v1/events?after=0&limit=1", headers=h(tokens["giamdoc"])).status_code == 200


def test_a_405_says_which_methods_are_allowed(client, tokens):
    r = client.delete("/api/v1/tickets", headers=h(tokens["lan"]))
    assert r.status_code == 405 and r.is_json
    assert {"GET", "POST"} <= {m.strip() for m in r.headers["Allow"].split(",")}
    assert r.json["message"].startswith("Phương thức không được hỗ trợ")


# --- client_ref: replay or conflict ------------------------------------------------------

def test_a_replay_answers_200_with_the_first_ticket(client, app, tokens):
    body = {"service": "HT", "client_ref": "kiosk-1-0000001"}
    first = client.post("/api/v1/tickets", json=body, headers=h(tokens["kiosk"]))
    again = client.post("/api/v1/tickets", json=body, headers=h(tokens["kiosk"]))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json["id"] == first.json["id"] and again.json["status_url"] == first.json["status_url"]
    assert len(app.extensions["qms"].engine.tickets()) == 1


@pytest.mark.parametrize("changed, who, field", [
    ({"service": "CT"}, "kiosk", "service"),
    ({"priority": True}, "kiosk", "priority"),
    ({"site": "diem-1"}, "kiosk", "site"),
    ({}, "kiosk2", "device"),
])
def test_the_same_client_ref_for_another_request_is_a_409_naming_it(client, app, tokens, changed, who, field):
    body = {"service": "HT", "client_ref": "kiosk-1-0000002"}
    first = client.post("/api/v1/tickets", json=body, headers=h(tokens["kiosk"])).json
    r = client.post("/api/v1/tickets", json={**body, **changed}, headers=h(tokens[who]))
    assert r.status_code == 409, r.json
    assert r.json["error"] == "conflict" and r.json["details"]["fields"] == [field]
    assert r.json["details"]["ticket"] == first["code"] == "HT-001"
    assert r.json["message"].startswith(f"Mã client_ref đã dùng cho vé HT-001 với {field} khác")
    assert len(app.extensions["qms"].engine.tickets()) == 1  # nothing issued, nothing lost
