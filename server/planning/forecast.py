"""Arrivals per service and half hour for a day ahead, from the arrivals of earlier days.

History rows in (``HistoryDay``: a date and its arrivals as (seconds since opening, service)),
a forecast out. The model, meant to stay honest with only a few weeks of history:

* the shape of the day per service: the mean count per half hour over all days, each day
  scaled to the same total (so a busy Monday does not distort the shape);
* the level: the mean daily total per service, times the weekday's factor (the mean total of
  that weekday over the mean of all days), shrunk towards 1 by empirical Bayes (the less the
  weekdays differ compared with days of one weekday, and the fewer such days, the more),
  times a recent trend (the last 10 working days over all, weekday-adjusted, half of it, only
  with at least 15 days);
* the uncertainty of each half hour: Poisson plus the day-to-day spread of the level left
  after the weekday factor, measured on the history itself.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import date

SLOT_S = 1800


@dataclass(frozen=True)
class HistoryDay:
    day: date
    arrivals: tuple[tuple[float, str], ...]   # (seconds since opening, service code)


@dataclass
class Forecast:
    day: date
    slot_s: int
    slots: int
    rates: dict[str, list[float]]            # expected arrivals per service and slot
    sd: dict[str, list[float]]               # their standard deviation
    days_used: int
    same_weekday_days: int
    weekday_factor: float
    trend: float
    level_cv: float                          # day-to-day spread of a day's total, relative
    notes: list[str] = field(default_factory=list)

    def total(self) -> float:
        return sum(sum(v) for v in self.rates.values())


def slot_of(t_s: float, slot_s: int = SLOT_S) -> int:
    return int(t_s // slot_s)


def forecast(history: list[HistoryDay], day: date, *, services: list[str] | None = None,
             close_s: float = 32400, slot_s: int = SLOT_S) -> Forecast:
    """The expected arrivals of ``day`` per service and slot, from ``history`` (days before it)."""
    past = sorted((h for h in history if h.day < day), key=lambda h: h.day)
    if not past:
        raise ValueError("cần ít nhất một ngày làm việc trước đó / at least one earlier working day is needed")
    slots = max(1, math.ceil(close_s / slot_s))
    codes = services or sorted({s for h in past for _, s in h.arrivals})
    counts = []                               # per day: {service: [count per slot]}
    for h in past:
        c = {s: [0] * slots for s in codes}
        for t, s in h.arrivals:
            if s in c:
                c[s][min(slot_of(t, slot_s), slots - 1)] += 1
        counts.append(c)
    totals = [sum(sum(v) for v in c.values()) for c in counts]
    mean_total = statistics.fmean(totals) or 1.0
    # shape per service, from days scaled to the same total
    shape: dict[str, list[float]] = {}
    level: dict[str, float] = {}
    for s in codes:
        per_day = [sum(c[s]) for c in counts]
        level[s] = statistics.fmean(per_day)
        acc = [0.0] * slots
        for c, tot in zip(counts, totals):
            k = mean_total / tot if tot else 0.0
            for i, x in enumerate(c[s]):
                acc[i] += x * k
        whole = sum(acc) or 1.0
        shape[s] = [x / whole for x in acc]
    # weekday factor, shrunk when few of that weekday are known
    same = [tot for h, tot in zip(past, totals) if h.day.weekday() == day.weekday()]
    wd = _weekday_factor(past, totals, day.weekday(), mean_total)
    # recent trend, only with enough days
    trend = 1.0
    notes = []
    if len(past) >= 15:
        recent = past[-10:]
        adj = []
        for h, tot in zip(past, totals):
            f = _weekday_factor(past, totals, h.day.weekday(), mean_total)
            adj.append(tot / f)
        raw_trend = statistics.fmean(adj[-10:]) / statistics.fmean(adj)
        trend = 1 + 0.5 * (raw_trend - 1)
        notes.append(f"xu hướng gần đây {len(recent)} ngày / recent trend over {len(recent)} days")
    else:
        notes.append("dưới 15 ngày: chưa tính xu hướng / under 15 days: no trend used")
    # day-to-day spread of the level, after the weekday factor
    resid = [tot / (mean_total * _weekday_factor(past, totals, h.day.weekday(), mean_total)) for h, tot in zip(past, totals)]
    level_cv = statistics.stdev(resid) if len(resid) >= 3 else 0.25
    if len(past) < 5:
        level_cv = max(level_cv, 0.25)
        notes.append(f"chỉ {len(past)} ngày lịch sử: độ bất định lớn / only {len(past)} days of history: wide uncertainty")
    if not same:
        notes.append("chưa có ngày cùng thứ trong lịch sử / no day of the same weekday in the history")
    rates = {s: [level[s] * wd * trend * p for p in shape[s]] for s in codes}
    sd = {s: [math.sqrt(r + (level_cv * r) ** 2) for r in rates[s]] for s in codes}
    return Forecast(day, slot_s, slots, rates, sd, len(past), len(same), wd, trend, level_cv, notes)


def _weekday_factor(past: list[HistoryDay], totals: list[int], weekday: int, mean_total: float) -> float:
    """The weekday's level over the mean, shrunk towards 1 by empirical Bayes: weight
    tau^2 / (tau^2 + sigma^2 / n), with sigma^2 the spread of days of the same weekday and
    tau^2 the spread between the weekdays' means (both relative to the mean day)."""
    groups: dict[int, list[float]] = {}
    for h, t in zip(past, totals):
        groups.setdefault(h.day.weekday(), []).append(t / mean_total)
    same = groups.get(weekday)
    if not same:
        return 1.0
    within = [x - statistics.fmean(g) for g in groups.values() if len(g) >= 2 for x in g]
    dof = sum(len(g) - 1 for g in groups.values() if len(g) >= 2)
    sigma2 = sum(x * x for x in within) / dof if dof >= 2 else 0.1 ** 2
    means = [statistics.fmean(g) for g in groups.values()]
    spread = statistics.pvariance(means) if len(means) >= 2 else 0.0
    tau2 = max(spread - sigma2 / statistics.fmean([len(g) for g in groups.values()]), 0.0)
    w = tau2 / (tau2 + sigma2 / len(same)) if tau2 + sigma2 > 0 else 0.0
    return 1 + w * (statistics.fmean(same) - 1)


def error_by_slot(fc: Forecast, actual: HistoryDay) -> list[dict]:
    """Per slot: forecast and actual arrivals (all services), and the absolute error."""
    out = []
    act = [0] * fc.slots
    for t, s in actual.arrivals:
        if s in fc.rates:
            act[min(slot_of(t, fc.slot_s), fc.slots - 1)] += 1
    for i in range(fc.slots):
        f = sum(fc.rates[s][i] for s in fc.rates)
        out.append({"slot": i, "forecast": f, "actual": act[i], "abs_error": abs(f - act[i])})
    return out
