"""The counter device's configuration file (TOML), as strict pydantic models.

The device id is ``counter-<number>`` (e.g. ``counter-5``): the server maps it to the
counter, and it is the device's MQTT username. See ``firmware_config/counter.example.toml``
and ``docs/devices.md``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from qms_common.mqtt_settings import MqttSettings
from qms_common.config import StrictModel, load_model, validate_model

_ID = r"^[A-Za-z0-9_-]{1,40}$"
_PIN = Field(None, ge=0, le=53, description="BCM GPIO number; unset: no such button")


class GpioSettings(StrictModel):
    pin_factory: Literal["lgpio", "rpigpio", "native", "mock"] | None = Field(
        None, description="unset: gpiozero's choice (GPIOZERO_PIN_FACTORY, else the best found); "
        "Pi 5: lgpio; a laptop: mock")
    pull_up: bool = Field(True, description="buttons connect the pin to ground (internal pull-up)")


class ButtonPins(StrictModel):
    """The clerk's buttons; each maps to a wire.CounterRequest action."""

    next: int | None = Field(17, ge=0, le=53)
    recall: int | None = Field(27, ge=0, le=53)
    start: int | None = _PIN
    finish: int | None = _PIN
    no_show: int | None = _PIN


class KeypadPins(StrictModel):
    """The citizen's 4-button satisfaction keypad (scores 4..1)."""

    enabled: bool = True
    very_satisfied: int = Field(5, ge=0, le=53, description="Rất hài lòng (4)")
    satisfied: int = Field(6, ge=0, le=53, description="Hài lòng (3)")
    neutral: int = Field(13, ge=0, le=53, description="Bình thường (2)")
    unsatisfied: int = Field(19, ge=0, le=53, description="Không hài lòng (1)")


class ScreenSettings(StrictModel):
    kind: Literal["stdout", "image-file", "none"] = "stdout"
    path: Path | None = Field(None, description="PNG written on every change (kind = image-file)")
    width: int = Field(480, ge=64, le=3840)
    height: int = Field(320, ge=64, le=2160)
    font: Path | None = Field(None, description="TrueType font with Vietnamese; default DejaVu Sans Bold")

    @model_validator(mode="after")
    def _path(self) -> ScreenSettings:
        if self.kind == "image-file" and self.path is None:
            raise ValueError("kind = 'image-file' needs path")
        return self


class CounterConfig(StrictModel):
    center: str = Field(pattern=_ID, description="center id, as in the MQTT topics")
    counter: int = Field(ge=1, le=9999, description="this counter's number")
    tick_s: float = Field(0.1, gt=0, le=5, description="how often timeouts are checked")
    debounce_s: float = Field(0.3, ge=0, le=5, description="presses of one key closer than this count once")
    request_timeout_s: float = Field(5.0, gt=0, le=120, description="no answer by then: shown as an error")
    message_s: float = Field(8.0, gt=0, le=600, description="how long a status line stays")
    rating_window_s: float = Field(300.0, ge=0, description="a rating after a citizen's service "
                                   "ended still counts for that ticket this long")
    rating_cooldown_s: float = Field(10.0, ge=0, description="between ratings without a ticket")
    rating_reason_s: float = Field(15.0, ge=0, le=120, description="after Không hài lòng, how long the four keys "
                                   "choose the reason (0: no reason asked)")
    health_interval_s: float = Field(30.0, gt=0, le=3600)
    gpio: GpioSettings = Field(default_factory=GpioSettings)
    buttons: ButtonPins = Field(default_factory=ButtonPins)
    keypad: KeypadPins = Field(default_factory=KeypadPins)
    screen: ScreenSettings = Field(default_factory=ScreenSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)

    @property
    def device(self) -> str:
        """The device id by convention: ``counter-<number>``."""
        return f"counter-{self.counter}"

    def pins(self) -> dict[str, int]:
        """Every wired key: request actions and rating keys, by name."""
        out = {name: pin for name, pin in self.buttons.model_dump().items() if pin is not None}
        if self.keypad.enabled:
            out.update({k: v for k, v in self.keypad.model_dump().items() if k != "enabled"})
        return out

    @model_validator(mode="after")
    def _distinct_pins(self) -> CounterConfig:
        seen: dict[int, str] = {}
        for name, pin in self.pins().items():
            if pin in seen:
                raise ValueError(f"GPIO {pin} is used twice: {seen[pin]} and {name}")
            seen[pin] = name
        return self


def load_config(path: str | Path) -> CounterConfig:
    return load_model(CounterConfig, path)


def config_from_dict(data: dict, source: str = "<config>") -> CounterConfig:
    return validate_model(CounterConfig, data, source)
