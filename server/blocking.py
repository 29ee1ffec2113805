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


def cooperative_pause() -> Callable[[], object] | None:
    """A function that lets the other greenlets run (``gevent.sleep(0)``) under gevent, else
    ``None``: long pure-Python work on the loop (the wait forecast) calls it between steps."""
    if not gevent_active():
        return None
    import gevent
    return gevent.sleep


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
