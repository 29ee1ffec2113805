"""The OpenAPI document fuzzed with schemathesis, every check on: no 5xx, every status and
content type and body as documented, invalid input refused, valid input accepted, auth
enforced, 405 with Allow; for an anonymous caller, a kiosk, a clerk signed in at a counter
and a director. Bounded examples per operation, so the run stays under a minute."""
from __future__ import annotations

import tempfile
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from qms_common.clock import FakeClock
from server.app import create_app
from server.config import load_center
from server.settings import ServerSettings
from tests.conftest import MONDAY_9AM


def _app():
    tmp = tempfile.mkdtemp(prefix="qms-fuzz-")
    # A shared in-memory database: a report is then built in this process, not in a child that
    # imports WeasyPrint again for each of the dozens of PDFs the fuzz asks for (seconds each).
    # The child's path, and its answers, are tested by test_report_schedule and test_startup_imports.
    database = f"file:qms-fuzz-{uuid.uuid4().hex}?mode=memory&cache=shared"
    app = create_app(ServerSettings(state_dir=tmp, database=database, password_profile="cheapest-for-tests"),
                     center=load_center(), clock=FakeClock(MONDAY_9AM))
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
# A report's two days are each valid alone, but 'from' after 'to' or a range over a year is a
# 400 (a rule between two fields, which OpenAPI cannot state): for these two operations only,
# a 400 is an accepted answer to schema-valid input. tests/test_reports.py checks both refusals.
# So is the plan of a day the center does not work (its [hours] work_days, not the schema's):
# tests/test_plan_page_browser.py checks that refusal.
CONFIG = SchemathesisConfig.from_str("""
[[operations]]
include-path-regex = "^/api/v1/(reports/|plan$)"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]
""")
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP, config=CONFIG)


def test_the_fuzz_runs_every_check():
    """Guard against quietly narrowing the run: every check is enabled, both generation modes."""
    assert {m.value for m in schema.config.generation.modes} == {"positive", "negative"}
    checks = schema.config.checks
    for name in ("not_a_server_error", "status_code_conformance", "content_type_conformance",
                 "response_schema_conformance", "response_headers_conformance", "negative_data_rejection",
                 "positive_data_acceptance", "unsupported_method", "ignored_auth", "missing_required_header"):
        assert getattr(checks, name).enabled, name


@pytest.mark.parametrize("role", ["anonymous", "kiosk", "clerk", "director"])
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case, role):
    headers = {}
    if (role != "anonymous" and case.path != "/api/v1/auth/logout"  # keep the sessions alive for the others
            and not _headers_made_invalid(case)):  # a case testing a missing or bad token keeps it
        headers["Authorization"] = f"Bearer {APP.config['FUZZ_TOKENS'][role]}"
    case.call_and_validate(headers=headers)  # every built-in check


def _headers_made_invalid(case) -> bool:
    components = getattr(case.meta, "components", None) or {}
    return any(getattr(where, "value", where) == "header" and info.mode.value == "negative"
               for where, info in components.items())


def test_every_operation_documents_its_success_and_its_refusals():
    doc = APP.test_client().get("/api/v1/openapi.json").json
    operations = [(m.upper(), p, op) for p, item in doc["paths"].items() for m, op in item.items()]
    assert len(operations) >= 34
    for method, path, op in operations:
        statuses = set(op["responses"])
        assert statuses & {"200", "201"}, f"{method} {path} documents no success answer"
        assert {"400", "401", "403", "404", "413"} <= statuses, f"{method} {path}: {sorted(statuses)}"
        assert "422" not in statuses  # validation answers 400, and only 400
        refusal = op["responses"]["400"]["content"]["application/json"]["schema"]
        assert refusal == {"$ref": "#/components/schemas/Error"}, f"{method} {path}: {refusal}"
