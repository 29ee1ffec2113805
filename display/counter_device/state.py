"""The counter device's logic, without I/O: what to show, what to send.

Driven by one thread (:mod:`.service`) with events: a retained ``CounterServing``, a
``CallEvent``, a key press, a ``Response``, a tick. Each method returns what must go out
(a request or a rating), and :meth:`CounterLogic.view` is what the screen shows.
"""
from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass

from qms_common import wire

from . import texts
from .screen import ScreenView


@dataclass(frozen=True)
class OutRequest:
    action: str
    correlation: bytes


@dataclass(frozen=True)
class OutRating:
    rating: wire.Rating


@dataclass
class _Pending:
    action: str
    deadline: float


@dataclass
class _Asking:
    """A "Không hài lòng" waiting for its reason (the next key, or none by ``deadline``)."""
    ticket: str | None
    at: float  # wall time of the rating
    deadline: float


@dataclass
class _Status:
    text: str
    alert: bool
    until: float


class CounterLogic:
    def __init__(self, counter: int, *, request_timeout_s: float, message_s: float,
                 rating_window_s: float, rating_cooldown_s: float, reason_s: float = 15.0) -> None:
        self.counter = counter
        self.request_timeout_s = request_timeout_s
        self.message_s = message_s
        self.rating_window_s = rating_window_s
        self.rating_cooldown_s = rating_cooldown_s
        self.reason_s = reason_s
        self._asking: _Asking | None = None
        self._due: list[OutRating] = []  # ratings whose reason time ran out, for the service to send
        self.state = "unknown"
        self.ticket: str | None = None
        self.last_seq: int | None = None
        self.pending: dict[bytes, _Pending] = {}
        self.status: _Status | None = None
        self._previous: tuple[str, float] | None = None  # (ticket, monotonic time it left)
        self._rated: deque[str] = deque(maxlen=200)
        self._last_anonymous_rating: float | None = None

    # --- from the server -----------------------------------------------------------------

    def on_serving(self, serving: wire.CounterServing, now: float) -> bool:
        """A retained CounterServing; False if it is older than a call already shown."""
        if serving.counter != self.counter:
            return False
        if (serving.call_seq is not None and self.last_seq is not None
                and serving.call_seq < self.last_seq):
            return False
        if serving.call_seq is not None:
            self.last_seq = serving.call_seq
        self.state = serving.state
        self._set_ticket(serving.ticket, now)
        return True

    def on_call(self, event: wire.CallEvent, now: float) -> bool:
        if event.counter != self.counter:
            return False
        if self.last_seq is not None and event.seq < self.last_seq:
            return False
        self.last_seq = event.seq
        self.state = "open"
        self._set_ticket(event.ticket, now)
        if event.recall:
            self._say(texts.RECALLED.format(ticket=event.ticket), False, now)
        return True

    def on_response(self, correlation: bytes | None, response: wire.Response, now: float) -> bool:
        pending = self.pending.pop(correlation or b"", None)
        if pending is None:
            return False  # not ours, or already timed out
        label = texts.ACTION_LABELS[pending.action]
        if response.status == "ok":
            data = response.data or {}
            if pending.action == "next" and "ticket" in data:  # the server says whom it called
                ticket = data["ticket"]
                text = texts.CALLED.format(ticket=ticket) if ticket else texts.NOBODY_WAITING
                self._say(text, False, now)
            else:
                self._say(texts.ACCEPTED.format(action=label), False, now)
        else:
            self._say(texts.REFUSED.format(error=texts.vietnamese_part(response.error)), True, now)
        return True

    def _set_ticket(self, ticket: str | None, now: float) -> None:
        if self.ticket and ticket != self.ticket:
            self._previous = (self.ticket, now)
        self.ticket = ticket

    # --- from the keys ---------------------------------------------------------------------

    def on_request_key(self, action: str, now: float, connected: bool) -> OutRequest | None:
        if action not in texts.ACTION_LABELS:
            raise ValueError(f"unknown action {action!r}")
        if not connected:
            self._say(texts.OFFLINE, True, now)
            return None
        if self.pending:  # one request at a time: a second "next" would skip a citizen
            self._say(texts.BUSY, False, now)
            return None
        correlation = uuid.uuid4().hex.encode()
        self.pending[correlation] = _Pending(action, now + self.request_timeout_s)
        self._say(texts.SENDING.format(action=texts.ACTION_LABELS[action]), False, now)
        return OutRequest(action, correlation)

    def on_rating_key(self, key: str, now: float, wall: float, connected: bool) -> OutRating | None:
        """A key of the keypad. "Không hài lòng" (score 1) is held until the next key says why
        (the same four keys, ``texts.REASON_KEYS``) or ``reason_s`` passes (sent without a
        reason, by :meth:`on_tick`): the server takes one rating per ticket, so it is sent once."""
        score, label = texts.RATING_KEYS[key]
        if not connected:
            self._asking = None
            self._say(texts.OFFLINE, True, now)
            return None
        if self._asking is not None:
            asking, self._asking = self._asking, None
            reason, reason_label = texts.REASON_KEYS[key]
            self._say(texts.THANKS_REASON.format(reason=reason_label), False, now)
            return OutRating(wire.Rating(ticket=asking.ticket, score=1, at=asking.at, reason=reason))
        ticket = self.rating_ticket(now)
        if ticket is not None:
            if ticket in self._rated:
                self._say(texts.ALREADY_RATED.format(ticket=ticket), False, now)
                return None
            self._rated.append(ticket)
        else:
            last = self._last_anonymous_rating
            if last is not None and now - last < self.rating_cooldown_s:
                self._say(texts.RATING_WAIT, False, now)
                return None
            self._last_anonymous_rating = now
        if score == 1 and self.reason_s > 0:
            self._asking = _Asking(ticket, wall, now + self.reason_s)
            self.status = _Status(texts.REASON_PROMPT, False, now + self.reason_s)
            return None
        self._say(texts.THANKS.format(label=label), False, now)
        return OutRating(wire.Rating(ticket=ticket, score=score, at=wall))

    def take_due(self) -> list[OutRating]:
        """Ratings to send now that no key came in time (after :meth:`on_tick`)."""
        due, self._due = self._due, []
        return due

    def rating_ticket(self, now: float) -> str | None:
        """The ticket a rating is for: the one shown, else the one that just left."""
        if self.ticket:
            return self.ticket
        if self._previous and now - self._previous[1] <= self.rating_window_s:
            return self._previous[0]
        return None

    # --- time --------------------------------------------------------------------------------

    def on_tick(self, now: float) -> bool:
        changed = False
        if self._asking is not None and now >= self._asking.deadline:
            asking, self._asking = self._asking, None
            self._due.append(OutRating(wire.Rating(ticket=asking.ticket, score=1, at=asking.at)))
            self._say(texts.THANKS.format(label=texts.RATING_KEYS["unsatisfied"][1]), False, now)
            changed = True
        for correlation, pending in list(self.pending.items()):
            if now >= pending.deadline:
                del self.pending[correlation]
                self._say(texts.TIMEOUT, True, now)
                changed = True
        if self.status and now >= self.status.until:
            self.status = None
            changed = True
        return changed

    def _say(self, text: str, alert: bool, now: float) -> None:
        self.status = _Status(text, alert, now + self.message_s)

    def view(self) -> ScreenView:
        status = self.status
        return ScreenView(self.counter, self.ticket, self.state,
                          status.text if status else "", bool(status and status.alert))
