"""Everything the counter device shows, Vietnamese first with correct diacritics."""
from __future__ import annotations

#: Request actions of wire.CounterRequest, as buttons, with their Vietnamese labels.
ACTION_LABELS: dict[str, str] = {
    "next": "Gọi số tiếp theo",
    "recall": "Gọi lại",
    "start": "Bắt đầu phục vụ",
    "finish": "Kết thúc phục vụ",
    "no_show": "Công dân vắng mặt",
}

#: The 4-button satisfaction keypad: key -> (score of wire.Rating, label on the key).
RATING_KEYS: dict[str, tuple[int, str]] = {
    "very_satisfied": (4, "Rất hài lòng"),
    "satisfied": (3, "Hài lòng"),
    "neutral": (2, "Bình thường"),
    "unsatisfied": (1, "Không hài lòng"),
}

#: After "Không hài lòng" the same four keys, in the same order, choose why (wire.Rating reason).
REASON_KEYS: dict[str, tuple[str, str]] = {
    "very_satisfied": ("waited_too_long", "Chờ quá lâu"),
    "satisfied": ("unclear_guidance", "Hướng dẫn chưa rõ"),
    "neutral": ("attitude", "Thái độ"),
    "unsatisfied": ("dossier_returned", "Hồ sơ bị trả lại"),
}
REASON_PROMPT = ("Vì sao ông/bà chưa hài lòng? Nút 1: Chờ quá lâu · 2: Hướng dẫn chưa rõ · 3: Thái độ · "
                 "4: Hồ sơ bị trả lại · không bấm: lý do khác")
THANKS_REASON = "Cảm ơn ông/bà đã góp ý: {reason}"

COUNTER_TITLE = "QUẦY {counter}"
STATE_LABELS: dict[str, str] = {
    "open": "Đang phục vụ",
    "paused": "Tạm dừng",
    "closed": "Quầy đã đóng",
    "unknown": "Đang kết nối…",
}
NO_TICKET = "---"
IDLE = "Chưa gọi số"

SENDING = "{action}: đang gửi…"
ACCEPTED = "{action}: đã gửi"
CALLED = "Đã gọi số {ticket}"
NOBODY_WAITING = "Không còn công dân nào đang chờ"
REFUSED = "Máy chủ từ chối: {error}"
TIMEOUT = "Máy chủ không phản hồi, vui lòng thử lại"
OFFLINE = "Mất kết nối máy chủ, vui lòng thử lại sau"
BUSY = "Đang chờ máy chủ trả lời…"
RECALLED = "Gọi lại số {ticket}"
THANKS = "Cảm ơn ông/bà đã đánh giá: {label}"
ALREADY_RATED = "Số {ticket} đã được đánh giá. Xin cảm ơn!"
RATING_WAIT = "Xin cảm ơn! Vui lòng chờ giây lát trước khi đánh giá tiếp"


def vietnamese_part(error: str | None) -> str:
    """The server writes errors as "Vietnamese; English": show the Vietnamese part."""
    text = (error or "").strip()
    if not text:
        return "lỗi không rõ"
    return text.split("; ", 1)[0].strip()[:120]
