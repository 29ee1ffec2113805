"""Running the server: gunicorn, one gevent worker (``server/worker.py``), or Flask's
development server with ``--dev``.

One process, because Socket.IO rooms live in memory; gevent, because every open screen,
phone and keep-alive connection then costs a greenlet (tens of kilobytes) instead of an OS
thread: docs/deploy.md ("Connections") has the measurements behind the choice. ``qms serve``
checks its settings here, then becomes gunicorn's master (``server/master.py``: an ``exec``, same
process id), a process that imports gunicorn and the worker's class only. gunicorn's gevent
worker monkey-patches the standard library in the worker before the app is loaded; the app is
created inside the worker (``Master.load()``), never in the gunicorn master, so no SQLite
connection crosses a fork and no lock is made before the patch. Blocking C calls
(the fsync'd commit, Argon2) go to a small pool of real threads (``server/blocking.py``).
"""
from __future__ import annotations

import logging

from .settings import ServerSettings

log = logging.getLogger(__name__)


def build_app(settings: ServerSettings, clock=None):
    """The served app; ``clock`` is the real one unless a bench gave ``--bench-clock-start``."""
    from .app import create_app
    from .reporting.schedule import start_for_app
    app = create_app(settings, clock=clock)
    start_for_app(app, settings)  # the weekly report (docs/reports.md); only in a running server
    return app


def serve(settings: ServerSettings, *, dev: bool = False, clock=None) -> int:
    if dev:
        app = build_app(settings, clock)
        socketio = app.extensions["qms_socketio"]
        try:
            socketio.run(app, host=settings.host, port=settings.port, debug=False, allow_unsafe_werkzeug=True)
        finally:  # Ctrl-C: the plan job's child goes too
            from .app import stop_children
            stop_children(app)
        return 0
    _exec_master(settings, clock)
    return 0  # not reached: the process is the master now


def _exec_master(settings: ServerSettings, clock=None) -> None:
    """Become gunicorn's master (``server/master.py``): the same process, a fresh interpreter that
    imports only gunicorn and the worker's class; the validated settings go along as JSON."""
    import json
    import os
    import sys
    from pathlib import Path

    from .master import ENV, handover
    handed = handover(settings.model_dump(mode="json"), log_level=logging.getLogger().level, clock=clock)
    env = dict(os.environ, **{ENV: json.dumps(handed)})
    # `python -m server.cli` run in a checkout found `server` in the working directory; an installed
    # `qms` did not, and its master must not either (-P: the state directory is no import path)
    in_place = Path(__file__).resolve().parents[1] == Path.cwd().resolve()
    argv = [sys.executable, *([] if in_place else ["-P"]), "-m", "server.master"]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)
