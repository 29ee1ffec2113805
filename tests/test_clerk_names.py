"""A director and the province read clerks by name, not by account: the counters of the
dashboard's snapshot and the report's lines per clerk carry the clerk's full name (the account's,
else the configuration's ``[[clerks]]`` name), the user name beside it."""
from __future__ import annotations

import io

from openpyxl import load_workbook

from server.auth import Auth
from server.reporting import files, period, tables


def _serve_one(engine, number: int, clerk: str, service: str) -> None:
    engine.sign_in(number, clerk)
    t = engine.issue(service)
    engine.call_next(number, clerk)
    engine.start(t["id"], number, clerk)
    engine.clock.advance(300)
    engine.finish(t["id"], number, clerk)


def test_the_dashboards_counters_name_each_clerk(engine, store, clock):
    auth = Auth(store, clock)
    auth.add_user("canbo", "Nguyễn Thị Lan", "clerk", "a-long-password-1")
    auth.add_user("bot1", "bot1", "clerk", "a-long-password-1")      # no full name given: the config's
    auth.add_user("moi", "moi", "clerk", "a-long-password-1")        # no name anywhere
    engine.sign_in(1, "canbo")
    engine.sign_in(2, "bot1")
    engine.sign_in(3, "moi")
    rows = {c["number"]: c for c in engine.counters_view()}
    assert (rows[1]["clerk"], rows[1]["clerk_name"]) == ("canbo", "Nguyễn Thị Lan")
    assert (rows[2]["clerk"], rows[2]["clerk_name"]) == ("bot1", "Cán bộ quầy 1")   # default_center.toml
    assert (rows[3]["clerk"], rows[3]["clerk_name"]) == ("moi", None)
    assert rows[4]["clerk"] is None and rows[4]["clerk_name"] is None
    snap = {c["number"]: c for c in engine.snapshot()["counters"]}
    assert snap[1]["clerk_name"] == "Nguyễn Thị Lan"


def test_a_renamed_account_shows_its_new_name_at_the_next_look(engine, store, clock):
    auth = Auth(store, clock)
    auth.add_user("canbo", "Nguyễn Thị Lan", "clerk", "a-long-password-1")
    engine.sign_in(1, "canbo")
    auth.add_user("canbo", "Nguyễn Thị Lan Anh", "clerk", "a-long-password-1")
    assert next(c for c in engine.counters_view() if c["number"] == 1)["clerk_name"] == "Nguyễn Thị Lan Anh"


def test_the_reports_lines_per_clerk_give_the_name_and_the_account(engine, store, clock):
    Auth(store, clock).add_user("canbo", "Nguyễn Thị Lan", "clerk", "a-long-password-1")
    _serve_one(engine, 1, "canbo", "CT")
    _serve_one(engine, 2, "moi", "CT")
    report = files.build(engine, period.days(engine.today()))
    lines = {c["clerk"]: c for c in report["by_clerk"]}
    assert lines["canbo"]["name"] == "Nguyễn Thị Lan" and lines["canbo"]["served"] == 1
    assert lines["moi"]["name"] is None and lines["moi"]["served"] == 1
    heads, rows = tables.sheets(report)["Theo cán bộ"]
    assert [h for h, _ in heads[:2]] == ["Cán bộ", "Tài khoản"]
    assert sorted(r[:2] for r in rows) == [["Nguyễn Thị Lan", "canbo"], ["moi", "moi"]]
    book = load_workbook(io.BytesIO(files.content(report, engine.config, "xlsx")))
    sheet = [list(r) for r in book["Theo cán bộ"].iter_rows(values_only=True)]
    assert sheet[0][:2] == ["Cán bộ", "Tài khoản"]
    assert ["Nguyễn Thị Lan", "canbo"] in [r[:2] for r in sheet[1:]]
    page = files.content(report, engine.config, "html").decode("utf-8")
    assert "Nguyễn Thị Lan" in page and '<span class="en">canbo</span>' in page


def test_a_report_made_in_its_own_process_names_the_clerks_too(engine, store, clock):
    """The server makes reports in a child process over a read-only connection
    (``server/reporting/isolated.py``): the names come with them."""
    from server.reporting import isolated
    Auth(store, clock).add_user("canbo", "Nguyễn Thị Lan", "clerk", "a-long-password-1")
    _serve_one(engine, 1, "canbo", "CT")
    report, data = isolated.content(engine, period.days(engine.today()), "html")
    assert {c["clerk"]: c["name"] for c in report["by_clerk"]} == {"canbo": "Nguyễn Thị Lan"}
    assert "Nguyễn Thị Lan" in data.decode("utf-8")
