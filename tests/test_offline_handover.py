"""The number on the paper is the number that is called: the hand-over of offline tickets
when the server also carried out the kiosk's lost request (engine rules, virtual time)."""
from __future__ import annotations

import pytest

from qms_common.errors import Forbidden
from server.engine import replay
from server.reports import daily_report

REF = "0f3c9a7e5b1d4c2a8e6f0b3d5a7c9e1f"


def press_lost_then_printed(engine, clock, *, ref=REF, service="HT"):
    """The kiosk pressed, gave up waiting and printed an offline number; the stalled server then
    carried out the original request: an online copy nobody holds."""
    block = engine.reserve_block("kiosk-1", service, 3)
    pressed_at = clock.now()
    clock.advance(20)
    copy = engine.issue(service, client_ref=ref, source="kiosk", device="kiosk-1")
    return block, pressed_at, copy


def hand_over(engine, block, pressed_at, ref=REF, service="HT", number=None):
    return engine.merge_offline("kiosk-1", client_ref=ref, service=service, number=number or block["first"],
                                day=block["day"], issued_at=pressed_at)


def live_tickets_of(engine, ref):
    """Every ticket of one press that a citizen could be called for (the copy, once superseded,
    is closed and no longer carries the press's client_ref)."""
    return [t for t in engine.tickets() if t["client_ref"] == ref]


def calls_of(engine, code):
    return [e for e in engine.events_after(0, 10_000) if e["type"] in ("ticket_call", "ticket_recall")
            and e["data"]["code"] == code]


def test_waiting_copy_is_taken_over_at_the_place_of_the_press(engine, clock):
    engine.issue("HT")  # someone pressed before
    block, pressed_at, copy = press_lost_then_printed(engine, clock)
    later = engine.issue("HT")  # and someone after the press, before the hand-over
    printed = hand_over(engine, block, pressed_at)
    assert printed["code"] == "HT-901"
    assert engine.ticket(copy["id"])["state"] == "cancelled"
    assert [t["code"] for t in live_tickets_of(engine, REF)] == ["HT-901"]
    engine.sign_in(4, "binh")
    # the order of calls is the order of the presses: HT-001, the printed HT-901, then HT-003
    assert engine.call_next(4, "binh")["code"] == "HT-001"
    engine.start(engine.counter(4)["ticket_id"], 4, "binh")
    engine.finish(engine.counter(4)["ticket_id"], 4, "binh")
    assert engine.call_next(4, "binh")["code"] == "HT-901"
    engine.start(engine.counter(4)["ticket_id"], 4, "binh")
    engine.finish(engine.counter(4)["ticket_id"], 4, "binh")
    assert engine.call_next(4, "binh")["id"] == later["id"]


def test_called_copy_is_called_again_under_the_printed_number(engine, clock):
    block, pressed_at, copy = press_lost_then_printed(engine, clock)
    engine.sign_in(4, "binh")
    assert engine.call_next(4, "binh")["code"] == copy["code"]  # the display showed a number nobody holds
    clock.advance(30)
    printed = hand_over(engine, block, pressed_at)
    assert printed["state"] == "called" and printed["counter"] == 4
    assert engine.counter(4)["ticket_id"] == printed["id"]
    assert len(calls_of(engine, "HT-901")) == 1
    taken = [e for e in engine.events_after(0, 10_000) if e["type"] == "ticket_taken_over"]
    assert taken[0]["data"]["replaced"] == copy["code"] and taken[0]["data"]["repeated"] == ["call"]
    # the clerk's next keys act on the printed ticket
    engine.start(printed["id"], 4, "binh")
    assert engine.finish(printed["id"], 4, "binh")["state"] == "done"
    assert engine.alerts() == []


def test_serving_copy_stays_at_its_counter_under_the_printed_number(engine, clock):
    block, pressed_at, copy = press_lost_then_printed(engine, clock)
    engine.sign_in(4, "binh")
    engine.call_next(4, "binh")
    engine.start(copy["id"], 4, "binh")
    printed = hand_over(engine, block, pressed_at)
    assert printed["state"] == "serving" and printed["counter"] == 4
    assert engine.counter(4)["ticket_id"] == printed["id"]


def test_no_show_copy_puts_the_holder_back_in_line(engine, clock):
    block, pressed_at, copy = press_lost_then_printed(engine, clock)
    engine.sign_in(4, "binh")
    engine.call_next(4, "binh")
    engine.no_show(copy["id"], 4, "binh")  # nobody came: nobody holds that number
    printed = hand_over(engine, block, pressed_at)
    assert printed["state"] == "waiting"
    assert engine.call_next(4, "binh")["id"] == printed["id"]


def test_finished_copy_queues_the_printed_ticket_and_asks_the_director_to_check(engine, clock):
    block, pressed_at, copy = press_lost_then_printed(engine, clock)
    engine.sign_in(4, "binh")
    engine.call_next(4, "binh")
    engine.start(copy["id"], 4, "binh")
    engine.finish(copy["id"], 4, "binh")
    printed = hand_over(engine, block, pressed_at)
    assert printed["state"] == "waiting"
    [alert] = engine.alerts()
    assert alert["kind"] == "handover_review" and alert["code"] == "HT-901"
    assert "HT-901" in alert["message"] and copy["code"] in alert["message"]
    engine.resolve_handover_alert(alert["id"], actor="giamdoc")
    assert engine.alerts() == []


def test_paused_counter_cannot_repeat_the_call_the_ticket_waits_first_in_line(engine, clock):
    block, pressed_at, copy = press_lost_then_printed(engine, clock)
    engine.issue("HT")
    engine.sign_in(4, "binh")
    engine.call_next(4, "binh")
    engine.pause(4, "binh")
    printed = hand_over(engine, block, pressed_at)
    assert printed["state"] == "waiting"
    assert "handover_review" in [a["kind"] for a in engine.alerts()]  # (the queue may be predicted late too)
    engine.resume_counter(4, "binh")
    assert engine.call_next(4, "binh")["id"] == printed["id"]


def test_the_late_online_request_after_the_hand_over_returns_the_printed_ticket(engine, clock):
    block = engine.reserve_block("kiosk-1", "HT", 3)
    printed = hand_over(engine, block, clock.now())
    clock.advance(40)  # the stalled server now carries out the kiosk's original request
    again = engine.issue("HT", client_ref=REF, source="kiosk", device="kiosk-1")
    assert again["id"] == printed["id"]
    assert len(engine.tickets()) == 1


def test_a_retried_hand_over_after_a_take_over_changes_nothing(engine, clock):
    block, pressed_at, copy = press_lost_then_printed(engine, clock)
    engine.sign_in(4, "binh")
    engine.call_next(4, "binh")
    first = hand_over(engine, block, pressed_at)
    second = hand_over(engine, block, pressed_at)
    assert first["id"] == second["id"]
    assert len(calls_of(engine, "HT-901")) == 1


def test_status_token_of_an_offline_number_is_valid_before_and_after_the_hand_over(engine, clock):
    block = engine.reserve_block("kiosk-1", "HT", 2)
    assert len(block["tokens"]) == 2 and len(set(block["tokens"])) == 2
    token = block["tokens"][0]
    assert engine.pending_offline(token) == {"code": "HT-901", "service": "HT", "day": block["day"],
                                             "device": "kiosk-1"}
    printed = hand_over(engine, block, clock.now())
    assert engine.pending_offline(token) is None
    assert engine.ticket_by_token(token)["id"] == printed["id"]
    assert engine.pending_offline("not-a-token-of-anyone") is None


def test_a_refused_hand_over_is_an_alert_with_the_number_once(engine, clock):
    block = engine.reserve_block("kiosk-1", "HT", 2)
    for _ in range(2):  # the kiosk retries: still one alert
        with pytest.raises(Forbidden):
            engine.merge_offline("kiosk-2", client_ref=REF, service="HT", number=block["first"],
                                 day=block["day"], issued_at=clock.now())
    [alert] = engine.alerts()
    assert alert["kind"] == "handover_refused" and alert["severity"] == 3
    assert alert["code"] == "HT-901" and alert["device"] == "kiosk-2"
    assert "HT-901" in alert["message"]


def test_replay_and_report_agree_after_a_take_over(engine, clock):
    block, pressed_at, copy = press_lost_then_printed(engine, clock)
    engine.sign_in(4, "binh")
    engine.call_next(4, "binh")
    printed = hand_over(engine, block, pressed_at)
    engine.start(printed["id"], 4, "binh")
    engine.finish(printed["id"], 4, "binh")
    events = engine.events_after(0, 10_000)
    state = replay(events)
    assert state.tickets[printed["id"]]["state"] == "done"
    assert state.tickets[copy["id"]]["state"] == "cancelled"
    assert state.counters[4]["ticket_id"] is None
    rows = daily_report(events, engine.config, engine.today(), engine.today())
    [ht] = [r for r in rows if r["service"] == "HT"]
    assert ht["issued"] == 1 and ht["served"] == 1 and ht["cancelled"] == 0
