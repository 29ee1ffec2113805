"""A commit in the middle of a read: the next ``engine.waits.prepare`` (a view's forecast inputs,
read inside its read transaction, after its counts) first has a kiosk (another thread) issue a
ticket of ``service`` and commit it. For the tests that a view is of one state."""
from __future__ import annotations

import threading


def issue_during_prepare(engine, monkeypatch, service: str = "HT") -> list:
    """Patch ``engine.waits.prepare`` so its first call issues one ticket from another thread
    first; answers the list the issued ticket is appended to."""
    real = engine.waits.prepare
    issued: list = []

    def prepare(*a, **kw):
        if not issued:
            t = threading.Thread(target=lambda: issued.append(engine.issue(service)))
            t.start()
            t.join()
        return real(*a, **kw)
    monkeypatch.setattr(engine.waits, "prepare", prepare)
    return issued
