"""Who may do what (docs/queue-rules.md, "Counters"): a clerk acts only at the counter they are
signed in at, a director anywhere (on the record), a device only on its own tickets.

Every refusal is a 403 naming the reason, and the ticket is left exactly as it was."""
from __future__ import annotations

import pytest

from tests.staff import h, signed_in_tokens


ACTIONS = ("call", "recall", "start", "finish", "no-show", "park", "resume", "transfer", "requeue", "cancel",
           "abandon", "reprint")


@pytest.fixture
def tokens(app):
    auth = app.extensions["qms"].auth
    out = signed_in_tokens(app, (("lan", "clerk"), ("minh", "clerk"), ("giamdoc", "director")))
    out["kiosk-1"] = auth.add_device("kiosk-1", "kiosk")
    out["kiosk-2"] = auth.add_device("kiosk-2", "kiosk")
    return out



def _body(action: str, counter: int | None) -> dict | None:
    if action == "reprint":
        return None
    body = {} if counter is None else {"counter": counter}
    if action == "transfer":
        body["service"] = "CT"
    return body


#: actions done from a counter, whose body must name it (without it: 400 naming the field)
AT_COUNTER = {"call", "recall", "start", "finish", "no-show", "park", "resume"}


def _post(client, token, ticket_id, action, counter=None):
    return client.post(f"/api/v1/tickets/{ticket_id}/{action}", json=_body(action, counter), headers=h(token))


def _refused(r, action, counter) -> bool:
    if counter is None and action in AT_COUNTER:
        return r.status_code == 400 and "counter" in r.json["message"]
    return r.status_code == 403


@pytest.fixture
def in_hand(client, tokens):
    """HT-001 called to counter 4 by lan; HT-002 waiting."""
    first = client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk-1"])).json
    second = client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk-1"])).json
    client.post("/api/v1/counters/4/sign-in", headers=h(tokens["lan"]))
    assert client.post("/api/v1/counters/4/call-next", headers=h(tokens["lan"])).json["ticket"]["id"] == first["id"]
    return first, second


def _state(client, tokens, ticket_id):
    t = client.get(f"/api/v1/tickets/{ticket_id}", headers=h(tokens["giamdoc"])).json
    return t["state"], t["counter"], t["service"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("counter", [None, 4, 3])
def test_a_clerk_signed_in_at_no_counter_acts_on_no_ticket(client, tokens, in_hand, action, counter):
    for ticket in in_hand:
        before = _state(client, tokens, ticket["id"])
        r = _post(client, tokens["minh"], ticket["id"], action, counter)
        assert _refused(r, action, counter), (action, r.json)
        assert r.status_code == 400 or "minh" in r.json["message"]
        assert _state(client, tokens, ticket["id"]) == before


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("counter", [None, 3, 4])
def test_a_clerk_cannot_touch_a_ticket_in_hand_at_another_counter(client, tokens, in_hand, action, counter):
    held = in_hand[0]
    assert client.post("/api/v1/counters/3/sign-in", headers=h(tokens["minh"])).status_code == 200
    r = _post(client, tokens["minh"], held["id"], action, counter)
    assert _refused(r, action, counter), (action, r.json)
    assert _state(client, tokens, held["id"]) == ("called", 4, "HT")
    # and lan's counter still holds it
    counters = {c["number"]: c for c in client.get("/api/v1/counters", headers=h(tokens["lan"])).json["counters"]}
    assert counters[4]["ticket"]["id"] == held["id"]


def test_a_clerk_acts_on_waiting_tickets_only_of_services_their_counter_serves(client, tokens, in_hand):
    waiting_ht = in_hand[1]
    dd = client.post("/api/v1/tickets", json={"service": "DD"}, headers=h(tokens["kiosk-1"])).json
    client.post("/api/v1/counters/3/sign-in", headers=h(tokens["minh"]))  # counter 3 serves HT and CT
    r = _post(client, tokens["minh"], dd["id"], "cancel")
    assert r.status_code == 403 and "3" in r.json["message"]
    assert _state(client, tokens, dd["id"])[0] == "waiting"
    r = _post(client, tokens["minh"], waiting_ht["id"], "cancel", 3)
    assert r.status_code == 200 and r.json["state"] == "cancelled"


def test_a_clerk_works_the_ticket_at_their_own_counter(client, tokens, in_hand):
    held = in_hand[0]
    for action in ("recall", "start", "park", "resume"):
        assert _post(client, tokens["lan"], held["id"], action, 4).status_code == 200, action
    r = _post(client, tokens["lan"], held["id"], "transfer", 4)  # without 'counter' it is the clerk's own
    assert r.status_code == 200 and r.json["state"] == "waiting" and r.json["service"] == "CT"
    nxt = client.post("/api/v1/counters/4/call-next", headers=h(tokens["lan"])).json["ticket"]
    assert _post(client, tokens["lan"], nxt["id"], "no-show", 4).status_code == 200
    r = _post(client, tokens["lan"], nxt["id"], "requeue")  # the citizen came back to counter 4
    assert r.status_code == 200 and r.json["state"] == "waiting"


def test_a_director_acts_anywhere_and_it_is_on_the_record(client, tokens, in_hand):
    held, waiting = in_hand
    r = _post(client, tokens["giamdoc"], held["id"], "cancel")
    assert r.status_code == 200 and r.json["state"] == "cancelled"
    r = _post(client, tokens["giamdoc"], waiting["id"], "call", 4)  # at lan's counter
    assert r.status_code == 200 and r.json["counter"] == 4
    events = client.get("/api/v1/events", headers=h(tokens["giamdoc"])).json["events"]
    cancel = next(e for e in events if e["type"] == "ticket_cancel")
    assert (cancel["actor"], cancel["counter"], cancel["data"]["role"]) == ("giamdoc", 4, "director")
    call = [e for e in events if e["type"] == "ticket_call"][-1]
    assert (call["actor"], call["data"]["role"]) == ("giamdoc", "director")
    # a clerk who left: the director closes the counter, recorded under the director's name
    _post(client, tokens["giamdoc"], waiting["id"], "abandon")
    assert client.post("/api/v1/counters/4/sign-out", headers=h(tokens["giamdoc"])).status_code == 200
    out = client.get("/api/v1/events", headers=h(tokens["giamdoc"])).json["events"][-1]
    assert (out["type"], out["actor"], out["data"]["role"]) == ("counter_signed_out", "giamdoc", "director")


def test_a_clerk_cannot_pause_or_close_another_clerks_counter(client, tokens, in_hand):
    client.post("/api/v1/counters/3/sign-in", headers=h(tokens["minh"]))
    for op in ("pause", "sign-out", "call-next"):
        r = client.post(f"/api/v1/counters/4/{op}", headers=h(tokens["minh"]))
        assert r.status_code == 403, op
    counters = {c["number"]: c for c in client.get("/api/v1/counters", headers=h(tokens["lan"])).json["counters"]}
    assert (counters[4]["state"], counters[4]["clerk"]) == ("open", "lan")


def test_a_kiosk_reports_prints_only_of_its_own_tickets(client, tokens):
    mine = client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["kiosk-1"])).json
    client.post("/api/v1/counters/4/sign-in", headers=h(tokens["lan"]))
    at_desk = client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(tokens["lan"])).json
    for ticket in (mine, at_desk):
        r = client.post(f"/api/v1/tickets/{ticket['id']}/print-result", json={"printed": False, "fault": "no_paper"},
                        headers=h(tokens["kiosk-2"]))
        assert r.status_code == 403 and "kiosk-2" in r.json["message"]
        t = client.get(f"/api/v1/tickets/{ticket['id']}", headers=h(tokens["lan"])).json
        assert t["printed"] is None and t["print_fault"] is None
    r = client.post(f"/api/v1/tickets/{mine['id']}/print-result", json={"printed": False, "fault": "no_paper"},
                    headers=h(tokens["kiosk-1"]))
    assert r.status_code == 200 and r.json["print_fault"] == "no_paper"


def test_a_kiosk_cannot_supersede_another_kiosks_ticket(engine, clock):
    online = engine.issue("HT", client_ref="press-kiosk1-000001", source="kiosk", device="kiosk-1")
    block = engine.reserve_block("kiosk-2", "HT", 2)
    from qms_common.errors import Conflict
    with pytest.raises(Conflict):
        engine.merge_offline("kiosk-2", client_ref="press-kiosk1-000001", service="HT", number=block["first"],
                             day=block["day"], issued_at=clock.now())
    assert engine.ticket(online["id"])["state"] == "waiting"


def test_a_device_registered_to_a_site_issues_only_there(app, client):
    token = app.extensions["qms"].auth.add_device("kiosk-diem", "kiosk", site="diem-1")
    r = client.post("/api/v1/tickets", json={"service": "HT", "site": "main"}, headers=h(token))
    assert r.status_code == 403 and "diem-1" in r.json["message"]
    r = client.post("/api/v1/tickets", json={"service": "HT"}, headers=h(token))
    assert r.status_code == 201 and r.json["site"] == "diem-1"


def test_a_clerk_refused_a_directors_page_is_told_in_vietnamese_words(client, tokens):
    """The refusal named the role in English inside the Vietnamese sentence ("Vai trò 'clerk'")."""
    r = client.get("/api/v1/dashboard/charts", headers=h(tokens["lan"]))
    assert r.status_code == 403
    vi = r.json["message"].split(";")[0]
    assert vi == "Tài khoản cán bộ không được làm việc này (chỉ lãnh đạo, quản trị viên)"
    r = client.post("/api/v1/counters/4/call-next", headers=h(tokens["kiosk-1"]))
    assert r.status_code == 403 and r.json["message"].startswith("Tài khoản ki-ốt không được làm việc này")
