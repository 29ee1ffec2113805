"""The 15/30-minute promise, watched: what the director must act on now.

A pure function over the live figures the engine already computes (``service_stats`` and
``counters_view``), so the dashboard, the API and tests see the same alerts:

* ``wait_breach``: someone has waited longer than ``max_wait_s`` (15 min) and is still waiting;
* ``wait_warning``: the longest wait is within ``WARN_AHEAD_S`` of it;
* ``predicted_breach``: a citizen waiting now will pass ``max_wait_s`` by the estimate, or one
  taking a ticket now would by a clear margin; with ``held`` (each service's memory, kept by the
  caller between two calls) it stays until, for ``clear_after_s``, the new-ticket estimate has
  been ``margin_s`` under the target and nobody waiting has been expected past it, so it does not
  flicker around the line (``AlertRule``, time from the ``now`` passed in: the injected clock);
* ``service_overrun``: a counter has served its citizen longer than ``max_service_s`` (30 min).

Each service alert carries the live advice for its service (``server/advice/``): changes possible
now, with clerks present and services they are trained for, judged by playing the next hour
forward, each with its predicted effect; or, when nothing possible helps enough, what staffing
would. The engine passes them in (``advice``: service -> texts); this function does not compute.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qms_common.wait_words import NO_COUNTER

from ..config import CenterConfig

WARN_AHEAD_S = 300  # warn five minutes before the target
HYSTERESIS_S = 300  # a predicted breach clears only this far under the target
SEVERITY = {"wait_breach": 3, "service_overrun": 2, "predicted_breach": 2, "wait_warning": 1}


@dataclass(frozen=True)
class AlertRule:
    """When a predicted breach is raised and when it clears (measured: docs/performance.md, section 9,
    "The alert over a day").

    Raised at once when a citizen waiting now is expected to pass the target (beyond those already
    past it), or when a new ticket's estimate is over the target by ``new_ticket_over_s``: alone,
    an estimate just over the line, while nobody waiting is expected to breach, is wrong more often
    than right (in the bench, 41 % of the episodes it raised alone were followed by a breach, against
    83 % of those raised by a citizen expected past the target). A wait already past
    the target raises it too (a fact, not a prediction). It stays while the cause holds or the
    new-ticket estimate is within ``margin_s`` of the target, and clears only once that has been
    false for ``clear_after_s`` on end, a queue that empties for a moment included (with
    ``empty_clears`` an empty queue clears it at once, as the rule before did).
    """
    margin_s: float = HYSTERESIS_S
    clear_after_s: float = 900.0
    new_ticket_over_s: float = 600.0
    empty_clears: bool = False


RULE = AlertRule()


def _new_ticket_wait(s: dict[str, Any]) -> str:
    """What a new ticket's wait reads, as the screens print it: "dự kiến chờ khoảng 20–30 phút", or
    "hiện không có quầy phục vụ"; a bare figure only where the words are not given."""
    words = s.get("estimated_wait_text")
    if not words:
        return f"dự kiến chờ ~{_minutes(s['estimated_wait_s'])} phút"
    if words == NO_COUNTER[0]:
        return words[0].lower() + words[1:]
    return f"dự kiến chờ {words}"


def _minutes(seconds: float) -> int:
    return max(1, round(seconds / 60))


def _step(s: dict[str, Any], max_wait: float, now: float, memory: dict[str, dict], rule: AlertRule) -> bool:
    """Whether the service's predicted (or actual) breach is on now, by ``rule``; updates ``memory``
    (the service's entry: on, and since when the reasons to keep it have been gone)."""
    code, waiting = s["service"], s["waiting"] > 0
    m = memory.get(code)
    if m is None or (not waiting and rule.empty_clears):
        memory.pop(code, None)
        if not waiting:
            return False
        m = {"on": False, "calm_since": None}
    est = s["estimated_wait_s"]
    cause = waiting and (est > max_wait + rule.new_ticket_over_s
                         or s.get("waiting_will_pass_target", 0) > s.get("waiting_past_target", 0))
    if waiting and s["longest_wait_s"] > max_wait:
        m.update(on=True, calm_since=None)
    elif not m["on"]:
        m["on"] = cause
    elif cause or est > max_wait - rule.margin_s:  # with nobody waiting, a new ticket's estimate
        m["calm_since"] = None
    else:
        m["calm_since"] = now if m["calm_since"] is None else m["calm_since"]
        if now - m["calm_since"] >= rule.clear_after_s:
            m["on"] = False
    if m["on"]:
        memory[code] = m
    else:
        memory.pop(code, None)
    return m["on"]


def promise_alerts(config: CenterConfig, services: list[dict[str, Any]], counters: list[dict[str, Any]],
                   now: float, held: dict[str, dict] | None = None,
                   advice: dict[str, list[str]] | None = None, *, rule: AlertRule = RULE) -> list[dict[str, Any]]:
    """Alerts, the most urgent first. ``held`` (updated in place, kept by the caller between two
    calls) is each service's memory for the rule; without it every call starts afresh."""
    max_wait, max_service = config.targets.max_wait_s, config.targets.max_service_s
    advice = advice or {}
    memory = held if held is not None else {}
    alerts: list[dict[str, Any]] = []
    for s in services:
        code, name = s["service"], s["name"]
        on = _step(s, max_wait, now, memory, rule)
        if s["waiting"] and s["longest_wait_s"] > max_wait:
            kind = "wait_breach"
            text = (f"{name}: có người đã chờ {_minutes(s['longest_wait_s'])} phút, quá {_minutes(max_wait)} phút; "
                    f"someone has waited past the target")
        elif on:
            kind = "predicted_breach"
            text = (f"{name}: người lấy số bây giờ {_new_ticket_wait(s)}; "
                    f"a new ticket is expected to wait past the target")
            if s.get("waiting_will_pass_target", 0) > s.get("waiting_past_target", 0):
                text = (f"{name}: {s['waiting_will_pass_target']} người đang chờ dự kiến quá "
                        f"{_minutes(max_wait)} phút; citizens waiting are expected to pass the target")
            elif s["estimated_wait_s"] <= max_wait:
                text = (f"{name}: nguy cơ chờ quá {_minutes(max_wait)} phút chưa hết hẳn (người lấy số bây giờ "
                        f"{_new_ticket_wait(s)}); the risk of passing the target "
                        f"has not cleared yet")
        elif s["waiting"] and s["longest_wait_s"] > max_wait - WARN_AHEAD_S:
            kind = "wait_warning"
            text = (f"{name}: đã có người chờ {_minutes(s['longest_wait_s'])} phút; "
                    f"a wait is close to the target")
        else:
            continue
        alerts.append({"kind": kind, "severity": SEVERITY[kind], "service": code, "counter": None, "message": text,
                       "waiting": s["waiting"], "longest_wait_s": s["longest_wait_s"],
                       "estimated_wait_s": s["estimated_wait_s"],
                       "recommendations": list(advice.get(code, [])) if kind != "wait_warning" else []})
    for c in counters:
        t = c.get("ticket")
        if t and t.get("started_at") and now - t["started_at"] > max_service:
            minutes = _minutes(now - t["started_at"])
            alerts.append({"kind": "service_overrun", "severity": SEVERITY["service_overrun"], "service": t["service"],
                           "counter": c["number"], "waiting": None, "longest_wait_s": None, "estimated_wait_s": None,
                           "message": (f"Quầy {c['number']}: vé {t['code']} đã phục vụ {minutes} phút, quá "
                                       f"{_minutes(max_service)} phút; service past the target"),
                           "recommendations": []})
    alerts.sort(key=lambda a: (-a["severity"], -(a["longest_wait_s"] or 0)))
    return alerts
