"""Satisfaction ratings: one rule for the tablet, the keypad and the API (server/engine/rating.py)."""
from __future__ import annotations

import pytest

from qms_common.errors import Conflict, NotFound, QmsError


def served(engine, clock, counter=4, clerk="binh", service="HT"):
    """A citizen issued, called, served and finished at ``counter``."""
    if engine.counter(counter)["state"] == "closed":
        engine.sign_in(counter, clerk)
    t = engine.issue(service)
    engine.call_next(counter, clerk)
    engine.start(t["id"], counter, clerk)
    clock.advance(300)
    return engine.finish(t["id"], counter, clerk)


def rated(engine):
    return [e for e in engine.events_after(0) if e["type"] == "ticket_rated"]


def test_a_rating_is_tied_to_ticket_service_counter_and_clerk(engine, clock):
    t = served(engine, clock)
    clock.advance(60)
    event = engine.rate(1, counter=4, reason="waited_too_long", source="tablet")
    assert event["ticket_id"] == t["id"] and event["counter"] == 4
    assert {k: event["data"][k] for k in ("code", "service", "clerk", "score", "level", "reason", "source")} == {
        "code": t["code"], "service": "HT", "clerk": "binh", "score": 1, "level": "Không hài lòng",
        "reason": "waited_too_long", "source": "tablet"}


def test_once_per_ticket_whatever_the_path(engine, clock):
    t = served(engine, clock)
    engine.rate(4, counter=4, source="tablet")
    with pytest.raises(Conflict, match="đã được đánh giá"):
        engine.rate(3, counter=4, source="keypad")          # the keypad after the tablet
    with pytest.raises(Conflict, match="đã được đánh giá"):
        engine.rate(3, ticket_id=t["id"], counter=4)         # naming the ticket does not help
    assert len(rated(engine)) == 1


def test_only_within_the_window_after_the_counter_finished(engine, clock):
    window = engine.config.satisfaction.window_s
    served(engine, clock)
    clock.advance(window + 1)
    with pytest.raises(Conflict, match="quá thời gian") as exc:
        engine.rate(4, counter=4)
    assert exc.value.details["reason"] == "window_over"
    assert engine.rating_pending(4)["ticket"] is None
    t2 = served(engine, clock)
    clock.advance(window - 1)
    assert engine.rating_pending(4)["ticket"] == t2["code"]
    engine.rate(4, counter=4)
    assert rated(engine)[-1]["ticket_id"] == t2["id"]


def test_a_citizen_cannot_rate_someone_elses_ticket(engine, clock):
    other = served(engine, clock, counter=2, clerk="an", service="CT")
    served(engine, clock, counter=4)
    with pytest.raises(Conflict, match="không được phục vụ tại quầy 4"):
        engine.rate(1, ticket_id=other["id"], counter=4)
    waiting = engine.issue("HT")  # not served yet, anywhere
    with pytest.raises(Conflict):
        engine.rate(4, ticket_id=waiting["id"], counter=4)
    with pytest.raises(NotFound):
        engine.rate(4, counter=7)  # counter 7 served no one today
    assert rated(engine) == []


def test_scores_and_reasons_are_checked(engine, clock):
    served(engine, clock)
    for score, reason, words in ((0, None, "1 đến 4"), (5, None, "1 đến 4"), (1, "bored", "danh sách"),
                                 (4, "attitude", "không hài lòng")):
        with pytest.raises(QmsError, match=words):
            engine.rate(score, counter=4, reason=reason)
    assert rated(engine) == []


def test_todays_satisfaction_and_low_rating_alerts(engine, clock):
    served(engine, clock)
    engine.rate(4, counter=4)
    served(engine, clock)
    engine.rate(1, counter=4, reason="attitude")
    served(engine, clock, counter=2, clerk="an", service="CT")
    engine.rate(3, counter=2)
    today = engine.satisfaction_today()
    ht = next(s for s in today["services"] if s["service"] == "HT")
    assert (ht["ratings"], ht["levels"], ht["satisfied_share"]) == (2, {"4": 1, "3": 0, "2": 0, "1": 1}, 0.5)
    assert [(c["counter"], c["ratings"]) for c in today["counters"]] == [(2, 1), (4, 2)]
    assert today["reasons"]["attitude"] == 1 and today["total"]["satisfied_share"] == round(2 / 3, 4)
    alerts = [a for a in engine.snapshot()["alerts"] if a["kind"] == "low_rating"]
    assert len(alerts) == 1 and alerts[0]["counter"] == 4 and "Thái độ" in alerts[0]["message"]
    engine.resolve_rating_alert(alerts[0]["id"], actor="giamdoc")
    assert not [a for a in engine.snapshot()["alerts"] if a["kind"] == "low_rating"]
    with pytest.raises(NotFound):
        engine.resolve_rating_alert(alerts[0]["id"])


@pytest.mark.broker
def test_the_keypad_over_mqtt_follows_the_same_rule(tmp_path, engine, clock):
    """Through a real Mosquitto and the server's link: the keypad's rating with a reason is
    taken; a second one for the same ticket, or one after the window, gets an error response."""
    from qms_common import wire
    from tests.mosquitto_fixture import MqttProbe, require_mosquitto
    from tests.server_mqtt_kit import CENTER, anon_broker, request, response, start_link
    require_mosquitto()
    with anon_broker(tmp_path) as broker:
        port = broker.port(1883)
        link = start_link(engine, clock, port)
        pad = MqttProbe.connect(port, client_id="counter-4")
        try:
            topic = wire.RATING.topic(center=CENTER, device="counter-4")
            resp = wire.RESPONSE.topic(center=CENTER, cls="counter", device="counter-4")
            pad.subscribe(resp)
            t = served(engine, clock)
            request(pad, topic, wire.Rating(score=1, reason="dossier_returned", at=clock.now()),
                    response_topic=resp, correlation=b"r1")
            ok = response(pad, resp, b"r1")
            assert ok.status == "ok" and ok.data == {"ticket": t["code"], "score": 1}
            request(pad, topic, wire.Rating(score=4, at=clock.now()), response_topic=resp, correlation=b"r2")
            again = response(pad, resp, b"r2")
            assert again.status == "error" and "đã được đánh giá" in again.error
            served(engine, clock)
            clock.advance(engine.config.satisfaction.window_s + 5)
            request(pad, topic, wire.Rating(score=4, at=clock.now()), response_topic=resp, correlation=b"r3")
            late = response(pad, resp, b"r3")
            assert late.status == "error" and "quá thời gian" in late.error
        finally:
            pad.close()
            link.stop()
    assert [(e["ticket_id"], e["data"]["reason"], e["data"]["source"]) for e in rated(engine)] == [
        (t["id"], "dossier_returned", "keypad")]
