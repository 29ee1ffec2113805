"""Password hashing within a 1 GB Raspberry Pi's means.

Argon2id is memory-hard on purpose: argon2-cffi's default (RFC 9106 low-memory profile) takes
64 MiB per verification, and 16 people signing in at once took the server from 58 MB to over
1 GB. Two bounds, both needed:

* new hashes use OWASP's Argon2id minimum (19 MiB, 2 passes, 1 lane): still far beyond what a
  graphics card cracks cheaply, and a Pi 4 checks one in well under a second;
* at most ``concurrency`` hashes are computed at once (the others queue for a slot, up to
  ``wait_s``, then get a clear "busy" answer), so the memory bound holds whatever the
  parameters of an old hash are. Old hashes keep verifying (Argon2 reads its parameters from
  the hash) and are re-hashed with the current parameters at the next good sign-in;
* the hashes are computed on ``concurrency`` dedicated threads, never on the request threads.
  glibc gives each thread its own malloc arena and, once a large block has been freed, serves
  blocks of that size (up to 32 MiB) from the arena instead of mmap, keeping them: 16 bursts
  of sign-ins on 16 different request threads left 16 × 19 MiB resident (measured:
  docs/performance.md). Two fixed threads keep at most two such blocks.

An unknown user name is checked against a dummy hash made with the current parameters, so it
takes as long as a known one: the answer time does not tell which user names exist.
"""
from __future__ import annotations

import secrets
import threading
from concurrent.futures import Executor, ThreadPoolExecutor

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from qms_common.errors import QmsError

from .blocking import gevent_active

#: OWASP Password Storage Cheat Sheet, Argon2id minimum: m=19 MiB, t=2, p=1
STANDARD = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}


class ServerBusy(QmsError):
    code = "server_busy"
    http_status = 503


class Slots:
    """A counting semaphore that can say how many hold a slot and how many wait for one."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one slot")
        self.size = size
        self.inside = 0
        self.waiting = 0
        self._cond = threading.Condition()

    def acquire(self, timeout: float) -> bool:
        with self._cond:
            self.waiting += 1
            self._cond.notify_all()  # observers see the queue grow
            try:
                return self._cond.wait_for(lambda: self.inside < self.size, timeout) and self._take()
            finally:
                self.waiting -= 1

    def _take(self) -> bool:
        self.inside += 1
        return True

    def release(self) -> None:
        with self._cond:
            self.inside -= 1
            self._cond.notify_all()

    def wait_until(self, predicate, timeout: float) -> bool:
        """For observers (tests, health): wait until ``predicate(self)`` holds."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None, *, concurrency: int = 2, wait_s: float = 10.0,
                 executor: Executor | None = None) -> None:
        """``executor``: where hashes are computed (default: ``concurrency`` threads of their own).
        Under an event loop that patches ``threading`` (gevent) pass one made of real OS threads
        (``gevent.threadpool.ThreadPoolExecutor``), or each check would stall every connection."""
        self.hasher = hasher or PasswordHasher(**STANDARD)
        self.slots = Slots(concurrency)
        self.wait_s = wait_s
        self._pool = executor or ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="qms-argon2")
        self._dummy: str | None = None
        self._gpool = None

    @classmethod
    def for_profile(cls, profile: str, **kwargs) -> "Passwords":
        if profile == "cheapest-for-tests":
            return cls(PasswordHasher.from_parameters(profiles.CHEAPEST), **kwargs)
        return cls(**kwargs)

    def _run(self, fn, *args):
        if not self.slots.acquire(self.wait_s):
            raise ServerBusy("Máy chủ đang bận, vui lòng thử lại sau ít giây; the server is busy checking "
                             "other sign-ins, try again in a few seconds")
        try:  # the slots keep the pool's queue empty: a job starts at once
            if gevent_active():  # real OS threads of their own, or a check would stall every connection
                return self._gevent_pool().apply(fn, args)
            return self._pool.submit(fn, *args).result()
        finally:
            self.slots.release()

    def _gevent_pool(self):
        """Under ``qms serve`` (gevent): ``concurrency`` real threads kept for hashing alone, so
        that only they ever hold Argon2's memory (see the module's docstring)."""
        if self._gpool is None:
            from gevent.threadpool import ThreadPool
            self._gpool = ThreadPool(self.slots.size)
        return self._gpool

    def hash(self, password: str) -> str:
        return self._run(self.hasher.hash, password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True if ``password`` matches ``stored``; with ``stored=None`` (no such user) the
        same work is done against a dummy hash and the answer is False."""
        if stored is None:
            if self._dummy is None:
                self._dummy = self.hash(secrets.token_urlsafe(18))
            self._check(self._dummy, password)
            return False
        return self._check(stored, password)

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self._run(self.hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
