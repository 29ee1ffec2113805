"""Ticket states and the transitions the engine allows.

::

    waiting ──call──▶ called ──start──▶ serving ──finish──▶ done
       │  ▲            │  ▲ recall        │
       │  └─transfer───┼──┴───────────────┤ (transfer: back to waiting in another service)
       │               ├──no_show──▶ no_show ──requeue──▶ waiting
       │               │                 serving ──park──▶ parked ──resume──▶ called
       ├──cancel──▶ cancelled  (from waiting, called, serving, parked)
       └──abandon─▶ abandoned  (from waiting, called, parked: the citizen left)
"""
from __future__ import annotations

from enum import StrEnum

from qms_common.errors import InvalidTransition


class State(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    PARKED = "parked"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"


FINAL = frozenset({State.DONE, State.CANCELLED, State.ABANDONED})
IN_HAND = frozenset({State.CALLED, State.SERVING})

# action -> (allowed from states, resulting state)
TRANSITIONS: dict[str, tuple[frozenset[State], State]] = {
    "call": (frozenset({State.WAITING}), State.CALLED),
    "recall": (frozenset({State.CALLED}), State.CALLED),
    "start": (frozenset({State.CALLED}), State.SERVING),
    "finish": (frozenset({State.SERVING}), State.DONE),
    "no_show": (frozenset({State.CALLED}), State.NO_SHOW),
    "requeue": (frozenset({State.NO_SHOW}), State.WAITING),
    "transfer": (frozenset({State.WAITING, State.CALLED, State.SERVING}), State.WAITING),
    "park": (frozenset({State.CALLED, State.SERVING}), State.PARKED),
    "resume": (frozenset({State.PARKED}), State.CALLED),
    "cancel": (frozenset({State.WAITING, State.CALLED, State.SERVING, State.PARKED}), State.CANCELLED),
    "abandon": (frozenset({State.WAITING, State.CALLED, State.PARKED}), State.ABANDONED),
}

ACTION_VI = {
    "call": "gọi", "recall": "gọi lại", "start": "bắt đầu phục vụ", "finish": "hoàn thành",
    "no_show": "đánh dấu vắng mặt", "requeue": "xếp lại hàng", "transfer": "chuyển",
    "park": "tạm gác", "resume": "tiếp tục", "cancel": "hủy", "abandon": "đánh dấu đã bỏ về",
}
STATE_VI = {
    State.WAITING: "đang chờ", State.CALLED: "đã gọi", State.SERVING: "đang phục vụ",
    State.PARKED: "tạm gác", State.DONE: "đã xong", State.NO_SHOW: "vắng mặt",
    State.CANCELLED: "đã hủy", State.ABANDONED: "đã bỏ về",
}


def next_state(action: str, ticket_code: str, current: str) -> State:
    """The state after ``action``, or :class:`InvalidTransition` naming ticket and state."""
    allowed, result = TRANSITIONS[action]
    state = State(current)
    if state not in allowed:
        raise InvalidTransition(
            f"Không thể {ACTION_VI[action]} vé {ticket_code}: vé đang ở trạng thái "
            f"'{STATE_VI[state]}' ({state.value}); cannot {action} {ticket_code} in state {state.value}",
            ticket=ticket_code, state=state.value, action=action,
        )
    return result

# the reason of the abandon that closes a past day's leftovers at the next day's first look
# (``Engine.close_day``); the reports end such a wait at its day's last activity, the learned
# patience leaves it out
END_OF_DAY = "end of day"
