"""Sites of one center: the main center and satellite points (điểm tiếp nhận vệ tinh).

A site is either served by the main center's server (the default: its kiosks and counters
talk to the main server, perhaps over the satellite broker's bridge) or ``standalone``: it
runs its own server, broker, kiosks, displays and announcer, keeps working with the link to
the main center down for hours, and ships its event log to the main center when the link
is up (``qms replicate``, server/satellite/). See docs/deploy.md section 10.

Ticket numbers must never collide between sites, because the main center holds every
site's tickets in one table keyed by day and code. Decision: a standalone site puts its own
letters before every service prefix (``ticket_prefix = "D"``: the satellite's Hộ tịch
tickets are ``DHT-001``, ``DHT-002`` ... while the main center's are ``HT-001`` ...). Each
site keeps its full own number range from 001 (and its kiosks' offline range from 901), the
code says at a glance where a ticket was taken, and the two servers never need to agree on
anything while the link is down. Number ranges (main 1-499, satellite 500-899) were weighed
and not taken: the kiosks' offline range (901+) already uses the top of the numbers, a busy
day could run out of a range, and two ranges look alike on a ticket.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import CenterConfig
    from .settings import ServerSettings


def check_site_prefixes(config: "CenterConfig") -> None:
    """Raise ValueError when two sites' tickets could get the same code."""
    for site in config.sites:
        if site.standalone and not site.main and not site.ticket_prefix:
            raise ValueError(f"điểm {site.id} chạy độc lập cần ticket_prefix (ví dụ \"D\"); standalone site "
                             f"{site.id!r} needs a ticket_prefix so that its ticket numbers never collide")
        if site.ticket_prefix and not site.standalone:
            raise ValueError(f"site {site.id!r}: ticket_prefix is used only by a standalone site's own server "
                             "(set standalone = true or remove it)")
    owner: dict[str, str] = {}
    groups = {s.ticket_prefix or "" for s in config.sites}
    for group in sorted(groups):
        for svc in config.services:
            code = group + svc.prefix
            if code in owner and owner[code] != group:
                raise ValueError(f"mã vé {code} trùng giữa hai điểm; ticket prefix {code} would be used by two "
                                 f"sites (ticket_prefix {group or '(none)'!r} and {owner[code] or '(none)'!r})")
            owner[code] = group


def for_site(config: "CenterConfig", site_id: str) -> "CenterConfig":
    """The configuration a standalone site's own server runs with: only its site (as the
    main one, so that tickets default to it), only its counters, and its services with
    the site's letters before their prefixes."""
    site = next((s for s in config.sites if s.id == site_id), None)
    if site is None:
        raise ValueError(f"không có điểm '{site_id}'; unknown site {site_id!r} "
                         f"(sites: {', '.join(s.id for s in config.sites)})")
    if not site.standalone:
        raise ValueError(f"điểm {site_id} không chạy độc lập; site {site_id!r} is not standalone "
                         "(set standalone = true and a ticket_prefix in the center file)")
    letters = site.ticket_prefix or ""
    services = [s.model_copy(update={"prefix": letters + s.prefix}) for s in config.services]
    counters = [c for c in config.counters if c.site == site_id]
    if not counters:
        raise ValueError(f"điểm {site_id} không có quầy nào; site {site_id!r} has no counters")
    return config.model_copy(update={"sites": [site.model_copy(update={"main": True})], "services": services,
                                     "counters": counters})


def effective_center(settings: "ServerSettings", config: "CenterConfig") -> "CenterConfig":
    """The center as this server runs it: the whole center, or one standalone site."""
    if settings.satellite is None:
        return config
    return for_site(config, settings.satellite.site)


def refuse_remote(config: "CenterConfig", site: str, what_vi: str, what_en: str) -> None:
    """At the main center, a standalone site's tickets and counters are a mirror of its own
    server: changing them here would fork its history. Raise Forbidden for them."""
    if site in config.remote_sites:
        from qms_common.errors import Forbidden
        name = next((s.name for s in config.sites if s.id == site), site)
        raise Forbidden(f"{what_vi} thuộc {name}, điểm chạy máy chủ riêng: hãy làm trên máy chủ của điểm đó; "
                        f"{what_en} belongs to the standalone site {site!r}: act on that site's own server",
                        site=site)
