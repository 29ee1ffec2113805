"""The pauses of long pure-Python work on the server's event loop (``server/blocking.py``).

Under ``qms serve`` the forecast of everyone, the live advice and the pusher run on the same
gevent loop as the kiosks' requests. They call ``pause`` every few dozen steps; it gives the loop
back every ``SLICE_S`` of running, and a background round waits there until the loop has nothing
else to run (``gevent.idle``), at most ``IDLE_WAIT_MAX_S`` (docs/performance.md, section 8).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from server import blocking

ROOT = Path(__file__).resolve().parents[1]


def test_a_pause_gives_the_loop_back_only_once_a_slice_has_run():
    tick = [0]  # the clock in quarters of a slice
    given: list[int] = []
    pause = blocking.sliced(lambda: given.append(tick[0]), clock=lambda: tick[0] * blocking.SLICE_S / 4)
    for _ in range(10):  # asked every quarter of a slice of work
        tick[0] += 1
        pause()
    # every SLICE_S, counted from the last time it gave back, not at every ask
    assert given == [4, 8]
    tick[0] += 1
    pause()
    assert given == [4, 8]  # three quarters since the last: not yet
    tick[0] += 5  # a long step: given back once, after it
    pause()
    assert given == [4, 8, 16]


def test_outside_gevent_no_pause_is_made_and_a_yield_is_a_plain_one():
    assert blocking.background_pause() is None and blocking.cooperative_pause() is None
    assert blocking.background_yield()() is None  # time.sleep(0): it returns, nothing more


UNDER_GEVENT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import time, gevent
    from server import blocking
    blocking.SLICE_S = 0.0  # give back at every ask: what the loop does is what is looked at
    order = []

    def request(name, steps):  # a request that gives the loop back often (its reads, its writes)
        for i in range(steps):
            order.append(name)
            gevent.sleep(0)

    def background():
        pause = blocking.background_pause()
        pause()
        order.append("round")

    jobs = [gevent.spawn(background), gevent.spawn(request, "kiosk", 5), gevent.spawn(request, "phone", 3)]
    gevent.joinall(jobs, raise_error=True)
    # the round went on only once both requests were done, however often they yielded
    print(order.index("round") == len(order) - 1, order.count("kiosk"), order.count("phone"))

    # a loop that is never idle: the round still goes on (after IDLE_WAIT_MAX_S), while the other
    # greenlet is still runnable, having let it run meanwhile
    blocking.IDLE_WAIT_MAX_S = 0.05
    done, spins = [], [0]
    def busy():
        end = time.monotonic() + 30.0  # a bound against a hung test only: the pause ends it first
        while time.monotonic() < end and not done:
            spins[0] += 1
            gevent.sleep(0)
    spinner = gevent.spawn(busy)
    gevent.sleep(0)
    before = spins[0]
    blocking.background_pause()()
    print(not spinner.dead and spins[0] > before)
    done.append(1)
    spinner.join()
""")


def test_under_gevent_a_background_round_waits_for_the_requests_ready_to_run_and_never_forever():
    out = subprocess.run([sys.executable, "-c", UNDER_GEVENT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split("\n")
    assert lines[0].split() == ["True", "5", "3"]
    assert lines[1] == "True"
