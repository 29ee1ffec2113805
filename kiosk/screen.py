"""What the kiosk's screen shows, as one thread-safe state with a version number.

The worker thread writes it; the local web page (and tests) read snapshots and can wait
for the next change. Every text a citizen reads is Vietnamese first; English follows.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

READY_VI = "Mời chọn lĩnh vực để lấy số thứ tự"
READY_EN = "Choose a service to take a number"
PRINTING_VI = "Đang in phiếu, xin chờ trong giây lát…"
OFFLINE_VI = "Mất kết nối máy chủ: phiếu vẫn được cấp và có giá trị"
PRIORITY_ARMED_VI = "Ưu tiên: mời chọn lĩnh vực"
RATE_LIMITED_VI = "Nút này vừa được bấm nhiều lần. Vui lòng chờ {s} giây hoặc báo cán bộ hướng dẫn."
NO_NUMBERS_VI = "Không cấp được số: mất kết nối và hết số dự phòng. Vui lòng báo cán bộ hướng dẫn."
NOT_PRINTED_VI = "Phiếu chưa in được. Xin ghi nhớ số của bạn: {code}. Cán bộ sẽ in lại cho bạn."
IGNORED_PRESS_VI = ("Lượt bấm vừa rồi không được tính (máy đang cấp số cho lượt trước): số {code} là của "
                    "lượt bấm trước. Nếu bạn chưa có số, xin bấm lại.")


@dataclass(frozen=True)
class ShownTicket:
    code: str
    service: str
    service_label: str
    priority: bool
    offline: bool
    issued_at: float
    printed: bool | None = None  # None while printing
    people_ahead: int | None = None
    estimated_wait_s: float | None = None


@dataclass(frozen=True)
class ServiceKey:
    key: str
    service: str
    label: str
    label_en: str | None


@dataclass(frozen=True)
class Screen:
    center_name: str
    services: tuple[ServiceKey, ...]
    mode: str = "starting"  # online, offline, starting
    busy: bool = False
    message: str = READY_VI
    level: str = "info"  # info, warn, error
    #: a second line: why the last press gave no ticket (pressed while a ticket was being issued)
    notice: str = ""
    ticket: ShownTicket | None = None
    priority_armed: bool = False
    printer: str = "unknown"
    printer_message: str = ""
    outbox: int = 0
    mqtt: bool = False
    version: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ScreenState:
    def __init__(self, screen: Screen) -> None:
        self._screen = screen
        self._cond = threading.Condition()

    def get(self) -> Screen:
        with self._cond:
            return self._screen

    def update(self, **changes: Any) -> Screen:
        with self._cond:
            self._screen = replace(self._screen, version=self._screen.version + 1, **changes)
            self._cond.notify_all()
            return self._screen

    def count(self, name: str) -> None:
        with self._cond:
            counters = dict(self._screen.counters)
            counters[name] = counters.get(name, 0) + 1
            self._screen = replace(self._screen, counters=counters, version=self._screen.version + 1)
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 10.0) -> Screen:
        """Wait until ``predicate(screen)`` holds; raise TimeoutError with the last screen."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self._screen), timeout):
                raise TimeoutError(f"screen condition not met within {timeout} s: {self._screen}")
            return self._screen

    def wait_change(self, after_version: int, timeout: float) -> Screen:
        with self._cond:
            self._cond.wait_for(lambda: self._screen.version > after_version, timeout)
            return self._screen
