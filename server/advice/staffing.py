"""Honest about staffing (``recommend.py``, rule 8): when the worst service stays under
``GOOD_SHARE`` over the horizon even after the best change, how many more clerks trained for it
would bring it there (1 to ``MAX_EXTRA`` extra counters serving only it). Pure."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine.forecast import CounterNow

if TYPE_CHECKING:
    from .recommend import AdviceInput

GOOD_SHARE = 0.95
MAX_EXTRA = 3


def pct(x: float | None) -> str:
    """A share as the dashboard prints it ("71%", "–" for none)."""
    return "–" if x is None else f"{round(x * 100)}%"


def staffing_note(inp: AdviceInput, run, counters, service: str, share_now: float) -> dict:
    now, end = inp.snap.now, inp.snap.now + inp.horizon_s + inp.target_s
    name = inp.names.get(service, service)
    reached = None
    for k in range(1, MAX_EXTRA + 1):
        extra = [CounterNow(-i, None, 0, None, ((now, end, (service,)),)) for i in range(1, k + 1)]
        share = run([*counters, *extra]).share(service)
        if share is not None and share >= GOOD_SHARE:
            reached = (k, share)
            break
    minutes = round(inp.horizon_s / 60)
    # nobody waits there yet (before opening, or a quiet service): the figure is of the citizens
    # expected to come, and the words say so, or a director reads "55%" beside an empty queue
    if any(w.service == service for w in inp.snap.waiting):
        now_vi, now_en = f"nay dự kiến {pct(share_now)}", ""
    else:
        now_vi = f"chưa có ai chờ; với công dân dự kiến sẽ đến: {pct(share_now)}"
        now_en = f" (nobody waits yet: a forecast of the citizens expected, {pct(share_now)})"
    if reached:
        k, share = reached
        text = (f"Cần thêm {k} cán bộ được đào tạo {name} trong {minutes} phút tới để đạt {pct(share)} "
                f"({now_vi}); {k} more clerk(s) trained for {service} would reach it{now_en}")
    else:
        text = (f"Cần thêm hơn {MAX_EXTRA} cán bộ được đào tạo {name} trong {minutes} phút tới ({now_vi}); "
                f"more than {MAX_EXTRA} more clerks trained for {service} are needed{now_en}")
    return {"service": service, "name": name, "share_now": share_now, "extra_clerks": reached[0] if reached else None,
            "share_with": reached[1] if reached else None, "text": text}
