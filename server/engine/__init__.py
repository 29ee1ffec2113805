"""The queue engine. ``Engine`` is the only entry point the API, the MQTT side and the
simulator use."""
from .core import CenterClosed, Engine, format_code
from .replay import replay
from .states import State

__all__ = ["Engine", "CenterClosed", "State", "format_code", "replay"]
