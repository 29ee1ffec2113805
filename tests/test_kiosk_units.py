"""The kiosk's parts on their own: the press filter (injected clock), the SQLite outbox,
the configuration, and the REST client against a server that answers 500, garbage or late."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kiosk.cli import main as kiosk_main
from kiosk.config import config_from_dict, load_config
from kiosk.outbox import NoNumbersLeft, Outbox
from kiosk.presses import PRIORITY, Press, PressFilter
from kiosk.server_client import Refused, ServerClient, Unreachable
from kiosk.testing import config_dict, to_toml
from qms_common.clock import FakeClock
from qms_common.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


# --- presses ----------------------------------------------------------------------------------

def make_filter(**kw) -> PressFilter:
    return PressFilter(frozenset({"HT", "CT"}), **kw)


def test_five_fast_presses_make_one_ticket() -> None:
    clock = FakeClock()
    f = make_filter(debounce_s=0.05, cooldown_s=2.0)
    verdicts = []
    for _ in range(5):
        verdicts.append(f.decide(Press("HT", clock.monotonic())).verdict)
        clock.advance(0.2)
    assert verdicts == ["issue", "cooldown", "cooldown", "cooldown", "cooldown"]
    clock.advance(2.0)
    assert f.decide(Press("HT", clock.monotonic())).issue


def test_contact_bounce_is_one_press() -> None:
    f = make_filter(debounce_s=0.05, cooldown_s=0)
    assert f.decide(Press("HT", 10.0)).issue
    assert f.decide(Press("HT", 10.01)).verdict == "bounce"
    assert f.decide(Press("CT", 10.02)).issue  # another button is another press


def test_presses_during_a_print_are_ignored() -> None:
    f = make_filter(cooldown_s=0)
    assert f.decide(Press("HT", 10.0)).issue
    f.busy_until(13.0)  # the print ended at 13.0; the press below was stamped during it
    assert f.decide(Press("CT", 12.5)).verdict == "busy"
    assert f.decide(Press("CT", 13.1)).issue


def test_rate_limit_per_button_per_minute() -> None:
    clock = FakeClock()
    f = make_filter(cooldown_s=0, per_minute=3)
    results = []
    for _ in range(20):  # a child pressing twenty times, one press every 2 s
        results.append(f.decide(Press("HT", clock.monotonic())))
        clock.advance(2.0)
    assert sum(r.issue for r in results) == 3
    refused = [r for r in results if r.verdict == "rate_limited"]
    assert len(refused) == 17 and 0 < refused[0].retry_in_s <= 60
    assert f.decide(Press("CT", clock.monotonic())).issue  # other buttons still work
    clock.advance(60)
    assert f.decide(Press("HT", clock.monotonic())).issue


def test_priority_then_service_within_the_window() -> None:
    f = make_filter(cooldown_s=0, priority_window_s=5)
    assert f.decide(Press(PRIORITY, 1.0)).verdict == "priority_armed"
    d = f.decide(Press("HT", 3.0))
    assert d.issue and d.priority
    assert not f.decide(Press("HT", 4.0)).priority  # used up
    f.decide(Press(PRIORITY, 10.0))
    assert not f.decide(Press("CT", 16.0)).priority  # too late


# --- the outbox ---------------------------------------------------------------------------------

def test_offline_numbers_come_from_blocks_in_order(tmp_path) -> None:
    box = Outbox(tmp_path / "k.db")
    box.add_block(day="2025-11-24", service="HT", prefix="HT", first=11, last=12, at=0)
    box.add_block(day="2025-11-24", service="HT", prefix="HT", first=31, last=31, at=0)
    codes = [box.issue_offline(client_ref=f"ref-{i:08d}", service="HT", priority=False, day="2025-11-24",
                               issued_at=float(i), site=None, status_base=None).code for i in range(3)]
    assert codes == ["HT-011", "HT-012", "HT-031"]
    with pytest.raises(NoNumbersLeft):
        box.issue_offline(client_ref="ref-x0000000", service="HT", priority=False, day="2025-11-24",
                          issued_at=9.0, site=None, status_base=None)
    assert box.spare("2025-11-24", "HT") == 0
    # printing holds the hand-over back; the print result releases it with printed set
    assert box.next_item() is None and box.depth() == 3
    t = box.ticket("20251124-HT-012")
    box.record_print(t, False, "no_paper", 10.0)
    item = box.next_item()
    assert item and item.key == "ref-00000001" and item.payload["printed"] is False
    assert item.payload["number"] == 12 and item.payload["day"] == "2025-11-24"
    box.confirm(item.seq)
    assert box.depth() == 2
    # a crash while printing: at start-up the rest go as not printed
    assert box.release_interrupted() == 2
    assert [box.next_item().payload["number"]] == [11]
    box.close()


def test_offline_qr_carries_the_token_the_server_gave_that_number(tmp_path) -> None:
    import sqlite3
    old = sqlite3.connect(tmp_path / "old.db")  # a kiosk database from before blocks had tokens
    old.execute("CREATE TABLE blocks (day TEXT NOT NULL, service TEXT NOT NULL, prefix TEXT NOT NULL, first INTEGER "
                "NOT NULL, last INTEGER NOT NULL, next INTEGER NOT NULL, reserved_at REAL NOT NULL, "
                "PRIMARY KEY (day, prefix, first))")
    old.execute("INSERT INTO blocks VALUES ('2025-11-24', 'HT', 'HT', 901, 901, 901, 0)")
    old.commit()
    old.close()
    box = Outbox(tmp_path / "old.db")
    box.add_block(day="2025-11-24", service="HT", prefix="HT", first=902, last=903, at=0,
                  tokens=["tok-902-aaaaaaaaaaaa", "tok-903-bbbbbbbbbbbb"])
    base = "http://center.example"
    urls = [box.issue_offline(client_ref=f"ref-{i:028d}", service="HT", priority=False, day="2025-11-24",
                              issued_at=float(i), site=None, status_base=base).status_url for i in range(3)]
    assert urls == [f"{base}/s/ref-{0:028d}",  # the old block: the client_ref, valid once handed over
                    f"{base}/s/tok-902-aaaaaaaaaaaa", f"{base}/s/tok-903-bbbbbbbbbbbb"]
    # a token list that does not match the block is not trusted
    box.add_block(day="2025-11-24", service="CT", prefix="CT", first=901, last=902, at=0, tokens=["only-one"])
    ct = box.issue_offline(client_ref="ref-ct-000000000000", service="CT", priority=False, day="2025-11-24",
                           issued_at=1.0, site=None, status_base=base)
    assert ct.status_url == f"{base}/s/ref-ct-000000000000"
    box.close()


def test_outbox_survives_reopening(tmp_path) -> None:
    box = Outbox(tmp_path / "k.db")
    box.add_block(day="2025-11-24", service="CT", prefix="CT", first=1, last=5, at=0)
    box.issue_offline(client_ref="ref-aaaaaaaa", service="CT", priority=True, day="2025-11-24", issued_at=1.0,
                      site="diem-1", status_base=None)
    box.close()
    again = Outbox(tmp_path / "k.db")
    assert again.release_interrupted() == 1
    item = again.next_item()
    assert item and item.payload == {"client_ref": "ref-aaaaaaaa", "service": "CT", "number": 1,
                                     "day": "2025-11-24", "issued_at": 1.0, "priority": True,
                                     "printed": False, "site": "diem-1"}
    assert again.spare("2025-11-24", "CT") == 4
    assert again.drop_blocks_before("2025-11-25") == 1
    again.close()


# --- configuration ---------------------------------------------------------------------------------

def base(tmp_path) -> dict:
    return config_dict(tmp_path, "http://127.0.0.1:9", "token-xyz")


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d.update(devcie="x"), "devcie: unknown field"),
    (lambda d: d["buttons"]["services"][1].update(pin=17), "buttons: GPIO pin(s) [17]"),
    (lambda d: d["server"].update(online_timeout_s=0), "server.online_timeout_s"),
    (lambda d: d["printer"].update(paper="57mm"), "printer.paper"),
    (lambda d: d.update(timezone="Mars/Olympus"), "timezone: unknown timezone"),
    (lambda d: d["indicators"].update(ready_led=17), "(top level): indicators.ready_led: GPIO 17 is already used"),
    (lambda d: d["buttons"].update(per_minute=0), "buttons.per_minute"),
])
def test_bad_config_names_the_field(tmp_path, mutate, field) -> None:
    data = base(tmp_path)
    mutate(data)
    with pytest.raises(ConfigError) as err:
        config_from_dict(data, "kiosk.toml")
    assert f"kiosk.toml: {field}" in str(err.value)


def test_cli_exits_2_naming_file_and_field(tmp_path, capsys) -> None:
    bad = tmp_path / "kiosk.toml"
    text = (REPO / "firmware_config" / "kiosk.example.toml").read_text(encoding="utf-8")
    bad.write_text(text.replace("block_size = 20", "block_sise = 20"), encoding="utf-8")
    assert kiosk_main(["--config", str(bad), "check"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: offline.block_sise: unknown field" in err


def test_cli_exits_2_on_missing_token_file(tmp_path, capsys) -> None:
    example = REPO / "firmware_config" / "kiosk.example.toml"
    assert load_config(example).server.token_file == Path("/etc/qms/kiosk.token")
    assert kiosk_main(["--config", str(example), "check"]) == 2
    assert "server.token_file: cannot read /etc/qms/kiosk.token" in capsys.readouterr().err


def test_cli_check_accepts_a_good_file(tmp_path, capsys) -> None:
    data = base(tmp_path)
    path = tmp_path / "kiosk.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    assert kiosk_main(["--config", str(path), "check"]) == 0
    assert "ok (3 service buttons, printer dummy, paper 80mm)" in capsys.readouterr().out


# --- the REST client against a misbehaving server ------------------------------------------------

class _Bad(BaseHTTPRequestHandler):
    mode = "500"
    release = threading.Event()

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.mode == "slow":
            self.release.wait(5)
        body = {"500": b"Internal Server Error", "garbage": b"\x00\xffnot json{", "list": b"[1,2]",
                "slow": b"{}", "half": b'{"id": "x"}',
                "409": json.dumps({"error": "center_closed", "message": "Trung tâm ngoài giờ cấp số"}).encode()}[self.mode]
        status = {"500": 500, "409": 409}.get(self.mode, 201)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def bad_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Bad)
    httpd.daemon_threads = True
    httpd.handle_error = lambda *a: None  # the client hung up on the slow answer: expected
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    _Bad.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("mode", ["500", "garbage", "list", "half", "slow"])
def test_bad_answers_mean_unreachable(bad_server, mode) -> None:
    _Bad.mode = mode
    _Bad.release.clear()
    client = ServerClient(f"http://127.0.0.1:{bad_server.server_address[1]}", "t", timeout_s=0.3)
    with pytest.raises(Unreachable):
        client.issue("HT", False, "ref-12345678", None)
    _Bad.release.set()
    client.close()


def test_a_real_refusal_is_not_offline(bad_server) -> None:
    _Bad.mode = "409"
    client = ServerClient(f"http://127.0.0.1:{bad_server.server_address[1]}", "t", timeout_s=1)
    with pytest.raises(Refused) as err:
        client.issue("HT", False, "ref-12345678", None)
    assert err.value.status == 409 and "ngoài giờ" in err.value.message
    client.close()
