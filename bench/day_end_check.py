"""What the evening's end of the day (server/engine/day_end.py) adds to every look at the engine.

``Engine._roll_day`` runs before every operation and every view (a snapshot push, each chunk of
phones, the MQTT link's cycle); since the evening's end it also asks whether today's hours and
their grace are over. This times ``_roll_day`` alone, in-process, on the bundled ward with 50
waiting, with the check off (the simulator's engine, as before), on before ``closes``, and on
after ``closes`` + grace with a clerk still signed in (nothing to end: the memo of the last
event's number). Run: ``.venv/bin/python bench/day_end_check.py`` (under the bench lock).
"""
from __future__ import annotations

import sys
import tempfile
import timeit
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qms_common.clock import FakeClock  # noqa: E402
from server.config import load_center  # noqa: E402
from server.engine import Engine  # noqa: E402
from server.store import Store  # noqa: E402

N = 100_000


def main() -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    with tempfile.TemporaryDirectory() as d:
        clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=tz).timestamp())
        engine = Engine(Store(Path(d) / "q.db"), load_center(), clock)
        for _ in range(50):
            engine.issue("HT")
        engine._roll_day()
        for flag, label in ((False, "off (the simulator; main before)"), (True, "on, before closes")):
            engine.ends_day_by_itself = flag
            print(f"{label}: {timeit.timeit(engine._roll_day, number=N) / N * 1e6:.2f} µs per _roll_day")
        engine.sign_in(4, "bot4")
        clock.set(datetime(2026, 11, 23, 18, 0, tzinfo=tz).timestamp())
        engine._roll_day()
        print(f"on, after closes + grace, a clerk still on: "
              f"{timeit.timeit(engine._roll_day, number=N) / N * 1e6:.2f} µs per _roll_day")
        engine.store.close()


if __name__ == "__main__":
    main()
