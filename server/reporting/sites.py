"""Reports per site: the whole center (every site, the standalone ones' mirrored events
included) and each site on its own (``qms report --site diem-1``, ``?site=`` on the API).

A ticket belongs to the site it was issued at (``ticket_issued``'s ``site``): every event of
that ticket follows it, wherever the event was recorded.
"""
from __future__ import annotations

from typing import Iterable

from qms_common.errors import NotFound

from ..reports import timelines
from .metrics import _figures, _satisfaction


def ticket_sites(events: Iterable[dict]) -> dict[str, str]:
    return {e["ticket_id"]: (e["data"] or {}).get("site") for e in events if e["type"] == "ticket_issued"}


def of_site(events: list[dict], site: str) -> list[dict]:
    """Only the events of tickets issued at ``site``."""
    where = ticket_sites(events)
    return [e for e in events if where.get(e.get("ticket_id")) == site]


def by_site(events: list[dict], config, first: str, last: str) -> list[dict]:
    """Per site: its totals and satisfaction, in the center file's order."""
    where = ticket_sites(events)
    ts = [(tid, t) for tid, t in timelines(events).items() if first <= t.day <= last]
    out = []
    for site in config.sites:
        group = [t for tid, t in ts if where.get(tid) == site.id]
        out.append({"site": site.id, "site_name": site.name, "standalone": site.standalone,
                    **_figures(group, config.targets.max_wait_s, config.targets.max_service_s),
                    "satisfied_share": _satisfaction(group)["satisfied_share"]})
    return out


def check_site(config, site: str | None) -> str | None:
    if site is not None and site not in {s.id for s in config.sites}:
        raise NotFound(f"Không có điểm tiếp nhận '{site}'; unknown site {site!r} "
                       f"(sites: {', '.join(s.id for s in config.sites)})", site=site)
    return site
