"""The MQTT wait stream sends each service's count and estimate of one state of the engine.

``service_stats`` reads its counts, then its forecast: a ticket issued between the two reads gave,
once in the fresh-Debian suite, a message with the count before it and the estimate after it
("3 waiting" with the range of 4). The engine now reads both in one read transaction
(``server/engine/views.py``); here a kiosk's ticket commits, from another thread, exactly between
the counts and the forecast."""
from __future__ import annotations

from qms_common import wire
from server.mqtt.outbound import Outbound
from tests.commit_during import issue_during_prepare


def _outbound(engine, clock):
    sent: list = []

    def publish(topic, message, retain=False):
        sent.append(message)
        return True
    return Outbound(engine, clock, publish, center="phuong-mau", interval_s=30), sent


def _ht(sent):
    return [m for m in sent if isinstance(m, wire.ServiceWait) and m.service == "HT"]


def _stats_ht(engine):
    s = next(s for s in engine.service_stats() if s["service"] == "HT")
    return s["waiting"], s["estimated_wait_range_s"]


def issue_between_counts_and_forecast(engine, monkeypatch) -> list:
    """The next ``service_stats`` has a ticket of HT committed by a kiosk (another thread) after
    its counts were read, before its forecast; answers the list of tickets issued so."""
    return issue_during_prepare(engine, monkeypatch)


def test_a_ticket_issued_while_the_stats_are_read_is_not_mixed_into_the_message(engine, clock, monkeypatch):
    engine.sign_in(2, "clerk-a")
    for _ in range(3):
        engine.issue("HT")
    of_three = _stats_ht(engine)
    issued = issue_between_counts_and_forecast(engine, monkeypatch)
    outbound, sent = _outbound(engine, clock)
    outbound.refresh()
    assert issued  # the ticket did commit in the middle of the read
    msg = _ht(sent)[-1]
    assert (msg.waiting, msg.estimated_wait_range_s) == of_three  # the state the read began in, whole
    of_four = _stats_ht(engine)
    assert of_four[0] == 4 and of_four[1] != of_three[1]  # the estimate does move with the fourth
    outbound.refresh()  # the next cycle (the event wakes it): the state with the fourth, whole
    msg = _ht(sent)[-1]
    assert (msg.waiting, msg.estimated_wait_range_s) == of_four
