"""The center's configuration: one TOML file, validated on load.

See ``server/default_center.toml`` for a complete, commented example (a ward center).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from qms_common.config import HttpAddress, StrictModel, TimeZoneName, load_model, validate_model

DEFAULT_CENTER_FILE = Path(__file__).with_name("default_center.toml")
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class CenterInfo(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9-]{1,40}$", description="short id used in MQTT topics and URLs")
    name: str = Field(min_length=1, max_length=120, description="Vietnamese name, printed on tickets")
    name_en: str = Field(default="", max_length=120)
    timezone: TimeZoneName = "Asia/Ho_Chi_Minh"
    public_url: HttpAddress = Field(default="http://127.0.0.1:8000",
                            description="base URL citizens' phones reach on the center Wi-Fi (QR codes)")


class Hours(StrictModel):
    opens: str = Field(default="07:30", pattern=_HHMM)
    closes: str = Field(default="17:00", pattern=_HHMM, description="the kiosk stops issuing tickets")
    lunch: tuple[str, str] | None = Field(default=("11:30", "13:30"))
    work_days: list[int] = Field(default=[1, 2, 3, 4, 5],
                                 description="ISO weekdays: 1 = Monday ... 6 = Saturday, 7 = Sunday")
    enforce: bool = Field(default=True, description="refuse tickets outside opening hours")
    auto_end_day: bool = Field(default=True, description="end the day by itself once closes and the grace have "
                               "passed with no clerk signed in (only with enforce = true; server/engine/day_end.py)")
    end_day_after_min: int = Field(default=30, ge=0, le=360,
                                   description="minutes after closes before the day ends by itself")

    @field_validator("work_days")
    @classmethod
    def _work_days(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("cần ít nhất một ngày làm việc; give at least one working day "
                             "(ISO weekdays: 1 = Monday ... 7 = Sunday)")
        wrong = [d for d in value if not 1 <= d <= 7]
        if wrong:
            raise ValueError(f"ngày {', '.join(map(str, wrong))} không phải thứ trong tuần (1 = thứ Hai … "
                             f"7 = Chủ nhật); {', '.join(map(str, wrong))} is not an ISO weekday "
                             f"(1 = Monday ... 7 = Sunday)")
        if len(set(value)) != len(value):
            raise ValueError("một ngày được ghi hai lần; a day is listed twice")
        return value

    @field_validator("lunch")
    @classmethod
    def _lunch(cls, value):
        if value is not None:
            for part in value:
                if not re.match(_HHMM, part):
                    raise ValueError(f"lunch time {part!r} is not HH:MM")
            if value[0] >= value[1]:
                raise ValueError("lunch must start before it ends")
        return value

    @model_validator(mode="after")
    def _order(self):
        if self.opens >= self.closes:
            raise ValueError(f"opens ({self.opens}) must be before closes ({self.closes})")
        return self


class Site(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    name: str = Field(min_length=1, max_length=120)
    main: bool = False
    standalone: bool = Field(default=False, description="a satellite point that runs its own server and broker "
                                                        "and ships its events to the main center (docs/deploy.md)")
    ticket_prefix: str | None = Field(default=None, pattern=r"^[A-Z]{1,2}$",
                                      description="letters put before every service prefix of this site's tickets "
                                                  "(D + HT-042 = DHT-042); required for a standalone site")


class Service(StrictModel):
    code: str = Field(pattern=r"^[A-Z]{1,4}$", description="short code, e.g. HT")
    prefix: str = Field(pattern=r"^[A-Z]{1,3}$", description="printed before the number: HT-042")
    name: str = Field(min_length=1, max_length=80)
    name_en: str = Field(default="", max_length=80)
    daily_cap: int | None = Field(default=None, ge=1, description="no more tickets after this many a day")
    mean_service_min: float = Field(default=8.0, gt=0, le=240,
                                    description="prior for the wait estimate until today's data arrives")


class Counter(StrictModel):
    number: int = Field(ge=1, le=999)
    site: str
    services: list[str] = Field(min_length=1, description="service codes, in order of preference")
    name: str = ""


class Clerk(StrictModel):
    """A clerk and what they are trained for: the services a director may give their counter."""
    id: str = Field(pattern=r"^[a-z0-9._-]{2,40}$", description="the clerk's user name (sign-in)")
    name: str = Field(default="", max_length=120)
    services: list[str] = Field(min_length=1, description="service codes the clerk can serve, in order of preference")


class Calling(StrictModel):
    rule: Literal["longest_wait", "strict_preference"] = "longest_wait"
    preference_penalty_s: float = Field(
        default=300, ge=0, le=3600,
        description="longest_wait: a ticket of the counter's n-th service counts as having waited "
                    "n x this many seconds less")


class PriorityPolicy(StrictModel):
    enabled: bool = True
    max_in_row: int = Field(default=2, ge=1, le=20,
                            description="after this many priority calls in a row at a counter, a waiting "
                                        "normal ticket is called next")
    normal_guard_s: float = Field(default=720, ge=0,
                                  description="a normal ticket waiting longer than this goes before "
                                              "priority tickets that have waited less")


class Targets(StrictModel):
    max_wait_s: float = Field(default=900, gt=0, description="the 15-minute promise")
    max_service_s: float = Field(default=1800, gt=0, description="30 minutes at the counter")


class Satisfaction(StrictModel):
    window_s: float = Field(default=300, ge=30, le=3600,
                            description="a rating is accepted this long after the counter finished the ticket")
    page_reset_s: float = Field(default=8, ge=2, le=120,
                                description="the rating page shows 'Cảm ơn' this long, then starts again")


class Privacy(StrictModel):
    """``[privacy]``: personal data (Nghị định 13/2023/NĐ-CP). None is collected by default."""

    callback: bool = Field(default=False, description="offer citizens an optional phone number and name for a "
                                                      "call-back; off: the server refuses both")
    retention_days: int = Field(default=30, ge=1, le=365,
                                description="a call-back's phone number and name are deleted this many days after "
                                            "the ticket was issued (a scheduled job)")


class CenterConfig(StrictModel):
    center: CenterInfo
    hours: Hours = Hours()
    sites: list[Site] = Field(min_length=1)
    services: list[Service] = Field(min_length=1)
    counters: list[Counter] = Field(min_length=1)
    clerks: list[Clerk] = Field(default_factory=list)
    calling: Calling = Calling()
    priority: PriorityPolicy = PriorityPolicy()
    targets: Targets = Targets()
    satisfaction: Satisfaction = Satisfaction()
    privacy: Privacy = Privacy()

    @model_validator(mode="after")
    def _references(self):
        codes = [s.code for s in self.services]
        prefixes = [s.prefix for s in self.services]
        for label, values in (("service code", codes), ("service prefix", prefixes),
                              ("site id", [s.id for s in self.sites]),
                              ("counter number", [c.number for c in self.counters])):
            dupes = sorted({str(v) for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"duplicate {label}: {', '.join(dupes)}")
        site_ids = {s.id for s in self.sites}
        for c in self.counters:
            if c.site not in site_ids:
                raise ValueError(f"counter {c.number}: unknown site {c.site!r} (sites: {', '.join(sorted(site_ids))})")
            unknown = [s for s in c.services if s not in codes]
            if unknown:
                raise ValueError(f"counter {c.number}: unknown service {', '.join(unknown)} (services: {', '.join(codes)})")
            if len(set(c.services)) != len(c.services):
                raise ValueError(f"counter {c.number}: a service is listed twice")
        ids = [k.id for k in self.clerks]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate clerk id: {', '.join(dupes)}")
        for k in self.clerks:
            unknown = [s for s in k.services if s not in codes]
            if unknown:
                raise ValueError(f"clerk {k.id}: unknown service {', '.join(unknown)} (services: {', '.join(codes)})")
            if len(set(k.services)) != len(k.services):
                raise ValueError(f"clerk {k.id}: a service is listed twice")
        if sum(1 for s in self.sites if s.main) > 1:
            raise ValueError("only one site can be main")
        from .sites import check_site_prefixes
        check_site_prefixes(self)
        return self

    # lookups -----------------------------------------------------------------------------
    def service(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)

    def counter(self, number: int) -> Counter | None:
        return next((c for c in self.counters if c.number == number), None)

    def clerk(self, clerk_id: str | None) -> Clerk | None:
        return next((k for k in self.clerks if k.id == clerk_id), None)

    def trained(self, clerk_id: str | None, number: int) -> list[str]:
        """What the clerk at counter ``number`` can serve: their trained services if the
        configuration lists them, else the counter's own services."""
        k = self.clerk(clerk_id)
        if k is not None:
            return list(k.services)
        c = self.counter(number)
        return list(c.services) if c else []

    @property
    def main_site(self) -> str:
        return next((s.id for s in self.sites if s.main), self.sites[0].id)

    @property
    def remote_sites(self) -> frozenset[str]:
        """Sites that run their own server: this one only mirrors their events (server/satellite/)."""
        return frozenset(s.id for s in self.sites if s.standalone and not s.main)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.center.timezone)


def sample_center_text(*, public_url: str | None = None, enforce_hours: bool = True) -> str:
    """The sample ward's TOML, with its address and hours enforcement changed (demo, tests).

    Text, not a model dump, so that the written file keeps the sample's comments."""
    text = DEFAULT_CENTER_FILE.read_text(encoding="utf-8")
    if not enforce_hours:
        text = text.replace("enforce = true", "enforce = false  # runs at any hour")
    if public_url:
        text = text.replace('public_url = "http://127.0.0.1:8000"', f'public_url = "{public_url}"')
    return text


def load_center(path: str | Path | None = None) -> CenterConfig:
    return load_model(CenterConfig, path or DEFAULT_CENTER_FILE)


def center_from_dict(data: dict, source: str = "<config>") -> CenterConfig:
    return validate_model(CenterConfig, data, source)
