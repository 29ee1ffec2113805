"""Helpers for tests, the bench and demos: a kiosk configuration on a laptop, and a
printer seam that keeps every job's bytes.

Nothing here is used by the running kiosk.
"""
from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

from .config import KioskConfig, config_from_dict
from .dummy_printer import FaultInjectingDummy
from .printer_config import SimulatedFault

SERVICES = [
    {"service": "HT", "label": "Hộ tịch", "label_en": "Civil status", "pin": 17},
    {"service": "CT", "label": "Chứng thực", "label_en": "Certification of copies", "pin": 27},
    {"service": "DD", "label": "Đất đai", "label_en": "Land", "pin": 22},
]


def config_dict(state_dir: Path, server_url: str, token: str, *, device: str = "kiosk-1",
                center: str = "phuong-mau") -> dict[str, Any]:
    """A complete kiosk configuration as a dict (edit it, then :func:`config_from_dict`)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    token_file = state_dir / "kiosk.token"
    token_file.write_text(token + "\n", encoding="utf-8")
    return {
        "device": device,
        "center": center,
        "center_name": "Trung tâm Phục vụ hành chính công phường Mẫu",
        "timezone": "Asia/Ho_Chi_Minh",
        "outbox_path": str(state_dir / "outbox.db"),
        "server": {"url": server_url, "token_file": str(token_file), "online_timeout_s": 1.0,
                   "sync_timeout_s": 3.0, "retry_interval_s": 0.3},
        "offline": {"block_size": 10, "min_spare": 10},
        "buttons": {"services": copy.deepcopy(SERVICES), "priority_pin": 26, "debounce_s": 0.05,
                    "cooldown_s": 2.0, "per_minute": 4},
        "indicators": {"ready_led": 5, "printing_led": 6, "fault_led": 13, "buzzer": 19},
        "printer": {"connection": {"type": "dummy"}, "paper": "80mm"},
        "mqtt": {"enabled": False},
        "web": {"enabled": False, "port": 0},
    }


def laptop_config(state_dir: Path, server_url: str, token: str, **top: Any) -> KioskConfig:
    data = config_dict(state_dir, server_url, token)
    data.update(top)
    return config_from_dict(data, "test kiosk config")


class RecordingPrinters:
    """A ``connect`` seam for :class:`~kiosk.printer.TicketPrinter`: every job opens a new
    fault-injecting python-escpos ``Dummy``; set :attr:`fault` to make the next jobs fail."""

    def __init__(self) -> None:
        self.fault: SimulatedFault = "none"
        self.devices: list[FaultInjectingDummy] = []
        self._lock = threading.Lock()

    def __call__(self) -> FaultInjectingDummy:
        device = FaultInjectingDummy(self.fault)
        with self._lock:
            self.devices.append(device)
        return device

    def outputs(self) -> list[bytes]:
        """The bytes of every job that printed something, in order (status checks excluded)."""
        with self._lock:
            return [d.output for d in self.devices if d.output]


def to_toml(data: dict, prefix: str = "") -> str:
    """Just enough TOML for our config dicts (tables, arrays of tables, scalars)."""
    scalars, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            tables.append((key, value))
        else:
            scalars.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    out = "\n".join(scalars) + "\n"
    for key, value in tables:
        name = f"{prefix}{key}"
        if isinstance(value, list):
            for item in value:
                out += f"[[{name}]]\n" + to_toml(item, name + ".")
        else:
            out += f"[{name}]\n" + to_toml(value, name + ".")
    return out
