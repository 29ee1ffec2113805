"""The words every screen, ticket, voice and report uses, in the vocabulary of Vietnamese public
administration: one list, so that every role says the same thing the same way.

``TERMS`` is the glossary (``docs/glossary.md`` is written from it and checked by
``tests/test_glossary.py``); each term lists the words to avoid in what a citizen, a clerk or a
director reads. The same test scans the screens, the kiosk, the devices and the server's
messages for the avoided words.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Term:
    vi: str
    en: str
    meaning: str
    avoid: tuple[str, ...] = field(default_factory=tuple)


TERMS: tuple[Term, ...] = (
    Term("công dân", "citizen", "the person served, on every screen and in the voice call "
         "(\"Xin mời công dân có số thứ tự …\")", ("quý khách",)),
    Term("lĩnh vực", "field (of procedures)", "what a kiosk button and a queue stand for: Hộ tịch, Chứng thực, "
         "Đất đai…; a center's queues are per lĩnh vực", ("dịch vụ",)),
    Term("thủ tục hành chính", "administrative procedure", "one procedure within a lĩnh vực (363 at commune level)"),
    Term("hồ sơ", "dossier", "what the citizen files and the clerk receives"),
    Term("phiếu", "ticket (paper)", "the printed slip with the number: \"phiếu số thứ tự\""),
    Term("số thứ tự", "queue number", "the number on the ticket, e.g. HT-042"),
    Term("quầy", "counter", "a clerk's desk, numbered: \"quầy số 5\""),
    Term("cán bộ", "clerk", "the civil servant at a counter (\"cán bộ tiếp nhận\")", ("nhân viên",)),
    Term("lãnh đạo Trung tâm", "the center's management", "the director and deputies, who watch the dashboard"),
    Term("Trung tâm Phục vụ hành chính công", "public administrative service center", "the center itself"),
    Term("điểm tiếp nhận", "reception point", "the main center or a satellite point of the same center"),
    Term("máy phát số", "kiosk (ticket machine)", "the machine with buttons that prints tickets"),
    Term("màn hình gọi số", "wall display", "the screen that shows the numbers called"),
    Term("mời", "call (a number)", "\"mời công dân số … đến quầy …\"; a call repeated is \"gọi lại\"",
         ("đã mời được",)),
    Term("vắng mặt", "no-show", "called and did not come"),
    Term("ưu tiên", "priority", "elderly, disabled, pregnant women, people with small children"),
    Term("thời gian chờ", "waiting time", "from the ticket to the call; the promise: at most 15 minutes"),
    Term("thời gian giải quyết", "processing time", "from the start of service to its end; at most 30 minutes"),
    Term("mức độ hài lòng", "satisfaction", "Rất hài lòng, Hài lòng, Bình thường, Không hài lòng"),
    Term("báo cáo tuần", "weekly report", "sent up to the province every Thursday"),
)


def avoided() -> dict[str, Term]:
    """Each word to avoid, with the term to use instead."""
    return {word: term for term in TERMS for word in term.avoid}


def markdown_table() -> str:
    rows = ["| dùng / use | English | nghĩa / meaning | tránh / avoid |", "| --- | --- | --- | --- |"]
    for t in TERMS:
        rows.append(f"| **{t.vi}** | {t.en} | {t.meaning} | {', '.join(t.avoid) or '—'} |")
    return "\n".join(rows)


# The days of the week as a sentence writes them (Monday first, as ``date.weekday()`` counts).
WEEKDAYS_VI = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
