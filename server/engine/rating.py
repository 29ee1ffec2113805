"""The one rule for a citizen's satisfaction rating, for every path that brings one: the
rating page on the counter's tablet (``/rate``), the counter device's keypad (MQTT) and the API.

A rating is accepted for a ticket of that counter that is being served there, or that the
counter finished at most ``window_s`` ago (``[satisfaction] window_s`` in the center file),
once per ticket. Without a ticket named, it goes to the ticket the counter finished or is
serving most recently. A ticket of another counter, an older ticket, a second rating: refused,
with the reason in Vietnamese then English. The event ``ticket_rated`` records the ticket, its
service, the counter, the clerk, the score and, for a low score, the reason.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from qms_common.errors import Conflict, NotFound, QmsError

#: score -> (Vietnamese, English); 4 is best
LEVELS: dict[int, tuple[str, str]] = {
    4: ("Rất hài lòng", "very satisfied"),
    3: ("Hài lòng", "satisfied"),
    2: ("Bình thường", "neutral"),
    1: ("Không hài lòng", "unsatisfied"),
}
#: a score at most this is low: it asks for a reason and is an alert on the dashboard
LOW_SCORE = 1
#: scores that count as satisfied in the reports
SATISFIED = (3, 4)
#: reason code -> (Vietnamese, English)
REASONS: dict[str, tuple[str, str]] = {
    "waited_too_long": ("Chờ quá lâu", "waited too long"),
    "unclear_guidance": ("Hướng dẫn chưa rõ", "unclear guidance"),
    "attitude": ("Thái độ", "attitude"),
    "dossier_returned": ("Hồ sơ bị trả lại", "dossier returned"),
    "other": ("Khác", "other"),
}


@dataclass(frozen=True)
class Rateable:
    """The ticket a rating would go to."""

    ticket_id: str
    code: str
    service: str
    counter: int
    clerk: str | None
    finished_at: float | None


def check_score(score: int, reason: str | None) -> None:
    if not isinstance(score, int) or score not in LEVELS:
        raise QmsError(f"Mức đánh giá phải từ 1 đến 4; score must be 1..4, got {score!r}")
    if reason is not None and reason not in REASONS:
        raise QmsError(f"Lý do không có trong danh sách; unknown reason {reason!r} "
                       f"(one of: {', '.join(REASONS)})")
    if reason is not None and score > LOW_SCORE:
        raise QmsError("Chỉ hỏi lý do khi không hài lòng; a reason goes with a low score only")


def _rated(conn: sqlite3.Connection, ticket_id: str) -> bool:
    return conn.execute("SELECT 1 FROM events WHERE ticket_id = ? AND type = 'ticket_rated' LIMIT 1",
                        (ticket_id,)).fetchone() is not None


def rateable(conn: sqlite3.Connection, *, counter: int, day: str, now: float, window_s: float,
             ticket_id: str | None = None) -> Rateable:
    """The ticket a rating at ``counter`` goes to now, or a refusal saying why."""
    if ticket_id is None:
        row = conn.execute(
            "SELECT * FROM tickets WHERE counter = ? AND day = ? AND state IN ('serving', 'done') "
            "ORDER BY coalesce(finished_at, started_at) DESC LIMIT 1", (counter, day)).fetchone()
        if row is None:
            raise NotFound(f"Quầy {counter} chưa phục vụ ai để đánh giá; counter {counter} has served no one "
                           f"to rate", counter=counter, reason="nothing_to_rate")
    else:
        row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise NotFound(f"Không tìm thấy vé {ticket_id}; no such ticket", ticket=ticket_id)
    t = dict(row)
    if t["counter"] != counter or t["state"] not in ("serving", "done"):
        raise Conflict(f"Vé {t['code']} không được phục vụ tại quầy {counter}, không đánh giá được ở đây; "
                       f"{t['code']} was not served at counter {counter}", ticket=t["code"], reason="other_counter")
    if t["state"] == "done" and now - t["finished_at"] > window_s:
        raise Conflict(f"Đã quá thời gian đánh giá vé {t['code']}; the time to rate {t['code']} is over "
                       f"({window_s:.0f} s after the service)", ticket=t["code"], reason="window_over")
    if _rated(conn, t["id"]):
        raise Conflict(f"Số {t['code']} đã được đánh giá. Xin cảm ơn!; {t['code']} is already rated",
                       ticket=t["code"], reason="already_rated")
    return Rateable(t["id"], t["code"], t["service"], counter, t["clerk"], t["finished_at"])


def rating_data(target: Rateable, score: int, reason: str | None, source: str) -> dict:
    """The ``ticket_rated`` event's data."""
    return {"code": target.code, "service": target.service, "clerk": target.clerk, "score": score,
            "level": LEVELS[score][0], "reason": reason, "source": source}
