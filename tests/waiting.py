"""Waiting on a condition another process or thread makes true (a pid gone, a message arrived),
polled under a deadline: for what has no event this process can wait on."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, poll_s: float = 0.02) -> T:
    """The first truthy value of ``condition()``; an AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll_s)  # polling a condition under a deadline
