"""Pairing a wall display by a code the director enters (server/pairing.py, its routes):
the screen that asked collects its token once; a wrong or expired code says so; only managers
approve; one address cannot hoard codes; every bad input is a clear 4xx."""
from __future__ import annotations

import pytest

from tests.test_api import h, tokens  # noqa: F401  (fixtures)


def start(client, addr="10.0.0.7"):  # noqa: F811
    r = client.post("/api/v1/pairing", environ_base={"REMOTE_ADDR": addr})
    assert r.status_code == 201, r.json
    return r.json


def test_the_screen_gets_its_token_once_after_the_director_enters_the_code(client, tokens):  # noqa: F811
    req = start(client)
    assert len(req["code"]) == 6 and req["code"].isdigit()
    poll = client.post(f"/api/v1/pairing/{req['id']}/poll", json={"secret": req["secret"]})
    assert poll.status_code == 200 and poll.json["state"] == "waiting"
    code = f"{req['code'][:3]} {req['code'][3:]}"  # typed as shown, with the space
    ok = client.post("/api/v1/pairing/approve", json={"code": code, "name": "Sảnh chờ tầng 1", "site": "main"},
                     headers=h(tokens["giamdoc"]))
    assert ok.status_code == 200 and ok.json["device"].startswith("display-")
    got = client.post(f"/api/v1/pairing/{req['id']}/poll", json={"secret": req["secret"]}).json
    assert got["state"] == "paired" and got["device"] == ok.json["device"]
    snap = client.get("/api/v1/snapshot", headers=h(got["token"]))
    assert snap.status_code == 200  # the token works as a display's
    # given once: a second poll finds nothing
    assert client.post(f"/api/v1/pairing/{req['id']}/poll", json={"secret": req["secret"]}).status_code == 404


def test_the_code_alone_does_not_give_the_token(client, tokens):  # noqa: F811
    req = start(client)
    r = client.post(f"/api/v1/pairing/{req['id']}/poll", json={"secret": "x" * 32})
    assert r.status_code == 404


def test_only_managers_approve_and_wrong_codes_say_so(client, tokens):  # noqa: F811
    req = start(client)
    body = {"code": req["code"], "name": "Quầy 1"}
    assert client.post("/api/v1/pairing/approve", json=body).status_code == 401
    assert client.post("/api/v1/pairing/approve", json=body, headers=h(tokens["lan"])).status_code == 403
    assert client.post("/api/v1/pairing/approve", json=body, headers=h(tokens["display"])).status_code == 403
    wrong = "000000" if req["code"] != "000000" else "111111"
    r = client.post("/api/v1/pairing/approve", json={**body, "code": wrong}, headers=h(tokens["giamdoc"]))
    assert r.status_code == 404 and "mã" in r.json["message"]
    for bad in ({"code": "12ab56", "name": "x"}, {"code": req["code"], "name": ""}, {"code": req["code"]},
                {"code": req["code"], "name": "x", "site": "mars"}, {"code": req["code"], "name": "x", "extra": 1}):
        r = client.post("/api/v1/pairing/approve", json=bad, headers=h(tokens["giamdoc"]))
        assert 400 <= r.status_code < 500, (bad, r.status_code)


def test_codes_expire_and_one_address_cannot_hoard_them(client, tokens, clock):  # noqa: F811
    reqs = [start(client, "10.0.0.9") for _ in range(3)]
    assert client.post("/api/v1/pairing", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 429
    start(client, "10.0.0.10")  # another screen is not held up
    clock.advance(601)
    r = client.post(f"/api/v1/pairing/{reqs[0]['id']}/poll", json={"secret": reqs[0]["secret"]})
    assert r.status_code == 404 and "hết hạn" in r.json["message"]
    start(client, "10.0.0.9")  # the expired ones no longer count


@pytest.mark.parametrize("path, body", [("/api/v1/pairing/short/poll", {"secret": "x" * 20}),
                                        ("/api/v1/pairing/abcdefgh12/poll", {"secret": 5}),
                                        ("/api/v1/pairing/abcdefgh12/poll", {})])
def test_bad_poll_input_is_a_clear_4xx(client, path, body):  # noqa: F811
    r = client.post(path, json=body)
    assert 400 <= r.status_code < 500
