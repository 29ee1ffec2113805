"""What the live screens are sent: pure functions over the engine's public views.

Nothing here touches sockets. A wall display, a clerk console and the director's dashboard
get the same *screen snapshot* (the engine's snapshot with a longer call history); a
citizen's phone gets only its own ticket (:func:`citizen_status`), never anyone else's.
"""
from __future__ import annotations

import logging
from datetime import date
from typing import Any

from .engine import Engine
from .engine.day_end import end_of_day_notice
from .engine.states import END_OF_DAY
from .engine.positions import Queues, positions

log = logging.getLogger(__name__)

RECENT_CALLS = 40  # enough for seven distinct tickets even when some were recalled
# Event fields a screen may see. ``actor`` (a clerk's username) stays: the dashboard shows it.
_EVENT_FIELDS = ("seq", "at", "type", "ticket_id", "counter", "actor", "device")
# Event data fields a screen may see; anything else an event carries stays on the server.
_DATA_FIELDS = ("code", "service", "from", "to", "site", "priority", "wait_s", "to_counter",
                "from_service", "printed", "fault", "people_ahead", "predicted_wait_s")


def screen_event(event: dict) -> dict:
    """An engine event trimmed to what screens need (no reasons, no free text)."""
    out = {k: event.get(k) for k in _EVENT_FIELDS}
    data = event.get("data") or {}
    out["data"] = {k: data[k] for k in _DATA_FIELDS if k in data}
    return out


def screen_snapshot(engine: Engine, site: str | None) -> dict:
    """Everything a screen shows, all of the one state of event sequence ``seq`` (one read of
    the engine: ``Engine.snapshot``, its calls included)."""
    snap = engine.snapshot(site, calls=RECENT_CALLS)
    snap["site"] = site
    return snap


def citizen_status(engine: Engine, ticket_id: str) -> dict:
    """One ticket as its holder sees it: place in line, estimate, the counter when called.

    From the same forecast as the pushes that follow (every waiting citizen's, cached per state:
    :func:`citizen_statuses`), not a forecast of this ticket alone: that one plays other sample
    paths, so a page just opened showed "dưới 35 phút" and, two seconds later with nothing
    changed, the push's "dưới 30 phút" (``tests/test_status_push.py``). The last push's forecast
    when recent: during a burst with a thousand waiting, a forecast of everyone per page opened
    would be the stall of docs/performance.md section 8 again."""
    statuses = citizen_statuses(engine, [ticket_id], recent=True)
    if ticket_id not in statuses:
        engine.ticket(ticket_id)  # raises NotFound, as before
    return statuses[ticket_id]


def citizen_statuses(engine: Engine, ticket_ids: list[str], queues: Queues | None = None,
                     recent: bool = False) -> dict[str, dict]:
    """:func:`citizen_status` for many tickets at once, all of one state, read in one read
    transaction, the forecast played after it (``server/engine/positions.py``; ``queues``: the
    queues read by earlier chunks of the same push; ``recent``: from the last push's forecast when
    recent, as a page just opened is, not a new forecast of every waiting citizen). Each says its
    ``seq`` and ``forecast_seq``, the state its estimate is of (``seq``, but when the forecast of an
    earlier state was deliberately read: a page just opened, a push's chunk after a commit)."""
    return {tid: _status(engine, t) for tid, t in positions(engine, ticket_ids, queues, recent).items()}


def _status(engine: Engine, t: dict) -> dict:
    svc = engine.config.service(t["service"])
    return {
        "seq": t["seq"],
        "forecast_seq": t["forecast_seq"],
        "at": engine.clock.now(),
        "code": t["code"],
        "service": t["service"],
        "service_name": svc.name if svc else t["service"],
        "service_name_en": svc.name_en if svc else "",
        "state": t["state"],
        "priority": bool(t["priority"]),
        "issued_at": t["issued_at"],
        "people_ahead": t["people_ahead_now"],
        "estimated_wait_s": t["estimated_wait_s"],
        "estimated_wait_range_s": t["estimated_wait_range_s"],
        # the engine's words (a range, or "may not be served today"): engine/positions.estimate_fields
        "estimated_wait_text": t["estimated_wait_text"],
        "estimated_wait_text_en": t["estimated_wait_text_en"],
        "counter": t["counter"] if t["state"] in ("called", "serving") else None,
        "called_at": t["called_at"],
        # how long this citizen has waited so far (from the issue, or from a transfer)
        "waited_s": round(max(0.0, engine.clock.now() - t["wait_from"]), 1) if t["state"] == "waiting" else None,
        "recalls": t["recalls"],
        **day_ended_fields(engine, t),
    }


def day_ended_fields(engine: Engine, t: dict) -> dict:
    """When the center ended its day with this citizen still waiting (that evening or at the next
    morning's first look): ``day_ended`` and what the page says, come back the next working day
    (``engine/day_end.py``), Vietnamese first; else nothing (a status shows no more than before)."""
    if t["state"] != "abandoned" or t.get("reason") != END_OF_DAY:
        return {}
    vi, en = end_of_day_notice(engine.config, date.fromisoformat(t["day"]), engine.today())
    return {"day_ended": True, "notice": vi, "notice_en": en}


def pending_status(engine: Engine, pending: dict) -> dict:
    """A ticket printed offline that the kiosk has not handed over yet: valid, place kept.

    The status page shows this until the ticket arrives, then switches by itself."""
    svc = engine.config.service(pending["service"])
    seq = engine.last_seq()
    return {
        "seq": seq,
        "forecast_seq": seq,
        "at": engine.clock.now(),
        "code": pending["code"],
        "service": pending["service"],
        "service_name": svc.name if svc else pending["service"],
        "service_name_en": svc.name_en if svc else "",
        "state": "pending",
        "priority": False,
        "issued_at": None,
        "people_ahead": None,
        "estimated_wait_s": 0.0,
        "counter": None,
        "called_at": None,
    }


def status_fingerprint(status: dict, late_after_s: float | None = None) -> tuple:
    """What the citizen's page shows of a status (``server/static/js/status.js``): a push whose
    fingerprint equals the last one sent changes nothing on the phone and is not sent.

    The estimate counts by its words (the rounded range, "khoảng 10–15 phút"), not its seconds:
    every event re-plays the forecast's sample paths, and their noise moved the seconds of most
    waiting citizens at each push (in-process, 200 waiting and one event that does not concern
    them: the 30-second bucket once used here changed for 24 % of them, the words for 15 %). Past
    ``late_after_s`` of waiting the page also shows the estimate in whole minutes (its apology for
    the broken promise), so those count too; ``seq`` and ``at`` never do."""
    waited = status.get("waited_s")
    late = late_after_s is not None and waited is not None and waited >= late_after_s
    return (status["state"], status["people_ahead"], status.get("estimated_wait_text"),
            status.get("estimated_wait_text_en"), status["counter"], status["called_at"], status["service"],
            status.get("recalls"), round(status["estimated_wait_s"] / 60) if late else None)


def device_list(registry: Any) -> list[dict] | None:
    """The device registry's list (kiosks, displays, printers), or None if there is none.

    The registry belongs to another module; a registry that fails must never break a screen.
    """
    if registry is None:
        return None
    try:
        return [dict(d) for d in registry.list()]
    except Exception:
        log.exception("device registry failed to list devices")
        return None
