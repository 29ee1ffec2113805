"""What the robot says (Vietnamese) and the error texts of failed tasks ("Vietnamese; English",
as the server writes its errors). Ticket codes are read letter by letter, as the announcer
reads them (:func:`display.announcer.phrase.spell_ticket`)."""
from __future__ import annotations

from display.announcer.phrase import spell_ticket

GREETING = ("Xin chào ông bà! Chào mừng công dân đến Trung tâm Phục vụ hành chính công. "
            "Tôi có thể giúp gì cho ông bà?")


def ticket_issued(code: str) -> str:
    return f"Số thứ tự của ông bà là {spell_ticket(code)}. Xin mời ông bà ngồi chờ đến lượt."


def ticket_not_issued() -> str:
    return "Xin lỗi ông bà, tôi chưa lấy được số thứ tự. Mời ông bà lấy số tại máy phát số."


def follow_me(ticket: str, counter: int) -> str:
    return f"Mời công dân có số thứ tự {spell_ticket(ticket)} đi theo tôi đến quầy số {counter}."


def arrived(counter: int) -> str:
    return f"Đây là quầy số {counter}. Xin mời ông bà."


def water(ticket: str) -> str:
    return f"Xin mời công dân có số thứ tự {spell_ticket(ticket)} dùng nước ạ."


def going_home() -> str:
    return "Tôi xin phép về vị trí chờ."


# --- task errors (RobotTaskResult.error, at most 200 characters) ------------------------------

def battery_low(pct: float, needed: float, reserve: float) -> str:
    return (f"Pin yếu ({pct:.0f}%), không đủ cho nhiệm vụ (cần {needed:.0f}% và giữ {reserve:.0f}%); "
            f"battery too low ({pct:.0f}%)")


def unknown_counter(counter: int) -> str:
    return f"Không biết vị trí quầy số {counter}; unknown counter {counter}"


def missing(field: str, english: str) -> str:
    return f"Thiếu {field}; missing {english}"


BAD_TICKET = "Mã số thứ tự không hợp lệ; invalid ticket code"
NO_TOKEN = "Robot chưa có mã thiết bị (token); no device token configured"
STOPPING = "Robot đang dừng; robot stopping"
QUEUE_FULL = "Robot đang bận, quá nhiều nhiệm vụ chờ; too many tasks queued"
BATTERY_EMPTY = "Hết pin giữa đường; battery empty on the way"
