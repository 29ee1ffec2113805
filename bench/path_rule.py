"""Does the forecast's sample path call whom the engine calls? A check, call by call, on simulated days.

Each day of ``bench/estimates.py`` is replayed by the real simulator. At every moment the simulator's
clerks with free hands call (``Simulation._dispatch``), the check reads the engine's state as the
forecast reads it (``WaitEstimator.snapshot``) and asks the forecast's own path code
(``forecast.forecast`` -> ``paths.play``) what it would do from that state at that instant: which of
the counters are working now, and which ticket each free counter calls, counter after counter in the
order a path plays them (the same instant: lowest counter number first). Nothing random is involved:
a path's first calls at ``now`` read no service time, and the check gives the path nobody who leaves,
no newcomer and no other counter. Then the engine calls, as the simulator has it do, and the two are
compared, pair by pair (counter, ticket). Every disagreement is counted under its cause:

* ``working``: the path has the counter working now and the engine does not, or the reverse
  (a row of the roster, a break, a clerk still finishing);
* ``services``: the services the path gives the counter now are not those the engine calls from
  (``Engine.active_services``), or not in the same order;
* ``service``: another service chosen (the calling rule between a counter's services);
* ``class``: the same service, another priority class (the priority rule);
* ``ticket``: the same service and class, another ticket (the order within a queue);
* ``order``: the same tickets called at this instant, by other counters (which free counter
  calls first);
* ``none``: one of the two calls nobody;
* ``ahead``: the windows the forecast gave a counter while it was busy (read at the last dispatch
  before its hands were free) have it calling from other services, or not working, or by another
  clerk, or with another priority count, at the moment it is free again (a row whose clerk waits
  for the previous one to finish a citizen, a break, the next row's services, clerk and count
  from 0 after a sign-out): what the paths of those who waited meanwhile played.

Usage: .venv/bin/python bench/path_rule.py [--days NAME,...] [--fresh | --unseen] [--show N]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.estimates import FRESH, GENERATED, UNSEEN, prepare_days  # noqa: E402
from server.engine import forecast as forecast_mod  # noqa: E402
from server.engine.forecast import Snapshot  # noqa: E402
from server.scenario import load_scenario  # noqa: E402
from server.simulator import Simulation, history_days  # noqa: E402


def path_choice(snap: Snapshot, model, counter) -> tuple[str | None, float | None]:
    """The ticket ``counter`` (a ``CounterNow`` of ``snap``, hands free) calls first in a path from
    ``snap``, and when: the forecast's own code, with this counter alone, nobody leaving and nobody
    new (neither can change a call made at this instant)."""
    alone = replace(snap, counters=[replace(counter, in_hand=None)], new_services=(), arrivals=())
    quiet = replace(model, survival=[], p_no_show=0.0)
    seen: list = []
    real = forecast_mod.play

    def spy(plan, tables, nx, pause=None):
        made = real(plan, tables, nx, pause)
        seen.append(made)
        return made
    forecast_mod.play = spy
    try:
        forecast_mod.forecast(alone, quiet, paths=1, seed=0)
    finally:
        forecast_mod.play = real
    made = seen[0] if seen else []
    if not made:
        return None, None
    j, t = made[0]
    ws = sorted(snap.waiting, key=lambda w: (w.queue_key, w.id))
    return ws[j].id, t


class Checked(Simulation):
    """The simulator, each dispatch checked against the forecast's path (see the module's text)."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.causes: Counter = Counter()
        self.examples: list[str] = []
        self.calls = 0
        self.ahead: dict[int, tuple] = {}  # counter -> (when, its CounterNow) read while busy

    def _note(self, cause: str, text: str) -> None:
        self.causes[cause] += 1
        if self._observe:
            self.examples.append(f"{cause}: {text}")

    def _dispatch(self) -> None:
        if not self._observe:
            return super()._dispatch()
        engine = self.engine
        conn = self.store.conn()
        now = engine.clock.now()
        free = [n for n in self.on_shift if n not in self.busy and n not in self.leaving]
        sites = {engine.config.counter(n).site for n in self.on_shift} | {engine.config.main_site}
        model = engine.waits.model(conn, now)
        predicted: dict[int, str | None] = {}
        working_path: set[int] = set()
        snaps = {}
        for site in sites:
            snap = snaps[site] = engine.waits.snapshot(conn, site, engine.roster, now)
            taken: set[str] = set()
            for c in sorted(snap.counters, key=lambda c: c.number):
                win = next((w for w in c.windows if w[0] <= now < w[1]), None)
                if win is None or c.in_hand is not None:
                    continue
                working_path.add(c.number)
                left = replace(snap, waiting=[w for w in snap.waiting if w.id not in taken])
                tid, t = path_choice(left, model, c)
                if tid is not None and t is not None and t <= now:
                    predicted[c.number] = tid
                    taken.add(tid)
                else:
                    predicted[c.number] = None
                if tuple(win[2]) != tuple(engine.active_services(engine.counter(c.number))) and \
                        c.number in free:
                    self._note("services", f"{self._hm()} counter {c.number}: path {win[2]}, engine "
                               f"{engine.active_services(engine.counter(c.number))}")
        for n in free:  # free again: were its windows, read while it was busy, what it works from now?
            if n in self.ahead:
                t0, c = self.ahead.pop(n)
                wi = next((i for i, w in enumerate(c.windows) if w[0] <= now < w[1]), None)
                win = None if wi is None else c.windows[wi]
                row = engine.counter(n)
                engine_services = tuple(engine.active_services(row))
                if win is None or tuple(win[2]) != engine_services:
                    self._note("ahead", f"{self._hm()} counter {n}: read {self._rel(t0)} before, the path "
                               f"{'not working' if win is None else win[2]}, engine {engine_services}")
                    continue
                # who calls then in the path, and from which priority count (``paths.plan_tables``)
                who = c.window_clerks if len(c.window_clerks) == len(c.windows) else [(c.clerk, False)] * len(c.windows)
                in_row = 0 if any(fresh for _, fresh in who[:wi + 1]) else c.priority_in_row
                if (who[wi][0], in_row) != (row["clerk"], row["priority_in_row"]):
                    self._note("ahead", f"{self._hm()} counter {n}: read {self._rel(t0)} before, the path "
                               f"{who[wi][0]} with {in_row} priority in a row, engine {row['clerk']} with "
                               f"{row['priority_in_row']}")
        for snap in snaps.values():
            for c in snap.counters:
                if c.in_hand is not None:
                    self.ahead[c.number] = (now, c)
        before = {}
        for site, snap in snaps.items():
            for w in snap.waiting:
                before[w.id] = w
        actual: dict[int, str | None] = {}
        for number in list(self.on_shift):
            if number not in self.busy and number not in self.leaving:
                got = self._call(number)
                actual[number] = self.busy.get(number) if got else None
        for n in set(free) ^ working_path:
            if n in free and actual.get(n) is None and n not in working_path:
                continue  # the engine's counter works but calls nobody, and the path has it not working: no call either way
            if n in working_path and predicted.get(n) is None and n not in free:
                continue
            self._note("working", f"{self._hm()} counter {n}: working in the path {n in working_path}, "
                       f"free on shift in the engine {n in free}; path calls {predicted.get(n)}, engine {actual.get(n)}")
        both = set(free) & working_path
        self.calls += sum(1 for n in both if actual.get(n) is not None)
        if {predicted[n] for n in both} == {actual[n] for n in both} and any(predicted[n] != actual[n] for n in both):
            self._note("order", f"{self._hm()} counters {sorted(both)}: path {[predicted[n] for n in sorted(both)]}, "
                       f"engine {[actual[n] for n in sorted(both)]}")
            return
        for n in sorted(both):
            p, a = predicted[n], actual[n]
            if p == a:
                continue
            if p is None or a is None:
                self._note("none", f"{self._hm()} counter {n}: path {p}, engine {a}")
                continue
            wp, wa = before.get(p), before.get(a)
            if wp is None or wa is None:
                self._note("ticket", f"{self._hm()} counter {n}: path {p}, engine {a} (not waiting before?)")
            elif wp.service != wa.service:
                self._note("service", f"{self._hm()} counter {n}: path {wp.service} (waiting since "
                           f"{self._rel(wp.queue_key)}), engine {wa.service} (since {self._rel(wa.queue_key)})")
            elif wp.priority != wa.priority:
                self._note("class", f"{self._hm()} counter {n} {wp.service}: path priority={wp.priority}, "
                           f"engine priority={wa.priority}")
            else:
                self._note("ticket", f"{self._hm()} counter {n} {wp.service}: path {p}, engine {a}")

    def _hm(self) -> str:
        h, m = divmod(int(self.now_s() // 60) + 450, 60)
        return f"{h:02d}:{m:02d}"

    def _rel(self, t: float) -> str:
        return f"{(self.engine.clock.now() - t) / 60:.1f} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", help="comma-separated day names (default: all of bench/estimates.py's 14)")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--unseen", action="store_true")
    ap.add_argument("--show", type=int, default=5, help="examples of each day's disagreements to print")
    a = ap.parse_args()
    wanted = set(a.days.split(",")) if a.days else None
    days = prepare_days(Path(tempfile.mkdtemp(prefix="qms-rule-")),
                        UNSEEN if a.unseen else FRESH if a.fresh else GENERATED,
                        shared=not (a.unseen or a.fresh), wanted=wanted)
    total: Counter = Counter()
    calls = 0
    for name, kind, folder, history in days:
        sim = Checked(load_scenario(folder), history=history_days(history or []))
        sim.run()
        total += sim.causes
        calls += sim.calls
        print(f"{name}: {sim.calls} calls checked; disagreements: "
              + (", ".join(f"{k} {v}" for k, v in sorted(sim.causes.items())) or "none"))
        for e in sim.examples[:a.show]:
            print(f"    {e}")
    print(f"all: {calls} calls; " + (", ".join(f"{k} {v}" for k, v in sorted(total.items())) or "no disagreement"))


if __name__ == "__main__":
    main()
