"""Would a change still do no harm if the center got busier than forecast?

A change that moves a counter's time to a service at risk (it adds the service, takes it first)
takes that time from the counter's other services, and through the counters that share them,
from the rest of the center. The playout judges it on the arrival forecast; on a cold day that
forecast holds the last half hour's rate, so before the morning peak it under-forecasts every
queue (up to about twice: 6 Hộ tịch arrivals in the half hour before 09:00, then 9, 11, 11), and
a change looks free when it is not (``docs/performance.md`` section 12, "clerks trained for
every service": a counter given a 25-minute service at 09:00 left its own queue to the rising
peak; its cohort lived −21 points where +3 were predicted).

The check: every stream's forecast arrivals but those of the service the change helps multiplied
by ``FACTOR`` from now on, the change and things as they are played on the same ``PATHS`` fresh
paths, and the change kept only if it does not lower the overall share by more than the
recommender's ``MAX_LOSS_SHARE`` there. Only the other services: a busier service at risk would
make the change look better, not worse. Calling a clerk back from a break only adds capacity and
is not checked. Measured: only the counter's own other services at 1.5 times kept 3 of the 15
days lower; every other service at 1.5 kept 2; at 2.0, none (section 12). Pure: no Flask, no
SQLite.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from ..engine.forecast import CounterNow, Snapshot
from ..engine.learned import Model
from .playout import runner

FACTOR = 2.0     # the other services' arrivals, this much above their forecast
PATHS = 32
SEED = 3         # not the screen's, the confirmation's or the shown figures' (0, 1, 2)


def stressed(snap: Snapshot, services: Sequence[str], factor: float | None = None) -> Snapshot:
    """The snapshot with the forecast arrivals of ``services`` (every priority) times ``factor``
    from now on; what already waits is as it is."""
    hit, factor = set(services), FACTOR if factor is None else factor
    arrivals = tuple((key, tuple((a, b, rate * factor) for a, b, rate in pieces) if key[0] in hit else pieces)
                     for key, pieces in snap.arrivals)
    return dataclasses.replace(snap, arrivals=arrivals)


def loss_under_stress(snap: Snapshot, model: Model, counters: Sequence[CounterNow], others: Sequence[str], *,
                      target_s: float, horizon_s: float, factor: float | None = None, paths: int = PATHS,
                      seed: int = SEED, pause: Callable[[], object] | None = None) -> float | None:
    """The overall share within the target as things are minus with ``counters`` (the change),
    both played on the same paths drawn with ``others``' arrivals times ``factor``. Positive: the
    change loses that much there. None: nobody to count."""
    if not others:
        return 0.0
    run, base = runner(stressed(snap, others, factor), model, seed=seed, paths=paths, horizon_s=horizon_s,
                       target_s=target_s, pause=pause)
    before, after = base.share(), run(counters).share()
    return None if before is None or after is None else before - after
