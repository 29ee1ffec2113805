"""Blocking C calls under gevent: run them on a real OS thread, not on the event loop.

``qms serve`` runs the server in gunicorn's gevent worker (``server/worker.py``): one OS
thread, one event loop, a greenlet per connection. A C call that blocks (an fsync'd SQLite
``COMMIT``, an Argon2 hash: 0.1-0.3 s of CPU on a Pi 4) would stop every greenlet while it
runs, so :func:`run_blocking` hands it to gevent's thread pool and lets the loop go on. Both
release the GIL while they work. Outside gevent (tests that build the app in-process, the
development server, the CLI) it simply calls the function.

Only C calls that touch no greenlet-aware object belong here: code that takes a gevent lock,
emits on a socket or reads a context variable must stay on the loop.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_pool_size = 8


def gevent_active() -> bool:
    """True in a process whose standard library gevent has monkey-patched (``qms serve``)."""
    if "gevent.monkey" not in sys.modules:
        return False
    from gevent import monkey
    return monkey.is_module_patched("socket") and monkey.is_module_patched("threading")


def configure(threads: int) -> None:
    """Size gevent's thread pool (``threads`` in server.toml); call once in the worker."""
    global _pool_size
    _pool_size = threads
    if gevent_active():
        import gevent
        gevent.get_hub().threadpool.maxsize = threads


def run_blocking(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a pool thread under gevent (the calling greenlet waits), else inline."""
    if not gevent_active():
        return fn(*args)
    import gevent
    return gevent.get_hub().threadpool.apply(fn, args)


# Long pure-Python work on the loop (the wait forecast, the live advice, the pusher's views) calls
# its ``pause`` every few dozen steps; the pause gives the loop back only once this much time has
# run since the last time it did, so a step's length no longer decides how long the loop is held
# (one step of a path can walk through hundreds of citizens who left: 11-19 ms at a time with
# 1,300 waiting, bench/connections.py, docs/performance.md section 8)
SLICE_S = 0.002
# A background round waits at a pause until the event loop has nothing else to run, but never
# longer than this: a loop that is never idle (an overloaded server) must still refresh its screens
IDLE_WAIT_MAX_S = 0.1


def sliced(give_back: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> Callable[[], None]:
    """A ``pause`` that calls ``give_back`` only once ``SLICE_S`` of ``clock`` has passed since
    it was made or last gave back (the callers ask every few dozen steps: a clock read)."""
    since = [clock()]

    def pause() -> None:
        if clock() - since[0] >= SLICE_S:
            give_back()
            since[0] = clock()
    return pause


def cooperative_pause() -> Callable[[], object] | None:
    """Under gevent, a ``pause`` for long pure-Python work a request waits on (one citizen's
    forecast for their status page): every ``SLICE_S`` of running it lets the greenlets ready
    meanwhile run first (``gevent.sleep(0)``). Else ``None``."""
    if not gevent_active():
        return None
    import gevent
    return sliced(gevent.sleep)


def background_pause() -> Callable[[], object] | None:
    """Like :func:`cooperative_pause`, for work no request waits on (the forecast of everyone,
    the live advice, the pusher): every ``SLICE_S`` it waits until the loop is idle
    (``gevent.idle``: no socket ready, no greenlet runnable), up to ``IDLE_WAIT_MAX_S``, so that
    a request which gives the loop back (its reads, its commit on a pool thread, its writes)
    finds it free when it resumes. ``gevent.sleep(0)`` only sent the round to the back of the
    loop's queue: each time a kiosk's issue gave the loop back, it waited behind one more of the
    round's steps (docs/performance.md, section 8). Outside gevent, ``None``."""
    if not gevent_active():
        return None
    import gevent

    def wait_idle() -> None:
        with gevent.Timeout(IDLE_WAIT_MAX_S, False):
            gevent.idle()
    return sliced(wait_idle)


def background_yield() -> Callable[[], object]:
    """:func:`background_pause` under gevent; else a plain yield of the thread (``time.sleep(0)``)."""
    return background_pause() or (lambda: time.sleep(0))


def thread_local_class() -> type:
    """``threading.local`` of the real OS thread, even after monkey-patching.

    Patched, ``threading.local`` is per greenlet: a SQLite connection kept in it would be
    opened anew by every request and never closed.
    """
    if gevent_active():
        from gevent import monkey
        return monkey.get_original("_thread", "_local")
    import threading
    return threading.local
