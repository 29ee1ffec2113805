"""A ticket taken shortly before the lunch closure is called within minutes or after lunch: its
words say both ("được gọi trước 11:30 hoặc sau 13:30"), not a range between them that is true of neither
(docs/queue-rules.md, "Estimates"; docs/performance.md, section 9)."""
from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

from server.config import Calling, PriorityPolicy
from server.engine.forecast import (SPLIT_GAP_S, CounterNow, Estimate, InHand, Snapshot, WaitingTicket, forecast,
                                    split_of)
from server.engine.learned import Durations, Model
from server.engine.positions import estimate_fields
from tests.conftest import MONDAY_9AM

NOW = 10_000.0
HCM = "Asia/Ho_Chi_Minh"


def _model() -> Model:
    rng = random.Random(3)
    return Model({"CT": Durations(600.0, [rng.expovariate(1 / 600) for _ in range(2000)])}, p_no_show=0.0)


def _one_counter(closes_in_s: float, reopens_in_s: float) -> list[CounterNow]:
    windows = ((NOW, NOW + closes_in_s, ("CT",)), (NOW + reopens_in_s, NOW + 8 * 3600, ("CT",)))
    return [CounterNow(1, "c1", 0, InHand("CT", True, 60.0), windows)]


def test_a_ticket_called_before_the_closure_or_after_it_is_forecast_as_both():
    # the one counter serves someone (10 minutes on average) and closes in 10 minutes for two hours
    snap = Snapshot(NOW, [WaitingTicket("CT0", "CT", False, NOW - 60, NOW - 60)], _one_counter(600, 7800),
                    Calling(), PriorityPolicy(), ["CT"])
    est = forecast(snap, _model(), paths=200).tickets["CT0"]
    assert est.split is not None
    before, after, share = est.split
    assert before <= NOW + 600 and after >= NOW + 7800  # the last call before it, the first after it
    assert 0.2 <= share <= 0.8
    assert 600 < est.wait_s < 7800  # the mean falls between: true of neither


def test_a_ticket_the_closure_does_not_part_has_its_range():
    snap = Snapshot(NOW, [WaitingTicket("CT0", "CT", False, NOW - 60, NOW - 60)], _one_counter(6 * 3600, 6 * 3600 + 60),
                    Calling(), PriorityPolicy(), ["CT"])
    assert forecast(snap, _model(), paths=200).tickets["CT0"].split is None


def test_a_split_needs_the_gap_and_a_fifth_of_the_paths_on_either_side():
    minutes = [NOW + 60 * i for i in range(8)]
    late = [NOW + SPLIT_GAP_S + 3600 + 60 * i for i in range(2)]
    assert split_of(sorted(minutes + late)) == (minutes[-1], late[0], 0.8)  # 8 of 10 before it
    assert split_of(sorted(minutes + late[:1])) is None  # 1 path of 9 after it: a tail, not a part
    near = [NOW + SPLIT_GAP_S - 60 + 60 * i for i in range(3)]
    assert split_of(sorted(minutes + near)) is None  # a gap under SPLIT_GAP_S
    assert split_of(minutes[:4]) is None  # too few paths to tell


def test_the_words_give_the_clock_times_round_to_five_minutes_in_the_center_zone():
    zone = ZoneInfo(HCM)
    before = datetime(2026, 11, 23, 11, 26, 40, tzinfo=zone).timestamp()
    after = datetime(2026, 11, 23, 13, 31, 10, tzinfo=zone).timestamp()
    est = Estimate(2400.0, 60.0, 7600.0, 1.0, split=(before, after, 0.6))
    shown = estimate_fields(est, HCM)
    assert (shown["estimated_wait_text"], shown["estimated_wait_text_en"]) == (
        "được gọi trước 11:30 hoặc sau 13:30", "called before 11:30 or after 13:30")
    assert shown["estimated_wait_s"] == 2400.0  # the figure itself is the forecast's mean, as always
    assert estimate_fields(est)["estimated_wait_text"].startswith("hơn")  # no zone: the range, as before


def test_a_ticket_taken_at_eleven_twenty_three_with_its_counter_busy_reads_before_or_after_lunch(store, center):
    """The bundled center closes for lunch 11:30-13:30: a citizen who takes a Hộ tịch ticket at
    11:23 while the one Hộ tịch counter serves someone is told both times, on the paper and on
    the phone."""
    from qms_common.clock import FakeClock
    from server.engine import Engine
    clock = FakeClock(MONDAY_9AM + 2 * 3600 + 22 * 60)
    engine = Engine(store, center, clock)
    engine.sign_in(2, "clerk-a")
    engine.issue("HT")
    serving = engine.call_next(2, "clerk-a")
    engine.start(serving["id"], 2, "clerk-a")
    clock.advance(60)
    ticket = engine.issue("HT")
    assert (ticket["estimated_wait_text"], ticket["estimated_wait_text_en"]) == (
        "được gọi trước 11:30 hoặc sau 13:30", "called before 11:30 or after 13:30")
    status = engine.position(ticket["id"])
    assert status["estimated_wait_text"] == "được gọi trước 11:30 hoặc sau 13:30"
