"""The 15/30-minute promise, watched: what the director must act on now.

A pure function over the live figures the engine already computes (``service_stats`` and
``counters_view``), so the dashboard, the API and tests see the same alerts:

* ``wait_breach``: someone has waited longer than ``max_wait_s`` (15 min) and is still waiting;
* ``wait_warning``: the longest wait is within ``WARN_AHEAD_S`` of it;
* ``predicted_breach``: a citizen waiting now will pass ``max_wait_s`` by the estimate, or one
  taking a ticket now would; with ``held`` (the services alerted last time, kept by the caller)
  it stays until the new-ticket estimate is ``HYSTERESIS_S`` under the target and nobody waiting
  is expected past it, so it does not flicker around the line;
* ``service_overrun``: a counter has served its citizen longer than ``max_service_s`` (30 min).

Each service alert carries the live advice for its service (``server/advice/``): changes possible
now, with clerks present and services they are trained for, judged by playing the next hour
forward, each with its predicted effect; or, when nothing possible helps enough, what staffing
would. The engine passes them in (``advice``: service -> texts); this function does not compute.
"""
from __future__ import annotations

from typing import Any

from ..config import CenterConfig

WARN_AHEAD_S = 300  # warn five minutes before the target
HYSTERESIS_S = 300  # a predicted breach clears only this far under the target
SEVERITY = {"wait_breach": 3, "service_overrun": 2, "predicted_breach": 2, "wait_warning": 1}


def _minutes(seconds: float) -> int:
    return max(1, round(seconds / 60))


def _predicted(s: dict[str, Any], max_wait: float, held: set[str] | None) -> bool:
    will_pass = s.get("waiting_will_pass_target", 0) > s.get("waiting_past_target", 0)
    if s["estimated_wait_s"] > max_wait or will_pass:
        return True
    return held is not None and s["service"] in held and s["estimated_wait_s"] > max_wait - HYSTERESIS_S


def promise_alerts(config: CenterConfig, services: list[dict[str, Any]], counters: list[dict[str, Any]],
                   now: float, held: set[str] | None = None,
                   advice: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """Alerts, the most urgent first. ``held`` (updated in place) is the set of services with a
    predicted breach, for the hysteresis."""
    max_wait, max_service = config.targets.max_wait_s, config.targets.max_service_s
    advice = advice or {}
    alerts: list[dict[str, Any]] = []
    for s in services:
        code, name = s["service"], s["name"]
        if s["waiting"] and s["longest_wait_s"] > max_wait:
            kind = "wait_breach"
            text = (f"{name}: có người đã chờ {_minutes(s['longest_wait_s'])} phút, quá {_minutes(max_wait)} phút; "
                    f"someone has waited past the target")
        elif s["waiting"] and _predicted(s, max_wait, held):
            kind = "predicted_breach"
            text = (f"{name}: người lấy số bây giờ dự kiến chờ ~{_minutes(s['estimated_wait_s'])} phút; "
                    f"a new ticket is expected to wait past the target")
            if s["estimated_wait_s"] <= max_wait and s.get("waiting_will_pass_target", 0):
                text = (f"{name}: {s['waiting_will_pass_target']} người đang chờ dự kiến quá "
                        f"{_minutes(max_wait)} phút; citizens waiting are expected to pass the target")
        elif s["waiting"] and s["longest_wait_s"] > max_wait - WARN_AHEAD_S:
            kind = "wait_warning"
            text = (f"{name}: đã có người chờ {_minutes(s['longest_wait_s'])} phút; "
                    f"a wait is close to the target")
        else:
            if held is not None:
                held.discard(code)
            continue
        if held is not None:
            if kind == "predicted_breach" or kind == "wait_breach":
                held.add(code)
            else:
                held.discard(code)
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
