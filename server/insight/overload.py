"""The per-counter overload flag: which counters the director should look at now, and why (pure).

``overload_flags(config, services, counters, rates, now)`` takes the engine's live figures
(``service_stats``, ``counters_view``) and the day's rates (:func:`current_rates`, from today's
events) and flags a counter for any of:

* ``cannot_clear``: a service of this open counter cannot be cleared within the wait target at
  the current rates: the last of the people waiting, served by the open counters of that service
  at its mean holding time today (else its configured mean service time), is called after more than ``max_wait_s``, or the arrivals of the
  last half hour come as fast as those counters serve, so the queue never clears;
* ``paused_while_breach`` / ``idle_while_breach``: the counter is paused, or open with nobody
  in hand for ``IDLE_S`` or more, while a service it serves has someone past the target or a
  breach predicted (``waiting_will_pass_target``);
* ``called_not_started``: the citizen called has not been started for ``CALLED_STALE_S``;
* ``service_overrun``: the citizen in hand has been served longer than ``max_service_s`` (30 min).

Each flag carries its message, Vietnamese first, then English.
"""
from __future__ import annotations

import statistics
from typing import Any, Iterable

from ..config import CenterConfig

CALLED_STALE_S = 180     # called and not started for 3 minutes
IDLE_S = 120             # open with nobody in hand for 2 minutes
ARRIVAL_WINDOW_S = 1800  # the arrival rate: the last half hour
DEFAULT_HOLD_S = 600     # holding time of a service with none finished today nor configured
RELEASE = {"ticket_finish", "ticket_no_show", "ticket_transfer", "ticket_park", "ticket_cancel", "ticket_abandon"}
SEVERITY = {"service_overrun": 2, "cannot_clear": 2, "paused_while_breach": 3, "idle_while_breach": 3,
            "called_not_started": 1}


def current_rates(events: Iterable[dict], now: float) -> dict[str, Any]:
    """From today's events: each service's mean holding time (call to release) and arrivals
    per hour over the last half hour, and when each counter last let a citizen go."""
    holds: dict[str, tuple[float, str]] = {}
    service_of: dict[str, str] = {}
    held: dict[str, list[float]] = {}
    arrivals: dict[str, int] = {}
    last_release: dict[int, float] = {}
    for e in sorted(events, key=lambda e: e["seq"]):
        kind, tid, data = e["type"], e.get("ticket_id"), e.get("data") or {}
        if kind == "ticket_issued" and tid:
            service_of[tid] = data.get("service")
            if now - data.get("issued_at", e["at"]) <= ARRIVAL_WINDOW_S:
                arrivals[data.get("service")] = arrivals.get(data.get("service"), 0) + 1
        elif kind == "ticket_transfer" and tid and data.get("service"):
            service_of[tid] = data["service"]
        if kind in ("ticket_call", "ticket_resume") and tid:
            holds[tid] = (e["at"], service_of.get(tid, ""))
        elif kind in RELEASE and tid in holds:
            since, svc = holds.pop(tid)
            if kind == "ticket_finish":
                held.setdefault(svc, []).append(max(0.0, e["at"] - since))
            if e.get("counter") is not None:
                last_release[e["counter"]] = e["at"]
        if kind == "counter_signed_in" and e.get("counter") is not None:
            last_release[e["counter"]] = e["at"]
        if kind == "counter_resumed" and e.get("counter") is not None:
            last_release[e["counter"]] = max(last_release.get(e["counter"], 0.0), e["at"])
    return {"hold_s": {s: statistics.fmean(v) for s, v in held.items() if v},
            "arrivals_per_h": {s: n * 3600 / ARRIVAL_WINDOW_S for s, n in arrivals.items()},
            "last_release": last_release}


def clear_time_s(waiting: int, servers: int, hold_s: float, arrivals_per_h: float) -> float | None:
    """When the last of those waiting now is called, at these rates (first in, first out: later
    arrivals queue behind them); None when the queue never clears (nobody serves it, or citizens
    arrive as fast as the counters serve)."""
    if waiting <= 0:
        return 0.0
    if servers <= 0 or arrivals_per_h / 3600 >= servers / hold_s:
        return None
    return (waiting - 1) * hold_s / servers


def _min(seconds: float) -> int:
    return max(1, round(seconds / 60))


def overload_flags(config: CenterConfig, services: list[dict[str, Any]], counters: list[dict[str, Any]],
                   rates: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """Every counter with its flags (``overloaded`` when it has any), in counter order."""
    max_wait, max_service = config.targets.max_wait_s, config.targets.max_service_s
    by_service = {s["service"]: s for s in services}
    names = {s.code: s.name for s in config.services}
    # a service with nobody finished today: its configured mean service time, else 10 minutes
    hold = {s.code: (getattr(s, "mean_service_min", None) or DEFAULT_HOLD_S / 60) * 60 for s in config.services}
    hold.update(rates.get("hold_s", {}))
    arrivals = rates.get("arrivals_per_h", {})
    last_release = rates.get("last_release", {})
    open_for = {code: [c for c in counters if c["state"] == "open" and code in c["services"]] for code in by_service}
    clear = {}
    for code, s in by_service.items():
        clear[code] = clear_time_s(s["waiting"], len(open_for[code]), hold.get(code, float(DEFAULT_HOLD_S)),
                                   arrivals.get(code, 0.0))

    def breaching(code: str) -> bool:
        s = by_service.get(code)
        return bool(s and s["waiting"] and (s["longest_wait_s"] > max_wait or s.get("waiting_will_pass_target", 0)))

    out = []
    for c in sorted(counters, key=lambda c: c["number"]):
        n, flags = c["number"], []
        t = c.get("ticket")
        if c["state"] == "open":
            for code in c["services"]:
                if code not in by_service or not by_service[code]["waiting"]:
                    continue
                ct = clear[code]
                if ct is None or ct > max_wait:
                    wait_n = by_service[code]["waiting"]
                    how = ("không bao giờ hết hàng với tốc độ hiện tại" if ct is None
                           else f"cần ~{_min(ct)} phút để hết hàng")
                    flags.append({"kind": "cannot_clear", "service": code, "seconds": ct, "message": (
                        f"Quầy {n}: {names.get(code, code)} còn {wait_n} người chờ, {how}, quá {_min(max_wait)} "
                        f"phút; {code}: the queue cannot be cleared within the target at current rates")})
        serving_breach = [code for code in c["services"] if breaching(code)]
        if serving_breach and c["state"] == "paused":
            flags.append({"kind": "paused_while_breach", "service": serving_breach[0], "seconds": None, "message": (
                f"Quầy {n} đang tạm nghỉ trong khi {names.get(serving_breach[0], serving_breach[0])} có người chờ "
                f"quá hạn; counter {n} is paused while its service breaches the target")})
        elif serving_breach and c["state"] == "open" and t is None:
            idle = now - max(last_release.get(n, 0.0), c.get("since") or 0.0)
            if idle >= IDLE_S:
                flags.append({"kind": "idle_while_breach", "service": serving_breach[0], "seconds": round(idle),
                              "message": (f"Quầy {n} không gọi số đã {_min(idle)} phút trong khi "
                                          f"{names.get(serving_breach[0], serving_breach[0])} có người chờ quá hạn; "
                                          f"counter {n} is idle while its service breaches the target")})
        if t and t.get("state") == "called" and t.get("called_at") and now - t["called_at"] >= CALLED_STALE_S:
            flags.append({"kind": "called_not_started", "service": t["service"], "seconds": round(now - t["called_at"]),
                          "message": (f"Quầy {n}: vé {t['code']} đã gọi {_min(now - t['called_at'])} phút mà chưa "
                                      f"bắt đầu phục vụ; {t['code']} was called and not started")})
        if t and t.get("started_at") and now - t["started_at"] > max_service:
            flags.append({"kind": "service_overrun", "service": t["service"], "seconds": round(now - t["started_at"]),
                          "message": (f"Quầy {n}: vé {t['code']} đã phục vụ {_min(now - t['started_at'])} phút, quá "
                                      f"{_min(max_service)} phút; service past the target")})
        out.append({"counter": n, "site": c["site"], "state": c["state"], "overloaded": bool(flags),
                    "severity": max((SEVERITY[f["kind"]] for f in flags), default=0), "flags": flags})
    return out
