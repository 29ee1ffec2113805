"""The kiosk's sender tells a caller when its first round is done, however early that round was:
tests and benches wait on it before pressing, and a round that finished before the wait began
must not leave them waiting for the next one (30 s away when the server answers)."""
from __future__ import annotations

import threading

from kiosk.sender import Sender
from qms_common.clock import FakeClock
from tests.conftest import MONDAY_9AM


class _Server:
    """A server that reserves blocks at once and counts how often it was asked."""

    def __init__(self) -> None:
        self.asked = threading.Event()

    def reserve_block(self, service: str, size: int) -> dict:
        self.asked.set()
        return {"service": service, "day": "2026-11-23", "prefix": service, "first": 901, "last": 900 + size}

    def close(self) -> None:
        pass


def test_the_first_round_is_seen_even_when_it_ended_before_the_wait(tmp_path):
    server = _Server()
    sender = Sender(outbox_path=str(tmp_path / "outbox.db"), client_factory=lambda: server, services=["HT"],
                    clock=FakeClock(MONDAY_9AM), timezone="Asia/Ho_Chi_Minh", block_size=5, min_spare=1,
                    retry_interval_s=0.2)
    sender.start()
    try:
        assert server.asked.wait(15)
        with sender._idle:  # the round is over: its count went up
            assert sender._idle.wait_for(lambda: sender._rounds >= 1, 15)
        assert sender.wait_first_round(15)          # at once, not at the next round
        assert sender.reachable is True
    finally:
        sender.stop()
