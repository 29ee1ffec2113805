"""The predicted-breach alert's rule (server/engine/alerts.py), on constructed states with the
injected clock: raised early by a citizen expected past the target, not by a new ticket's
estimate just over the line, and kept until its cause has cleared by a margin for long enough
(no flicker when the estimate wavers or the queue empties for a moment)."""
from __future__ import annotations

import pytest

from qms_common.clock import FakeClock
from server.engine.alerts import RULE, AlertRule, promise_alerts
from server.scenario import load_scenario

CONFIG = load_scenario("satellite-point").center_config()  # targets: 15 min wait, 30 min service
TARGET = CONFIG.targets.max_wait_s


def ct(estimate_s: float, *, waiting: int = 3, longest_s: float = 120.0, will_pass: int = 0, past: int = 0) -> dict:
    return {"service": "CT", "name": "Chứng thực", "waiting": waiting, "longest_wait_s": longest_s,
            "estimated_wait_s": estimate_s, "waiting_past_target": past, "waiting_will_pass_target": will_pass}


class Director:
    """Looks at the alerts as the dashboard does: one memory kept between looks, the clock injected."""

    def __init__(self, rule: AlertRule = RULE) -> None:
        self.clock = FakeClock()
        self.held: dict[str, dict] = {}
        self.rule = rule

    def look(self, stats: dict, after_s: float = 60.0) -> list[str]:
        self.clock.advance(after_s)
        alerts = promise_alerts(CONFIG, [stats], [], self.clock.now(), self.held, rule=self.rule)
        self.last = alerts
        return [a["kind"] for a in alerts]


def test_a_citizen_expected_past_the_target_raises_it_at_once_with_who_it_is_about():
    d = Director()
    assert d.look(ct(600)) == []
    assert d.look(ct(600, will_pass=2)) == ["predicted_breach"]  # the first look that foresees it
    assert "2 người đang chờ dự kiến quá 15 phút" in d.last[0]["message"]


def test_a_new_ticket_estimate_just_over_the_target_alone_does_not_raise_it():
    d = Director()
    assert d.look(ct(TARGET + 120)) == []                          # 17 min for a new ticket, nobody late
    assert d.look(ct(TARGET + RULE.new_ticket_over_s + 60)) == ["predicted_breach"]  # 26 min: raised
    assert "dự kiến chờ ~26 phút" in d.last[0]["message"]


def test_it_stays_until_the_cause_has_cleared_by_the_margin_for_long_enough():
    d = Director()
    assert d.look(ct(600, will_pass=1)) == ["predicted_breach"]
    # the estimate wavers around the line, then falls within the margin: still on
    for est in (TARGET + 60, TARGET - 60, TARGET - RULE.margin_s + 30):
        assert d.look(ct(est)) == ["predicted_breach"]
    # under the margin: the clock for clearing starts; a rise back inside the margin resets it
    assert d.look(ct(TARGET - RULE.margin_s - 60)) == ["predicted_breach"]
    assert "chưa hết hẳn" in d.last[0]["message"]
    assert d.look(ct(TARGET - RULE.margin_s - 60), after_s=RULE.clear_after_s - 120) == ["predicted_breach"]
    assert d.look(ct(TARGET - RULE.margin_s + 30)) == ["predicted_breach"]
    assert d.look(ct(300)) == ["predicted_breach"]                 # calm from here
    assert d.look(ct(300), after_s=RULE.clear_after_s - 1) == ["predicted_breach"]
    assert d.look(ct(300), after_s=1) == []                        # calm for clear_after_s: cleared
    assert d.held == {}


def test_a_queue_that_empties_for_a_moment_does_not_clear_it():
    d = Director()
    assert d.look(ct(600, will_pass=1, waiting=1)) == ["predicted_breach"]
    assert d.look(ct(TARGET + 200, waiting=0)) == ["predicted_breach"]  # called; the next one not here yet
    assert d.look(ct(TARGET + 200, waiting=1)) == ["predicted_breach"]  # the same episode, not raised again
    assert d.look(ct(300, waiting=0)) == ["predicted_breach"]
    assert d.look(ct(300, waiting=0), after_s=RULE.clear_after_s) == []
    # nobody waiting and nothing on: nothing is kept
    assert d.look(ct(TARGET + 200, waiting=0)) == [] and d.held == {}


def test_a_wait_past_the_target_raises_at_once_and_is_watched_after_that_citizen_is_called():
    d = Director()
    assert d.look(ct(300, longest_s=TARGET + 30, past=1, will_pass=1)) == ["wait_breach"]
    # called: nobody is past it now, the estimate is within the margin: a prediction still
    assert d.look(ct(TARGET - 120, longest_s=200)) == ["predicted_breach"]
    assert d.look(ct(300, longest_s=200)) == ["predicted_breach"]   # calm from here
    assert d.look(ct(300, longest_s=200), after_s=RULE.clear_after_s) == []


def test_the_rule_before_flickered_around_the_line():
    """The rule until 1 Dec 2026 (bench/alerts.py "before"): what the new one no longer does."""
    before = AlertRule(clear_after_s=0.0, new_ticket_over_s=0.0, empty_clears=True)
    d, now = Director(before), Director()
    seq = [ct(800), ct(960), ct(870), ct(700), ct(580), ct(960, waiting=0), ct(960)]
    assert [d.look(s) for s in seq] == [[], ["predicted_breach"], ["predicted_breach"], ["predicted_breach"], [],
                                        [], ["predicted_breach"]]
    assert [now.look(s) for s in seq] == [[], [], [], [], [], [], []]  # 16 min for a new ticket: not enough alone


@pytest.mark.parametrize("field", ["margin_s", "clear_after_s", "new_ticket_over_s"])
def test_the_rule_is_documented_with_its_numbers(field):
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[1] / "docs" / "performance.md").read_text(encoding="utf-8")
    assert f"`{field}` = {getattr(RULE, field):g} s" in doc


def test_the_alert_reads_the_new_ticket_s_wait_as_the_screens_print_it():
    """The director reads the range the ticket prints ("khoảng 25–35 phút"), not a bare "~N phút"
    that reads as a promise; a service no counter will call says so."""
    from qms_common.wait_words import NO_COUNTER
    d = Director()
    late = dict(ct(TARGET + RULE.new_ticket_over_s + 60), estimated_wait_text="khoảng 25–35 phút")
    assert d.look(late) == ["predicted_breach"]
    assert "người lấy số bây giờ dự kiến chờ khoảng 25–35 phút" in d.last[0]["message"]
    assert "~" not in d.last[0]["message"]
    nobody = dict(ct(6 * 3600), estimated_wait_text=NO_COUNTER[0])
    d2 = Director()
    assert d2.look(nobody) == ["predicted_breach"]
    assert "người lấy số bây giờ hiện không có quầy phục vụ" in d2.last[0]["message"]
