"""Every figure of the province's report, from the event log alone (as server/reports.py).

``build(events, config, period)`` gives a plain dict (JSON as it is): totals, per day and
service, satisfaction, throughput per counter and clerk, the busy-hours heat map and the
stretches of time the 15-minute promise was broken. Shares are fractions (0.87); the
renderers show them as percentages.
"""
from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime
from typing import Iterable

from qms_common.glossary import WEEKDAYS_VI

from ..config import CenterConfig
from ..engine.rating import LEVELS, REASONS, SATISFIED
from ..reports import _p90, daily_report, timelines
from .period import Period

WEEKDAYS = [d[0].upper() + d[1:] for d in WEEKDAYS_VI]  # a table's first column: "Thứ Hai" … "Chủ nhật"


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _min(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _figures(ts: list, wait_target: float, service_target: float) -> dict:
    waits = [t.first_call - t.issued_at for t in ts if t.first_call is not None]
    services = [t.finished - t.started for t in ts if t.outcome == "served" and t.started is not None]
    count = Counter(t.outcome for t in ts)
    return {
        "issued": len(ts), "served": count["served"], "no_show": count["no_show"],
        "abandoned": count["abandoned"], "cancelled": count["cancelled"], "open": count["open"],
        "mean_wait_min": _min(statistics.fmean(waits)) if waits else None,
        "p90_wait_min": _min(_p90(waits)) if waits else None,
        "called_within_target": _share(sum(w <= wait_target for w in waits), len(waits)),
        "mean_service_min": _min(statistics.fmean(services)) if services else None,
        "served_within_target": _share(sum(s <= service_target for s in services), len(services)),
        "no_show_rate": _share(count["no_show"], len(ts)),
        "walk_away_rate": _share(count["abandoned"], len(ts)),
    }


def _satisfaction(ts: list) -> dict:
    scores = [r for t in ts for r in t.ratings]
    levels = Counter(scores)
    reasons = Counter(r for t in ts for r in t.reasons)
    return {
        "ratings": len(scores),
        "satisfied_share": _share(sum(levels[s] for s in SATISFIED), len(scores)),
        "levels": {str(s): levels[s] for s in sorted(LEVELS, reverse=True)},
        "reasons": {code: reasons[code] for code in REASONS},
    }


def _broken(ts: list, wait_target: float, tz) -> list[dict]:
    """Stretches of each day during which someone had waited beyond the promise, merged."""
    spans = []
    for t in ts:
        end = t.first_call if t.first_call is not None else t.ended
        if end is not None and end - t.issued_at > wait_target:
            spans.append((t.issued_at + wait_target, end, end - t.issued_at, t.day))
    spans.sort()
    merged: list[dict] = []
    for start, end, wait, day in spans:
        last = merged[-1] if merged else None
        if last and last["day"] == day and start <= last["_end"]:
            last["_end"] = max(last["_end"], end)
            last["tickets"] += 1
            last["longest_wait_min"] = max(last["longest_wait_min"], _min(wait))
        else:
            merged.append({"day": day, "_start": start, "_end": end, "tickets": 1, "longest_wait_min": _min(wait)})
    for m in merged:
        start, end = m.pop("_start"), m.pop("_end")
        m["from"] = datetime.fromtimestamp(start, tz).strftime("%H:%M")
        m["to"] = datetime.fromtimestamp(end, tz).strftime("%H:%M")
        m["minutes"] = _min(end - start)
    return merged


def build(events: Iterable[dict], config: CenterConfig, period: Period, *, generated_at: float) -> dict:
    wait_target, service_target = config.targets.max_wait_s, config.targets.max_service_s
    tz = config.tz
    events = list(events)
    first, last = period.first.isoformat(), period.last.isoformat()
    ts = [t for t in timelines(events).values() if first <= t.day <= last]
    names = {s.code: s.name for s in config.services}

    by_service = []
    for svc in config.services:
        group = [t for t in ts if t.service == svc.code]
        if group:
            by_service.append({"service": svc.code, "service_name": svc.name, **_figures(group, wait_target,
                               service_target), "satisfaction": _satisfaction(group)})
    by_day = []
    for day in sorted({t.day for t in ts}):
        group = [t for t in ts if t.day == day]
        by_day.append({"day": day, **_figures(group, wait_target, service_target),
                       "satisfied_share": _satisfaction(group)["satisfied_share"],
                       "issued_by_service": {s: sum(t.service == s for t in group) for s in names}})

    def throughput(key) -> list[dict]:
        out = []
        for k in sorted({key(t) for t in ts if t.outcome == "served" and key(t) is not None}):
            group = [t for t in ts if key(t) == k]
            served = [t for t in group if t.outcome == "served" and t.started is not None]
            out.append({"served": len(served), "called": sum(t.first_call is not None for t in group),
                        "no_show": sum(t.outcome == "no_show" for t in group),
                        "mean_service_min": _min(statistics.fmean([t.finished - t.started for t in served]))
                        if served else None,
                        "served_within_target": _share(sum(t.finished - t.started <= service_target
                                                           for t in served), len(served)),
                        "satisfaction": _satisfaction(group), "_key": k})
        return out

    by_counter = [{"counter": r.pop("_key"), **r} for r in throughput(lambda t: t.counter)]
    by_clerk = [{"clerk": r.pop("_key"), **r} for r in throughput(lambda t: t.clerk)]

    opens, closes = int(config.hours.opens[:2]), int(config.hours.closes[:2])
    hours = list(range(min(opens, 7), max(closes + 1, 17)))
    heat = [[0] * len(hours) for _ in range(7)]
    for t in ts:
        local = datetime.fromtimestamp(t.issued_at, tz)
        if local.hour in hours:
            heat[local.isoweekday() - 1][hours.index(local.hour)] += 1

    return {
        "center": config.center.name, "center_en": config.center.name_en,
        "period": {"first": first, "last": last, "kind": period.kind, "label": period.label, "slug": period.slug},
        "generated_at": datetime.fromtimestamp(generated_at, tz).isoformat(timespec="minutes"),
        "targets": {"max_wait_min": wait_target / 60, "max_service_min": service_target / 60},
        "totals": _figures(ts, wait_target, service_target),
        "satisfaction": _satisfaction(ts),
        "by_service": by_service,
        "by_day": by_day,
        "by_day_service": daily_report(events, config, period.first, period.last),
        "by_counter": by_counter,
        "by_clerk": by_clerk,
        "heatmap": {"weekdays": WEEKDAYS, "hours": hours, "issued": heat},
        "promise_broken": _broken(ts, wait_target, tz),
    }
