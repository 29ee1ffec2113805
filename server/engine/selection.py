"""Which waiting ticket a counter calls next: a pure function, property-tested.

Rules (``[calling]`` and ``[priority]`` in the center configuration):

* A counter only ever calls tickets of the services it serves; a ticket transferred to a
  particular counter is called only there, and before anything else.
* ``longest_wait`` (default): the ticket that has waited longest, where a ticket of the
  counter's n-th preferred service (n = 0, 1, ...) counts as having waited
  ``n * preference_penalty_s`` less. Clerks with several skills then help whichever queue
  is oldest, which is what keeps everyone under the 15-minute target.
* ``strict_preference``: the first service in the counter's list that has anyone waiting,
  oldest first within it.
* Priority tickets (elderly, disabled, pregnant, small children) go first, except that after
  ``max_in_row`` priority calls in a row at this counter, or when a normal ticket has waited
  more than ``normal_guard_s`` and longer than the best priority ticket, the normal one goes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..config import Calling, PriorityPolicy


@dataclass(frozen=True)
class Candidate:
    id: str
    service: str
    priority: bool
    queue_key: float  # the moment its place in line counts from
    target_counter: int | None = None


STRICT_STEP = 1e12  # strict_preference as one number: rank first, then the place in line


def rank_offset(calling: Calling, rank: int) -> float:
    """The rule as one number per ticket, ``queue_key + rank_offset``: the smallest goes first
    (within one priority class). longest_wait: the longest wait, the n-th preferred service
    counting ``n * preference_penalty_s`` less; strict_preference: the first service with anyone."""
    if calling.rule == "strict_preference":
        return rank * STRICT_STEP
    return rank * calling.preference_penalty_s


def normal_goes_first(priority: PriorityPolicy, priority_in_row: int, now: float, normal_key: float,
                      prio_key: float) -> bool:
    """With both a priority and a normal ticket to choose from, whether the normal one goes."""
    if priority_in_row >= priority.max_in_row:
        return True
    return now - normal_key > priority.normal_guard_s and normal_key < prio_key


def _best(cands: Sequence[Candidate], services: Sequence[str], calling: Calling, now: float) -> Candidate | None:
    if not cands:
        return None
    offset = {code: rank_offset(calling, i) for i, code in enumerate(services)}
    return min(cands, key=lambda c: (c.queue_key + offset[c.service], c.queue_key, c.id))


def choose_next(candidates: Iterable[Candidate], *, counter: int, services: Sequence[str], calling: Calling,
                priority: PriorityPolicy, priority_in_row: int, now: float) -> Candidate | None:
    allowed = set(services)
    pool = [c for c in candidates
            if c.service in allowed and (c.target_counter is None or c.target_counter == counter)]
    targeted = [c for c in pool if c.target_counter == counter]
    if targeted:
        pool = targeted
    if not priority.enabled:
        return _best(pool, services, calling, now)
    prio = _best([c for c in pool if c.priority], services, calling, now)
    normal = _best([c for c in pool if not c.priority], services, calling, now)
    if prio is None or normal is None:
        return prio or normal
    return normal if normal_goes_first(priority, priority_in_row, now, normal.queue_key, prio.queue_key) else prio
