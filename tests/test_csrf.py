"""Cross-site writes are refused (server/csrf.py): a request that carries the session cookie
must come from a page of the center itself, as Origin (or Referer) says. Devices with Bearer
tokens are not affected. The browser test runs a hostile page on another origin in Chromium."""
from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from playwright.sync_api import expect

from server.app import create_app
from server.csrf import normalize_origin, refusal
from server.settings import ServerSettings
from tests.browser import DESK, browser, new_page, sign_in  # noqa: F401  (fixture)
from tests.live_server import LiveServer, free_port

T = 10_000
OWN = "http://localhost"


@pytest.fixture
def app(tmp_path, clock, center):
    return create_app(ServerSettings(state_dir=str(tmp_path), password_profile="cheapest-for-tests",
                                     trusted_origins=["https://qms.phuong-mau.gov.vn"]), center=center, clock=clock)


@pytest.fixture
def signed_in(app):
    """A clerk's browser: the session cookie only (no Authorization header), counter 4 open."""
    app.extensions["qms"].auth.add_user("lan", "Lan", "clerk", "matkhau-123")
    browser_client = app.test_client()
    r = browser_client.post("/api/v1/auth/login", json={"username": "lan", "password": "matkhau-123"},
                            headers={"Origin": OWN})
    assert r.status_code == 200 and "qms_token" in r.headers["Set-Cookie"]
    assert browser_client.post("/api/v1/counters/4/sign-in", headers={"Origin": OWN}).status_code == 200
    return browser_client


def _counter4(app) -> str:
    return app.extensions["qms"].engine.counter(4)["state"]


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "http://localhost:8081"},  # same host, another port: same site, so the cookie goes along
    {"Origin": "null"},
    {"Referer": "http://evil.example/page.html"},
    {},  # neither Origin nor Referer, with the cookie
], ids=["foreign", "other-port", "null", "foreign-referer", "no-origin"])
def test_a_cookie_write_from_another_origin_is_refused(app, signed_in, headers):
    r = signed_in.post("/api/v1/counters/4/pause", data="{}", content_type="text/plain", headers=headers)
    assert r.status_code == 403
    assert r.json["error"] == "cross_site_refused" and r.json["message"].startswith("Yêu cầu đến từ một trang khác")
    assert _counter4(app) == "open"


@pytest.mark.parametrize("headers", [{"Origin": OWN}, {"Referer": OWN + "/console"},
                                     {"Origin": "https://qms.phuong-mau.gov.vn"}])
def test_the_centers_own_pages_and_trusted_origins_may_write(app, signed_in, headers):
    r = signed_in.post("/api/v1/counters/4/pause", headers=headers)
    assert r.status_code == 200 and _counter4(app) == "paused"


def test_devices_with_bearer_tokens_and_reads_are_not_affected(app, signed_in):
    token = app.extensions["qms"].auth.add_device("kiosk-1", "kiosk")
    r = app.test_client().post("/api/v1/tickets", json={"service": "HT"},
                               headers={"Authorization": f"Bearer {token}", "Origin": "http://evil.example"})
    assert r.status_code == 201
    assert signed_in.get("/api/v1/counters", headers={"Origin": "http://evil.example"}).status_code == 200


def test_origin_comparison_is_exact_but_ignores_default_ports_and_case():
    assert normalize_origin("HTTP://Center.Local:80/x") == "http://center.local"
    assert normalize_origin("https://center.local:8443") == "https://center.local:8443"
    assert normalize_origin("javascript:alert(1)") is None
    own = ["http://center.local"]
    assert refusal("POST", {"Origin": "http://center.local.evil.example"}, True, own)
    assert refusal("POST", {"Origin": "https://center.local"}, True, own)  # another scheme
    assert refusal("DELETE", {"Origin": "http://center.local"}, True, own) is None
    assert refusal("POST", {}, False, own) is None  # no browser credentials to borrow


# --- in Chromium: a page on another origin tries it -------------------------------------------------

EVIL = """<!doctype html><meta charset="utf-8"><title>Khuyến mãi</title>
<form id="f" method="post" enctype="text/plain" action="{target}/api/v1/counters/4/sign-out">
<input name='{{"x":"' value='"}}'></form>
<script>
window.attack = () => fetch("{target}/api/v1/counters/4/pause",
  {{method: "POST", mode: "no-cors", credentials: "include", headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}})
  .then(r => "answered (" + r.type + ")", e => "failed: " + e);
</script>"""


@pytest.fixture
def hostile_site(tmp_path):
    """A page on another origin (same host, another port: the same *site*, so SameSite=Strict
    cookies go along), served by a real HTTP server."""
    site = tmp_path / "evil"
    site.mkdir()
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port),
                                 functools.partial(SimpleHTTPRequestHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_foreign_page_cannot_pause_or_close_a_counter_in_chromium(browser, tmp_path, hostile_site):  # noqa: F811
    site, evil_url = hostile_site
    with LiveServer(tmp_path / "srv") as srv:
        srv.add_user("lan.nguyen", "clerk")
        director = srv.add_user("giamdoc", "director")
        (site / "evil.html").write_text(EVIL.format(target=srv.url), encoding="utf-8")

        console = new_page(browser, DESK)
        console.goto(srv.url + "/console")
        sign_in(console, "lan.nguyen")
        console.click(".pick[data-counter='4']", timeout=T)
        expect(console.locator("#work")).to_be_visible(timeout=T)

        def counter4() -> str:
            rows = requests.get(srv.url + "/api/v1/counters", headers=srv.bearer(director), timeout=10).json()
            return next(c for c in rows["counters"] if c["number"] == 4)["state"]

        evil = console.context.new_page()  # same browser, same cookies: the clerk opened a link
        evil.goto(f"{evil_url}/evil.html")
        with evil.expect_response(lambda r: r.url.endswith("/counters/4/pause")) as answer:
            outcome = evil.evaluate("window.attack()")
        assert answer.value.status == 403, outcome
        with evil.expect_response(lambda r: r.url.endswith("/counters/4/sign-out")) as answer:
            evil.evaluate("document.getElementById('f').submit()")
        assert answer.value.status == 403
        expect(evil.locator("body")).to_contain_text("Yêu cầu đến từ một trang khác", timeout=T)
        assert counter4() == "open"

        # the center's own page, with the same cookie and no token, still may
        own = console.evaluate("""() => fetch('/api/v1/counters/4/pause', {method: 'POST', credentials: 'same-origin'})
                                      .then(r => r.status)""")
        assert own == 200 and counter4() == "paused"
        console.context.close()


def test_a_socket_borrowing_the_cookie_from_a_foreign_page_is_refused(app, signed_in):
    sio = app.extensions["qms_socketio"]
    foreign = sio.test_client(app, flask_test_client=signed_in, headers={"Origin": "http://evil.example"})
    assert not foreign.is_connected()
    own = sio.test_client(app, flask_test_client=signed_in, headers={"Origin": OWN})
    assert own.is_connected()
    own.disconnect()
