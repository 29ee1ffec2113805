"""The application factory: ``create_app(settings)``. Nothing happens at import time."""
from __future__ import annotations

import logging

from flask_openapi3 import Info, OpenAPI
from flask_socketio import SocketIO

from qms_common.clock import Clock, SystemClock

from .api import register_api
from .api.context import Services
from .auth import Auth
from .config import CenterConfig, load_center
from .devices import DeviceRegistry
from .engine import Engine
from .pages import register_pages
from .realtime import register_realtime
from .settings import ServerSettings
from .store import Store

log = logging.getLogger(__name__)


def create_app(settings: ServerSettings | None = None, *, center: CenterConfig | None = None,
               clock: Clock | None = None, store: Store | None = None) -> OpenAPI:
    settings = settings or ServerSettings()
    clock = clock or SystemClock()
    center = center or load_center(settings.center_file)
    store = store or Store(settings.database_path)
    engine = Engine(store, center, clock)
    auth = Auth(store, clock, settings.session_hours, password_profile=settings.password_profile)

    app = OpenAPI(
        __name__,
        info=Info(title="QMS center server", version="1",
                  description="Queue management for a public administrative service center"),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        doc_ui=False,
    )
    app.config["SECRET_KEY"] = settings.secret_key()
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False
    app.extensions["qms"] = Services(engine=engine, auth=auth, settings=settings)
    register_api(app)

    socketio = SocketIO(app, async_mode="threading", cors_allowed_origins=[], logger=False, engineio_logger=False)
    app.extensions["qms_socketio"] = socketio
    register_realtime(app)
    register_pages(app)

    @app.get("/api/v1/openapi.json", doc_ui=False)
    def openapi_document():
        """The OpenAPI document, generated from the routes and their pydantic models."""
        return app.api_doc

    @app.get("/healthz", doc_ui=False)
    def healthz():
        return {"ok": True, "center": center.center.id, "seq": engine.last_seq()}

    engine.close_day()
    from .engine.warmer import EstimateWarmer
    app.extensions["qms_estimate_warmer"] = EstimateWarmer(engine).start()  # issuing finds its estimate ready
    app.extensions["qms_devices"] = DeviceRegistry(clock, settings.mqtt.device_silent_after_s)
    if settings.mqtt.enabled:  # the MQTT link: docs/server-mqtt.md
        from .mqtt.wiring import start_link
        app.extensions["qms_mqtt"] = start_link(app, engine, settings, clock, app.extensions["qms_devices"], auth)
    return app
