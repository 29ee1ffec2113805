"""The dashboard's charts for one day, from that day's events alone (pure: no Flask, no SQLite).

``day_charts(events, config, day=..., now=..., history=...)`` gives a plain dict (JSON as it is):

* ``waiting``: people waiting per service, sampled every ``SAMPLE_S`` from opening, and now;

* ``within_by_hour``: per hour of issue, the share called within the wait target (15 min),
  counting the citizens still waiting who are already past it as not within (as the headline);
* ``wait_distribution``: the waits of those called today, in bands of 5 minutes (30+ last),
  and the citizens still waiting in the same bands;
* ``counters``: per counter, the time open (signed in, not paused), the time holding a citizen
  (from the call until finish, no-show, transfer or park), its load (held / open) and idle share;
* ``arrivals``: per half hour, actual arrivals against the forecast of ``server/planning/forecast.py``
  from earlier days (``history``), or ``forecast: null`` and a note "chưa đủ dữ liệu" without any.

The window is the opening hours and an hour after closing, widened to the day's tickets when
some come before the opening or after that hour (a center working late; the demo, run at any
hour): they are drawn when they happened, never dropped nor counted in the last half hour.

Events are dicts as the engine stores them (``seq, at, type, ticket_id, counter, actor, data``).
"""
from __future__ import annotations

import math
from datetime import date
from typing import Any, Iterable

from qms_common.clock import local_datetime, local_timestamp

from ..config import CenterConfig
from ..planning.forecast import SLOT_S, HistoryDay, forecast

SAMPLE_S = 600                 # the waiting chart: one point every 10 minutes
BANDS_MIN = (0, 5, 10, 15, 20, 30)
RELEASE = {"ticket_finish", "ticket_no_show", "ticket_transfer", "ticket_park", "ticket_cancel",
           "ticket_abandon"}
LEAVE_QUEUE = {"ticket_call", "ticket_resume", "ticket_cancel", "ticket_abandon"}
NO_HISTORY = ("Chưa đủ dữ liệu: chưa có ngày làm việc nào trước hôm nay trong nhật ký để dự báo; "
              "not enough data: no earlier working day in the log to forecast from")


def _hm(ts: float, tz) -> str:
    return local_datetime(ts, tz).strftime("%H:%M")


def _band(minutes: float) -> int:
    for i in range(len(BANDS_MIN) - 1, -1, -1):
        if minutes >= BANDS_MIN[i]:
            return i
    return 0


def band_labels() -> list[str]:
    out = []
    for i, lo in enumerate(BANDS_MIN):
        out.append(f"{lo}–{BANDS_MIN[i + 1]} phút" if i + 1 < len(BANDS_MIN) else f"≥ {lo} phút")
    return out


def history_from_events(events: Iterable[dict], config: CenterConfig, before: date) -> list[HistoryDay]:
    """Earlier days' arrivals (seconds since opening, service) from the event log, for the forecast."""
    per_day: dict[str, list[tuple[float, str]]] = {}
    for e in events:
        if e["type"] != "ticket_issued":
            continue
        day = e["data"].get("day")
        if not day or day >= before.isoformat():
            continue
        per_day.setdefault(day, []).append((e["data"].get("issued_at", e["at"]), e["data"]["service"]))
    out = []
    for day, rows in sorted(per_day.items()):
        d = date.fromisoformat(day)
        if d.isoweekday() not in config.hours.work_days:
            continue
        opens = local_timestamp(d, config.hours.opens, config.tz)
        out.append(HistoryDay(d, tuple((max(0.0, t - opens), s) for t, s in rows)))
    return out


def _activity(events: list[dict], day: date) -> tuple[float | None, float | None]:
    """The first and last moment of the day's tickets: their issues and what happened to them
    (None, None for a day without any). Counters are left out: a clerk signing in before the
    opening does not move the charts' start."""
    iso, ours = day.isoformat(), set()
    first = last = None
    for e in events:
        data = e.get("data") or {}
        tid = e.get("ticket_id")
        if e["type"] == "ticket_issued":
            if data.get("day") != iso:
                continue
            ours.add(tid)
            at = data.get("issued_at", e["at"])
        elif tid and tid in ours:
            at = e["at"]
        else:
            continue
        first = at if first is None else min(first, at)
        last = at if last is None else max(last, at)
    return first, last


def day_charts(events: Iterable[dict], config: CenterConfig, *, day: date, now: float,
               history: list[HistoryDay] | None = None) -> dict[str, Any]:
    tz = config.tz
    target = config.targets.max_wait_s
    opens = local_timestamp(day, config.hours.opens, tz)
    closes = local_timestamp(day, config.hours.closes, tz)
    events = sorted(events, key=lambda e: e["seq"])
    codes = [s.code for s in config.services]
    # the window drawn: the opening hours (and an hour after closing), widened to the day's
    # activity on either side (a center working late, the demo after hours): waits, counters and
    # arrivals outside the hours are drawn where they happened, never dropped nor lumped together
    first_at, last_at = _activity(events, day)
    start = opens if first_at is None or first_at >= opens else opens - math.ceil((opens - first_at) / SLOT_S) * SLOT_S
    late = last_at is not None and last_at > closes + 3600   # a day still working: drawn to now
    until = max(start, now if late else min(now, closes + 3600))

    issued: dict[str, tuple[float, str]] = {}          # ticket -> (issued_at, service)
    left_queue: dict[str, float] = {}                  # ticket -> first left the queue (call, cancel...)
    first_call: dict[str, float] = {}
    queue_changes: list[tuple[float, str, int]] = []   # (at, service, +1/-1)
    in_queue: dict[str, str] = {}                      # ticket -> service, while waiting
    holds: dict[str, tuple[int, float]] = {}           # ticket -> (counter, since)
    busy: dict[int, float] = {}
    counter_state: dict[int, tuple[str, float]] = {}   # number -> (state, since)
    open_s: dict[int, float] = {}
    paused_s: dict[int, float] = {}

    def counter_to(number: int, state: str, at: float) -> None:
        prev, since = counter_state.get(number, ("closed", at))
        span = max(0.0, min(at, until) - max(since, start))
        if prev == "open":
            open_s[number] = open_s.get(number, 0.0) + span
        elif prev == "paused":
            paused_s[number] = paused_s.get(number, 0.0) + span
        counter_state[number] = (state, at)

    for e in events:
        kind, at, tid = e["type"], e["at"], e.get("ticket_id")
        data = e.get("data") or {}
        if kind.startswith("counter_") and e.get("counter") is not None:
            state = {"counter_signed_in": "open", "counter_resumed": "open", "counter_paused": "paused",
                     "counter_signed_out": "closed"}.get(kind)
            if state:
                counter_to(e["counter"], state, at)
            continue
        if not tid:
            continue
        if kind == "ticket_issued":
            if data.get("day") != day.isoformat():
                continue
            svc = data.get("service")
            issued[tid] = (data.get("issued_at", at), svc)
            in_queue[tid] = svc
            queue_changes.append((data.get("issued_at", at), svc, 1))
            continue
        if tid not in issued:
            continue
        if tid in in_queue and kind in LEAVE_QUEUE:
            queue_changes.append((at, in_queue.pop(tid), -1))
            left_queue.setdefault(tid, at)
        if kind in ("ticket_requeue", "ticket_transfer"):
            svc = data.get("service") or issued[tid][1]
            if tid in in_queue:                    # a waiting ticket moved to another service
                queue_changes.append((at, in_queue.pop(tid), -1))
            in_queue[tid] = svc
            queue_changes.append((at, svc, 1))
        if kind in ("ticket_call", "ticket_resume"):
            first_call.setdefault(tid, at)
            if e.get("counter") is not None:
                holds[tid] = (e["counter"], at)
        if kind in RELEASE and tid in holds:
            number, since = holds.pop(tid)
            busy[number] = busy.get(number, 0.0) + max(0.0, min(at, until) - since)
    for number, (state, _since) in list(counter_state.items()):
        counter_to(number, state, until)           # close the running spans at "now"
    for _tid, (number, since) in holds.items():
        busy[number] = busy.get(number, 0.0) + max(0.0, until - since)

    # people waiting per service, through the day
    queue_changes.sort()
    labels, series = [], {c: [] for c in codes}
    level = {c: 0 for c in codes}
    i = 0
    marks = [start + k * SAMPLE_S for k in range(int((until - start) // SAMPLE_S) + 1)]
    if marks[-1] < until:
        marks.append(until)                    # the last point is now
    for t in marks:
        while i < len(queue_changes) and queue_changes[i][0] <= t:
            _, svc, d = queue_changes[i]
            if svc in level:
                level[svc] = max(0, level[svc] + d)
            i += 1
        labels.append(_hm(t, tz))
        for c in codes:
            series[c].append(level[c])

    # within the target by hour of issue
    hours: dict[int, list[int]] = {}
    waits: list[float] = []
    still: list[float] = []
    for tid, (at, _svc) in issued.items():
        h = local_datetime(at, tz).hour
        row = hours.setdefault(h, [0, 0])
        if tid in first_call:
            w = max(0.0, first_call[tid] - at)
            waits.append(w)
            row[0] += 1
            row[1] += w <= target
        elif tid in in_queue:
            w = max(0.0, now - at)
            still.append(w)
            if w > target:
                row[0] += 1
    within = [{"hour": f"{h:02d}:00", "counted": n, "within": k, "share": round(k / n, 3) if n else None}
              for h, (n, k) in sorted(hours.items())]

    dist_called, dist_waiting = [0] * len(BANDS_MIN), [0] * len(BANDS_MIN)
    for w in waits:
        dist_called[_band(w / 60)] += 1
    for w in still:
        dist_waiting[_band(w / 60)] += 1

    counters = []
    for c in config.counters:
        o, b, p = open_s.get(c.number, 0.0), busy.get(c.number, 0.0), paused_s.get(c.number, 0.0)
        b = min(b, o + p) if o + p else b
        counters.append({"counter": c.number, "site": c.site, "open_s": round(o), "paused_s": round(p),
                         "busy_s": round(b), "load": round(min(1.0, b / o), 3) if o else None,
                         "idle": round(max(0.0, 1 - b / o), 3) if o else None})

    # arrivals against the forecast, per half hour (the forecast covers the opening hours only)
    slots = max(1, math.ceil((max(closes, until) - start) / SLOT_S))
    lead = round((opens - start) / SLOT_S)               # half hours drawn before the opening
    actual = [0] * slots
    for at, svc in issued.values():
        k = int(max(0.0, at - start) // SLOT_S)
        actual[min(k, slots - 1)] += 1
    upto = min(slots, int(max(0.0, until - start) // SLOT_S) + 1)
    arrivals: dict[str, Any] = {"labels": [_hm(start + k * SLOT_S, tz) for k in range(slots)],
                                "actual": [actual[k] if k < upto else None for k in range(slots)],
                                "forecast": None, "history_days": 0, "note": NO_HISTORY}
    if history:
        fc = forecast(history, day, services=codes, close_s=closes - opens)
        n_fc = len(next(iter(fc.rates.values()), []))
        arrivals.update(forecast=[round(sum(fc.rates[s][k - lead] for s in codes), 2) if 0 <= k - lead < n_fc else None
                                  for k in range(slots)],
                        history_days=fc.days_used,
                        note=(f"Dự báo từ {fc.days_used} ngày làm việc trước ({fc.same_weekday_days} ngày cùng "
                              f"thứ); forecast from {fc.days_used} earlier working days"
                              + ("" if fc.days_used >= 5 else "; ít ngày lịch sử: độ bất định lớn / few days, "
                                 "wide uncertainty")))
    return {
        "day": day.isoformat(), "at": now, "target_s": target,
        "waiting": {"labels": labels, "series": series},
        "within_by_hour": within,
        "wait_distribution": {"labels": band_labels(), "called": dist_called, "waiting": dist_waiting},
        "counters": counters,
        "arrivals": arrivals,
    }
