"""The kiosk's local page: its screen in a browser, with buttons you can click or type.

A standard-library HTTP server on its own port (``[web]``; 127.0.0.1 by default, since
anyone who reaches it can take tickets). Routes:

- ``GET /``: the page (Vietnamese; keys 1..9 press services, P the priority button);
- ``GET /api/state?after=<version>``: the screen as JSON; with ``after``, waits up to 10 s
  for a newer version (long poll: a change shows at once, no polling every few seconds);
- ``POST /api/press`` ``{"button": "1" | "HT" | "P"}``: press and wait for the outcome; the body
  is read strictly (:class:`PressBody`: a JSON object with one string ``button``, 1-8 characters,
  no other key) and must name a button of this kiosk (a key, a service code or ``P``): anything
  else is a 400 naming the field, Vietnamese first, and nothing is pressed;
- ``GET /healthz``: 200 while the kiosk serves presses, with ``status`` ``ok`` or
  ``degraded`` (a printer fault, the server unreachable: numbers are still issued) and the
  ``printer`` state and ``faults``; 503 ``down`` when a thread died or the worker is stuck.
"""
from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .web_page import PAGE

if TYPE_CHECKING:
    from .app import KioskApp

log = logging.getLogger(__name__)

MAX_BODY = 4096


class PressBody(BaseModel):
    """The body of ``POST /api/press``: ``{"button": 5}`` is not the key "5" (a wrong type is
    refused, as the server's API refuses it), nor is ``{"button": "HT", "copies": 2}``."""
    model_config = ConfigDict(extra="forbid", strict=True)

    button: str = Field(min_length=1, max_length=8)


def _bad(field: str, vi: str, en: str) -> dict[str, Any]:
    return {"error": "bad_request", "field": field, "message": f"{vi} / {en}"}


def read_press(raw: bytes) -> tuple[str | None, dict[str, Any] | None]:
    """The button of a press body, or the 400's body saying what is wrong with it."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None, _bad("body", "Nội dung không phải JSON hợp lệ", "the body is not valid JSON")
    try:
        return PressBody.model_validate(data).button, None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        if first["type"] == "extra_forbidden":
            return None, _bad(field, f"Trường «{field}» không hợp lệ: chỉ nhận trường «button»",
                              f"field '{field}' is invalid: only 'button' is accepted")
        return None, _bad(field, f"Trường «{field}» không hợp lệ: cần một chuỗi 1–8 ký tự",
                          f"field '{field}' is invalid: {first['msg']}")


class KioskWeb:
    def __init__(self, app: KioskApp, host: str, port: int) -> None:
        self.app = app
        handler = type("Handler", (_Handler,), {"app": app})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="kiosk-web", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("kiosk page on %s", self.url)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    app: KioskApp
    server_version = "qms-kiosk"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("web: " + fmt, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # the page was closed or reloaded during its long poll: nobody to answer, nothing wrong
            log.debug("web: %s %s: the browser left before the answer", self.command, self.path)
            self.close_connection = True

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlparse(self.path)
        if url.path == "/":
            self._send(HTTPStatus.OK, PAGE.encode("utf-8"), "text/html; charset=utf-8")
        elif url.path == "/api/state":
            after = parse_qs(url.query).get("after", [None])[0]
            screen = self.app.screen.get()
            if after is not None and after.isdigit():
                screen = self.app.screen.wait_change(int(after), timeout=10.0)
            self._json(HTTPStatus.OK, screen.to_dict())
        elif url.path == "/healthz":
            report = self.app.health_report()
            self._json(HTTPStatus.OK if report["ok"] else HTTPStatus.SERVICE_UNAVAILABLE, report)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802
        if urlparse(self.path).path != "/api/press":
            self._json(HTTPStatus.NOT_FOUND, {"error": "not_found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, _bad("body", f"Thiếu nội dung hoặc quá {MAX_BODY} byte",
                                                    f"body missing or over {MAX_BODY} bytes"))
            return
        button, error = read_press(self.rfile.read(length))
        if error is None and not self.app.knows(button):
            names = ", ".join(self.app.buttons())
            error = _bad("button", f"Ki-ốt không có nút «{button}»; các nút: {names}",
                         f"this kiosk has no button '{button}'; buttons: {names}")
        if error is not None:
            self._json(HTTPStatus.BAD_REQUEST, error)
            return
        try:
            outcome = self.app.press(button, source="web", wait=True, timeout=30.0)
        except TimeoutError:
            self._json(HTTPStatus.GATEWAY_TIMEOUT, {"error": "timeout"})
            return
        self._json(HTTPStatus.OK, outcome)
