"""The ``[mqtt]`` section every device's configuration file has, validated like the rest."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from .config import StrictModel, read_secret
from .mqtt import BrokerSettings


class MqttSettings(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = Field(default=None, description="default: the device id")
    password: str | None = Field(default=None, description="prefer password_file")
    password_file: Path | None = Field(
        default=None, description="read the password from this file (e.g. a systemd credential)")
    tls_ca: str | None = None
    keepalive: int = Field(default=15, ge=5, le=600)
    session_expiry_s: int = Field(default=3600, ge=0,
                                  description="the broker keeps queued messages for us this long while we are away")

    def broker(self, default_username: str | None = None) -> BrokerSettings:
        """Connection settings, reading the password file now (a missing file is a config error)."""
        password = self.password
        if self.password_file is not None:
            password = read_secret(self.password_file, "mqtt.password_file", allow_empty=True)
        return BrokerSettings(host=self.host, port=self.port, username=self.username or default_username,
                              password=password, tls_ca=self.tls_ca, keepalive=self.keepalive,
                              session_expiry_s=self.session_expiry_s)
