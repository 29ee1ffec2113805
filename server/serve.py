"""Running the server: gunicorn, one gevent worker (``server/worker.py``), or Flask's
development server with ``--dev``.

One process, because Socket.IO rooms live in memory; gevent, because every open screen,
phone and keep-alive connection then costs a greenlet (tens of kilobytes) instead of an OS
thread: docs/deploy.md ("Connections") has the measurements behind the choice. gunicorn's
gevent worker monkey-patches the standard library in the worker before the app is loaded;
the app is created inside the worker (``load()``), never in the gunicorn master, so no
SQLite connection crosses a fork and no lock is made before the patch. Blocking C calls
(the fsync'd commit, Argon2) go to a small pool of real threads (``server/blocking.py``).
"""
from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

from .settings import ServerSettings

log = logging.getLogger(__name__)


def build_app(settings: ServerSettings, clock=None):
    """The served app; ``clock`` is the real one unless a bench gave ``--bench-clock-start``."""
    from .app import create_app
    from .reporting.schedule import start_for_app
    app = create_app(settings, clock=clock)
    start_for_app(app, settings)  # the weekly report (docs/reports.md); only in a running server
    return app


class _Gunicorn(BaseApplication):
    def __init__(self, settings: ServerSettings, clock=None) -> None:
        self.settings = settings
        self.clock = clock
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        for key, value in {
            "bind": f"{s.host}:{s.port}",
            "workers": 1,
            "worker_class": "server.worker.QmsGeventWorker",
            "worker_connections": s.connections.max,
            "timeout": 60,
            # open websockets never finish by themselves: give them a moment, not ten seconds, on restart
            "graceful_timeout": 3,
            # idle keep-alive connections and request headers that do not arrive in time are closed
            "keepalive": s.connections.idle_timeout_s,
            "backlog": 2048,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
            "post_worker_init": _worker_ready,
        }.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24 would open ~/.gunicorn/*.ctl
            self.cfg.set("control_socket_disable", True)

    def load(self):
        from .blocking import configure
        from .worker import exempt_websockets
        configure(self.settings.threads)
        app = build_app(self.settings, self.clock)
        app.wsgi_app = exempt_websockets(app.wsgi_app)
        return app


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

    # what start-up made is already frozen out of the cyclic collector (QmsGeventWorker.load_wsgi:
    # server/collector.py, just before this hook)
    sd.notify_ready()
    worker.qms_watchdog = sd.Watchdog(healthy).start()


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
    _Gunicorn(settings, clock).run()
    return 0
