"""``qms plan``: read the history and the roster, plan, check by simulation, print."""
from __future__ import annotations

import csv
import sys
from datetime import date

from qms_common.errors import ConfigError

from ..simulator import history_days
from .check import check_plan
from .forecast import forecast
from .report import as_dict, as_json, as_table
from .sources import history_from
from .staffing import RosterRow, plan_day


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"ngày không hợp lệ {text!r}, cần dạng YYYY-MM-DD / invalid date, expected YYYY-MM-DD") from None


def _staff(path: str) -> list[RosterRow]:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return [RosterRow(r["clerk"], int(r["counter"]), tuple(x for x in r["skills"].split(";") if x),
                              float(r["start_s"]), float(r["end_s"])) for r in csv.DictReader(f)]
    except FileNotFoundError:
        raise ConfigError(f"không tìm thấy lịch trực {path} / roster not found") from None
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: lịch trực sai định dạng / malformed roster: {exc}") from None


def run_plan(args) -> int:
    day = _day(args.date)
    hist = history_from(history_days(args.history), day)
    roster = _staff(args.staff) if args.staff else hist.roster
    absent = tuple(c.strip() for c in args.absent.split(",") if c.strip())
    unknown = [c for c in absent if c not in {r.clerk for r in roster}]
    if unknown:
        raise ConfigError(f"không có cán bộ {', '.join(unknown)} trong lịch trực / not on the roster: "
                          f"{', '.join(unknown)}")
    center = hist.center
    fc = forecast(hist.days, day, services=[s.code for s in center.services], close_s=center.close_s)
    if args.no_check:
        plan, check = plan_day(fc, hist.models, roster, absent=absent), None
    else:
        check = check_plan(fc, hist.models, roster, center, hist.patterns, absent=absent)
        plan = check.plan
    d = as_dict(plan, check, names={s.code: s.name for s in center.services}, opens_at=center.opens_at)
    text = as_json(d) + "\n" if args.format == "json" else as_table(d)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0
