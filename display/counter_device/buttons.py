"""The counter's GPIO keys with gpiozero: each press becomes an event on a queue.

gpiozero calls ``when_pressed`` on its own thread (on a Pi) or on the caller's thread (mock
pins): the callback only stamps the press with the monotonic clock and puts it on the
queue; the device's own thread does the rest.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from qms_common.clock import Clock
from qms_common.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Press:
    key: str  # a CounterRequest action (next, recall, ...) or a rating key (very_satisfied, ...)
    at: float  # monotonic


def make_pin_factory(name: str | None) -> Any:
    """The configured gpiozero pin factory, or None for gpiozero's own choice."""
    if name is None:
        return None
    try:
        if name == "mock":
            from gpiozero.pins.mock import MockFactory

            return MockFactory()
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory()
        if name == "rpigpio":
            from gpiozero.pins.rpigpio import RPiGPIOFactory

            return RPiGPIOFactory()
        from gpiozero.pins.native import NativeFactory

        return NativeFactory()
    except ImportError as exc:
        raise ConfigError(f"gpio.pin_factory = {name!r} is not available here ({exc}); "
                          "on a laptop use 'mock' or GPIOZERO_PIN_FACTORY=mock") from None


class ButtonPanel:
    """Opens one gpiozero Button per configured pin; :meth:`close` releases them all."""

    def __init__(self, pins: dict[str, int], sink: Callable[[Press], None], clock: Clock, *,
                 pull_up: bool = True, pin_factory: Any = None) -> None:
        self.pins = dict(pins)
        self._sink = sink
        self._clock = clock
        self._pull_up = pull_up
        self._factory = pin_factory
        self._buttons: list[Any] = []

    def open(self) -> None:
        if not self.pins:
            return
        from gpiozero import Button
        from gpiozero.exc import BadPinFactory, GPIOPinInUse

        try:
            for key, pin in self.pins.items():
                button = Button(pin, pull_up=self._pull_up, bounce_time=None,
                                pin_factory=self._factory)
                button.when_pressed = self._handler(key)
                self._buttons.append(button)
        except BadPinFactory:
            self.close()
            raise ConfigError("no GPIO on this machine: set GPIOZERO_PIN_FACTORY=mock (a laptop) "
                              "or gpio.pin_factory (lgpio on a Raspberry Pi 5)") from None
        except GPIOPinInUse as exc:
            self.close()
            raise ConfigError(f"GPIO in use by another program: {exc}") from None
        log.info("keys: %s", ", ".join(f"{k}=GPIO{p}" for k, p in self.pins.items()))

    def _handler(self, key: str) -> Callable[[], None]:
        def pressed() -> None:  # gpiozero's thread: stamp and hand over, nothing else
            self._sink(Press(key, self._clock.monotonic()))

        return pressed

    def close(self) -> None:
        for button in self._buttons:
            try:
                button.close()
            except Exception:  # closing must release every other pin
                log.exception("could not close a button")
        self._buttons.clear()
