"""Sign-in throttling: after a few wrong passwords for one user name, or from one address,
the next attempt must wait, and the wait doubles with every further failure.

Why not Flask-Limiter: it counts requests in fixed or moving windows; what protects a password
is a delay that grows with *failures* only, resets when the right password is given, and
treats an unknown user name exactly like a known one. That is this small module, on the
injected clock's monotonic time (a wall-clock step neither lifts nor prolongs a lock), with
a bounded number of remembered keys so that guessing random names cannot fill the memory.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from qms_common.clock import Clock


@dataclass(frozen=True)
class ThrottlePolicy:
    free_per_user: int = 5  # failures for one user name before the first delay
    free_per_address: int = 20  # failures from one address (a shared office PC) before the first delay
    first_delay_s: float = 1.0
    max_delay_s: float = 900.0
    forget_after_s: float = 3600.0  # a key with no failure for this long starts again from zero
    max_keys: int = 10_000


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class LoginThrottle:
    """Thread-safe; one per server process."""

    def __init__(self, clock: Clock, policy: ThrottlePolicy | None = None) -> None:
        self.clock = clock
        self.policy = policy or ThrottlePolicy()
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("user", username.strip().lower())]
        if address:
            keys.append(("address", address))
        return keys

    def _free(self, kind: str) -> int:
        return self.policy.free_per_user if kind == "user" else self.policy.free_per_address

    def _get(self, key: tuple[str, str], now: float) -> _Record | None:
        rec = self._records.get(key)
        if rec is not None and now - rec.last > self.policy.forget_after_s:
            del self._records[key]
            return None
        return rec

    def wait_s(self, username: str, address: str | None) -> float:
        """Seconds before this user name from this address may try again (0: now)."""
        now = self.clock.monotonic()
        with self._lock:
            waits = [rec.locked_until - now for key in self._keys(username, address)
                     if (rec := self._get(key, now)) is not None]
        return max([0.0, *waits])

    def delay_after(self, failures: int, free: int) -> float:
        """The wait imposed after the ``failures``-th failure: 0, …, 0, 1 s, 2 s, 4 s, … up to the cap."""
        if failures <= free:
            return 0.0
        return min(self.policy.max_delay_s, self.policy.first_delay_s * 2 ** (failures - free - 1))

    def failed(self, username: str, address: str | None) -> float:
        """Record a wrong password; returns the wait it imposes now (0 while still free)."""
        now = self.clock.monotonic()
        imposed = 0.0
        with self._lock:
            for key in self._keys(username, address):
                rec = self._get(key, now) or _Record()
                rec.failures += 1
                rec.last = now
                delay = self.delay_after(rec.failures, self._free(key[0]))
                rec.locked_until = max(rec.locked_until, now + delay)
                imposed = max(imposed, delay)
                self._records[key] = rec
                self._records.move_to_end(key)
            while len(self._records) > self.policy.max_keys:
                self._records.popitem(last=False)
        return imposed

    def succeeded(self, username: str) -> None:
        """The right password: the user name starts again from zero (the address does not:
        one valid account must not reset the count of guesses against the others)."""
        with self._lock:
            self._records.pop(("user", username.strip().lower()), None)

    def __len__(self) -> int:
        return len(self._records)
