"""The kiosk's configuration file (TOML) as strict pydantic models.

An unknown or misspelt key, a pin used twice or a bad value stops start-up with a message
naming the file and the field (``kiosk.toml: buttons.services.1.pin: ...``); ``qms-kiosk``
then exits with status 2. Every key is described in ``docs/kiosk.md`` and shown in
``firmware_config/kiosk.example.toml``.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from display.announcer.config import OutputSettings
from qms_common.config import StrictModel, read_secret, TimeZoneName, load_model, validate_model
from qms_common.mqtt_settings import MqttSettings

from .printer_config import PrinterConfig

_ID = r"^[A-Za-z0-9_-]{1,40}$"
_DEVICE_ID = r"^[a-z0-9][a-z0-9._-]{1,39}$"  # the server's device id rule
_KEY = r"^[1-9]$"


class ServerSettings(StrictModel):
    """The center server's REST API."""

    url: str = Field(pattern=r"^https?://", description="e.g. http://10.0.0.2:8000")
    token_file: Path = Field(description="file holding this kiosk's device token (qms device add)")
    online_timeout_s: float = Field(1.0, gt=0, le=10,
                                    description="a ticket request not answered in this time is issued offline")
    sync_timeout_s: float = Field(5.0, gt=0, le=60, description="timeout of background hand-overs")
    retry_interval_s: float = Field(3.0, gt=0, le=300, description="pause after a failed hand-over")

    def read_token(self) -> str:
        return read_secret(self.token_file, "server.token_file")


class OfflineSettings(StrictModel):
    """Numbers reserved in advance, issued while the server cannot be reached."""

    block_size: int = Field(20, ge=1, le=200, description="numbers asked for in one reservation")
    min_spare: int = Field(10, ge=1, le=400,
                           description="reserve another block when fewer unused numbers remain for a service")
    status_qr: bool = Field(True, description="print a QR code on offline tickets ({public_url}/s/{client_ref})")


class ServiceButton(StrictModel):
    service: str = Field(min_length=1, max_length=8, description="service code on the server, e.g. HT")
    label: str = Field(min_length=1, max_length=60, description="Vietnamese name on the screen and ticket")
    label_en: str | None = Field(None, max_length=60)
    pin: int | None = Field(None, ge=0, le=27, description="BCM GPIO number; unset: screen/keyboard only")
    key: str | None = Field(None, pattern=_KEY, description="keyboard key on the local page (default: position)")


class ButtonSettings(StrictModel):
    services: list[ServiceButton] = Field(min_length=1, max_length=9)
    priority_pin: int | None = Field(None, ge=0, le=27, description="priority button (BCM); unset: none")
    priority_window_s: float = Field(8.0, gt=0, le=60,
                                     description="after priority, a service press within this time is priority")
    pull_up: bool = Field(True, description="buttons wired between the pin and ground")
    debounce_s: float = Field(0.05, ge=0, le=2, description="contact bounce: presses closer than this are one")
    cooldown_s: float = Field(2.0, ge=0, le=30,
                              description="after a ticket, service presses are ignored for this long")
    per_minute: int = Field(4, ge=1, le=120, description="tickets one button may issue per minute")

    @model_validator(mode="after")
    def _unique(self) -> ButtonSettings:
        pins = [b.pin for b in self.services if b.pin is not None]
        if self.priority_pin is not None:
            pins.append(self.priority_pin)
        dup = sorted({p for p in pins if pins.count(p) > 1})
        if dup:
            raise ValueError(f"GPIO pin(s) {dup} used by more than one button")
        codes = [b.service for b in self.services]
        if len(set(codes)) != len(codes):
            raise ValueError("a service has more than one button")
        keys = [k for k in self.keys()]
        if len(set(keys)) != len(keys):
            raise ValueError(f"keyboard keys clash: {keys}")
        return self

    def keys(self) -> list[str]:
        return [b.key or str(i + 1) for i, b in enumerate(self.services)]


class IndicatorSettings(StrictModel):
    """LEDs and buzzer (BCM pins); each is optional."""

    ready_led: int | None = Field(None, ge=0, le=27)
    printing_led: int | None = Field(None, ge=0, le=27)
    fault_led: int | None = Field(None, ge=0, le=27)
    buzzer: int | None = Field(None, ge=0, le=27)


class VoiceSettings(StrictModel):
    """Spoken confirmation, where a loudspeaker is fitted."""

    enabled: bool = False
    voice: str = Field("vi", min_length=1, max_length=40)
    rate: int = Field(150, ge=80, le=400)
    volume: float = Field(1.0, ge=0.0, le=1.0)
    cache_dir: Path = Field(Path("/var/cache/qms-kiosk/voice"))
    output: OutputSettings = Field(default_factory=OutputSettings)


class KioskMqttSettings(MqttSettings):
    enabled: bool = True
    health_interval_s: float = Field(30.0, gt=0, le=3600)


class WebSettings(StrictModel):
    """The local page showing the kiosk's screen (demo, laptop, or the kiosk's own browser)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8088, ge=0, le=65535, description="0: any free port")


class KioskConfig(StrictModel):
    device: str = Field(pattern=_DEVICE_ID, description="this kiosk's device id (server and MQTT)")
    center: str = Field(pattern=_ID, description="center id, as in the MQTT topics")
    site: str | None = Field(None, max_length=40, description="reception point; unset: the device's site")
    center_name: str = Field(min_length=1, max_length=120, description="printed at the top of the ticket")
    timezone: TimeZoneName = "Asia/Ho_Chi_Minh"
    public_url: str | None = Field(None, pattern=r"^https?://",
                                   description="the center's public address for offline QR codes; "
                                   "unset: learnt from the server's status URLs")
    max_wait_min: int | None = Field(15, ge=1, le=240, description="the wait promise printed on tickets")
    outbox_path: Path = Field(Path("/var/lib/qms-kiosk/outbox.db"))
    server: ServerSettings
    offline: OfflineSettings = Field(default_factory=OfflineSettings)
    buttons: ButtonSettings
    indicators: IndicatorSettings = Field(default_factory=IndicatorSettings)
    printer: PrinterConfig
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    mqtt: KioskMqttSettings = Field(default_factory=KioskMqttSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @model_validator(mode="after")
    def _pins(self) -> KioskConfig:
        used = {b.pin for b in self.buttons.services if b.pin is not None}
        if self.buttons.priority_pin is not None:
            used.add(self.buttons.priority_pin)
        for name in ("ready_led", "printing_led", "fault_led", "buzzer"):
            pin = getattr(self.indicators, name)
            if pin is not None and pin in used:
                raise ValueError(f"indicators.{name}: GPIO {pin} is already used")
            if pin is not None:
                used.add(pin)
        return self

    def service(self, code: str) -> ServiceButton | None:
        return next((b for b in self.buttons.services if b.service == code), None)


def load_config(path: str | Path) -> KioskConfig:
    """Read and validate; :class:`ConfigError` names the file and the field."""
    return load_model(KioskConfig, path)


def config_from_dict(data: dict, source: str = "<kiosk config>") -> KioskConfig:
    return validate_model(KioskConfig, data, source)
