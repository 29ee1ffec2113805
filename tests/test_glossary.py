"""One vocabulary everywhere (qms_common/glossary.py): docs/glossary.md is written from it, and
what citizens, clerks and directors read never uses the words it says to avoid."""
from __future__ import annotations

import re
from pathlib import Path

from qms_common.glossary import avoided, markdown_table

ROOT = Path(__file__).resolve().parents[1]
# what users read: pages, scripts, and every role's Python (messages, tickets, voice)
SOURCES = [*ROOT.glob("server/templates/*.html"), *ROOT.glob("server/static/js/*.js"),
           *ROOT.glob("server/**/*.py"), *ROOT.glob("kiosk/**/*.py"), *ROOT.glob("display/**/*.py"),
           *[p for p in ROOT.glob("qms_common/*.py") if p.name != "glossary.py"]]
ALLOWED = {"dịch vụ": ("dịch vụ công",)}  # "public services" (dịch vụ công trực tuyến) is the right phrase


def test_docs_glossary_is_written_from_the_code():
    doc = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    assert markdown_table() in doc, "docs/glossary.md is out of date: paste qms_common.glossary.markdown_table()"


def test_screens_and_messages_use_the_glossary():
    found = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for word, term in avoided().items():
            for m in re.finditer(re.escape(word), text, flags=re.IGNORECASE):
                tail = text[m.start():m.start() + 20].lower()
                if any(tail.startswith(ok) for ok in ALLOWED.get(word, ())):
                    continue
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: '{m.group(0)}' → '{term.vi}'")
    assert found == [], "\n".join(found)
