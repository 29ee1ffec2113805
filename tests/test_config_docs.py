"""Docs as tests: every configuration key of the center and server models is documented."""
from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

from server.config import CenterConfig
from server.settings import ServerSettings

DOC = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")


def _keys(model: type[BaseModel]):
    """(owner, key, how the doc must spell it): a table becomes a section heading."""
    for name, field in model.model_fields.items():
        ann = field.annotation
        nested = [c for c in (ann, *typing.get_args(ann)) if isinstance(c, type) and issubclass(c, BaseModel)]
        if nested:
            yield model.__name__, name, (f"`[{name}]`", f"`[[{name}]]`")
            yield from _keys(nested[0])
        else:
            yield model.__name__, name, (f"`{name}`",)


def test_every_key_is_documented():
    missing = [f"{m}.{k}" for model in (CenterConfig, ServerSettings) for m, k, spellings in _keys(model)
               if not any(s in DOC for s in spellings)]
    assert missing == []


def test_the_sample_center_validates():
    from server.config import load_center
    center = load_center()
    assert center.center.timezone == "Asia/Ho_Chi_Minh"
    assert {s.code for s in center.services} >= {"HT", "CT", "DD", "KD", "XD", "XH"}


def test_the_example_server_settings_validate():
    from server.settings import load_settings
    settings = load_settings(Path(__file__).resolve().parents[1] / "firmware_config" / "server.example.toml")
    assert settings.mqtt.enabled and settings.host == "0.0.0.0"
