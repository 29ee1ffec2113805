"""The server's own settings (``server.toml``), separate from the center's description.

Secrets never live in the file: the session key is read from ``QMS_SECRET_KEY`` or from a
file in the state directory (created with 0600 on first start).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field

from qms_common.config import HttpAddress, StrictModel, load_model
from qms_common.private_files import write_private


class MqttSettings(StrictModel):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = "server"
    password_file: str | None = Field(default=None, description="file holding the broker password")
    tls_ca: str | None = None
    server_id: str = Field(default="main", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    stream_interval_s: float = Field(default=30, ge=1, le=3600,
                                     description="re-publish the wait-time stream at least this often")
    device_silent_after_s: float = Field(default=120, ge=10,
                                         description="flag a device that sent nothing for this long")


class RobotPolicy(StrictModel):
    """``[robot]``: how the server uses robot greeters (server/robot_dispatch.py)."""

    water: bool = Field(default=True, description="bring water to long waiters by itself")
    water_after_s: float = Field(default=600, ge=60, description="send the robot to a citizen waiting this long")
    min_battery_pct: float = Field(default=30, ge=0, le=100, description="no task below this battery")
    task_timeout_s: float = Field(default=300, gt=0, description="a task without a result fails after this")
    max_attempts: int = Field(default=3, ge=1, le=10, description="bring_water tries per ticket")
    greet: bool = Field(default=False, description="greet each citizen who takes a ticket at the robot's site")
    guide: bool = Field(default=False, description="guide a called citizen to the counter")
    history: int = Field(default=500, ge=10, description="ended tasks kept for the dashboard")


class LoginSettings(StrictModel):
    """``[login]``: throttling wrong passwords, and the cost of checking them (docs/deploy.md)."""

    free_failures_per_user: int = Field(default=5, ge=1, le=100,
                                        description="wrong passwords for one user name before the first delay")
    free_failures_per_address: int = Field(default=20, ge=1, le=1000,
                                           description="wrong passwords from one address before the first delay")
    first_delay_s: float = Field(default=1, gt=0, le=60, description="the first delay; it doubles with each failure")
    max_delay_s: float = Field(default=900, gt=0, le=86400, description="the delay never grows beyond this")
    forget_after_s: float = Field(default=3600, gt=0, description="failures older than this are forgotten")
    hash_concurrency: int = Field(default=2, ge=1, le=16,
                                  description="password checks computed at once (each takes 19 MiB, old hashes 64)")
    hash_wait_s: float = Field(default=10, gt=0, le=60,
                               description="a sign-in waits this long for a free check, then gets 'busy' (503)")


class ConnectionLimits(StrictModel):
    """``[connections]``: how many connections the server holds and how long it waits for them.

    The server runs one gevent worker (``server/worker.py``): a connection costs a greenlet
    (tens of kilobytes), not a thread. docs/deploy.md says why and how these were chosen.
    """

    max: int = Field(default=4000, ge=50, le=20000,
                     description="connections held at once (screens, phones, kiosks, consoles, idle keep-alive)")
    per_address: int = Field(default=200, ge=2, le=20000,
                             description="connections one source address may hold; more are answered 503 and closed")
    idle_timeout_s: int = Field(default=10, ge=1, le=300,
                                  description="an idle keep-alive connection, or request headers not complete, "
                                              "is closed after this")
    io_timeout_s: float = Field(default=30, ge=1, le=600,
                                description="a request body or response that stalls this long is cut (408); "
                                            "not websockets, which Socket.IO pings every 25 s")
    freeze_every_s: float = Field(default=2.0, ge=0.5, le=600,
                                  description="the worker freezes its heap out of the garbage collector this often "
                                              "(server/collector.py)")
    full_collection_every_s: float = Field(default=120.0, ge=10, le=86400,
                                           description="... and unfreezes it for one full collection this often")


class ReportSchedule(StrictModel):
    """``[reports]``: the report written by itself to a folder and announced on MQTT
    (server/reporting/schedule.py)."""

    enabled: bool = Field(default=True, description="write the scheduled reports (when the server runs)")
    folder: str | None = Field(default=None, description="where they go; default <state_dir>/reports")
    weekly: bool = Field(default=True, description="the past week's report (Monday to Sunday)")
    weekly_day: int = Field(default=4, ge=1, le=7, description="ISO weekday it is made on; 4 = Thursday")
    weekly_at: str = Field(default="07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                           description="center time it is made at")
    daily: bool = Field(default=True, description="also each morning, the day before's report")
    daily_at: str = Field(default="06:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    formats: list[Literal["pdf", "html", "xlsx", "csv"]] = Field(
        default=["pdf", "html", "xlsx", "csv"], min_length=1, description="files written for each report")


class PlanningSettings(StrictModel):
    """``[planning]``: the earlier days the dashboard's plan page (``/dashboard/plan``) plans from,
    as ``qms plan --history`` reads them (docs/planning.md)."""

    history: list[str] = Field(default_factory=list,
                               description="scenario folders of earlier days (day folders, or folders of them)")
    staff: str | None = Field(default=None, description="the roster file (staff.csv); default the latest history day's")
    # A checked plan alone on a quiet machine takes 1.5-4 min; the longest measured, six at once
    # beside the test suite at load 9-11 on 2 cores, 2481 s (docs/performance.md, section 11, run 4).
    # The server makes one plan at a time, so an hour is above anything measured with room to
    # spare: a limit that cuts a plan which would have finished wastes all the CPU it had used.
    timeout_s: float = Field(default=3600, ge=60, le=86400,
                             description="a plan still being made after this long is stopped, and the director told")


class SatelliteSettings(StrictModel):
    """``[satellite]``: this server runs one standalone site (a satellite point) and ships its
    event log to the main center (``qms replicate``, server/satellite/replicator.py)."""

    site: str = Field(pattern=r"^[a-z0-9-]{1,40}$", description="the standalone site of the center file run here")
    main_url: HttpAddress = Field(description="the main center server, e.g. https://qms.phuong-mau.gov.vn")
    token_file: str = Field(description="file holding this site's device token at the main center "
                                        "(qms device add sat-diem-1 --kind satellite --site diem-1, on the main)")
    batch: int = Field(default=200, ge=1, le=200, description="events sent in one request (and at most 48 KiB)")
    connect_timeout_s: float = Field(default=5, gt=0, le=120, description="opening the connection")
    read_timeout_s: float = Field(default=15, gt=0, le=600,
                                  description="a main center that accepted the connection but does not answer "
                                              "is given up after this (a hung link)")
    retry_max_s: float = Field(default=60, gt=0, le=3600, description="waits between retries double up to this")
    poll_s: float = Field(default=1, gt=0, le=60, description="how often the local event log is looked at")


class ServerSettings(StrictModel):
    state_dir: str = Field(default="var", description="database, secret key and caches live here")
    center_file: str | None = Field(default=None, description="center configuration (TOML); default: the sample ward")
    database: str | None = Field(default=None, description="SQLite file; default <state_dir>/qms.db")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    threads: int = Field(default=8, ge=2, le=1000,
                         description="OS threads for blocking work (SQLite commits, password hashing); "
                                     "connections do not use threads")
    session_hours: float = Field(default=12, gt=0, le=24 * 30)
    password_profile: Literal["standard", "cheapest-for-tests"] = Field(
        default="standard", description="Argon2 cost; 'cheapest-for-tests' only for automated test suites")
    trusted_origins: list[str] = Field(
        default_factory=list,
        description="other origins whose pages may send signed-in writes (e.g. 'https://qms.phuong.gov.vn' "
                    "behind a TLS proxy); the request's own origin and the center's public_url always are")
    login: LoginSettings = LoginSettings()
    connections: ConnectionLimits = ConnectionLimits()
    mqtt: MqttSettings = MqttSettings()
    robot: RobotPolicy = RobotPolicy()
    reports: ReportSchedule = ReportSchedule()
    planning: PlanningSettings = PlanningSettings()
    satellite: SatelliteSettings | None = None

    @property
    def reports_folder(self) -> Path:
        return Path(self.reports.folder) if self.reports.folder else Path(self.state_dir) / "reports"

    @property
    def database_path(self) -> Path:
        return Path(self.database) if self.database else Path(self.state_dir) / "qms.db"

    def secret_key(self) -> str:
        env = os.environ.get("QMS_SECRET_KEY")
        if env:
            return env
        path = Path(self.state_dir) / "secret_key"
        if not path.exists():
            try:
                write_private(path, secrets.token_hex(32), exclusive=True)
            except FileExistsError:
                pass  # another process made it a moment ago
        return path.read_text().strip()


def load_settings(path: str | Path | None) -> ServerSettings:
    if path is None:
        return ServerSettings()
    return load_model(ServerSettings, path)
