"""What every request goes through before a route sees it.

- an API query string holds only the route's parameters, each at most once;
- a body is at most ``MAX_BODY_BYTES`` (Flask's ``MAX_CONTENT_LENGTH``: 413, also for chunked bodies);
- a body that cannot be read (an invalid chunk size, a client that hangs up mid-body) is a 400,
  not a server error;
- JSON is parsed once, here: malformed JSON or JSON nested deeper than ``MAX_JSON_DEPTH`` is a
  400 before Python's recursive parser runs (1,000 levels raised RecursionError: a 500).

Our bodies are flat objects (depth 1); 32 leaves room and stops a hostile document early.
"""
from __future__ import annotations

import re

from flask import Flask, abort, current_app, jsonify, request
from flask_openapi3.utils import parse_parameters
from werkzeug.exceptions import BadRequest, HTTPException

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(raw: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest, without parsing it (strings,
    which may hold brackets, are skipped first)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _bad_request(code: str, message: str, status: int = 400, details: dict | None = None):
    body: dict = {"error": code, "message": message}
    if details:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    abort(response)


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _known_query(view) -> set[str]:
    query = parse_parameters(view)[3]
    if query is None:
        return set()
    return {field.alias or name for name, field in query.model_fields.items()}


def check_query() -> None:
    """An API route's query string holds only its documented parameters, each at most once
    (none of ours is a list): ``?site=a&site=b`` or ``?colour=red`` is refused, not ignored."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or not request.path.startswith("/api/v1/") or not request.args:
        return
    known = _known_query(view)
    unknown = sorted(k for k in request.args if k not in known)
    if unknown:
        names = ", ".join(unknown)
        _bad_request("validation_error", f"Dữ liệu không hợp lệ: {names}: tham số không được phép / "
                                         f"invalid request: {names}: unknown query parameter",
                     details={"fields": unknown})
    repeated = sorted(k for k in request.args if len(request.args.getlist(k)) > 1)
    if repeated:
        names = ", ".join(repeated)
        _bad_request("validation_error", f"Dữ liệu không hợp lệ: {names}: chỉ được ghi một lần / "
                                         f"invalid request: {names}: query parameter given more than once",
                     details={"fields": repeated})


def check_body() -> None:
    if not _has_body():
        return
    try:
        raw = request.get_data(cache=True)
    except TimeoutError:
        raise  # a body that stalled: 408 (server/worker.py, the handler in server/app.py)
    except HTTPException as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, TimeoutError):  # werkzeug reports a read that timed out as a disconnect
            raise cause from None
        raise  # 413 from MAX_CONTENT_LENGTH
    except Exception:  # noqa: BLE001 - whatever the server's reader raised, the body is unreadable
        _bad_request("unreadable_body",
                     "Không đọc được nội dung yêu cầu (mã hoá chunked sai hoặc bị ngắt giữa chừng); "
                     "the request body could not be read (bad chunked encoding or cut short)")
    if not request.is_json or not raw:
        return
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        _bad_request("json_too_deep", f"Dữ liệu JSON lồng quá sâu ({depth} tầng, tối đa {MAX_JSON_DEPTH}); "
                                      f"JSON nested {depth} levels deep (at most {MAX_JSON_DEPTH})")
    try:
        request.get_json()  # parsed once and cached: the routes' get_json() answers from the cache
    except BadRequest as exc:
        _bad_request("invalid_json", f"Dữ liệu JSON không hợp lệ; malformed JSON: {exc.description}")


def register_guard(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.before_request(check_query)
    app.before_request(check_body)
