"""The number on the paper is the number that is called, whatever the timing of a stalled
server: real server process stopped and resumed around the kiosk's 1 s timeout, presses
before, during and after, two clerks calling throughout (``tests/handover_race.py``; the
50-trial run with its counts is ``bench/handover_race.py``)."""
from __future__ import annotations

import random

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from kiosk.app import KioskApp
from kiosk.config import config_from_dict
from kiosk.testing import RecordingPrinters, config_dict
from qms_common.clock import SystemClock
from tests.handover_race import Clerks, Rig, sign_in_clerks
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture
def rig(tmp_path):
    factory = MockFactory()
    Device.pin_factory = factory
    with LiveServer(tmp_path / "server") as server:
        director = server.add_user("giamdoc", "director")
        clerks = Clerks(server, sign_in_clerks(server, director))
        data = config_dict(tmp_path / "kiosk", server.url, server.add_device("kiosk-1", "kiosk"))
        data["buttons"].update(cooldown_s=0, per_minute=120, debounce_s=0)
        data["server"]["retry_interval_s"] = 0.2
        kiosk = KioskApp(config_from_dict(data, "test"), clock=SystemClock(), connect=RecordingPrinters())
        kiosk.start()
        assert kiosk.sender.wait_first_round(15)  # its offline blocks are reserved
        clerks.start()
        try:
            yield Rig(server, kiosk, director)
        finally:
            clerks.stop()
            kiosk.stop()
    factory.reset()
    Device.pin_factory = None


@pytest.mark.parametrize("stall_s", [0.5, 1.0, 1.6, 4.0])
def test_every_press_is_called_once_under_its_printed_number(rig, stall_s):
    trial = rig.trial(stall_s, random.Random(stall_s), during=2)
    assert trial.problems == []
    assert len(trial.presses) == 4
    if stall_s >= 1.6:  # longer than the kiosk's timeout: the presses during it printed offline numbers
        assert trial.offline >= 1
