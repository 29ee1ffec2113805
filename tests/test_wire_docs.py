"""docs/mqtt.md documents every entry of qms_common.wire.CATALOGUE and every payload field.

The topic reference in docs/mqtt.md (between the ``BEGIN generated`` / ``END generated``
markers) is generated from the catalogue and the pydantic models by this file:

    .venv/bin/python tests/test_wire_docs.py --write     # rewrite the generated block
    .venv/bin/python tests/test_wire_docs.py             # print it

The tests fail when a catalogue pattern (in backticks) or a payload field (including the
fields of nested models such as ``KioskCommand.ticket``) is missing from the document, and
when the generated block is out of date with wire.py.
"""
from __future__ import annotations

import re
import sys
import types
import typing
from pathlib import Path

if __name__ == "__main__":  # run as a script from anywhere
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from qms_common import wire

DOC = Path(__file__).resolve().parent.parent / "docs" / "mqtt.md"
BEGIN = "<!-- BEGIN generated from qms_common/wire.py by tests/test_wire_docs.py --write -->"
END = "<!-- END generated -->"


def type_name(annotation) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [type_name(a) for a in args if a is not type(None)]
        text = " \\| ".join(parts)
        return f"{text} \\| null" if type(None) in args else text
    if origin in (list, tuple, set):
        return f"list[{', '.join(type_name(a) for a in args)}]"
    if origin is dict:
        return f"object[{type_name(args[0])} → {type_name(args[1])}]" if args else "object"
    if annotation is typing.Any:
        return "any"
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def constraints(info: FieldInfo) -> str:
    out = []
    for meta in info.metadata:
        for attr, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{symbol} {value}")
        for attr, label in (("min_length", "min length"), ("max_length", "max length")):
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{label} {value}")
        pattern = getattr(meta, "pattern", None)
        if pattern:
            out.append(f"pattern `{pattern}`")
    return ", ".join(out)


def default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"`{value!r}`".replace("'", '"') if value not in ([], {}) else f"`{value}`"


def nested_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []

    def walk(annotation):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                for f in annotation.model_fields.values():
                    walk(f.annotation)
        for arg in typing.get_args(annotation):
            walk(arg)

    for f in model.model_fields.values():
        walk(f.annotation)
    return found


def model_table(model: type[BaseModel]) -> list[str]:
    lines = ["| field | type | default | constraints | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, info in model.model_fields.items():
        meaning = info.description or ("schema version, always 1" if name == "v" else "")
        lines.append(f"| `{name}` | {type_name(info.annotation)} | {default(info)} | {constraints(info)} | "
                     f"{meaning.replace('|', '/')} |")
    return lines


def generate() -> str:
    out = [BEGIN, "", "### Summary", "",
           "| name | topic pattern | publisher | retained | QoS | payload |", "| --- | --- | --- | --- | --- | --- |"]
    for t in wire.CATALOGUE:
        payload = f"[{t.payload.__name__}](#{t.payload.__name__.lower()})" if t.payload else "`online` / `offline`"
        out.append(f"| {t.name} | `{t.pattern}` | {t.publisher} | {'yes' if t.retained else 'no'} | {t.qos} | "
                   f"{payload} |")
    out += ["", "### Topics", ""]
    for t in wire.CATALOGUE:
        out += [f"#### {t.name}", "", f"`{t.pattern}`", "",
                f"- publisher: {t.publisher}", f"- retained: {'yes' if t.retained else 'no'}", f"- QoS: {t.qos}",
                f"- payload: {t.payload.__name__ if t.payload else 'plain string `online` or `offline`'}",
                f"- {t.description[0].upper() + t.description[1:]}.", ""]
    out += ["### Payloads", "",
            "Every payload is a JSON object; unknown fields are rejected (`extra=\"forbid\"`).", ""]
    seen: list[type[BaseModel]] = []
    for t in wire.CATALOGUE:
        for model in [t.payload, *(nested_models(t.payload) if t.payload else [])]:
            if model is None or model in seen:
                continue
            seen.append(model)
            doc = " ".join((model.__doc__ or "").split())
            users = [x.name for x in wire.CATALOGUE if x.payload is model]
            used = f"Payload of: {', '.join(users)}." if users else "Nested in another payload."
            out += [f"#### {model.__name__}", "", f"{doc} {used}".strip(), "", *model_table(model), ""]
    out.append(END)
    return "\n".join(out)


def all_models() -> list[type[BaseModel]]:
    models: list[type[BaseModel]] = []
    for t in wire.CATALOGUE:
        if t.payload is not None:
            for m in [t.payload, *nested_models(t.payload)]:
                if m not in models:
                    models.append(m)
    return models


def test_every_catalogue_pattern_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [t.pattern for t in wire.CATALOGUE if f"`{t.pattern}`" not in text]
    assert not missing, f"docs/mqtt.md lacks {missing}; run: .venv/bin/python tests/test_wire_docs.py --write"


def test_every_payload_field_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = []
    for model in all_models():
        section = re.search(rf"^#### {model.__name__}\n(.*?)(?=^#{{2,4}} |\Z)", text, re.M | re.S)
        if section is None:
            missing.append(f"{model.__name__} (no section)")
            continue
        for name in model.model_fields:
            if f"| `{name}` |" not in section.group(1):
                missing.append(f"{model.__name__}.{name}")
    assert not missing, f"docs/mqtt.md lacks {missing}; run: .venv/bin/python tests/test_wire_docs.py --write"


def test_generated_block_is_current():
    text = DOC.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    assert start >= 0 and end > start, "generated block markers missing in docs/mqtt.md"
    current = text[start:end + len(END)]
    assert current == generate(), "docs/mqtt.md is out of date: .venv/bin/python tests/test_wire_docs.py --write"


def test_doc_covers_the_conventions():
    text = DOC.read_text(encoding="utf-8").lower()
    for topic in ("presence", "correlation", "responsetopic", "version", "acl", "username", "bridge",
                  "max_payload_bytes", "retained"):
        assert topic in text, topic


if __name__ == "__main__":
    block = generate()
    if "--write" in sys.argv:
        text = DOC.read_text(encoding="utf-8")
        start, end = text.find(BEGIN), text.find(END)
        if start < 0 or end < 0:
            raise SystemExit(f"{DOC}: add the markers first:\n{BEGIN}\n{END}")
        DOC.write_text(text[:start] + block + text[end + len(END):], encoding="utf-8")
        print(f"rewrote the generated block of {DOC}")
    else:
        print(block)


def test_decode_refuses_what_the_contract_does_not_say():
    """Strings for numbers, NaN, deep nesting, other versions, oversized: all refused by name."""
    import pytest

    from qms_common import wire
    good = b'{"v": 1, "seq": 17, "ticket": "HT-042", "counter": 5, "recall": false, "at": 1.5}'
    assert wire.decode(wire.CALL, good).ticket == "HT-042"
    for bad, why in [
        (good.replace(b'"seq": 17', b'"seq": "17"'), "seq"),
        (good.replace(b'"at": 1.5', b'"at": NaN'), "at"),
        (b"[" * 8000 + b"]" * 8000, "nested"),
        (good.replace(b'"v": 1', b'"v": 2'), "version"),
        (b"{" + b" " * (wire.MAX_PAYLOAD_BYTES + 1) + b"}", "exceeds"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON object"),
    ]:
        with pytest.raises(wire.WireError, match=why):
            wire.decode(wire.CALL, bad)


def test_the_wait_stream_carries_an_ordered_range_or_none():
    """An older server's wait (no range) still reads; a range must be two ordered seconds."""
    import pytest

    from qms_common import wire
    old = b'{"v": 1, "service": "HT", "waiting": 3, "longest_wait_s": 60, "estimated_wait_s": 540, "at": 1.5}'
    assert wire.decode(wire.SERVICE_WAIT, old).estimated_wait_range_s is None
    new = old[:-1] + ', "estimated_wait_range_s": [300, 840], "estimated_wait_text": "khoảng 5–15 phút"}'.encode()
    got = wire.decode(wire.SERVICE_WAIT, new)
    assert (got.estimated_wait_range_s, got.estimated_wait_text) == ([300.0, 840.0], "khoảng 5–15 phút")
    for bad in (b"[840, 300]", b"[-1, 300]", b"[300]"):
        with pytest.raises(wire.WireError, match="estimated_wait_range_s"):
            wire.decode(wire.SERVICE_WAIT, old[:-1] + b', "estimated_wait_range_s": ' + bad + b"}")
