"""The announcer's configuration file (TOML), as strict pydantic models.

An unknown or misspelt key stops start-up with a message naming the file and the field
(``announcer.toml: voice.rpeetitions: unknown field (a typo?)``). See
``firmware_config/announcer.example.toml`` and ``docs/voice.md`` for every key.
"""
from __future__ import annotations

import os
import re
import string
from datetime import time as dtime
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from qms_common.config import StrictModel, TimeZoneName, load_model, validate_model
from qms_common.mqtt_settings import MqttSettings

DEFAULT_TEMPLATE = "Xin mời công dân có số thứ tự {ticket} đến quầy số {counter}"
_ID = r"^[A-Za-z0-9_-]{1,40}$"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def default_cache_dir() -> Path:
    """systemd's ``CacheDirectory=`` if we run under it, else the user's cache folder."""
    if os.environ.get("CACHE_DIRECTORY"):
        return Path(os.environ["CACHE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qms-announcer"


def _check_template(value: str) -> str:
    names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    if names != {"ticket", "counter"}:
        raise ValueError("must contain exactly the placeholders {ticket} and {counter}, "
                         f"found {sorted(names) or 'none'}")
    return value


class VoiceSettings(StrictModel):
    """What is said and how."""

    voice: str = Field(default="vi", min_length=1, max_length=40,
                       description="espeak-ng voice: vi (Northern), vi-vn-x-central, vi-vn-x-south")
    rate: int = Field(default=150, ge=80, le=400, description="words per minute")
    volume: float = Field(default=1.0, ge=0.0, le=1.0, description="speech volume")
    repetitions: int = Field(default=2, ge=1, le=5, description="how many times the sentence is said")
    gap_s: float = Field(default=1.0, ge=0.0, le=10.0, description="silence between repetitions")
    ticket_reading: Literal["digits", "number"] = Field(
        default="digits", description="HT-042 as 'H T 0 4 2' (digits) or 'H T 42' (number)")
    template: str = Field(default=DEFAULT_TEMPLATE, max_length=300)
    recall_template: str | None = Field(default=None, max_length=300,
                                        description="for a recall; the template when unset")
    chime: bool = True
    chime_volume: float = Field(default=0.5, ge=0.0, le=1.0)

    @field_validator("template", "recall_template")
    @classmethod
    def _templates(cls, value: str | None) -> str | None:
        return None if value is None else _check_template(value)


class QuietHours(StrictModel):
    """No announcements in this window of the center's local time (it may wrap midnight)."""

    enabled: bool = True
    start: str = "22:00"
    end: str = "06:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected HH:MM (24-hour), got {value!r}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.enabled and self.start == self.end:
            raise ValueError("start and end are equal; set enabled = false for no quiet hours")
        return self

    @staticmethod
    def _parse(hhmm: str) -> dtime:
        h, m = hhmm.split(":")
        return dtime(int(h), int(m))

    def contains(self, local: dtime) -> bool:
        """Whether a local wall time falls in the window (start inclusive, end exclusive)."""
        if not self.enabled:
            return False
        start, end = self._parse(self.start), self._parse(self.end)
        if start < end:
            return start <= local < end
        return local >= start or local < end


class OutputSettings(StrictModel):
    """Where composed announcements go: the sound card, or numbered files in a folder."""

    kind: Literal["player", "files"] = "player"
    command: list[str] | None = Field(
        default=None, min_length=1,
        description="player argv, the WAV path is appended; unset: 'aplay -q', else 'paplay'")
    directory: Path | None = Field(default=None, description="for kind = 'files'")
    play_timeout_s: float = Field(default=15.0, gt=0, le=300,
                                  description="added to the audio length before a player is killed")

    @model_validator(mode="after")
    def _directory_for_files(self) -> OutputSettings:
        if self.kind == "files" and self.directory is None:
            raise ValueError("kind = 'files' needs directory")
        return self


class AnnouncerConfig(StrictModel):
    """One announcer: a Pi with a loudspeaker in a hall of a center."""

    center: str = Field(pattern=_ID, description="center id, as in the MQTT topics")
    device: str = Field(default="announcer-1", pattern=_ID, description="this announcer's device id")
    timezone: TimeZoneName = "Asia/Ho_Chi_Minh"
    counters: list[int] | None = Field(
        default=None, description="announce only these counters (one hall); unset: every counter")
    cache_dir: Path = Field(default_factory=default_cache_dir)
    cache_max_files: int = Field(default=2000, ge=10, description="oldest phrases are removed beyond this")
    health_interval_s: float = Field(default=30.0, gt=0, le=3600)
    stale_after_s: float | None = Field(
        default=300.0, ge=0, description="skip calls older than this (by the call's `at`), e.g. "
        "calls the broker kept while the announcer was off; 0 or unset: never")
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    output: OutputSettings = Field(default_factory=OutputSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)

    @field_validator("counters")
    @classmethod
    def _counters(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(c < 1 for c in value)):
            raise ValueError("list counter numbers from 1, or leave unset for every counter")
        return value


def load_config(path: str | Path) -> AnnouncerConfig:
    """Read and validate a config file; :class:`ConfigError` names the file and the field."""
    return load_model(AnnouncerConfig, path)


def config_from_dict(data: dict, source: str = "<config>") -> AnnouncerConfig:
    return validate_model(AnnouncerConfig, data, source)
