"""Earlier days for a test's center: a few tickets on the same weekday of the four weeks before,
so that the arrival forecast has history (a center past its first days: ``snapshots.py``) and the
advice's rule 6 lets a counter be offered a service it does not serve (``docs/advice.md``)."""
from __future__ import annotations

import time
from pathlib import Path

WEEKS_BACK = (28, 21, 14, 7)  # days: the same weekday, within the forecast's history window


def earlier_days(engine, clock, services=("HT", "CT", "HT")) -> None:
    """Issue ``services`` once each on each earlier day, the clock stepped back and forth."""
    for days in WEEKS_BACK:
        clock.jump(-days * 86400.0)
        try:
            for service in services:
                engine.issue(service)
        finally:
            clock.jump(days * 86400.0)


def earlier_days_in(db_path: Path, center_file: Path, services=("HT", "CT", "HT")) -> None:
    """The same, straight into a server's database before it starts (``LiveServer``)."""
    from qms_common.clock import FakeClock
    from server.config import load_center
    from server.engine.core import Engine
    from server.store import Store
    store = Store(db_path)
    try:
        clock = FakeClock(time.time())
        earlier_days(Engine(store, load_center(center_file), clock), clock, services)
    finally:
        store.close()
