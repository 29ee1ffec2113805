"""bench/alerts.py's scoring (docs/performance.md, section 9, "The alert over a day") on a constructed
day: what counts as an episode, a flicker, a right one, its lead, and a breach covered."""
from __future__ import annotations

from bench.alerts import score

K, OTHER = ("main", "HT"), ("main", "CT")


def test_episodes_flicker_precision_lead_and_recall_follow_their_definitions():
    minute = 60.0
    kinds = {}
    for m in range(0, 60):
        on = {}
        if 5 <= m < 30:                      # raised as a prediction at 5 min, escalates at 20, clears at 30
            on[K] = "predicted_breach" if m < 20 else "wait_breach"
        if m == 40:                          # one look only: a flicker, and no breach follows it
            on[K] = "predicted_breach"
        if 50 <= m < 55:                     # raised at the breach: nobody foresaw it
            on[OTHER] = "wait_breach"
        kinds[m] = on
    timeline = [(m * minute, kinds[m]) for m in range(60)]
    breaches = [(K, 19.5 * minute),          # covered, raised 14.5 min before: lead 14.5
                (K, 25 * minute),            # covered (the same episode, ≥ 10 min)
                (K, 33 * minute),            # after the episode cleared: not covered
                (OTHER, 49.5 * minute)]      # its alert came at the next look: not covered
    row = score(timeline, breaches).row()
    assert (row["episodes"], row["predicted"], row["at_breach"], row["flicker"]) == (3, 2, 1, 1)
    assert row["precision"] == 0.5           # the 5-min episode was right, the 40-min flicker not
    assert row["lead_median_min"] == 14.5 and row["lead_10"] == 1.0
    assert row["breaches"] == 4 and row["recall_10"] == 0.5 and row["recall_any"] == 0.5


def test_an_episode_is_right_if_the_breach_comes_within_15_minutes_of_raising_even_after_it_cleared():
    timeline = [(m * 60.0, {K: "predicted_breach"} if m < 3 else {}) for m in range(30)]
    row = score(timeline, [(K, 14 * 60.0)]).row()
    assert row["precision"] == 1.0 and row["lead_median_min"] == 14.0
    assert row["recall_any"] == 0.0          # but nothing was on when it happened
    row = score(timeline, [(K, 16 * 60.0)]).row()
    assert row["precision"] == 0.0


def test_a_lean_reads_expected_past_the_target_nearer_the_top_of_the_interval():
    # bench/alerts.py's lean-x rules: a waiting citizen counts as expected past 15 min when the wait
    # so far + estimate + x * (interval top - estimate) passes it; x = 0 is what the engine counts
    from bench.alerts import Look, leaned
    minute = 60.0
    look = Look(0.0, 0.0, "main", [{"service": "HT", "waiting": 2, "waiting_will_pass_target": 0}], [],
                [("HT", 5 * minute, 8 * minute, 16 * minute),    # 13 min expected, 21 at the top
                 ("HT", 1 * minute, 6 * minute, 10 * minute)])   # 7 expected, 11 at the top
    counted = [leaned(look, 15 * minute, x)[0]["waiting_will_pass_target"] for x in (0.0, 0.2, 0.3, 1.0)]
    assert counted == [0, 0, 1, 1]
