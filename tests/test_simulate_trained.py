"""``qms simulate --trained all|FILE``: clerks trained for more services than their shift rows'
skills, which the director's controls and the advice may then give their counter (signing in
keeps to the row's skills)."""
from __future__ import annotations

import io

import pytest

from qms_common.errors import ConfigError
from server.advice.follow import Director
from server.cli import main
from server.scenario import load_scenario, load_trained
from server.simulator import Simulation

WARD = "data/scenarios/ward-weekday"
ALL = ["HT", "CT", "DD", "KD", "XD", "XH"]  # ward-weekday's services, in center.json's order


@pytest.fixture(scope="module")
def ward():
    return load_scenario(WARD)


def _csv(result) -> str:
    out = io.StringIO()
    result.write_csv(out)
    return out.getvalue()


def test_all_trains_every_clerk_for_every_service_after_the_rows_skills(ward):
    sim = Simulation(ward, trained="all")
    # c1's rows are CT only; c2's are CT;HT: the rows' skills first, then the others in the center's order
    assert sim.config.clerk("c1").services == ["CT", "HT", "DD", "KD", "XD", "XH"]
    assert sim.config.trained("c2", 2) == ["CT", "HT", "DD", "KD", "XD", "XH"]
    assert all(sorted(k.services) == sorted(ALL) for k in sim.config.clerks)
    # the counters themselves are configured as before
    assert sim.config.counter(1).services == ["CT"]


def test_a_trained_clerk_still_signs_in_with_the_rows_skills(ward):
    seen = {}

    def observer(sim, ticket, arrival):
        if not seen:
            seen.update({n: sim.engine.active_services(sim.engine.counter(n)) for n in (1, 5, 8)})
    result = Simulation(ward, trained="all", observer=observer).run(until_s=3600)
    assert seen == {1: ["CT"], 5: ["DD", "XD"], 8: ["XH", "HT"]}
    # nobody changes a counter without a director: each counter calls only its rows' skills
    rows = ward.counter_services()
    called = [r for r in result.records if r.counter is not None]
    assert called and all(r.service in rows[r.counter] for r in called)
    assert next(r for r in sorted(called, key=lambda r: r.called_s) if r.counter == 1).service == "CT"


def test_a_mapping_adds_its_services_without_duplicates(ward):
    sim = Simulation(ward, trained={"c1": ["CT", "DD", "HT", "DD"], "c6": ["XD"]})
    assert sim.config.trained("c1", 1) == ["CT", "DD", "HT"]
    assert sim.config.trained("c6", 6) == ["DD", "XD"]
    assert sim.config.trained("c4", 4) == ["HT"]


@pytest.mark.parametrize("trained, words", [
    ({"c42": ["HT"]}, ["unknown clerk 'c42'", "c1"]),
    ({"c1": ["ZZ"]}, ["clerk c1", "unknown service ZZ"]),
    ("some", ["'all'"]),
])
def test_unknown_clerks_or_services_in_a_mapping_are_config_errors(ward, trained, words):
    with pytest.raises(ConfigError) as exc:
        Simulation(ward, trained=trained)
    assert all(w in exc.value.message for w in words), exc.value.message


def test_the_file_adds_services_to_the_clerks_it_lists(ward, tmp_path):
    path = tmp_path / "trained.csv"
    path.write_text("clerk,services\nc1,HT;DD\nc6,XD\n", encoding="utf-8")
    extra = load_trained(path, clerks=ward.clerk_skills(), codes=ALL)
    assert extra == {"c1": ["HT", "DD"], "c6": ["XD"]}
    sim = Simulation(ward, trained=extra)
    assert sim.config.trained("c1", 1) == ["CT", "HT", "DD"]


@pytest.mark.parametrize("text, words", [
    ("clerk,services\nc1,HT\nc42,DD\n", ["line 3", "unknown clerk 'c42'"]),
    ("clerk,services\nc1,HT;ZZ\n", ["line 2", "clerk c1", "unknown service ZZ"]),
    ("clerk,services\nc1,HT\nc2\n", ["line 3", "services"]),
    ("clerk,services\nc1,HT\nc1,DD\n", ["line 3", "clerk c1 is listed twice", "line 2"]),
    # a blank line is skipped, and counted: the lines named are the file's own
    ("clerk,services\n\nc1,HT\nc2,HT\nc1,DD\n", ["line 5", "clerk c1 is listed twice (first on line 3)"]),
    ("clerk;services\nc1;HT\n", ["line 2", "missing column"]),
])
def test_a_bad_file_names_the_file_and_the_line(ward, tmp_path, text, words):
    path = tmp_path / "trained.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_trained(path, clerks=ward.clerk_skills(), codes=ALL)
    msg = exc.value.message
    assert msg.startswith(f"{path}: ") and all(w in msg for w in words), msg


def test_cli_with_a_bad_file_says_so_on_stderr_and_exits_non_zero(tmp_path, capsys):
    path = tmp_path / "trained.csv"
    path.write_text("clerk,services\nc1,HT\nc1,XX\n", encoding="utf-8")
    assert main(["simulate", WARD, "--trained", str(path), "--out", str(tmp_path / "r.csv")]) != 0
    out, err = capsys.readouterr()
    assert err.startswith(f"qms: {path}: line 3: ") and "unknown service XX" in err
    assert "Traceback" not in err and out == ""
    assert main(["simulate", WARD, "--trained", str(tmp_path / "none.csv")]) != 0
    assert "none.csv: not found" in capsys.readouterr().err


def test_cli_trained_all_runs_the_day(tmp_path, capsys):
    assert main(["simulate", "satellite-point", "--trained", "all", "--out", str(tmp_path / "r.csv")]) == 0
    assert "tickets" in capsys.readouterr().err


def test_without_trained_the_day_is_as_before(ward):
    before = Simulation(ward)
    assert {k.id: k.services for k in before.config.clerks} == ward.clerk_skills()
    plain = _csv(before.run())
    assert _csv(Simulation(ward, trained=None).run()) == plain
    # naming only the rows' own skills changes nothing either
    assert _csv(Simulation(ward, trained=ward.clerk_skills()).run()) == plain


def _added(ward, history) -> tuple[list, list]:
    director = Director()
    Simulation(ward, trained="all", director=director, history=history).run(until_s=2.5 * 3600)
    rows = ward.counter_services()
    added = [a.proposal for a in director.applied if a.proposal.action == "set_services"
             and set(a.proposal.services) - set(rows[a.proposal.counter])]
    return added, [a.proposal.key for a in director.applied]


def test_trained_clerks_let_the_followed_advice_add_services(ward):
    """What ``--trained`` is for: the advice's "counter N also serves S", which a scenario whose
    clerks are trained only for their rows' skills can never propose; on a day after earlier days
    (here the same day a week before, lived first). The first two and a half hours."""
    added, keys = _added(ward, [ward])
    assert added, keys


def test_on_a_cold_day_the_advice_gives_no_counter_a_new_service(ward):
    """Rule 6: without earlier days the forecast cannot see the peak coming, and a new service
    for a counter was measured to cost up to 25 points (docs/performance.md section 12)."""
    added, keys = _added(ward, [])
    assert added == [], keys
