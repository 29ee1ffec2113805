"""The period a report covers: an ISO week (``2026-W48``), a day, or a range of days."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from qms_common.errors import InvalidPeriod

MAX_DAYS = 366
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    kind: str  # "week", "day" or "range"

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def label(self) -> str:
        """Vietnamese first: 'Tuần 48/2026 (23/11/2026 – 29/11/2026)'."""
        span = f"{self.first:%d/%m/%Y} – {self.last:%d/%m/%Y}"
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"Tuần {week}/{year} ({span})"
        if self.kind == "day":
            return f"Ngày {self.first:%d/%m/%Y}"
        return f"Từ {self.first:%d/%m/%Y} đến {self.last:%d/%m/%Y}"

    @property
    def slug(self) -> str:
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "day":
            return self.first.isoformat()
        return f"{self.first.isoformat()}_{self.last.isoformat()}"


def week(text: str) -> Period:
    m = _WEEK.match(text.strip())
    if not m:
        raise InvalidPeriod(f"Tuần phải viết dạng 2026-W48; a week is written like 2026-W48, got {text!r}")
    try:
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError as exc:
        raise InvalidPeriod(f"Không có tuần {text}; no such week {text!r} ({exc})") from exc
    return Period(monday, monday + timedelta(days=6), "week")


def week_of(day: date) -> Period:
    monday = day - timedelta(days=day.isoweekday() - 1)
    return Period(monday, monday + timedelta(days=6), "week")


def days(first: date, last: date | None = None) -> Period:
    last = last or first
    if first > last:
        raise InvalidPeriod(f"Ngày bắt đầu ({first:%d/%m/%Y}) sau ngày kết thúc ({last:%d/%m/%Y}); "
                       f"'from' is after 'to'")
    if (last - first).days >= MAX_DAYS:
        raise InvalidPeriod("Một báo cáo tối đa một năm; a report covers at most a year")
    return Period(first, last, "day" if first == last else "range")
