"""Reading a scenario folder: ``center.json``, ``staff.csv``, ``arrivals.csv``.

The format is described in ``data/scenarios/README.md``; any folder in that format works,
not only the bundled ones. Errors name the file, the line and the column.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qms_common.errors import ConfigError

from .config import CenterConfig, center_from_dict

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "scenarios"


class ScenarioService(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str = Field(pattern=r"^[A-Z]{1,4}$")
    name: str


class ScenarioCenter(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    date: dt.date | None = None  # a real calendar day (generate.py --date); else a fixed Monday
    timezone: str = "Asia/Ho_Chi_Minh"
    opens_at: str = Field(default="07:30", pattern=r"^\d{2}:\d{2}$")
    open_s: float = 0
    close_s: float = Field(gt=0)
    services: list[ScenarioService] = Field(min_length=1)
    date: dt.date | None = None
    walk_s: float = Field(default=0.0, ge=0)
    no_show_hold_s: float = Field(default=60.0, ge=0)


class Shift(BaseModel):
    clerk: str
    counter: int = Field(ge=1)
    skills: list[str]
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)


class Arrival(BaseModel):
    arrival_s: float = Field(ge=0)
    service: str
    priority: bool
    service_s: float = Field(ge=0)
    patience_s: float | None = None
    no_show: bool


@dataclass
class Scenario:
    name: str
    center: ScenarioCenter
    shifts: list[Shift]
    arrivals: list[Arrival]

    def counter_services(self) -> dict[int, list[str]]:
        """Every service a counter is ever staffed for, over all its shift rows, in the order
        they first appear (a row's own skills are what its clerk serves during that row)."""
        counters: dict[int, list[str]] = {}
        for shift in self.shifts:
            known = counters.setdefault(shift.counter, [])
            known.extend(s for s in shift.skills if s not in known)
        return counters

    def clerk_skills(self) -> dict[str, list[str]]:
        """Every service each clerk is ever staffed for: what they are trained for."""
        out: dict[str, list[str]] = {}
        for shift in self.shifts:
            known = out.setdefault(shift.clerk, [])
            known.extend(s for s in shift.skills if s not in known)
        return out

    def center_config(self, *, rule: str | None = None, counters: dict[int, list[str]] | None = None,
                      clerks: dict[str, list[str]] | None = None) -> CenterConfig:
        """A center configuration for the engine: one site, the scenario's services and the
        counters of the staff file (each with every skill it is ever staffed for; the clerk of
        a shift row signs in with that row's skills). The kiosk closes at ``close_s``; who
        works when is the staff file's business, not the configured hours'."""
        counters = counters or self.counter_services()
        h, m = (int(x) for x in self.center.opens_at.split(":"))
        closes = min(h * 60 + m + int(self.center.close_s // 60), 23 * 60 + 59)
        data = {
            "center": {"id": "sim", "name": self.center.name, "timezone": self.center.timezone},
            "hours": {"opens": self.center.opens_at, "closes": f"{closes // 60:02d}:{closes % 60:02d}", "lunch": None,
                      "work_days": [1, 2, 3, 4, 5, 6, 7], "enforce": False},
            "sites": [{"id": "main", "name": "main", "main": True}],
            "services": [{"code": s.code, "prefix": s.code[:3], "name": s.name} for s in self.center.services],
            "counters": [{"number": n, "site": "main", "services": skills} for n, skills in sorted(counters.items())],
            # what each clerk is trained for (the director's controls and the advice keep to it)
            "clerks": [{"id": k, "services": skills} for k, skills in sorted((clerks or self.clerk_skills()).items())
                       if re.fullmatch(r"[a-z0-9._-]{2,40}", k) and skills],
        }
        if rule:
            data["calling"] = {"rule": rule}
        return center_from_dict(data, f"scenario {self.name}")


def _rows(path: Path, model: type[BaseModel], convert,
          missing: str = "a scenario folder has center.json, staff.csv, arrivals.csv") -> list:
    out = []
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            for row in reader:
                line = reader.line_num  # the file's own line (blank lines are skipped, not counted out)
                try:
                    out.append(model.model_validate(convert(row, line)))
                except (ValidationError, ValueError, KeyError, TypeError) as exc:
                    raise ConfigError(f"{path}: line {line}: {_short(exc)}") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found ({missing})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a file ({missing})") from None
    return out


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        return f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
    if isinstance(exc, KeyError):
        return f"missing column {exc}"
    return str(exc)


def load_scenario(folder: str | Path) -> Scenario:
    folder = Path(folder)
    if not folder.is_dir() and (BUNDLED / str(folder)).is_dir():
        folder = BUNDLED / str(folder)
    try:
        center = ScenarioCenter.model_validate(json.loads((folder / "center.json").read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(f"{folder / 'center.json'}: not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{folder / 'center.json'}: not JSON: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(f"{folder / 'center.json'}: {_short(exc)}") from None
    shifts = _rows(folder / "staff.csv", Shift, lambda r, _line: {
        "clerk": r["clerk"], "counter": int(r["counter"]), "skills": [s for s in r["skills"].split(";") if s],
        "start_s": float(r["start_s"]), "end_s": float(r["end_s"])})
    arrivals = _rows(folder / "arrivals.csv", Arrival, lambda r, _line: {
        "arrival_s": float(r["arrival_s"]), "service": r["service"], "priority": r["priority"] == "1",
        "service_s": float(r["service_s"]),
        "patience_s": float(r["patience_s"]) if r.get("patience_s") not in (None, "") else None,
        "no_show": r["no_show"] == "1"})
    codes = {s.code for s in center.services}
    for i, a in enumerate(arrivals, start=2):
        if a.service not in codes:
            raise ConfigError(f"{folder / 'arrivals.csv'}: line {i}: unknown service {a.service!r}")
    for i, s in enumerate(shifts, start=2):
        unknown = [k for k in s.skills if k not in codes]
        if unknown:
            raise ConfigError(f"{folder / 'staff.csv'}: line {i}: unknown service {', '.join(unknown)}")
    arrivals.sort(key=lambda a: a.arrival_s)
    return Scenario(folder.name, center, shifts, arrivals)


# clerks trained for more than their shift rows' skills (``qms simulate --trained``) --------------
class TrainedRow(BaseModel):
    clerk: str = Field(min_length=1)
    services: list[str] = Field(min_length=1)


def load_trained(path: str | Path, *, clerks, codes) -> dict[str, list[str]]:
    """A ``clerk,services`` CSV file (services separated by ``;`` as staff.csv's skills): the
    services each listed clerk is trained for beyond their shift rows' skills. ``clerks`` and
    ``codes``: the scenario's clerk ids and service codes; anything else is an error naming the
    file and the line."""
    path = Path(path)
    known, seen = set(clerks), {}

    def convert(r: dict, line: int) -> dict:
        clerk = (r["clerk"] or "").strip()
        services = [s.strip() for s in (r["services"] or "").split(";") if s.strip()]
        if clerk:
            _check_trained(clerk, services, known, codes)
        if clerk in seen:
            raise ValueError(f"clerk {clerk} is listed twice (first on line {seen[clerk]})")
        seen[clerk] = line
        return {"clerk": clerk, "services": services}

    rows = _rows(path, TrainedRow, convert, missing="a file of clerk,services rows")
    return {r.clerk: r.services for r in rows}


def _check_trained(clerk: str, services, known, codes) -> None:
    """ValueError naming what is wrong: a clerk not in ``known``, a service not in ``codes``."""
    if clerk not in known:
        raise ValueError(f"unknown clerk {clerk!r} (the scenario's clerks: {', '.join(sorted(known))})")
    unknown = [s for s in services if s not in codes]
    if unknown:
        raise ValueError(f"clerk {clerk}: unknown service {', '.join(unknown)} (services: {', '.join(codes)})")


def with_trained(clerks: dict[str, list[str]], trained, codes: list[str]) -> dict[str, list[str]]:
    """``clerks`` (each clerk's shift rows' skills) with ``trained`` added after them, without
    duplicates: ``"all"`` (every service of the center, in ``codes``' order) or a mapping clerk id
    -> extra service codes. Unknown clerks or services: :class:`ConfigError`."""
    if trained is None:
        return clerks
    if isinstance(trained, str):
        if trained != "all":
            raise ConfigError(f"trained: 'all' or a mapping clerk -> services, not {trained!r}")
        trained = {k: list(codes) for k in clerks}
    out = {k: list(v) for k, v in clerks.items()}
    for clerk, services in trained.items():
        try:
            _check_trained(clerk, services, out, codes)
        except ValueError as exc:
            raise ConfigError(f"trained: {exc}") from None
        out[clerk].extend(s for s in dict.fromkeys(services) if s not in out[clerk])
    return out


def trained_option(value: str | None, days) -> str | dict[str, list[str]] | None:
    """``--trained all|FILE`` for these scenario days (the day and its history): ``None``,
    ``"all"`` or the file's mapping, checked against the days' clerks and the last day's services."""
    if value is None or value == "all":
        return value
    days = list(days)
    clerks = {k for sc in days for k in sc.clerk_skills()}
    return load_trained(value, clerks=clerks, codes=[s.code for s in days[-1].center.services])
