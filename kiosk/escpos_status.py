"""Asking an ESC/POS printer about itself (``DLE EOT``), and the fault codes of a job.

Status is asked where the connection can read (USB, serial, network). A printer that
answers nothing (or whose read times out) is "unknown, try to print", as python-escpos'
own ``paper_status()`` does; ``is_online()`` would call it offline and block printers that
never answer.
"""
from __future__ import annotations

import errno
import logging
from typing import Literal

from escpos.constants import (
    RT_MASK_LOWPAPER,
    RT_MASK_NOPAPER,
    RT_MASK_ONLINE,
    RT_STATUS,
    RT_STATUS_ONLINE,
    RT_STATUS_PAPER,
)
from escpos.escpos import Escpos

log = logging.getLogger(__name__)

#: ``stuck``: the printer accepted nothing for ``job_timeout_s`` (open or a write blocked).
FaultCode = Literal["offline", "no_paper", "paper_low", "cover_open", "error", "stuck"]

#: ``DLE EOT 2``: why the printer is offline (cover, paper end, error).
RT_STATUS_OFFLINE_CAUSE = RT_STATUS + b"\x02"
_CAUSE_COVER_OPEN = 0x04
_CAUSE_PAPER_END = 0x20
_CAUSE_ERROR = 0x40

def can_read(printer: Escpos) -> bool:
    """Whether this connection can read answers (USB, serial, network: yes; File, Dummy: no).

    Decided before sending a query, so a File printer never gets status bytes it
    cannot answer through the device file.
    """
    return type(printer)._read is not Escpos._read


def _query(printer: Escpos, command: bytes) -> bytes:
    """Send one ``DLE EOT`` query and read the answer; a read timeout is "no answer".

    Like ``Escpos.query_status`` but it tells a silent printer (the read times out:
    many cheap printers never answer) from a gone one (the write fails).
    """
    printer._raw(command)  # errors here mean the printer is gone: let them propagate
    try:
        return printer._read()
    except OSError as exc:
        if _is_timeout(exc):
            log.info("printer did not answer %r (%s)", command, exc)
            return b""
        raise


def read_status(printer: Escpos) -> tuple[FaultCode | None, bool]:
    """Ask the printer about itself: (fault or None, whether it answered).

    Raises device errors (OSError, USBError) when it is gone. Bits as in the ESC/POS
    reference for ``DLE EOT 1/2/4``; the paper masks are python-escpos' own.
    """
    answer = _query(printer, RT_STATUS_ONLINE)
    if not answer:
        return None, False  # silent: print and let the job tell (as paper_status() does)
    offline = bool(answer[0] & RT_MASK_ONLINE)
    if offline:
        cause = _query(printer, RT_STATUS_OFFLINE_CAUSE)
        bits = cause[0] if cause else 0
        if bits & _CAUSE_COVER_OPEN:
            return "cover_open", True
        if bits & _CAUSE_PAPER_END:
            return "no_paper", True
        if bits & _CAUSE_ERROR:
            return "error", True
    paper = _query(printer, RT_STATUS_PAPER)
    if paper:
        if paper[0] & RT_MASK_NOPAPER == RT_MASK_NOPAPER:
            return "no_paper", True
        if paper[0] & RT_MASK_LOWPAPER == RT_MASK_LOWPAPER:
            return "paper_low", True
    if offline:
        return "error", True  # offline for a reason it did not give (e.g. feed button held)
    return None, True



def _is_timeout(exc: OSError) -> bool:
    # pyusb's USBTimeoutError is an IOError with errno ETIMEDOUT; sockets raise TimeoutError.
    return isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT or type(exc).__name__ == "USBTimeoutError"
