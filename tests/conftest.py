"""Fixtures shared by the whole suite: a center configuration, a clock in virtual time
(a Monday 09:00 in Asia/Ho_Chi_Minh) and an engine on a temporary database."""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from qms_common.clock import FakeClock
from server.config import load_center
from server.engine import Engine
from server.store import Store

MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).timestamp()


@pytest.fixture
def app(tmp_path, clock, center):
    """The server app in-process on a temporary database (modules that need other settings
    define their own ``app``)."""
    from server.app import create_app
    from server.settings import ServerSettings
    return create_app(ServerSettings(state_dir=str(tmp_path), password_profile="cheapest-for-tests"), center=center,
                      clock=clock)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(autouse=True, scope="module")
def _close_apps_of_the_module(request):
    """Apps made in-process by a test module are closed when the module ends (their background
    forecast thread, MQTT link and database connections would otherwise pile up over the suite)."""
    import server.app as server_app
    made = []
    original = server_app.create_app

    def recording(*args, **kwargs):
        app = original(*args, **kwargs)
        made.append(app)
        return app

    patched = []
    for module in list(__import__("sys").modules.values()):
        if getattr(module, "create_app", None) is original and getattr(module, "__name__", "").startswith(
                ("tests.", "server.")):
            setattr(module, "create_app", recording)
            patched.append(module)
    yield
    for module in patched:
        setattr(module, "create_app", original)
    for app in made:
        try:
            server_app.close_app(app)
        except Exception:  # noqa: BLE001 - a test may have closed it already
            pass


@pytest.fixture(autouse=True)
def _restore_logging():
    """Command-line entry points called in-process configure the root logger (some with
    force=True, to undo python-escpos's basicConfig) on the stream pytest is capturing at that
    moment; put the root logger back so later tests do not log into a closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def center():
    return load_center()


@pytest.fixture
def clock():
    return FakeClock(MONDAY_9AM)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "qms.db")
    yield s
    s.close()


@pytest.fixture
def engine(store, center, clock):
    return Engine(store, center, clock)
