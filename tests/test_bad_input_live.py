"""Against a real gunicorn server: a chunked body with an invalid chunk size (or cut short) is
a 400, not a 500, and the server keeps serving; the kiosk's and the robot's clients handle a
client_ref replay (200) and a client_ref conflict (409) as they should."""
from __future__ import annotations

import json
import socket

import pytest
import requests

from display.robot.api import ApiError, TicketApi
from kiosk.server_client import Refused, ServerClient
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("server"), threads=8) as server:
        yield server


def raw_post(srv: LiveServer, path: str, body: bytes, *, shut_write: bool = False) -> tuple[int, dict]:
    """One HTTP/1.1 request written by hand (requests cannot send a broken chunked body)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode() + body)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = rest.partition(b"\r\n")
        rest = rest[:int(size, 16)]
    return status, json.loads(rest) if rest.strip() else {}


@pytest.mark.parametrize("body, shut_write", [
    (b"zz\r\n{}\r\n0\r\n\r\n", False),                   # the chunk size is not hexadecimal
    (b"-5\r\n{}\r\n0\r\n\r\n", False),                   # nor negative
    (b"ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n", True),   # absurd, and the client stops
    (b"64\r\n{\"username\":", True),                     # 100 bytes announced, 13 sent, then the end
])
def test_a_broken_chunked_body_is_a_400_and_the_server_carries_on(srv, body, shut_write):
    status, answer = raw_post(srv, "/api/v1/auth/login", body, shut_write=shut_write)
    assert 400 <= status < 500, (status, answer)
    if answer:  # gunicorn itself may refuse before the app; when the app answers, it says why
        assert answer["error"] in ("unreadable_body", "invalid_json", "bad_request")
        assert answer["message"][:5] in ("Không", "Dữ li", "Yêu c")
    assert requests.get(srv.url + "/healthz", timeout=5).json()["ok"] is True
    assert "unexpected error" not in srv.log_path.read_text(errors="replace")


def test_a_good_chunked_body_is_read(srv):
    body = json.dumps({"username": "ai-do", "password": "sai-mat-khau"}).encode()
    status, answer = raw_post(srv, "/api/v1/auth/login", b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    assert status == 401 and answer["error"] == "unauthorized"


def test_kiosk_client_tells_a_replay_from_a_conflict(srv):
    client = ServerClient(srv.url, srv.add_device("kiosk-live", "kiosk"), timeout_s=5)
    first = client.issue("HT", False, "kiosk-live-ref-0001", None)
    again = client.issue("HT", False, "kiosk-live-ref-0001", None)  # the answer was lost: the same ticket
    assert again.ticket_id == first.ticket_id and again.code == first.code
    with pytest.raises(Refused) as refused:
        client.issue("CT", False, "kiosk-live-ref-0001", None)
    assert refused.value.status == 409 and refused.value.code == "conflict"
    assert refused.value.message.startswith(f"Mã client_ref đã dùng cho vé {first.code}")
    client.close()


def test_robot_client_tells_a_replay_from_a_conflict(srv):
    api = TicketApi(srv.url, srv.add_device("robot-live", "robot"))
    first = api.issue("CT", True, "robot-live-task-1")
    r = requests.post(srv.url + "/api/v1/tickets", json={"service": "CT", "priority": True,
                                                          "client_ref": "robot-live-task-1"},
                      headers=srv.bearer(api.token), timeout=5)
    assert r.status_code == 200 and r.json()["code"] == first.code  # what the robot's retry receives
    assert api.issue("CT", True, "robot-live-task-1").code == first.code
    with pytest.raises(ApiError, match="^Mã client_ref đã dùng cho vé"):
        api.issue("CT", False, "robot-live-task-1")
