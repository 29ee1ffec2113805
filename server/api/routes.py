"""Route registration and JSON error handling for the API."""
from __future__ import annotations

import logging

from flask import jsonify
from flask_openapi3 import OpenAPI
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from qms_common.errors import QmsError

from . import counters, handover, misc, pairing, ratings, tickets

log = logging.getLogger(__name__)


def validation_error_response(exc: ValidationError):
    """422 with a message naming the field, instead of the library's raw list."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        problems.append(f"{where}: {err['msg']}")
    body = {"error": "validation_error",
            "message": "Dữ liệu không hợp lệ; invalid request: " + "; ".join(problems),
            "details": {"problems": problems}}
    response = jsonify(body)
    response.status_code = 422
    return response


def register_api(app: OpenAPI) -> None:
    app.validation_error_callback = validation_error_response
    for blueprint in (tickets.bp, counters.bp, misc.bp, handover.bp, pairing.bp, ratings.bp):
        app.register_api(blueprint)

    @app.errorhandler(QmsError)
    def _qms_error(exc: QmsError):
        response = jsonify(exc.to_dict())
        response.status_code = exc.http_status
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.response is not None and exc.response.mimetype == "application/json":
            return exc.response  # already a JSON answer (validation)
        response = jsonify({"error": exc.name.lower().replace(" ", "_"), "message": exc.description})
        response.status_code = exc.code or 500
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error")
        response = jsonify({"error": "internal", "message": "Lỗi máy chủ; internal error (logged)"})
        response.status_code = 500
        return response
