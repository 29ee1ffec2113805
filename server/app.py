"""The application factory: ``create_app(settings)``. Nothing happens at import time."""
from __future__ import annotations

import logging
import socket

from flask import jsonify, request
from flask_openapi3 import Info, OpenAPI
from flask_socketio import SocketIO

from qms_common.clock import Clock, SystemClock

from .api import register_api
from .api.routes import VALIDATION_STATUS
from .api.context import TOKEN_COOKIE, Services
from .auth import Auth
from .blocking import gevent_active
from .config import CenterConfig, load_center
from .csrf import register_csrf
from .devices import DeviceRegistry, Registrations
from .engine import Engine
from .login_throttle import LoginThrottle, ThrottlePolicy
from .passwords import Passwords
from .privacy import Callbacks
from .pages import register_pages
from .pairing import Pairing
from .insight.plan_view import PlanView
from .insight.watch import Watch
from .realtime import register_realtime
from .satellite.mirror import Mirror
from .settings import ServerSettings
from .sites import effective_center
from .store import Store

log = logging.getLogger(__name__)


def build_auth(settings: ServerSettings, store: Store, clock: Clock) -> Auth:
    login = settings.login
    return Auth(store, clock, settings.session_hours,
                passwords=Passwords.for_profile(settings.password_profile, concurrency=login.hash_concurrency,
                                                wait_s=login.hash_wait_s),
                throttle=LoginThrottle(clock, ThrottlePolicy(
                    free_per_user=login.free_failures_per_user, free_per_address=login.free_failures_per_address,
                    first_delay_s=login.first_delay_s, max_delay_s=login.max_delay_s,
                    forget_after_s=login.forget_after_s)))


def _socketio_path_not_served():
    """The Socket.IO middleware serves /socket.io/ before Flask; reached only without it."""
    from flask import abort
    abort(404)


def create_app(settings: ServerSettings | None = None, *, center: CenterConfig | None = None,
               clock: Clock | None = None, store: Store | None = None) -> OpenAPI:
    settings = settings or ServerSettings()
    clock = clock or SystemClock()
    center = effective_center(settings, center or load_center(settings.center_file))  # server/sites.py
    store = store or Store(settings.database_path)
    engine = Engine(store, center, clock)
    auth = build_auth(settings, store, clock)

    app = OpenAPI(
        __name__,
        info=Info(title="QMS center server", version="1",
                  description="Queue management for a public administrative service center"),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        doc_ui=False,
        validation_error_status=VALIDATION_STATUS,
    )
    app.config["SECRET_KEY"] = settings.secret_key()
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False
    app.extensions["qms"] = Services(engine=engine, auth=auth, settings=settings)
    app.extensions["qms_pairing"] = Pairing(auth, clock)
    app.extensions["qms_watch"] = Watch(engine, clock)        # the dashboard's alerts log and charts
    app.extensions["qms_plan"] = PlanView(settings.planning.history, settings.planning.staff, settings.state_dir,
                                          timeout_s=settings.planning.timeout_s)
    app.extensions["qms_mirror"] = Mirror(engine)  # standalone sites' events (server/satellite/mirror.py)
    register_api(app)
    register_csrf(app, TOKEN_COOKIE)  # before any route: cross-site writes never reach one

    # gevent under `qms serve` (server/worker.py: a greenlet per socket); threading for the
    # development server and the tests that build the app in-process
    async_mode = "gevent" if gevent_active() else "threading"
    socketio = SocketIO(app, async_mode=async_mode, cors_allowed_origins=[], logger=False, engineio_logger=False)
    app.extensions["qms_socketio"] = socketio
    register_realtime(app)
    register_pages(app)

    @app.get("/api/v1/openapi.json", doc_ui=False)
    def openapi_document():
        """The OpenAPI document, generated from the routes and their pydantic models."""
        return app.api_doc

    @app.errorhandler(TimeoutError)
    def _stalled(exc: TimeoutError):
        """A request body that stopped arriving for ``connections.io_timeout_s`` (server/worker.py)."""
        sock = request.environ.get("gunicorn.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RD)  # nothing more is read from it: the answer, then close
            except OSError:
                pass
        log.warning("request body from %s stalled: cut", request.remote_addr)
        response = jsonify({"error": "request_timeout",
                            "message": "Yêu cầu gửi quá chậm nên đã bị ngắt; the request stalled and was cut"})
        response.status_code = 408
        response.headers["Connection"] = "close"
        return response

    # Flask-SocketIO runs every Socket.IO handler in a request context built from the websocket's
    # handshake, and Flask routes it: with no rule for /socket.io/ each one stored a NotFound with
    # its traceback, a reference cycle of ~40 objects per connect, event and disconnect that only
    # the cyclic collector frees (most of the server's garbage with 1,000 sockets connected:
    # docs/performance.md, section 8). The rule is never served: the Socket.IO middleware answers
    # that path before Flask.
    app.add_url_rule("/socket.io/", endpoint="socketio_polling", view_func=_socketio_path_not_served,
                     methods=["GET", "POST"])
    app.add_url_rule("/socket.io/", endpoint="socketio_websocket", view_func=_socketio_path_not_served,
                     websocket=True)

    @app.get("/healthz", doc_ui=False)
    def healthz():
        return {"ok": True, "center": center.center.id, "seq": engine.last_seq()}

    engine.ends_day_by_itself = True  # the evening's end of the day (server/engine/day_end.py); never the simulator's
    engine.close_day()
    Callbacks(store, center, clock).purge()  # personal data past [privacy] retention_days (server/privacy.py)
    from .engine.warmer import EstimateWarmer
    app.extensions["qms_estimate_warmer"] = EstimateWarmer(engine).start()  # issuing finds its estimate ready
    app.extensions["qms_devices"] = DeviceRegistry(clock, settings.mqtt.device_silent_after_s,
                                                   describe=Registrations(auth.devices, clock))
    if settings.mqtt.enabled:  # the MQTT link: docs/server-mqtt.md
        from .mqtt.wiring import start_link
        app.extensions["qms_mqtt"] = start_link(app, engine, settings, clock, app.extensions["qms_devices"], auth)
    return app


def stop_children(app: OpenAPI) -> None:
    """Stop the processes the app started (the plan page's job, ``server/insight/plan_view.py``)
    and start no more: when the server is told to stop (``server/worker.py``, the development
    server's end) and in ``close_app``. Returns when they are gone (a few seconds at most)."""
    plans = app.extensions.get("qms_plan")
    if plans is not None:
        plans.close()


def close_app(app: OpenAPI) -> None:
    """Stop what ``create_app`` started (the plan job, the background forecast, the MQTT link) and
    close the database connections: for an app made in-process (tests, tools); ``qms serve``
    stops only the children (``stop_children``), then exits."""
    stop_children(app)
    warmer = app.extensions.get("qms_estimate_warmer")
    if warmer is not None:
        warmer.stop()
    link = app.extensions.get("qms_mqtt")
    if link is not None and hasattr(link, "stop"):
        try:
            link.stop()
        except Exception:  # noqa: BLE001 - closing must go on
            log.exception("stopping the MQTT link failed")
    services = app.extensions.get("qms")
    if services is not None:
        services.engine.store.close()
