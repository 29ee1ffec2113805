"""A standalone site's events at the main center, in-process (the real-process test is
tests/test_satellite_link.py): any day of operations at the satellite, shipped in any batches,
some twice, some out of order, leaves the main center with every ticket once, in the
satellite's state and order, a replay that agrees, and the same report as the satellite's own.
"""
from __future__ import annotations

import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qms_common.clock import FakeClock
from qms_common.errors import Forbidden, QmsError
from server.config import center_from_dict, sample_center_text
from server.engine import Engine
from server.engine.replay_check import check
from server.reporting import files, period
from server.satellite.mirror import Mirror
from server.sites import for_site
from server.store import Store
from tests.conftest import MONDAY_9AM

SITE = "diem-1"
COMPARED = ("code", "service", "site", "state", "issued_at", "first_called_at", "called_at", "started_at",
            "finished_at", "counter", "clerk", "recalls", "transfers", "target_counter", "reason", "wait_from")
REPORT_PARTS = ("totals", "satisfaction", "by_service", "by_day", "by_day_service", "by_counter", "by_clerk",
                "heatmap", "promise_broken")


def standalone_center(extra: str = ""):
    text = sample_center_text(enforce_hours=False).replace("# standalone = true", "standalone = true").replace(
        '# ticket_prefix = "D"', 'ticket_prefix = "D"')
    return center_from_dict(tomllib.loads(text + extra))


def main_and_satellite(tmp: Path, clock):
    config = standalone_center()
    main = Engine(Store(tmp / "main.db", synchronous="OFF"), config, clock)
    sat = Engine(Store(tmp / "sat.db", synchronous="OFF"), for_site(config, SITE), clock)
    return main, sat


def live_rows(engine: Engine, site: str) -> list[dict]:
    rows = engine.store.conn().execute("SELECT * FROM tickets WHERE site = ? ORDER BY id", (site,)).fetchall()
    return [{k: r[k] for k in COMPARED} for r in rows]


def same_report(main: Engine, sat: Engine, day) -> None:
    p = period.days(day, day)
    at_main, at_sat = files.build(main, p, site=SITE), files.build(sat, p)
    for part in REPORT_PARTS:
        assert at_main[part] == at_sat[part], part


ACTIONS = ["issue", "issue", "issue", "call_next", "call_next", "start", "finish", "no_show", "recall",
           "transfer", "park", "resume", "cancel", "sign_in", "pause", "resume_counter", "sign_out", "advance",
           "rate"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 40), st.booleans()), min_size=5,
                    max_size=60),
       cuts=st.lists(st.integers(1, 15), min_size=1, max_size=20), resend=st.booleans(), swap=st.booleans())
def test_any_day_at_the_satellite_arrives_once_and_in_order(ops, cuts, resend, swap):
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(MONDAY_9AM)
        main, sat = main_and_satellite(Path(tmp), clock)
        for action, a, flag in ops:
            counter = (21, 22)[a % 2]
            clerk = f"clerk{counter}"
            tickets = sat.tickets(limit=500)
            target = tickets[a % len(tickets)] if tickets else None
            try:
                if action == "issue":
                    sat.issue(("HT", "CT", "XH", "DD")[a % 4], priority=flag)
                elif action == "call_next":
                    sat.call_next(counter, clerk)
                elif action == "sign_in":
                    sat.sign_in(counter, clerk)
                elif action in ("pause", "resume_counter", "sign_out"):
                    getattr(sat, action)(counter, clerk)
                elif action == "advance":
                    clock.advance(30 + a * 20)
                elif action == "rate" and target is not None:
                    sat.rate(1 + a % 4, counter=counter)
                elif target is not None and action == "transfer":
                    sat.transfer(target["id"], service="CT", counter=target["counter"], actor=clerk)
                elif target is not None:
                    getattr(sat, action)(target["id"], target["counter"] or counter, clerk)
            except (QmsError, TypeError, AttributeError):
                pass  # refused at the satellite as it would be there: nothing recorded
        events = sat.events_after(0, limit=100000)
        batches, i = [], 0
        for n in cuts:
            if i < len(events):
                batches.append(events[i:i + n])
                i += n
        batches.append(events[i:])
        mirror = Mirror(main)
        if swap and len(batches) > 1 and batches[1]:  # a later batch first: refused past the gap, nothing applied out of order
            answer = mirror.receive(SITE, batches[1])
            assert answer["applied"] == 0 and answer["through"] == 0 and answer["gap_at"] == 1
        for batch in batches:
            mirror.receive(SITE, batch)
            if resend:
                again = mirror.receive(SITE, batch)
                assert again["applied"] == 0 and again["duplicates"] == len(batch)
        assert mirror.cursor(SITE)["through"] == (events[-1]["seq"] if events else 0)
        mirrored = main.store.conn().execute("SELECT origin_seq, type, ticket_id FROM events WHERE origin_site = ? "
                                             "ORDER BY seq", (SITE,)).fetchall()
        assert [tuple(r) for r in mirrored] == [(e["seq"], e["type"], e["ticket_id"]) for e in events]
        assert live_rows(main, SITE) == live_rows(sat, SITE)
        for c in (21, 22):
            m, s = main.counter(c), sat.counter(c)
            assert (m["state"], m["clerk"], m["ticket_id"]) == (s["state"], s["clerk"], s["ticket_id"])
        result = check(main.store.conn(), [c.number for c in main.config.counters])
        assert result.ok, result.differences[:5]
        same_report(main, sat, sat.today())


def test_the_main_center_does_not_act_for_a_standalone_site(tmp_path, clock):
    main, sat = main_and_satellite(tmp_path, clock)
    t = sat.issue("HT")
    sat.sign_in(21, "lan")
    Mirror(main).receive(SITE, sat.events_after(0))
    with pytest.raises(Forbidden, match="máy chủ riêng"):
        main.issue("HT", site=SITE)
    with pytest.raises(Forbidden, match="counter 22 belongs to the standalone site"):
        main.sign_in(22, "binh")
    with pytest.raises(Forbidden):
        main.cancel(t["id"], actor="director", role="director")
    # the next day the main center closes its own day, not the satellite's (the satellite does)
    clock.advance(86400)
    main.close_day()
    assert main.ticket(t["id"])["state"] == "waiting"
    assert main.issue("HT")["code"] == "HT-001"  # its own numbers; the satellite's are DHT-...
    assert t["code"] == "DHT-001"


def test_config_refuses_sites_whose_numbers_could_collide():
    with pytest.raises(QmsError, match="needs a ticket_prefix"):
        center_from_dict(tomllib.loads(sample_center_text().replace("# standalone = true", "standalone = true")))
    with pytest.raises(QmsError, match="ticket_prefix is used only by a standalone"):
        center_from_dict(tomllib.loads(sample_center_text().replace('# ticket_prefix = "D"', 'ticket_prefix = "D"')))
    # D + service HT would be DHT: a main-center service with prefix DHT would collide
    text = sample_center_text().replace("# standalone = true", "standalone = true").replace(
        '# ticket_prefix = "D"', 'ticket_prefix = "H"').replace('code = "CT"\nprefix = "CT"', 'code = "CT"\nprefix = "HHT"')
    with pytest.raises(QmsError, match="HHT"):
        center_from_dict(tomllib.loads(text))


def test_events_api_only_for_the_sites_own_token(tmp_path, clock):
    from server.app import create_app
    from server.settings import ServerSettings
    config = standalone_center()
    app = create_app(ServerSettings(state_dir=str(tmp_path), password_profile="cheapest-for-tests"), center=config,
                     clock=clock)
    auth = app.extensions["qms"].auth
    own, kiosk = auth.add_device("sat-diem-1", "satellite", site=SITE), auth.add_device("k1", "kiosk")
    other = auth.add_device("sat-x", "satellite", site="main")
    client = app.test_client()
    sat = Engine(Store(tmp_path / "sat.db"), for_site(config, SITE), clock)
    sat.issue("HT")
    shipped = ("seq", "at", "type", "ticket_id", "counter", "actor", "device", "data")
    body = {"events": [{k: e[k] for k in shipped} for e in sat.events_after(0)]}
    url = f"/api/v1/sites/{SITE}/events"
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers={"Authorization": f"Bearer {kiosk}"}).status_code == 403
    r = client.post(url, json=body, headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 403 and "không thuộc điểm" in r.json["message"]
    r = client.post(url, json=body, headers={"Authorization": f"Bearer {own}"})
    assert r.status_code == 200 and r.json["applied"] == 1, r.json
    r = client.post(url, json=body, headers={"Authorization": f"Bearer {own}"})
    assert r.json["applied"] == 0 and r.json["duplicates"] == 1
    r = client.post(url, json={"events": [{"seq": "x"}]}, headers={"Authorization": f"Bearer {own}"})
    assert r.status_code == 400 and r.json["error"] == "validation_error"
    r = client.get(url + "/cursor", headers={"Authorization": f"Bearer {own}"})
    assert r.json["through"] == 1
    r = client.post("/api/v1/sites/main/events", json=body, headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 403 and "standalone" in r.json["message"]
    # the director's dashboard line: how far each satellite's events have arrived
    auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
    login = client.post("/api/v1/auth/login", json={"username": "giamdoc", "password": "matkhau-123"}).json
    links = client.get("/api/v1/sites/links", headers={"Authorization": f"Bearer {login['token']}"}).json["sites"]
    assert [(x["site"], x["name"], x["through"], x["last_event_at"]) for x in links] == [
        (SITE, "Điểm tiếp nhận số 1", 1, body["events"][0]["at"])]
    assert client.get("/api/v1/sites/links", headers={"Authorization": f"Bearer {own}"}).status_code == 403


def test_a_malformed_event_refuses_the_batch_and_applies_nothing(tmp_path, clock):
    main, sat = main_and_satellite(tmp_path, clock)
    sat.issue("HT")
    good = sat.events_after(0)
    bad = {**good[0], "seq": 2, "ticket_id": "20261123-DHT-002", "data": {"code": "DHT-002"}}  # no day, service...
    with pytest.raises(QmsError, match="event 2 of site 'diem-1' is malformed"):
        Mirror(main).receive(SITE, [*good, bad])
    assert Mirror(main).cursor(SITE)["through"] == 0 and main.tickets(site=SITE) == []
    assert Mirror(main).receive(SITE, good)["applied"] == 1


def test_the_whole_centers_report_has_a_line_per_site(tmp_path, clock):
    import io

    from openpyxl import load_workbook
    main, sat = main_and_satellite(tmp_path, clock)
    for service in ("HT", "CT", "HT"):
        sat.issue(service)
    main.issue("HT")
    Mirror(main).receive(SITE, sat.events_after(0))
    p = period.days(main.today(), main.today())
    report = files.build(main, p)
    assert [(s["site"], s["issued"]) for s in report["by_site"]] == [("main", 1), (SITE, 3)]
    assert report["totals"]["issued"] == 4
    html = files.content(report, main.config, "html").decode("utf-8")
    assert "Theo điểm tiếp nhận" in html and "Điểm tiếp nhận số 1" in html
    book = load_workbook(io.BytesIO(files.content(report, main.config, "xlsx")))
    rows = list(book["Theo điểm"].iter_rows(values_only=True))
    assert [r[:2] for r in rows[1:]] == [("Trụ sở chính", 1), ("Điểm tiếp nhận số 1", 3)]
    one = files.build(main, p, site=SITE)
    assert one["totals"]["issued"] == 3 and one["center"].endswith("· Điểm tiếp nhận số 1")
    assert files.filename(one, "pdf").endswith(f"-{SITE}.pdf") and one["by_site"] == []
    with pytest.raises(QmsError, match="unknown site 'x'"):
        files.build(main, p, site="x")
