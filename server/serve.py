"""Running the server: gunicorn with one worker and many threads (Flask-SocketIO's
threading mode with simple-websocket needs one process: socket rooms live in memory),
or Flask's development server with ``--dev``.

The app is created inside the worker (``load()``), never in the gunicorn master, so no
SQLite connection crosses a fork.
"""
from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

from .settings import ServerSettings

log = logging.getLogger(__name__)


def build_app(settings: ServerSettings):
    from .app import create_app
    from .reporting.schedule import start_for_app
    app = create_app(settings)
    start_for_app(app, settings)  # the weekly report (docs/reports.md); only in a running server
    return app


class _Gunicorn(BaseApplication):
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        for key, value in {
            "bind": f"{s.host}:{s.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": s.threads,
            "timeout": 60,
            # open websockets hold their threads: give them a moment, not ten seconds, on restart
            "graceful_timeout": 3,
            "keepalive": 30,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
            "post_worker_init": _worker_ready,
        }.items():
            self.cfg.set(key, value)

    def load(self):
        return build_app(self.settings)


def _worker_ready(worker) -> None:
    """Tell systemd the server is up (Type=notify) and keep its watchdog fed."""
    from qms_common import sd
    engine = worker.wsgi.extensions["qms"].engine

    def healthy() -> bool:
        try:
            engine.last_seq()  # the database answers
            return True
        except Exception:  # noqa: BLE001 - any failure means: stop feeding the watchdog
            return False

    sd.notify_ready()
    worker.qms_watchdog = sd.Watchdog(healthy).start()


def serve(settings: ServerSettings, *, dev: bool = False) -> int:
    if dev:
        app = build_app(settings)
        socketio = app.extensions["qms_socketio"]
        socketio.run(app, host=settings.host, port=settings.port, debug=False, allow_unsafe_werkzeug=True)
        return 0
    _Gunicorn(settings).run()
    return 0
