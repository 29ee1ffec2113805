"""The dashboard's second version, its pure cores on a real engine in virtual time: the charts of
the day, the per-counter overload flag, the log of alerts raised and cleared, and their API."""
from __future__ import annotations

from datetime import timedelta

from qms_common.clock import local_timestamp

import pytest

from server.insight.alert_log import AlertLog, diff_alerts
from server.insight.charts import NO_HISTORY, day_charts
from server.insight.overload import CALLED_STALE_S, clear_time_s, current_rates, overload_flags
from server.insight.watch import Watch
from server.engine import Engine
from server.store import Store


def _charts(engine, clock):
    return Watch(engine, clock).charts()


def test_the_waiting_chart_follows_the_queue_through_the_day(engine, clock):
    engine.sign_in(4, "lan")
    for _ in range(3):
        engine.issue("HT")
    clock.advance(600)
    engine.call_next(4, "lan")                # one of three leaves the queue after 10 minutes
    clock.advance(600)
    c = _charts(engine, clock)
    labels, ht = c["waiting"]["labels"], c["waiting"]["series"]["HT"]
    assert labels[0] == "07:30" and labels[-1] == "09:20"
    at = {lab: n for lab, n in zip(labels, ht)}
    assert at["08:50"] == 0 and at["09:00"] == 3 and at["09:10"] == 2 and at["09:20"] == 2
    assert set(c["waiting"]["series"]["CT"]) == {0}


def test_within_15_minutes_by_hour_counts_late_waiters_against_it(engine, clock):
    engine.sign_in(4, "lan")
    engine.issue("HT")
    engine.issue("HT")
    clock.advance(300)
    t = engine.call_next(4, "lan")            # called after 5 minutes: within
    engine.start(t["id"], 4, "lan")
    clock.advance(1200)                       # the second has now waited 25 minutes, still waiting
    c = _charts(engine, clock)
    (nine,) = [h for h in c["within_by_hour"] if h["hour"] == "09:00"]
    assert nine == {"hour": "09:00", "counted": 2, "within": 1, "share": 0.5}
    dist = c["wait_distribution"]
    assert dist["called"][1] == 1 and sum(dist["called"]) == 1          # 5 minutes: the 5–10 band
    assert dist["waiting"][4] == 1 and sum(dist["waiting"]) == 1        # 25 minutes: the 20–30 band
    assert dist["labels"][0] == "0–5 phút" and dist["labels"][-1] == "≥ 30 phút"


def test_a_counters_load_and_idle_share(engine, clock):
    engine.sign_in(4, "lan")                  # open from 09:00
    engine.issue("HT")
    clock.advance(600)
    t = engine.call_next(4, "lan")            # busy from 09:10 ...
    engine.start(t["id"], 4, "lan")
    clock.advance(1200)
    engine.finish(t["id"], 4, "lan")          # ... to 09:30: 20 of 30 minutes
    c = _charts(engine, clock)
    four = next(x for x in c["counters"] if x["counter"] == 4)
    assert four["open_s"] == 1800 and four["busy_s"] == 1200
    assert four["load"] == pytest.approx(0.667, abs=0.001) and four["idle"] == pytest.approx(0.333, abs=0.001)
    assert next(x for x in c["counters"] if x["counter"] == 1)["load"] is None   # never open today


def test_without_earlier_days_the_forecast_says_not_enough_data(engine, clock):
    engine.issue("HT")
    a = _charts(engine, clock)["arrivals"]
    assert a["forecast"] is None and a["history_days"] == 0 and a["note"] == NO_HISTORY
    assert a["note"].startswith("Chưa đủ dữ liệu")
    assert a["actual"][3] == 1                # 09:00 is the fourth half hour after 07:30
    assert a["actual"][4] is None             # the future is not drawn as zero


def test_with_earlier_days_the_forecast_is_drawn_against_actual_arrivals(engine, clock):
    start = clock.now()
    # earlier days: written as the engine would on those days (a clock put back in a fresh engine)
    from qms_common.clock import FakeClock
    from server.engine import Engine
    for days_ago in (7, 14):
        past = Engine(engine.store, engine.config, FakeClock(start - days_ago * 86400))
        past.issue("HT")
        past.issue("HT")
    c = day_charts(Watch(engine, clock).today_events(), engine.config, day=engine.today(), now=clock.now(),
                   history=Watch(engine, clock).history(engine.today()))
    a = c["arrivals"]
    assert a["history_days"] == 2 and a["note"].startswith("Dự báo từ 2 ngày")
    assert a["forecast"][3] == pytest.approx(2.0, abs=0.01)   # both Mondays had 2 at 09:00
    assert sum(a["forecast"]) == pytest.approx(2.0, abs=0.01)


# --- the overload flag --------------------------------------------------------------------------

def _flags(engine, clock):
    now = clock.now()
    return {c["counter"]: c for c in overload_flags(engine.config, engine.service_stats(), engine.counters_view(),
                                                    current_rates(Watch(engine, clock).today_events(), now), now)}


def test_clear_time_at_current_rates():
    assert clear_time_s(0, 1, 600, 0) == 0
    assert clear_time_s(3, 1, 600, 0) == pytest.approx(1200)      # the third is called after two services
    assert clear_time_s(3, 2, 600, 6) == pytest.approx(600)       # two counters
    assert clear_time_s(3, 1, 600, 6) is None                     # arrivals as fast as service
    assert clear_time_s(3, 0, 600, 0) is None                     # nobody serves it


def test_a_counter_that_cannot_clear_its_queue_in_time_is_flagged(engine, clock):
    engine.sign_in(4, "lan")                  # the only open counter of HT
    for _ in range(2):
        engine.issue("HT")
    assert _flags(engine, clock)[4]["overloaded"] is False    # HT takes 8 min: the second is called after ~8
    engine.issue("HT")                                         # the third after ~16: past 15
    f = _flags(engine, clock)[4]
    assert f["overloaded"] and f["flags"][0]["kind"] == "cannot_clear"
    assert f["flags"][0]["message"].startswith("Quầy 4: Hộ tịch còn 3 người chờ")


def test_a_paused_counter_while_its_service_breaches_is_flagged(engine, clock):
    engine.sign_in(4, "lan")
    engine.pause(4, "lan")
    engine.issue("HT")
    clock.advance(16 * 60)
    f = _flags(engine, clock)[4]
    assert [x["kind"] for x in f["flags"]] == ["paused_while_breach"]
    assert "đang tạm nghỉ" in f["flags"][0]["message"]


def test_an_idle_counter_while_its_service_breaches_is_flagged(engine, clock):
    engine.sign_in(3, "minh")                 # serves HT and CT; nobody in hand
    engine.issue("HT")
    clock.advance(16 * 60)
    kinds = [x["kind"] for x in _flags(engine, clock)[3]["flags"]]
    assert "idle_while_breach" in kinds


def test_called_and_not_started_then_handling_past_30_minutes(engine, clock):
    engine.sign_in(4, "lan")
    engine.issue("HT")
    t = engine.call_next(4, "lan")
    clock.advance(CALLED_STALE_S - 1)
    assert _flags(engine, clock)[4]["overloaded"] is False
    clock.advance(2)
    assert [x["kind"] for x in _flags(engine, clock)[4]["flags"]] == ["called_not_started"]
    engine.start(t["id"], 4, "lan")
    clock.advance(31 * 60)
    f = _flags(engine, clock)[4]
    assert [x["kind"] for x in f["flags"]] == ["service_overrun"]
    assert "quá 30 phút" in f["flags"][0]["message"]


# --- the alert log ------------------------------------------------------------------------------

def test_an_alert_is_raised_once_and_cleared_once_with_its_times():
    a = {"kind": "wait_breach", "severity": 3, "site": "main", "service": "HT", "counter": None, "message": "x 16"}
    active, changes = diff_alerts({}, [a], 100.0)
    assert [(c["event"], c["at"]) for c in changes] == [("raised", 100.0)]
    active, changes = diff_alerts(active, [{**a, "message": "x 17"}], 160.0)   # the text grows: same alert
    assert changes == [] and next(iter(active.values()))["message"] == "x 17"
    active, changes = diff_alerts(active, [], 400.0)
    assert [(c["event"], c["at"], c["since"], c["duration_s"]) for c in changes] == [("cleared", 400.0, 100.0, 300.0)]
    log = AlertLog()
    log.update([a], 1.0)
    log.update([], 2.0)
    assert [e["id"] for e in log.after(0)] == [1, 2] and [e["id"] for e in log.after(1)] == [2]


def test_the_watch_logs_a_predicted_breach_and_an_overload(engine, clock):
    w = Watch(engine, clock)
    assert w.observe()["changes"] == []
    engine.sign_in(4, "lan")
    for _ in range(3):
        engine.issue("HT")
    clock.advance(2)
    kinds = {c["kind"] for c in w.observe()["changes"]}
    assert "overload_cannot_clear" in kinds


def test_the_alert_log_of_the_day_survives_a_restart(tmp_path, center, clock):
    """A power cut or a restart must not empty the director's log, nor restart an alert's clock."""
    store = Store(tmp_path / "qms.db")
    engine = Engine(store, center, clock)
    engine.sign_in(4, "lan")
    ids = [engine.issue("HT")["id"] for _ in range(3)]
    clock.advance(2)
    raised = [c for c in Watch(engine, clock).observe()["changes"] if c["kind"] == "overload_cannot_clear"]
    assert len(raised) == 1 and raised[0]["event"] == "raised"
    since, first_id = raised[0]["at"], raised[0]["id"]
    store.close()

    clock.advance(600)                               # the server comes back ten minutes later
    store = Store(tmp_path / "qms.db")
    engine = Engine(store, center, clock)
    watch = Watch(engine, clock)
    assert [e["id"] for e in watch.log.after(0) if e["kind"] == "overload_cannot_clear"] == [first_id]
    still = [a for a in watch.observe()["active"] if a["kind"] == "overload_cannot_clear"]
    assert [a["since"] for a in still] == [since]    # the same alert, not raised again
    assert watch.log.last_id >= first_id

    for ticket_id in ids:                            # the queue is gone: the alert clears once
        engine.cancel(ticket_id, actor="giamdoc", role="director")
    clock.advance(2)
    cleared = [c for c in watch.observe()["changes"] if c["kind"] == "overload_cannot_clear"]
    assert [(c["event"], c["since"], c["duration_s"]) for c in cleared] == [("cleared", since, round(clock.now() - since, 1))]
    assert cleared[0]["id"] > first_id
    store.close()
    after = Watch(Engine(Store(tmp_path / "qms.db"), center, clock), clock)
    assert [e["event"] for e in after.log.after(0) if e["kind"] == "overload_cannot_clear"] == ["raised", "cleared"]
    assert not [a for a in after.log.active_list() if a["kind"] == "overload_cannot_clear"]


# --- the API ------------------------------------------------------------------------------------

def _director(app):
    qms = app.extensions["qms"]
    qms.auth.add_user("giamdoc", "Giám đốc", "director", "matkhau-123")
    token, _, _ = qms.auth.login("giamdoc", "matkhau-123")
    return {"Authorization": f"Bearer {token}"}


def test_the_charts_and_watch_routes_are_for_directors(app, client):
    qms = app.extensions["qms"]
    qms.auth.add_user("lan", "Lan", "clerk", "matkhau-123")
    clerk, _, _ = qms.auth.login("lan", "matkhau-123")
    for path in ("/api/v1/dashboard/charts", "/api/v1/dashboard/watch", "/api/v1/plan?date=2026-11-24"):
        assert client.get(path).status_code == 401
        r = client.get(path, headers={"Authorization": f"Bearer {clerk}"})
        assert r.status_code == 403 and r.json["message"].startswith("Tài khoản cán bộ không được")
    h = _director(app)
    assert client.get("/api/v1/dashboard/charts", headers=h).json["arrivals"]["note"] == NO_HISTORY
    body = client.get("/api/v1/dashboard/watch?after=0", headers=h).json
    assert len(body["overload"]) == len(app.extensions["qms"].engine.config.counters)
    r = client.get("/api/v1/dashboard/watch?after=-1", headers=h)
    assert r.status_code == 400 and r.json["message"].startswith("Dữ liệu không hợp lệ")


def test_the_plan_route_without_history_says_so(app, client):
    r = client.get("/api/v1/plan?date=2026-11-24", headers=_director(app))
    assert r.status_code == 404 and r.json["message"].startswith("Chưa cấu hình lịch sử")
    r = client.get("/api/v1/plan?date=2026-02-30", headers=_director(app))
    assert r.status_code == 400


def test_today_events_leave_out_other_days(engine, clock):
    engine.issue("HT")
    w = Watch(engine, clock)
    assert [e["type"] for e in w.today_events()] == ["ticket_issued"]
    assert w.today_events(engine.today() + timedelta(days=1)) == []


def test_the_directors_changes_are_in_the_watch_log(app, client):
    engine = app.extensions["qms"].engine
    engine.sign_in(4, "bot4")  # trained for HT, CT and XH (the sample center's [[clerks]])
    change = engine.apply_control(4, "set_services", services=["CT", "HT"], by="giamdoc", role="director")
    engine.undo_control(change["change_id"], by="giamdoc", role="director")
    body = client.get("/api/v1/dashboard/watch", headers=_director(app)).json
    assert [(c["event"], c["change_id"], c["counter"], c["after"]["services"]) for c in body["controls"]] == [
        ("applied", change["change_id"], 4, ["CT", "HT"]), ("undone", change["change_id"], 4, ["HT"])]
    assert body["controls"][0]["message"].startswith("Quầy này nay phục vụ thêm: Chứng thực")


def test_a_transfer_moves_the_citizen_between_queues_and_a_pause_is_not_open_time(engine, clock):
    engine.sign_in(4, "lan")
    t = engine.issue("HT")
    clock.advance(600)
    engine.transfer(t["id"], service="CT", actor="lan")   # still waiting, now for Chứng thực
    engine.pause(4, "lan")
    clock.advance(600)
    c = _charts(engine, clock)
    last = {code: series[-1] for code, series in c["waiting"]["series"].items()}
    assert last["HT"] == 0 and last["CT"] == 1
    four = next(x for x in c["counters"] if x["counter"] == 4)
    assert (four["open_s"], four["paused_s"], four["busy_s"]) == (600, 600, 0) and four["idle"] == 1.0


def _any_hour(engine, clock):
    """The engine on a center that issues at any hour (the demo's, or a center working late)."""
    config = engine.config.model_copy(update={"hours": engine.config.hours.model_copy(update={"enforce": False})})
    return Engine(engine.store, config, clock)


def test_a_late_evening_is_drawn_when_it_happened(engine, clock):
    """Past an hour after closing the charts stopped at 18:00: the evening's citizens were
    nowhere on the waiting chart, counted as arrivals of 16:30, and their counter never open."""
    clock.advance(14.5 * 3600)                # Monday 23:30
    late = _any_hour(engine, clock)
    late.sign_in(4, "lan")
    late.issue("HT")
    late.issue("HT")
    clock.advance(600)
    late.call_next(4, "lan")                  # 23:40: one of two is called
    clock.advance(600)                        # now 23:50
    c = _charts(late, clock)
    at = dict(zip(c["waiting"]["labels"], c["waiting"]["series"]["HT"]))
    assert c["waiting"]["labels"][-1] == "23:50"
    assert at["23:20"] == 0 and at["23:30"] == 2 and at["23:40"] == 1 and at["23:50"] == 1
    arrivals = dict(zip(c["arrivals"]["labels"], c["arrivals"]["actual"]))
    assert arrivals["23:30"] == 2 and arrivals["16:30"] == 0
    four = next(x for x in c["counters"] if x["counter"] == 4)
    assert four["open_s"] == 1200 and four["busy_s"] == 600


def test_citizens_before_the_opening_are_drawn_from_their_half_hour(engine):
    from qms_common.clock import FakeClock
    early = FakeClock(engine.clock.now() - 2 * 3600 - 50 * 60)   # Monday 06:10
    e = _any_hour(engine, early)
    e.sign_in(4, "lan")
    e.issue("HT")
    early.advance(1200)
    e.call_next(4, "lan")                     # 06:30
    early.advance(600)                        # now 06:40
    c = _charts(e, early)
    labels = c["waiting"]["labels"]
    assert labels[0] == "06:00" and labels[-1] == "06:40"
    at = dict(zip(labels, c["waiting"]["series"]["HT"]))
    assert at["06:00"] == 0 and at["06:10"] == 1 and at["06:30"] == 0
    a = c["arrivals"]
    assert a["labels"][:4] == ["06:00", "06:30", "07:00", "07:30"] and a["actual"][0] == 1


def test_the_dashboards_log_of_today_leaves_out_yesterday(app, client, clock):
    """The log is titled "hôm nay" and shows times only: after midnight, yesterday evening's alerts
    read as this morning's."""
    engine = app.extensions["qms"].engine
    h = _director(app)
    engine.sign_in(4, "lan")
    for _ in range(3):
        engine.issue("HT")
    clock.advance(2)
    body = client.get("/api/v1/dashboard/watch", headers=h).json
    assert "overload_cannot_clear" in {e["kind"] for e in body["log"]}
    clock.advance(24 * 3600)                  # the next morning, 09:00: the day's close emptied the queue
    engine.issue("CT")
    token, _, _ = app.extensions["qms"].auth.login("giamdoc", "matkhau-123")   # yesterday's session expired
    body = client.get("/api/v1/dashboard/watch", headers={"Authorization": f"Bearer {token}"}).json
    start = local_timestamp(engine.today(), "00:00", engine.config.tz)
    assert body["log"] and all(e["at"] >= start for e in body["log"])   # the clearing, this morning
    assert body["day"] == engine.today().isoformat()
    assert body["last_id"] >= max(e["id"] for e in body["log"])
