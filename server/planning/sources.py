"""History and roster from scenario folders (the format of ``data/scenarios/README.md``).

Earlier days as ``generate.py --date D --days N`` writes them (or any folders of days); the
roster of the day planned is a ``staff.csv`` (by default the latest history day's).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from qms_common.errors import ConfigError

from ..scenario import Scenario, ScenarioCenter
from .check import Citizen
from .forecast import HistoryDay
from .staffing import RosterRow, ServiceModel, model_from_samples


@dataclass
class History:
    center: ScenarioCenter               # the latest day's center (services, hours)
    days: list[HistoryDay]
    models: dict[str, ServiceModel]
    patterns: dict[str, list[Citizen]]
    roster: list[RosterRow]              # the latest day's staff


def history_from(scenarios: list[Scenario], day: date) -> History:
    past = [sc for sc in scenarios if sc.center.date is not None and sc.center.date < day]
    if not past:
        raise ConfigError(f"không có ngày nào trước {day} trong lịch sử / no history day before {day} "
                          "(days need a date in center.json)")
    past.sort(key=lambda sc: sc.center.date)
    days = [HistoryDay(sc.center.date, tuple((a.arrival_s, a.service) for a in sc.arrivals)) for sc in past]
    samples = [(a.service, a.service_s, a.no_show, a.patience_s) for sc in past for a in sc.arrivals]
    last = past[-1]
    models = model_from_samples(samples, hold_s=last.center.no_show_hold_s, walk_s=last.center.walk_s)
    patterns: dict[str, list[Citizen]] = {}
    for sc in past:
        for a in sc.arrivals:
            patterns.setdefault(a.service, []).append(Citizen(a.service, a.priority, a.service_s, a.patience_s, a.no_show))
    return History(last.center, days, models, patterns, roster_from(last))


def roster_from(sc: Scenario) -> list[RosterRow]:
    return [RosterRow(r.clerk, r.counter, tuple(r.skills), r.start_s, r.end_s) for r in sc.shifts]
