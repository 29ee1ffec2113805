"""A wait estimate in words a citizen understands: a range, rounded, never false precision.

``wait_range_phrase(low_s, high_s)`` turns the estimate's 80% interval into
("khoảng 10–15 phút", "about 10–15 min"): the ends go out to whole 5-minute steps (the low end
down, the high end up) so the range is never narrower than 5 minutes; a range that starts at 0
reads "dưới 10 phút" ("under 10 min"); under 5 minutes, "dưới 5 phút"; past two hours,
"hơn 2 giờ" ("over 2 hours"). Shared by the kiosk (ticket), the status page and the screens.
``NO_COUNTER`` is what the screens say instead when no counter will call the service today as
things stand; ``estimate_phrase`` says, for one ticket, ``NOT_SURE_TODAY`` instead of a range when the
forecast called it in fewer than half of its sample paths (the working day, or every counter
serving it, may end first), so the paper and the phone never print a range for a call that may
not come. A ticket whose forecast parts across a closure (lunch) reads
"được gọi trước 11:30 hoặc sau 13:30" (``split_phrase``): a range between the two would be true
of neither.
"""
from __future__ import annotations

import math

STEP_MIN = 5
LONG_MIN = 120
# no counter will call this service today as things stand (every one serving it is closed)
NO_COUNTER = ("Hiện không có quầy phục vụ", "No counter serving it now")
# called in fewer than half of the forecast's sample paths: the working day may end first
NOT_SURE_TODAY = ("Có thể không kịp phục vụ trong hôm nay", "May not be served today")
SURE_ENOUGH = 0.5


def estimate_phrase(low_s: float, high_s: float, called_share: float | None = None,
                    split: tuple[str, str] | None = None) -> tuple[str, str]:
    """The words for one estimate; ``called_share``: in how many sample paths it was called (None:
    not known, the range is printed); ``split``: the forecast's calls part across a closure, the
    clock times ("11:30", "13:30") before and after it: ``split_phrase``."""
    if called_share is not None and called_share < SURE_ENOUGH:
        return NOT_SURE_TODAY
    if split is not None:
        return split_phrase(*split)
    return wait_range_phrase(low_s, high_s)


def split_phrase(before: str, after: str) -> tuple[str, str]:
    """A ticket taken shortly before the lunch closure is called within minutes or after lunch:
    no range between the two is true, so its words say both: "được gọi trước 11:30 hoặc sau 13:30"."""
    return f"được gọi trước {before} hoặc sau {after}", f"called before {before} or after {after}"


def wait_range_phrase(low_s: float, high_s: float) -> tuple[str, str]:
    low_m = max(0.0, min(low_s, high_s)) / 60
    high_m = max(0.0, low_s, high_s) / 60
    if high_m < STEP_MIN:
        return "dưới 5 phút", "under 5 min"
    lo = int(math.floor(low_m / STEP_MIN)) * STEP_MIN
    hi = int(math.ceil(high_m / STEP_MIN)) * STEP_MIN
    if hi <= lo:
        hi = lo + STEP_MIN
    if lo >= LONG_MIN:
        return "hơn 2 giờ", "over 2 hours"
    if hi > LONG_MIN:
        return f"hơn {lo} phút" if lo else "hơn 2 giờ", f"over {lo} min" if lo else "over 2 hours"
    if lo == 0:
        return f"dưới {hi} phút", f"under {hi} min"
    return f"khoảng {lo}–{hi} phút", f"about {lo}–{hi} min"
