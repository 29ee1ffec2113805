"""The display agent's configuration file (TOML), as strict pydantic models.

An unknown or misspelt key stops start-up with a message naming the file and the field.
See ``firmware_config/display.example.toml`` and ``docs/devices.md``.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator, model_validator

from qms_common.mqtt_settings import MqttSettings
from qms_common.config import HttpAddress, StrictModel, read_secret, load_model, validate_model

_ID = r"^[A-Za-z0-9_-]{1,40}$"

#: Raspberry Pi OS's kiosk recipe: the Wayland kiosk compositor cage running Chromium.
DEFAULT_COMMAND = [
    "cage", "--", "chromium", "--kiosk", "--noerrdialogs", "--disable-translate", "--no-first-run",
    "--disable-background-networking", "--disable-component-update",
    "--autoplay-policy=no-user-gesture-required", "{url}",
]


class BrowserSettings(StrictModel):
    """How the browser is started and restarted."""

    command: list[str] = Field(default_factory=lambda: list(DEFAULT_COMMAND), min_length=1,
                               description="argv; '{url}' is replaced by the page URL")
    env: dict[str, str] = Field(default_factory=dict,
                                description="extra environment, e.g. WLR_LIBINPUT_NO_DEVICES = '1'")
    restart_initial_s: float = Field(1.0, gt=0, le=600, description="first restart delay")
    restart_max_s: float = Field(60.0, gt=0, le=3600, description="restart delays double up to this")
    stable_after_s: float = Field(60.0, gt=0, description="a run this long resets the back-off")
    stop_timeout_s: float = Field(5.0, gt=0, le=60, description="SIGTERM, then SIGKILL after this")

    @field_validator("command")
    @classmethod
    def _has_url(cls, value: list[str]) -> list[str]:
        if not any("{url}" in part for part in value):
            raise ValueError("the command must contain '{url}' where the page address goes")
        return value

    @model_validator(mode="after")
    def _delays(self) -> BrowserSettings:
        if self.restart_max_s < self.restart_initial_s:
            raise ValueError("restart_max_s must not be below restart_initial_s")
        return self


class ServerCheck(StrictModel):
    """How the server is watched, and when the page is reloaded after an outage."""

    healthz_url: str | None = Field(None, description="default: <scheme://host:port of url>/healthz")
    interval_s: float = Field(10.0, gt=0, le=600)
    timeout_s: float = Field(3.0, gt=0, le=60)
    stale_after_s: float = Field(
        120.0, ge=0, description="an outage longer than this restarts the browser when the server "
        "is back (the page may have missed events it cannot resync); shorter ones are left to "
        "the page's own socket.io reconnect and snapshot")


class DisplayAgentConfig(StrictModel):
    center: str = Field(pattern=_ID, description="center id, as in the MQTT topics")
    device: str = Field("display-1", pattern=_ID, description="this display's device id")
    url: HttpAddress = Field(min_length=8, description="the wall-display page, e.g. "
                     "http://server:8000/display?site=main&token={token}")
    token_file: Path | None = Field(None, description="file whose content replaces '{token}' in url "
                                    "(keeps the device token out of this file)")
    tick_s: float = Field(0.5, gt=0, le=10, description="how often the browser process is checked")
    health_interval_s: float = Field(30.0, gt=0, le=3600)
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    server: ServerCheck = Field(default_factory=ServerCheck)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)

    @model_validator(mode="after")
    def _token(self) -> DisplayAgentConfig:
        if "{token}" in self.url and self.token_file is None:
            raise ValueError("url contains '{token}' but token_file is not set")
        return self

    def page_url(self) -> str:
        """The URL with the token filled in (never log it: it carries the device token)."""
        if self.token_file is None:
            return self.url
        return self.url.replace("{token}", read_secret(self.token_file, "token_file"))

    def healthz(self) -> str:
        if self.server.healthz_url:
            return self.server.healthz_url
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, "/healthz", "", ""))

    def public_url(self) -> str:
        """The URL without its query (for logs and health: the query holds the token)."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def load_config(path: str | Path) -> DisplayAgentConfig:
    return load_model(DisplayAgentConfig, path)


def config_from_dict(data: dict, source: str = "<config>") -> DisplayAgentConfig:
    return validate_model(DisplayAgentConfig, data, source)
