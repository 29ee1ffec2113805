"""``qms serve --bench-clock-start``: run a server as if it were a chosen local time.

For benches and demos only. A server's figures depend on the hour it runs: in the center's
evening no counter has work ahead, during its day the roster does (docs/performance.md,
section 8). With this option the served process gets a clock (``qms_common.clock.StartedClock``)
that starts at the given instant in the center's time zone and runs at real speed, so a bench
measures "09:30 on a working day" whenever it is run.

It can never move a real center's records in time by accident:

* it is only a command-line option of ``qms serve`` (no settings key, no environment variable;
  the systemd units and the demo do not pass it);
* it is refused unless the database holds no event yet (a fresh bench database): a center's
  event log is never continued in a made-up time;
* the server logs a warning naming the clock when it starts.
"""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from qms_common.clock import StartedClock
from qms_common.errors import ConfigError

log = logging.getLogger(__name__)


def parse_start(text: str, tz: str) -> float:
    """Epoch seconds of ``YYYY-MM-DDTHH:MM`` (the center's local time; an explicit offset is kept)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--bench-clock-start {text!r}: cần dạng NĂM-THÁNG-NGÀYTgiờ:phút theo giờ của trung tâm, "
            f"ví dụ 2026-12-02T09:30; expected YYYY-MM-DDTHH:MM in the center's time, e.g. 2026-12-02T09:30"
        ) from None
    if len(text.strip()) < len("2026-12-02T09:30"):
        raise ConfigError(
            f"--bench-clock-start {text!r}: thiếu giờ, ví dụ 2026-12-02T09:30; "
            f"a date and a time are needed, e.g. 2026-12-02T09:30")
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(tz))
    if not 2000 <= when.year <= 2100:
        raise ConfigError(f"--bench-clock-start {text!r}: năm ngoài khoảng 2000–2100, ví dụ 2026-12-02T09:30; "
                          f"the year is outside 2000-2100, e.g. 2026-12-02T09:30")
    return when.timestamp()


def events_in(database: Path) -> int:
    """How many events the database holds (0 when it does not exist yet)."""
    if not Path(database).exists():
        return 0
    conn = sqlite3.connect(f"file:{Path(database).resolve()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
        return conn.execute("SELECT count(*) FROM events").fetchone()[0] if row[0] else 0
    finally:
        conn.close()


def bench_clock(text: str, tz: str, database: Path) -> StartedClock:
    """The clock for ``qms serve --bench-clock-start TEXT``, validated (``ConfigError`` otherwise)."""
    start = parse_start(text, tz)
    n = events_in(database)
    if n:
        raise ConfigError(
            f"--bench-clock-start chỉ dùng với cơ sở dữ liệu mới (đo hiệu năng, trình diễn): {database} đã có "
            f"{n} sự kiện; --bench-clock-start is for benches on a fresh database only: {database} already "
            f"holds {n} events")
    clock = StartedClock(start)
    log.warning("bench clock: this server runs as if it were %s (%s), not the real time; for benches only",
                datetime.fromtimestamp(start, ZoneInfo(tz)).isoformat(timespec="minutes"), tz)
    return clock
