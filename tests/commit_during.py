"""A commit in the middle of a read: for the tests that a view (a snapshot, the services' figures, a
citizen's status) is of one state. The next call of a read step first lets another thread (a
kiosk's ticket, a clerk's call) commit."""
from __future__ import annotations

import threading


def from_another_thread(fn):
    """``fn()`` run on a thread of its own, as another client's request would be; its answer."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def commit_first(monkeypatch, obj, name: str, action) -> list:
    """Patch ``obj.name`` so that its first call runs ``action`` on another thread first; answers
    the list ``action``'s answer is put in. The action's own reads (an issue's estimate reads the
    forecast's inputs too) find the list taken and go straight through."""
    real = getattr(obj, name)
    done: list = []

    def wrapped(*a, **kw):
        if not done:
            done.append(None)
            done[0] = from_another_thread(action)
        return real(*a, **kw)
    monkeypatch.setattr(obj, name, wrapped)
    return done


def issue_during_prepare(engine, monkeypatch, service: str = "HT") -> list:
    """The next ``engine.waits.prepare`` (a view's forecast inputs, read inside its read
    transaction, after its counts) first has a kiosk issue a ticket of ``service``; answers the
    list the issued ticket is put in."""
    return commit_first(monkeypatch, engine.waits, "prepare", lambda: engine.issue(service))
