"""The plan page's child process: ``qms plan ...`` that dies with the server that started it.

``python -m server.insight.plan_child PLAN-ARGS...``, started by ``plan_view.PlanView`` with the
server's pid in ``QMS_PLAN_PARENT``. Before anything else it asks Linux to kill it when its
parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``: Debian and Raspberry Pi OS), so that a
server killed hard (``kill -9``, gunicorn's master killing a worker that stopped answering, a
crash) leaves no plan running for up to an hour on the center's CPU. A parent that died before
the call was made is noticed by the pid check just after it. An orderly stop does not rely on
this: the server terminates its child itself (``PlanView.close``). It then names itself
``qms-plan`` (what ``top`` and ``ps -o comm`` show on the Pi, rather than ``python3``), lowers
its own CPU priority, so that the server's own work goes first, and runs the command.

Without ``prctl`` (not Linux) the child only has the orderly stop; it says so on its stderr.
"""
from __future__ import annotations

import os
import signal
import sys

PARENT_ENV = "QMS_PLAN_PARENT"
NAME = b"qms-plan"  # the process name (at most 15 bytes)
PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15  # <linux/prctl.h>
NICENESS = 10


def die_with_parent(parent: int) -> bool:
    """Be killed when ``parent`` (the process that started this one) dies, then take the name
    ``qms-plan``; exit now if the parent is already gone. False when the system cannot do it
    (not Linux)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        if armed:  # named only once armed: a process called qms-plan dies with its server
            libc.prctl(PR_SET_NAME, ctypes.c_char_p(NAME), 0, 0, 0)
    except (OSError, AttributeError):  # no C library with prctl: not Linux
        armed = False
    if os.getppid() != parent:  # it died before the call: this process was handed to another parent
        os._exit(1)
    return armed


def main(argv: list[str]) -> int:
    parent = os.environ.get(PARENT_ENV)
    if parent and not die_with_parent(int(parent)):
        print("qms plan: prctl(PR_SET_PDEATHSIG) unavailable: this plan outlives a server killed hard",
              file=sys.stderr)
    os.nice(NICENESS)
    from server.cli import main as qms
    return qms(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
