"""The sentence to say for a call, as plain Vietnamese text for espeak-ng's ``vi`` voice.

A ticket code is read letter by letter: "HT-042" becomes "H T 0 4 2" (``digits``) or
"H T 42" (``number``). We hand espeak the letters and digits themselves rather than
words we spell out: its ``vi`` voice already reads them in Vietnamese, as checked with
``espeak-ng -v vi -x``: H → "hát", T → "tê", 0 4 2 → "không bốn hai", 42 → "bốn mươi
hai", 12 → "mười hai", 105 → "một trăm linh năm". Keeping the digits also keeps the
text readable in logs and lets the same sentence drive a subtitle.
"""
from __future__ import annotations

import re

from .config import DEFAULT_TEMPLATE

MAX_TICKET_LENGTH = 20
# Letters (Vietnamese Đ included), digits, and the separators we drop.
_TICKET_RE = re.compile(r"^[A-Za-zĐđ0-9][A-Za-zĐđ0-9 ._/-]*$")
_RUN_RE = re.compile(r"[A-Za-zĐđ]|[0-9]+")


class TicketFormatError(ValueError):
    """A ticket code we refuse to read aloud."""


def spell_ticket(code: str, reading: str = "digits") -> str:
    """How a ticket code is read: letters one by one, digits one by one or as a number.

    >>> spell_ticket("HT-042")
    'H T 0 4 2'
    >>> spell_ticket("HT-042", "number")
    'H T 42'
    """
    code = code.strip()
    if not code or len(code) > MAX_TICKET_LENGTH or not _TICKET_RE.match(code):
        raise TicketFormatError(
            f"ticket code {code[:40]!r} is not letters and digits (with '-') of at most "
            f"{MAX_TICKET_LENGTH} characters")
    words: list[str] = []
    for run in _RUN_RE.findall(code):
        if run.isdigit():
            if reading == "number":
                words.append(str(int(run)))
            elif reading == "digits":
                words.extend(run)
            else:
                raise ValueError(f"unknown ticket reading {reading!r}: use 'digits' or 'number'")
        else:
            words.append(run.upper())
    return " ".join(words)


def announcement_text(ticket: str, counter: int, *, reading: str = "digits",
                      template: str = DEFAULT_TEMPLATE) -> str:
    """The full sentence, e.g. "Xin mời công dân có số thứ tự H T 0 4 2 đến quầy số 5"."""
    if counter < 1:
        raise ValueError(f"counter {counter} must be 1 or more")
    return template.format(ticket=spell_ticket(ticket, reading), counter=counter)
