"""The gunicorn master of ``qms serve``: a process that imports only what it needs to fork.

``qms serve`` (``server/cli.py``, ``server/serve.py``) reads and validates the settings, the
center file and ``--bench-clock-start``, then replaces itself (``exec``: the same process id, so
systemd's main process and a test's ``Popen`` stay the same) with ``python -m server.master``,
handing over the validated settings as JSON in the environment variable ``QMS_SERVE`` (removed
from the environment at once: the worker's children do not see it). This process then imports
gunicorn alone: never pydantic, Flask, the app, nor gevent (``QmsWorker``: the worker's class
becomes gunicorn's gevent worker in the child); the worker, after the fork, validates the
settings again and builds the app (``load``).

Why: the master only forks and watches one worker, but the bench's memory figure (VmRSS of
master + worker, ``bench/connections.py``) counted everything it had imported: 40.6 MB when it
was the ``qms`` command itself (``server.cli``, the settings' pydantic, ``server.serve``), about
24 MB with gunicorn alone (docs/performance.md, section 8, "A lean
gunicorn master").
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time

from gunicorn.app.base import BaseApplication
from gunicorn.workers.base import Worker

ENV = "QMS_SERVE"


def handover(settings: dict, *, log_level: int, clock=None) -> dict:
    """What ``qms serve`` hands to the master: settings as JSON (``model_dump(mode="json")``), the
    root logger's level, and a bench clock (``--bench-clock-start``) as its reading now."""
    out = {"settings": settings, "log_level": log_level, "clock": None}
    if clock is not None:
        out["clock"] = {"now": clock.now(), "monotonic": clock.monotonic()}
    return out


class Master(BaseApplication):
    """gunicorn's application: its configuration from the handed-over settings (plain JSON
    here), the app built in the worker."""

    def __init__(self, handed: dict) -> None:
        self.handed = handed
        self._settings = None
        super().__init__()

    @property
    def settings(self):
        """The server's settings (``ServerSettings``), validated on first use: in the worker,
        after the fork (``server/worker.py`` reads its ``[connections]`` limits here)."""
        if self._settings is None:
            from .settings import ServerSettings
            self._settings = ServerSettings.model_validate(self.handed["settings"])
        return self._settings

    def clock(self):
        """The bench clock handed over, read on from where ``qms serve`` read it; None: the real one."""
        c = self.handed.get("clock")
        if c is None:
            return None
        from qms_common.clock import StartedClock
        return StartedClock(c["now"] + (time.monotonic() - c["monotonic"]))

    def load_config(self) -> None:
        s = self.handed["settings"]
        limits = s["connections"]
        for key, value in {
            "bind": f"{s['host']}:{s['port']}",
            "workers": 1,
            "worker_class": QmsWorker,
            "worker_connections": limits["max"],
            "timeout": 60,
            # open websockets never finish by themselves: give them a moment, not ten seconds, on restart
            "graceful_timeout": 3,
            # idle keep-alive connections and request headers that do not arrive in time are closed
            "keepalive": limits["idle_timeout_s"],
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
        """In the worker (gunicorn calls it after the fork and gevent's monkey-patching)."""
        from .blocking import configure
        from .serve import build_app
        from .worker import exempt_websockets
        configure(self.settings.threads)
        app = build_app(self.settings, self.clock())
        app.wsgi_app = exempt_websockets(app.wsgi_app)
        return app


class QmsWorker(Worker):
    """The worker's class as the master knows it: gunicorn's base worker, which the master makes
    before the fork and watches (its heartbeat file, its pid). In the child, just after the fork,
    it becomes the real one (``server.worker.QmsGeventWorker``, gunicorn's gevent worker) and runs
    as it, so gevent and gunicorn's gevent worker are imported by the worker alone (~6 MB of the
    master's resident memory: docs/performance.md, section 8)."""

    def init_process(self) -> None:
        from .worker import QmsGeventWorker
        self.__class__ = QmsGeventWorker
        self.worker_connections = self.cfg.worker_connections  # what AsyncWorker.__init__ sets
        self.init_process()


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


def main() -> int:
    raw = os.environ.pop(ENV, None)
    if raw is None:
        print(f"qms: {__name__} is started by `qms serve`, not by itself", file=sys.stderr)
        return 2
    handed = json.loads(raw)
    # the logging `qms` set up (server/cli.py main), for the worker's app loggers
    logging.basicConfig(level=handed["log_level"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    Master(handed).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
