"""When each counter works in the forecast, from the day's roster (``WaitEstimator.snapshot``):
the rows as the engine and the simulator will live them, at a change of clerk, a break, a closed
counter: whose services, whose service times, and the priority count (from 0 after a sign-out)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from server.engine.snapshots import PAUSE_GUESS_S
from server.engine.waits import Shift
from server.scenario import load_scenario
from server.simulator import Simulation

# sample ward: counter 8 serves XH, NC, HT; clerk canbo is trained for XH, CT, HT, NC, bot4 for HT, CT, XH


def _counter(engine, number: int, now: float):
    snap = engine.waits.snapshot(engine.store.conn(), engine.config.counter(number).site, engine.roster, now)
    return next(c for c in snap.counters if c.number == number)


def _handover_day(folder):
    """Counter 1: clerk ``an`` does HT until 300 s, then ``binh`` DD and CT (in that order) until 6000.
    An calls a priority HT citizen at 10 whose service lasts until 410; the HT citizen behind waits,
    and so do a CT and a DD citizen; one more CT citizen takes a ticket at 320."""
    folder.mkdir()
    (folder / "center.json").write_text(json.dumps(
        {"name": "t", "close_s": 2000, "services": [{"code": c, "name": c} for c in ("HT", "CT", "DD")]}))
    (folder / "staff.csv").write_text("clerk,counter,skills,start_s,end_s\nan,1,HT,0,300\nbinh,1,DD;CT,300,6000\n")
    (folder / "arrivals.csv").write_text(
        "arrival_s,service,priority,service_s,patience_s,no_show\n"
        "10,HT,1,400,,0\n20,HT,0,30,,0\n30,CT,0,50,,0\n40,DD,0,50,,0\n320,CT,0,20,,0\n")
    return load_scenario(folder)


def test_a_row_whose_clerk_waits_for_the_previous_one_to_finish_is_forecast_with_its_own_services(tmp_path):
    """At 320 s binh's row has begun but an still serves the citizen called at 10 (until 410): the
    engine refuses binh's sign-in until an signs out, which the simulator does when that service
    ends. The forecast must play that: the counter busy until then, then binh's DD and CT, and no
    more HT from it (nobody else does HT: the HT citizen will not be called today)."""
    seen = {}

    def observe(sim, ticket, arrival):
        if arrival.arrival_s != 320:
            return
        engine, now = sim.engine, sim.engine.clock.now()
        assert engine.counter(1)["clerk"] == "an" and engine.counter(1)["state"] == "open"
        seen["counter"] = _counter(engine, 1, now)
        result = engine.waits.all_waiting(engine.store.conn(), "main", engine.roster, now)
        codes = {t["id"]: (t["service"], t["issued_at"] - sim.t0) for t in engine.tickets()}
        seen["estimates"] = {codes[tid]: est for tid, est in result.tickets.items()}
        seen["now"] = now - sim.t0

    sim = Simulation(_handover_day(tmp_path / "d"), observer=observe)
    records = {r.arrival_s: r for r in sim.run().records}
    counter, est = seen["counter"], seen["estimates"]
    # binh's row as binh will work it: DD then CT, from now (the path plays an's citizen first),
    # binh's own times and priority count (a new sign-in starts from none in a row)
    assert [w[2] for w in counter.windows] == [("DD", "CT")]
    assert counter.windows[0][0] == seen["now"] + sim.t0
    assert counter.clerk == "binh" and counter.priority_in_row == 0
    assert counter.in_hand is not None and counter.in_hand.service == "HT" and counter.in_hand.started
    # what then happened: an's HT citizen finished at 410, binh called from DD and CT, never HT
    assert records[10].finished_s == 410
    assert records[20].outcome == "unserved" and records[20].called_s is None
    called = sorted((r.called_s, r.arrival_s) for r in records.values() if r.called_s is not None and r.arrival_s > 10)
    assert called[0][0] == 410 and {a for _, a in called} == {30, 40, 320}
    # and the forecast said so: the HT citizen called in no path, the others in every path, in the
    # order the engine called them (binh's DD first, then CT by queue)
    assert est[("HT", 20)].called_share == 0
    for key in (("CT", 30), ("DD", 40), ("CT", 320)):
        assert est[key].called_share == 1
    forecast_order = sorted((k for k in est if k[0] != "HT"), key=lambda k: est[k].wait_s)
    assert [a for _, a in forecast_order] == [a for _, a in called] == [40, 30, 320]


def test_a_counter_paused_for_a_break_between_two_rows_is_forecast_with_the_next_rows_services(engine, clock):
    """Paused near the end of a row of XH, with the next row (HT, NC) after a break: the simulator
    signs the clerk out at the row's end and in again with the next row's services when it begins,
    so the forecast has the counter call nothing before, then HT and NC, not XH."""
    now = clock.now()
    engine.roster = [Shift(8, "canbo", ("XH",), now - 3600, now + 120), Shift(8, "canbo", ("HT", "NC"), now + 900, now + 3600)]
    engine.sign_in(8, "canbo", services=["XH"])
    engine.pause(8, "canbo")
    assert _counter(engine, 8, now).windows == ((now + 900, now + 3600, ("HT", "NC")),)
    # inside the row the pause is expected to end: the row's rest, with the services it had
    engine.roster[0] = Shift(8, "canbo", ("XH",), now - 3600, now + 1200)
    engine.roster[1] = Shift(8, "canbo", ("HT", "NC"), now + 1500, now + 3600)
    assert _counter(engine, 8, now).windows == ((now + PAUSE_GUESS_S, now + 1200, ("XH",)),
                                               (now + 1500, now + 3600, ("HT", "NC")))
    # the next row another clerk's, already begun: that clerk's services from now, not the paused one's
    engine.roster = [Shift(8, "canbo", ("XH",), now - 3600, now - 60), Shift(8, "bot4", ("HT",), now - 60, now + 3600)]
    counter = _counter(engine, 8, now)
    assert counter.windows == ((now, now + 3600, ("HT",)),) and counter.clerk == "bot4"


def test_a_row_that_starts_while_the_counter_is_closed_is_forecast_with_its_services(engine, clock):
    """Nobody signed in at counter 8: a row that begins later works from its start with its own
    services; one that has begun (its clerk about to sign in) from now; and the engine, once that
    clerk signs in with the row's services, calls from them."""
    now = clock.now()
    engine.roster = [Shift(8, "bot4", ("HT", "XH"), now + 600, now + 3600)]
    counter = _counter(engine, 8, now)
    assert counter.windows == ((now + 600, now + 3600, ("HT", "XH")),) and counter.clerk is None
    engine.roster = [Shift(8, "canbo", ("XH",), now - 3600, now - 600), Shift(8, "bot4", ("HT", "XH"), now - 60, now + 3600)]
    assert _counter(engine, 8, now).windows == ((now, now + 3600, ("HT", "XH")),)
    nc, ht = engine.issue("NC"), engine.issue("HT")  # counter 8 serves NC too, not in this row
    engine.sign_in(8, "bot4", services=["HT", "XH"])
    assert _counter(engine, 8, clock.now()).windows == ((clock.now(), now + 3600, ("HT", "XH")),)
    assert engine.call_next(8, "bot4")["id"] == ht["id"] != nc["id"]


def test_the_path_rule_check_catches_a_row_forecast_with_the_previous_clerks_services(tmp_path, monkeypatch):
    """``bench/path_rule.py`` compares, when a counter's hands are free again, the windows the
    forecast gave it while it was busy with what the engine then calls from (its cause ``ahead``).
    On the handover day above: no difference; with the reading before the fix planted (the
    counter's clerk taken for the row's), the windows read at 320 s say HT, binh calls DD and CT."""
    from bench.path_rule import Checked
    from server.engine import snapshots
    clean = Checked(_handover_day(tmp_path / "clean"))
    clean.run()
    assert clean.calls == 4 and not clean.causes, clean.examples
    monkeypatch.setattr(snapshots, "_signed_in", lambda row, clerk: True)
    planted = Checked(_handover_day(tmp_path / "planted"))
    planted.run()
    assert planted.causes["ahead"] == 1 and "counter 1" in planted.examples[0], planted.examples


def _two_clerks_day(folder):
    """Counter 1, HT only: ``cham`` (5 minutes a citizen: 40 of them) until 12020 s, ``nhanh``
    (15 s a citizen: 40) from 12050 to 12700, a break, ``cham`` again from 13400. Nhanh's last
    citizen (300 s, called at 12660) runs past the row's end; six citizens come at 12670-12675 and
    one at 13000 (the counter closed): all seven wait for cham's row, who takes 300 s each."""
    folder.mkdir()
    (folder / "center.json").write_text(json.dumps(
        {"name": "t", "close_s": 16000, "services": [{"code": "HT", "name": "HT"}]}))
    (folder / "staff.csv").write_text("clerk,counter,skills,start_s,end_s\n"
                                      "cham,1,HT,0,12020\nnhanh,1,HT,12050,12700\ncham,1,HT,13400,16000\n")
    rows = [f"{300 * k},HT,0,300,,0" for k in range(40)] + [f"{12050 + 15 * k},HT,0,15,,0" for k in range(40)]
    rows += ["12660,HT,0,300,,0"] + [f"{12670 + k},HT,0,300,,0" for k in range(6)] + ["13000,HT,0,300,,0"]
    (folder / "arrivals.csv").write_text("arrival_s,service,priority,service_s,patience_s,no_show\n"
                                         + "\n".join(rows) + "\n")
    return load_scenario(folder)


def test_a_row_ahead_is_forecast_with_its_own_clerks_times(tmp_path):
    """Whoever is at the counter now (nhanh, or nobody at the break), the row after the break is
    cham's, and the citizens who wait for it are called at cham's pace: the forecast plays that
    row with cham's own times (learned from the 40 services of the morning), not nhanh's (15 s)
    nor, the counter closed, every clerk's of the service together (2.8 min on average)."""
    seen = {}

    def observe(sim, ticket, arrival):
        if arrival.arrival_s not in (12675, 13000):
            return
        engine, now = sim.engine, sim.engine.clock.now()
        counter = engine.counter(1)
        result = engine.waits.all_waiting(engine.store.conn(), "main", engine.roster, now)
        issued = {t["id"]: t["issued_at"] - sim.t0 for t in engine.tickets()}
        calls = {issued[tid]: now - sim.t0 + est.wait_s for tid, est in result.tickets.items()}
        seen[arrival.arrival_s] = (counter["state"], counter["clerk"], _counter(engine, 1, now), calls)

    records = {r.arrival_s: r for r in Simulation(_two_clerks_day(tmp_path / "d"), observer=observe).run().records}
    waiting = [12670 + k for k in range(6)]
    # what happened: cham called the seven from 13400 on, one every 300 s
    assert [records[a].called_s for a in waiting + [13000]] == [13400 + 300 * k for k in range(7)]
    assert {records[a].clerk for a in waiting + [13000]} == {"cham"}
    for moment, state, clerk, first, last in ((12675, "open", "nhanh", 12670, 12675), (13000, "closed", None, 12670, 13000)):
        now_state, now_clerk, counter, calls = seen[moment]
        assert (now_state, now_clerk) == (state, clerk)
        # the forecast: the first one called when cham's row begins, and then about cham's pace
        # a citizen (his own times, weighed with the service's as his 40 services allow: ~4.3 min)
        assert calls[first] == pytest.approx(13400, abs=60)
        pace = (calls[last] - calls[first]) / (len(calls) - 1)
        assert 220 <= pace <= 330, (moment, pace)
        assert counter.window_clerks[-1] == ("cham", True)  # the row read as cham's, his count from 0


def _priority_break_day(folder):
    """Counter 1, HT only, clerk ``an`` until 140 s and again from 600 (``max_in_row`` 2, the
    guard 12 minutes). An calls two priority citizens (at 10 and 110; the second's service runs
    until 360, past the row's end); a normal citizen comes at 120, a priority one at 130."""
    folder.mkdir()
    (folder / "center.json").write_text(json.dumps(
        {"name": "t", "close_s": 3000, "services": [{"code": "HT", "name": "HT"}]}))
    (folder / "staff.csv").write_text("clerk,counter,skills,start_s,end_s\nan,1,HT,0,140\nan,1,HT,600,3000\n")
    (folder / "arrivals.csv").write_text("arrival_s,service,priority,service_s,patience_s,no_show\n"
                                         "10,HT,1,100,,0\n20,HT,1,250,,0\n120,HT,0,60,,0\n130,HT,1,60,,0\n")
    return load_scenario(folder)


def test_the_priority_count_starts_again_after_a_break(tmp_path):
    """At 130 s counter 1 has called two priority citizens in a row (``max_in_row``): its next
    call would be the normal one. But an's row ends before that call, an signs out (which sets
    the count to 0) and in again at 600, and calls the priority citizen first. The forecast made
    at 130 says the same order (it carried the count across the break: the normal one first)."""
    seen = {}

    def observe(sim, ticket, arrival):
        if arrival.arrival_s != 130:
            return
        engine, now = sim.engine, sim.engine.clock.now()
        seen["in_row"] = engine.counter(1)["priority_in_row"]
        result = engine.waits.all_waiting(engine.store.conn(), "main", engine.roster, now)
        issued = {t["id"]: t["issued_at"] - sim.t0 for t in engine.tickets()}
        seen["calls"] = {issued[tid]: (now - sim.t0 + est.wait_s, est.called_share) for tid, est in result.tickets.items()}

    records = {r.arrival_s: r for r in Simulation(_priority_break_day(tmp_path / "d"), observer=observe).run().records}
    assert seen["in_row"] == 2
    # what happened: the priority citizen at 600, then the normal one
    assert (records[130].called_s, records[120].called_s) == (600, 660)
    # what the forecast said at 130: both called after the break, the priority one first
    (prio_at, prio_share), (normal_at, normal_share) = seen["calls"][130], seen["calls"][120]
    assert prio_share == normal_share == 1
    assert 600 <= prio_at < normal_at


def test_the_path_rule_check_catches_a_row_ahead_forecast_with_the_clerk_and_count_of_now(tmp_path, monkeypatch):
    """``bench/path_rule.py``'s ``ahead`` compares, when a counter's hands are free again, the clerk
    and priority count the forecast gave it while it was busy with the engine's. On the two days
    above: no difference; with the reading before the fix planted (no clerk per window: the
    clerk on now throughout, the count carried), one on each: nhanh instead of cham after the
    break, and the count of 2 instead of the sign-out's 0."""
    from bench.path_rule import Checked
    from server.engine import snapshots
    for name, day in (("clerks", _two_clerks_day), ("priority", _priority_break_day)):
        clean = Checked(day(tmp_path / f"clean-{name}"))
        clean.run()
        assert not clean.causes, clean.examples
    real = snapshots.StateReader.working
    monkeypatch.setattr(snapshots.StateReader, "working", lambda self, *a, **kw: (real(self, *a, **kw)[0], ()))
    clerks = Checked(_two_clerks_day(tmp_path / "planted-clerks"))
    clerks.run()
    assert clerks.causes == {"ahead": 1} and "path nhanh" in clerks.examples[0], clerks.examples
    priority = Checked(_priority_break_day(tmp_path / "planted-priority"))
    priority.run()
    assert priority.causes == {"ahead": 1} and "with 2 priority" in priority.examples[0], priority.examples


def test_the_advices_playout_plays_a_row_ahead_with_its_own_clerks_times(tmp_path):
    """The advice judges a change by playing the next hour (``server/advice/playout.py``) in the
    estimator's world: the row after the break is cham's, 5 minutes a citizen, so of the six who
    wait for it at 12675 s only the first is called within 15 minutes (as the day then lived).
    Played with nhanh's times (the clerk on now, as the playout did before: 15 s a citizen, weighed
    with the service's), two thirds of them would be."""
    from server.advice import playout
    seen = {}

    def observe(sim, ticket, arrival):
        if arrival.arrival_s == 12675:
            seen["inp"] = sim.engine.advisor.input("main")

    records = {r.arrival_s: r for r in Simulation(_two_clerks_day(tmp_path / "d"), observer=observe).run().records}
    lived = [records[12670 + k].called_s - (12670 + k) <= 900 for k in range(6)]
    assert lived == [True] + [False] * 5
    inp = seen["inp"]
    snap = dataclasses.replace(inp.snap, arrivals=())  # the cohort: the six waiting, nobody new
    drawn = playout.draw_paths(snap, inp.model, paths=16, horizon_s=inp.horizon_s)
    kw = {"target_s": inp.target_s, "horizon_s": inp.horizon_s}
    counter = next(c for c in snap.counters if c.number == 1)
    assert counter.clerk == "nhanh" and counter.window_clerks[-1] == ("cham", True)
    played = playout.play(snap, inp.model, snap.counters, drawn, **kw)
    as_before = [dataclasses.replace(c, window_clerks=()) for c in snap.counters]
    nhanh = playout.play(snap, inp.model, as_before, drawn, **kw)
    assert played.counted_per_path("HT") == nhanh.counted_per_path("HT") == 6
    assert played.share("HT") <= 2 / 6 < 0.5 <= nhanh.share("HT")
