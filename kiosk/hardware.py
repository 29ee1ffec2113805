"""GPIO: service buttons, the priority button, and the ready/printing/fault LEDs and buzzer.

gpiozero picks its pin factory from ``GPIOZERO_PIN_FACTORY`` (``lgpio`` on a Pi 5,
``mock`` on a laptop) or from ``Device.pin_factory`` set by a test. Nothing is opened at
import time; :class:`ButtonPanel` opens its devices in :meth:`open` and closes them in
:meth:`close`, so tests can reuse pins.

Button callbacks run on gpiozero's threads (or, with the mock factory, on whoever drove
the pin). They do exactly one thing: put a :class:`~kiosk.presses.Press`, stamped with the
monotonic clock, on the kiosk's queue. No SQLite, no HTTP, no printing in a callback.
"""
from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import Any

from qms_common.clock import Clock

from .config import ButtonSettings, IndicatorSettings
from .presses import PRIORITY, Press

log = logging.getLogger(__name__)


class ButtonPanel:
    """The kiosk's buttons; presses go to ``events``."""

    def __init__(self, settings: ButtonSettings, events: queue.Queue[Any], clock: Clock) -> None:
        self.settings = settings
        self.events = events
        self.clock = clock
        self.buttons: dict[str, Any] = {}  # button name -> gpiozero.Button

    def open(self) -> None:
        from gpiozero import Button  # imported here: gpiozero looks for a pin factory lazily, but keep import cheap

        pins: list[tuple[str, int]] = [(b.service, b.pin) for b in self.settings.services if b.pin is not None]
        if self.settings.priority_pin is not None:
            pins.append((PRIORITY, self.settings.priority_pin))
        try:
            for name, pin in pins:
                button = Button(pin, pull_up=self.settings.pull_up)
                button.when_pressed = self._callback(name)
                self.buttons[name] = button
        except Exception:
            self.close()
            raise
        log.info("buttons on GPIO: %s", ", ".join(f"{n}={p}" for n, p in pins) or "none")

    def _callback(self, name: str) -> Callable[[], None]:
        def pressed() -> None:
            self.events.put(Press(name, self.clock.monotonic(), "gpio"))

        return pressed

    def close(self) -> None:
        for button in self.buttons.values():
            try:
                button.close()
            except Exception:
                log.debug("closing a button failed", exc_info=True)
        self.buttons.clear()


class Indicators:
    """What the LEDs and buzzer show: ready (steady), printing, fault (blinking), refused (a blink)."""

    def __init__(self, settings: IndicatorSettings) -> None:
        self.settings = settings
        self.devices: dict[str, Any] = {}
        self.state = "off"

    def open(self) -> None:
        from gpiozero import LED, Buzzer

        try:
            for name in ("ready_led", "printing_led", "fault_led"):
                pin = getattr(self.settings, name)
                if pin is not None:
                    self.devices[name] = LED(pin)
            if self.settings.buzzer is not None:
                self.devices["buzzer"] = Buzzer(self.settings.buzzer)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        for device in self.devices.values():
            try:
                device.close()
            except Exception:
                log.debug("closing an indicator failed", exc_info=True)
        self.devices.clear()

    def _set(self, ready: bool, printing: bool, fault: str) -> None:
        for name, on in (("ready_led", ready), ("printing_led", printing)):
            led = self.devices.get(name)
            if led is not None:
                led.on() if on else led.off()
        led = self.devices.get("fault_led")
        if led is not None:
            if fault == "blink":
                led.blink(on_time=0.25, off_time=0.25)
            elif fault == "on":
                led.on()
            else:
                led.off()

    def show(self, state: str) -> None:
        """``ready``, ``printing``, ``fault`` (the kiosk needs staff), ``degraded`` (offline but issuing)."""
        self.state = state
        if state == "ready":
            self._set(True, False, "off")
        elif state == "printing":
            self._set(False, True, "off")
        elif state == "fault":
            self._set(False, False, "blink")
        elif state == "degraded":
            self._set(True, False, "on")
        else:
            self._set(False, False, "off")

    def beep(self, times: int = 1) -> None:
        buzzer = self.devices.get("buzzer")
        if buzzer is not None:
            buzzer.blink(on_time=0.08, off_time=0.08, n=times, background=True)

    def refused(self) -> None:
        """A press was refused (rate limit, no numbers): two short beeps and a fault-LED flash."""
        self.beep(2)
        led = self.devices.get("fault_led")
        if led is not None and self.state != "fault":
            led.blink(on_time=0.15, off_time=0.15, n=3, background=True)
