"""Route registration and JSON error handling for the API.

Every refusal is JSON ``{error, message, details?}``, the message Vietnamese first, then
English; a request that does not fit its schema is a 400 naming each wrong field."""
from __future__ import annotations

import logging

from flask import jsonify
from flask_openapi3 import OpenAPI
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from qms_common.errors import QmsError

from . import advice, controls, counters, handover, insight, misc, pairing, ratings, sites, tickets
from .guard import register_guard

log = logging.getLogger(__name__)
VALIDATION_STATUS = 400

#: pydantic's error types in the words a clerk or an integrator reads (Vietnamese first)
_VI = {
    "missing": "thiếu trường bắt buộc", "extra_forbidden": "trường không được phép",
    "bool_type": "phải là true hoặc false", "int_type": "phải là số nguyên", "float_type": "phải là số",
    "string_type": "phải là chuỗi ký tự", "dict_type": "phải là một đối tượng JSON",
    "model_type": "phải là một đối tượng JSON", "model_attributes_type": "phải là một đối tượng JSON",
    "date_type": "phải là ngày YYYY-MM-DD", "date_from_datetime_parsing": "phải là ngày YYYY-MM-DD",
    "string_too_short": "quá ngắn (tối thiểu {min_length} ký tự)",
    "string_too_long": "quá dài (tối đa {max_length} ký tự)",
    "greater_than_equal": "quá nhỏ (tối thiểu {ge})", "greater_than": "quá nhỏ (phải lớn hơn {gt})",
    "less_than_equal": "quá lớn (tối đa {le})", "less_than": "quá lớn (phải nhỏ hơn {lt})",
    "literal_error": "giá trị không được phép", "int_parsing": "phải là số nguyên",
    "finite_number": "phải là số hữu hạn", "value_error": "giá trị không hợp lệ",
    "string_pattern_mismatch": "sai định dạng",
    "transfer_target": "cần chọn lĩnh vực (service) hoặc quầy (to_counter) để chuyển đến",
    "control_services": "set_services cần danh sách lĩnh vực (services)",
    "control_service": "take_first cần lĩnh vực (service)",
    "day_format": "phải là một ngày có thật, viết YYYY-MM-DD", "digits_format": "phải là số nguyên, chỉ gồm chữ số",
}
_HTTP_VI = {
    404: "Không tìm thấy địa chỉ", 405: "Phương thức không được hỗ trợ tại địa chỉ này",
    413: "Nội dung yêu cầu quá lớn", 400: "Yêu cầu không hợp lệ",
}


def _field(err: dict) -> str:
    return ".".join(str(p) for p in err["loc"]) or "body"


def validation_error_response(exc: ValidationError):
    """A 400 naming each wrong field, Vietnamese first, instead of the library's raw list."""
    vi, en, problems = [], [], []
    for err in exc.errors(include_url=False):
        where = _field(err)
        try:
            said = _VI.get(err["type"], "không hợp lệ").format(**err.get("ctx", {}))
        except (KeyError, IndexError):
            said = "không hợp lệ"
        vi.append(f"{where}: {said}")
        en.append(f"{where}: {err['msg']}")
        problems.append({"field": where, "type": err["type"], "message": err["msg"]})
    body = {"error": "validation_error",
            "message": "Dữ liệu không hợp lệ: " + "; ".join(vi) + " / invalid request: " + "; ".join(en),
            "details": {"fields": [p["field"] for p in problems], "problems": problems}}
    response = jsonify(body)
    response.status_code = VALIDATION_STATUS
    return response


def register_api(app: OpenAPI) -> None:
    app.validation_error_callback = validation_error_response
    register_guard(app)
    for blueprint in (tickets.bp, counters.bp, misc.bp, handover.bp, pairing.bp, ratings.bp, controls.bp, advice.bp, insight.bp,
                      sites.bp):
        app.register_api(blueprint)

    @app.errorhandler(QmsError)
    def _qms_error(exc: QmsError):
        response = jsonify(exc.to_dict())
        response.status_code = exc.http_status
        if "retry_after_s" in exc.details:
            response.headers["Retry-After"] = str(exc.details["retry_after_s"])
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.response is not None and exc.response.mimetype == "application/json":
            return exc.response  # already a JSON answer (validation, the body guard)
        code = exc.code or 500
        message = f"{_HTTP_VI[code]}; {exc.description}" if code in _HTTP_VI else exc.description
        response = jsonify({"error": exc.name.lower().replace(" ", "_"), "message": message})
        response.status_code = code
        for name, value in exc.get_headers():  # keeps Allow on a 405
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error")
        response = jsonify({"error": "internal", "message": "Lỗi máy chủ; internal error (logged)"})
        response.status_code = 500
        return response
