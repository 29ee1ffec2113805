"""Reports from the event log: per day and service, how the 15/30-minute promise was kept.

Built from the append-only ``events`` table alone (not the live tables), so a report is the
same whenever it is made and whatever happened to the live state since. The week's report a
center sends to the province on Thursday is ``qms report --from <Monday> --to <Sunday>``.

For each day (the center's local day of issue) and service:

- ``issued``, ``served`` (finished), ``no_show``, ``abandoned`` (left, or closed at the end
  of the day), ``cancelled``, and ``open`` (neither: still in the queue when reported);
- ``mean_wait_min`` and ``p90_wait_min``: from issue to the first call (the citizen's wait);
- ``called_within_target``: share of called tickets whose wait was within ``max_wait_s``
  (15 minutes);
- ``mean_service_min`` and ``served_within_target``: from start to finish, and the share of
  served tickets within ``max_service_s`` (30 minutes);
- ``ratings`` and ``mean_rating`` (4 Rất hài lòng … 1 Không hài lòng).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Iterable

from qms_common.errors import InvalidPeriod

from .config import CenterConfig
from .engine.states import END_OF_DAY

COLUMNS = ["day", "service", "service_name", "issued", "served", "no_show", "abandoned", "cancelled", "open",
           "mean_wait_min", "p90_wait_min", "called_within_target", "mean_service_min", "served_within_target",
           "ratings", "mean_rating"]


@dataclass
class _Ticket:
    day: str
    service: str
    issued_at: float
    first_call: float | None = None
    started: float | None = None
    finished: float | None = None
    outcome: str = "open"
    ratings: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    counter: int | None = None  # where it was served (or last called)
    clerk: str | None = None
    ended: float | None = None  # when it left the queue without service (no-show, walked away, cancelled)


def timelines(events: Iterable[dict]) -> dict[str, _Ticket]:
    """Each ticket's moments, replayed from the events in order."""
    tickets: dict[str, _Ticket] = {}
    last_at: dict[str, float] = {}      # per day: its tickets' last event before the day was closed
    closed_later: list[_Ticket] = []    # still waiting when the next day's first look closed the day
    for e in events:
        t = tickets.get(e.get("ticket_id") or "")
        data, kind, at = e["data"], e["type"], e["at"]
        if kind == "ticket_issued":
            t = tickets[e["ticket_id"]] = _Ticket(data["day"], data["service"], data.get("issued_at", at))
            last_at[t.day] = max(last_at.get(t.day, at), at)
            continue
        if t is None:
            continue
        if kind == "ticket_abandon" and data.get("reason") == END_OF_DAY:
            closed_later.append(t)
        else:
            last_at[t.day] = max(last_at.get(t.day, at), at)
        if kind in ("ticket_call", "ticket_resume"):
            t.first_call = at if t.first_call is None else t.first_call
            t.counter, t.clerk = e.get("counter") or t.counter, e.get("actor") or t.clerk
        elif kind == "ticket_start":
            t.started = at
            t.counter, t.clerk = e.get("counter") or t.counter, e.get("actor") or t.clerk
        elif kind == "ticket_finish":
            t.finished, t.outcome = at, "served"
        elif kind == "ticket_no_show":
            t.outcome, t.ended = "no_show", at
        elif kind == "ticket_requeue":
            t.outcome = "open"
        elif kind == "ticket_abandon":
            t.outcome, t.ended = "abandoned", at
        elif kind == "ticket_cancel" and str(data.get("reason", "")).startswith("superseded_by_offline"):
            # an online copy nobody held, taken over by the printed offline ticket of the same
            # press: that one is the citizen's ticket and is counted; the copy is not
            del tickets[e["ticket_id"]]
        elif kind == "ticket_cancel":
            t.outcome, t.ended = "cancelled", at
        elif kind == "ticket_transfer":
            # the wait for the new service starts again; the report counts the ticket once,
            # under the service it was issued for, and its first wait
            t.started = None
        elif kind == "ticket_rated" and isinstance(data.get("score"), int):
            t.ratings.append(data["score"])
            if data.get("reason"):
                t.reasons.append(data["reason"])
    # the engine closes a day's leftovers at the next day's first look (the next morning): such a
    # citizen waited until the center stopped working that day, not overnight
    for t in closed_later:
        if t.outcome == "abandoned" and t.ended is not None:
            t.ended = max(t.issued_at, min(t.ended, last_at.get(t.day, t.ended)))
    return tickets


def daily_report(events: Iterable[dict], config: CenterConfig, first: date, last: date) -> list[dict]:
    """Rows for every day in [first, last] that had tickets, and every service of the center."""
    wait_target = config.targets.max_wait_s
    service_target = config.targets.max_service_s
    groups: dict[tuple[str, str], list[_Ticket]] = {}
    for t in timelines(events).values():
        if first.isoformat() <= t.day <= last.isoformat():
            groups.setdefault((t.day, t.service), []).append(t)
    names = {s.code: s.name for s in config.services}
    rows = []
    for day in sorted({d for d, _ in groups}):
        for svc in config.services:
            ts = groups.get((day, svc.code), [])
            if not ts:
                continue
            # a wall clock stepped back (NTP) can make a wait look negative: it was no wait; a
            # service time it makes negative is unknown and left out
            waits = [max(0.0, t.first_call - t.issued_at) for t in ts if t.first_call is not None]
            services = [t.finished - t.started for t in ts if t.outcome == "served" and t.started is not None
                        and t.finished > t.started]
            ratings = [r for t in ts for r in t.ratings]
            count = {k: sum(t.outcome == k for t in ts) for k in ("served", "no_show", "abandoned", "cancelled", "open")}
            rows.append({
                "day": day, "service": svc.code, "service_name": names[svc.code], "issued": len(ts), **count,
                "mean_wait_min": _minutes(statistics.fmean(waits)) if waits else None,
                "p90_wait_min": _minutes(_p90(waits)) if waits else None,
                "called_within_target": _share(sum(w <= wait_target for w in waits), len(waits)),
                "mean_service_min": _minutes(statistics.fmean(services)) if services else None,
                "served_within_target": _share(sum(s <= service_target for s in services), len(services)),
                "ratings": len(ratings),
                "mean_rating": round(statistics.fmean(ratings), 2) if ratings else None,
            })
    return rows


def report_for(engine, since: date | None, to: date | None, *, max_days: int | None = None,
               site: str | None = None) -> tuple[date, date, list[dict]]:
    """The days asked for (default: today; ``since`` defaults to ``to``) and their rows (of one
    ``site`` only if given: server/reporting/sites.py)."""
    last = to or engine.today()
    first = since or last
    if first > last:
        raise InvalidPeriod(f"Ngày bắt đầu ({first:%d/%m/%Y}) sau ngày kết thúc ({last:%d/%m/%Y}); "
                            f"'from' ({first}) is after 'to' ({last})", field="from")
    if max_days is not None and (last - first).days > max_days:
        raise InvalidPeriod(f"Báo cáo tối đa {max_days} ngày; a report covers at most {max_days} days", field="from")
    events = engine.events_of_days(first, last)
    if site is not None:
        from .reporting.sites import of_site
        events = of_site(events, site)
    return first, last, daily_report(events, engine.config, first, last)


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 1)


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def write_csv(rows: list[dict], out: IO[str]) -> None:
    """The rows for a spreadsheet: Vietnamese headers, shares as percentages (87.5%)."""
    from .reporting.tables import daily_sheet, write_table
    write_table(*daily_sheet(rows), out)


def format_table(rows: list[dict]) -> str:
    """A readable table for the terminal (Vietnamese headings)."""
    head = ["Ngày", "Lĩnh vực", "Cấp", "Xong", "Vắng", "Bỏ về", "Chờ TB", "≤15'", "Phục vụ TB", "≤30'"]
    lines = [head]
    for r in rows:
        pct = lambda v: "—" if v is None else f"{v * 100:.0f}%"  # noqa: E731
        num = lambda v: "—" if v is None else f"{v:.1f}'"  # noqa: E731
        d = date.fromisoformat(r["day"])
        lines.append([f"{d:%d/%m/%Y}", r["service_name"], str(r["issued"]), str(r["served"]), str(r["no_show"]),
                      str(r["abandoned"]), num(r["mean_wait_min"]), pct(r["called_within_target"]),
                      num(r["mean_service_min"]), pct(r["served_within_target"])])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)
