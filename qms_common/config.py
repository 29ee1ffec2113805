"""Loading validated configuration files (TOML) into pydantic models.

A typo stops start-up with a message that names the file and the field, e.g.::

    center.toml: services.2.prefix: String should have at most 3 characters
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (e.g. Asia/Ho_Chi_Minh)") from None
    return value


def _http_address(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// address, got {value!r}")
    return value.rstrip("/")


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
"""An IANA timezone this machine knows (tzdata), e.g. Asia/Ho_Chi_Minh."""

HttpAddress = Annotated[str, AfterValidator(_http_address)]
"""An http:// or https:// address, without a trailing slash."""


class StrictModel(BaseModel):
    """Base for every configuration model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def describe_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (a typo?)"
        elif err["type"] == "value_error" and "error" in err.get("ctx", {}):
            msg = str(err["ctx"]["error"])  # our own message, without pydantic's "Value error, "
        lines.append(f"{source}: {where}: {msg}")
    return "\n".join(lines)


def read_secret(path: Path, field: str, *, allow_empty: bool = False) -> str:
    """A token or password kept in its own file (mode 0600, or a systemd credential), so that
    configuration files never hold secrets. A missing or empty file is a configuration error
    that names the field."""
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {path}: {exc.strerror}", field=field) from None
    if not value and not allow_empty:
        raise ConfigError(f"{field}: {path} is empty", field=field)
    return value


def load_model(model: type[M], path: str | Path, overrides: dict | None = None) -> M:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", file=str(path)) from None
    if overrides:
        data.update(overrides)
    return validate_model(model, data, str(path))


def validate_model(model: type[M], data: dict, source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source), file=source) from None
