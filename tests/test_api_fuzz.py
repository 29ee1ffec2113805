"""The OpenAPI document fuzzed with schemathesis (bounded examples): no 5xx, whatever the
input, for an anonymous caller, a kiosk and a clerk signed in at a counter."""
from __future__ import annotations

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from qms_common.clock import FakeClock
from server.app import create_app
from server.config import load_center
from server.settings import ServerSettings
from tests.conftest import MONDAY_9AM


def _app():
    tmp = tempfile.mkdtemp(prefix="qms-fuzz-")
    app = create_app(ServerSettings(state_dir=tmp, password_profile="cheapest-for-tests"), center=load_center(),
                     clock=FakeClock(MONDAY_9AM))
    qms = app.extensions["qms"]
    qms.auth.add_user("lan", "Lan", "clerk", "matkhau-123")
    qms.auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
    token, _, _ = qms.auth.login("lan", "matkhau-123")
    director, _, _ = qms.auth.login("giamdoc", "matkhau-123")
    kiosk = qms.auth.add_device("kiosk-1", "kiosk")
    qms.engine.sign_in(4, "lan")
    for _ in range(3):
        qms.engine.issue("HT")
    app.config["FUZZ_TOKENS"] = {"clerk": token, "kiosk": kiosk, "director": director}
    return app


APP = _app()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


@pytest.mark.parametrize("role", ["anonymous", "kiosk", "clerk", "director"])
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, role):
    headers = {}
    if role != "anonymous" and case.path != "/api/v1/auth/logout":  # keep the sessions alive for the others
        headers["Authorization"] = f"Bearer {APP.config['FUZZ_TOKENS'][role]}"
    response = case.call(headers=headers)
    case.validate_response(response, checks=[not_a_server_error])
