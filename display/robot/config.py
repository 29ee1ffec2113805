"""The robot's configuration file (TOML), as strict pydantic models.

See ``firmware_config/robot.example.toml`` and ``docs/devices.md`` for every key.
"""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from display.announcer.config import OutputSettings
from qms_common.mqtt_settings import MqttSettings
from qms_common.config import HttpAddress, StrictModel, read_secret, load_model, validate_model

_ID = r"^[A-Za-z0-9_-]{1,40}$"
Point = tuple[float, float]


def default_cache_dir() -> Path:
    """systemd's ``CacheDirectory=`` if we run under it, else the user's cache folder."""
    if os.environ.get("CACHE_DIRECTORY"):
        return Path(os.environ["CACHE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qms-robot"


class MotionSettings(StrictModel):
    speed_m_s: float = Field(0.5, gt=0, le=3, description="travel speed")
    step_s: float = Field(0.5, gt=0, le=10, description="simulation step while moving")
    pickup_s: float = Field(5.0, ge=0, le=300, description="time to take a cup of water")


class BatterySettings(StrictModel):
    initial_pct: float = Field(100.0, ge=0, le=100, description="charge at start (the simulation)")
    drain_pct_per_m: float = Field(0.2, ge=0, le=10, description="charge used per metre travelled")
    charge_pct_per_min: float = Field(2.0, gt=0, le=100, description="charging speed at home")
    charge_below_pct: float = Field(30.0, ge=0, le=100, description="below this, go home and charge")
    charge_until_pct: float = Field(95.0, gt=0, le=100, description="charging stops here")
    reserve_pct: float = Field(10.0, ge=0, le=100, description="a task that would leave less than "
                               "this after returning home is refused")

    @model_validator(mode="after")
    def _order(self) -> BatterySettings:
        if self.charge_until_pct <= self.charge_below_pct:
            raise ValueError("charge_until_pct must be above charge_below_pct")
        return self


class VoiceSettings(StrictModel):
    voice: str = Field("vi", min_length=1, max_length=40,
                       description="espeak-ng voice: vi, vi-vn-x-central, vi-vn-x-south")
    rate: int = Field(150, ge=80, le=400)
    volume: float = Field(1.0, ge=0.0, le=1.0)
    greeting: str | None = Field(None, max_length=300, description="what 'greet' says; default in phrases")


class RobotConfig(StrictModel):
    center: str = Field(pattern=_ID, description="center id, as in the MQTT topics")
    device: str = Field("robot-1", pattern=_ID, description="this robot's device id")
    server_url: HttpAddress = Field("http://127.0.0.1:8000", description="the center server, for the REST API")
    token: str | None = Field(None, min_length=8, description="device token; prefer token_file")
    token_file: Path | None = Field(None, description="file holding the device token")
    api_timeout_s: float = Field(5.0, gt=0, le=60)
    api_attempts: int = Field(2, ge=1, le=5, description="tries per ticket (same client_ref: no duplicates)")
    home: str = Field("home", description="spot where it waits and charges")
    water_spot: str = Field("water", description="spot where water is taken")
    waiting_spot: str = Field("waiting", description="where citizens wait (bring_water without a counter)")
    spots: dict[str, Point] = Field(
        default_factory=lambda: {"home": (0.0, 0.0), "water": (2.0, 0.0), "waiting": (4.0, 3.0)},
        description="named places, x and y in metres")
    counters: dict[int, Point] = Field(default_factory=dict, description="counter number -> x, y")
    tick_s: float = Field(0.5, gt=0, le=10, description="idle loop: charging and telemetry")
    telemetry_interval_s: float = Field(10.0, gt=0, le=3600)
    health_interval_s: float = Field(30.0, gt=0, le=3600)
    speech_timeout_s: float = Field(60.0, gt=0, le=600)
    cache_dir: Path = Field(default_factory=default_cache_dir, description="synthesized phrases")
    motion: MotionSettings = Field(default_factory=MotionSettings)
    battery: BatterySettings = Field(default_factory=BatterySettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)

    @field_validator("counters")
    @classmethod
    def _counter_numbers(cls, value: dict[int, Point]) -> dict[int, Point]:
        if any(n < 1 for n in value):
            raise ValueError("counter numbers start at 1")
        return value

    @model_validator(mode="after")
    def _known_spots(self) -> RobotConfig:
        for key in ("home", "water_spot", "waiting_spot"):
            name = getattr(self, key)
            if name not in self.spots:
                raise ValueError(f"{key} = {name!r} is not in spots ({', '.join(sorted(self.spots))})")
        if self.token and self.token_file:
            raise ValueError("set token or token_file, not both")
        return self

    def device_token(self) -> str | None:
        if self.token_file is None:
            return self.token
        return read_secret(self.token_file, "token_file")


def load_config(path: str | Path) -> RobotConfig:
    return load_model(RobotConfig, path)


def config_from_dict(data: dict, source: str = "<config>") -> RobotConfig:
    return validate_model(RobotConfig, data, source)
