"""The MQTT wait stream sends each service's count and estimate of one state of the engine
(``server/mqtt/outbound.py``, ``_consistent_stats``). ``service_stats`` reads them separately:
a ticket issued between the two reads gave, once in the fresh-Debian suite, a message with the
count before it and the estimate after it ("3 waiting" with the range of 4)."""
from __future__ import annotations

from qms_common import wire
from server.mqtt.outbound import STATS_TRIES, Outbound


def _outbound(engine, clock):
    sent: list = []

    def publish(topic, message, retain=False):
        sent.append(message)
        return True
    return Outbound(engine, clock, publish, center="phuong-mau", interval_s=30), sent


def _ht(sent):
    return [m for m in sent if isinstance(m, wire.ServiceWait) and m.service == "HT"]


def test_a_ticket_issued_while_the_stats_are_read_is_not_mixed_into_the_message(engine, clock, monkeypatch):
    engine.sign_in(2, "clerk-a")
    for _ in range(3):
        engine.issue("HT")
    read = engine.service_stats
    calls = []

    def issue_while_reading(*a, **kw):
        out = read(*a, **kw)
        calls.append(1)
        if len(calls) == 1:  # a kiosk's ticket commits between the counts and the forecast
            engine.issue("HT")
        return out
    monkeypatch.setattr(engine, "service_stats", issue_while_reading)
    outbound, sent = _outbound(engine, clock)
    outbound.refresh()
    msg = _ht(sent)[-1]
    now = next(s for s in read() if s["service"] == "HT")
    assert len(calls) == 2  # read again, once the sequence stood still
    assert (msg.waiting, msg.estimated_wait_range_s) == (4, now["estimated_wait_range_s"])


def test_a_state_that_never_stands_still_is_sent_after_a_few_reads(engine, clock, monkeypatch):
    engine.sign_in(2, "clerk-a")
    read = engine.service_stats
    calls = []

    def always_moving(*a, **kw):
        out = read(*a, **kw)
        calls.append(1)
        engine.issue("HT")
        return out
    monkeypatch.setattr(engine, "service_stats", always_moving)
    outbound, sent = _outbound(engine, clock)
    outbound.refresh()
    assert len(calls) == STATS_TRIES and _ht(sent)  # sent anyway: the next event wakes the next cycle
