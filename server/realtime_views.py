"""What the live screens are sent: pure functions over the engine's public views.

Nothing here touches sockets. A wall display, a clerk console and the director's dashboard
get the same *screen snapshot* (the engine's snapshot with a longer call history); a
citizen's phone gets only its own ticket (:func:`citizen_status`), never anyone else's.
"""
from __future__ import annotations

import logging
from typing import Any

from .engine import Engine
from .engine.positions import positions

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
    """Everything a screen shows, with the event sequence it reflects (``seq``)."""
    snap = engine.snapshot(site)
    snap["recent_calls"] = engine.recent_calls(RECENT_CALLS, site)
    snap["site"] = site
    return snap


def citizen_status(engine: Engine, ticket_id: str) -> dict:
    """One ticket as its holder sees it: place in line, estimate, the counter when called."""
    seq = engine.last_seq()
    return _status(engine, engine.position(ticket_id), seq)


def citizen_statuses(engine: Engine, ticket_ids: list[str], queues: dict | None = None) -> dict[str, dict]:
    """:func:`citizen_status` for many tickets at once (``server/engine/positions.py``; ``queues``:
    the queues read by earlier calls of the same push)."""
    seq = engine.last_seq()
    return {tid: _status(engine, t, seq) for tid, t in positions(engine, ticket_ids, queues).items()}


def _status(engine: Engine, t: dict, seq: int) -> dict:
    svc = engine.config.service(t["service"])
    return {
        "seq": seq,
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
    }


def pending_status(engine: Engine, pending: dict) -> dict:
    """A ticket printed offline that the kiosk has not handed over yet: valid, place kept.

    The status page shows this until the ticket arrives, then switches by itself."""
    svc = engine.config.service(pending["service"])
    return {
        "seq": engine.last_seq(),
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


def status_fingerprint(status: dict) -> tuple:
    """The parts of a citizen status whose change is worth a push (not ``seq``/``at``)."""
    return (status["state"], status["people_ahead"], round(status["estimated_wait_s"] / 30),
            status["counter"], status["called_at"], status["service"])


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
