"""Is a faster forecast still the same forecast? Captured inputs, replayed, compared to the last bit.

A change to ``server/engine/paths.py`` or ``forecast.py`` meant to make the forecast cheaper
without changing it is checked here, not on the accuracy bench (which would need 10 minutes to
say the same less exactly):

* ``capture FILE``: replays days with the simulator (``bench/estimates.py``'s days, by name) and
  the cost bench's busy center, records the input of every forecast the engine asks for (the
  snapshot, the model, the seed, ``only`` and the paths), and for a share of them variants the
  engine asks for elsewhere or that exercise other branches (every waiting ticket's own forecast
  and a phantom's, 5 and 12 paths, a ticket sent to a counter, ``strict_preference``, priority
  off, nobody leaving), each with the forecast this code gives;
* ``check FILE``: the same inputs through the code as it is now; any estimate that differs in
  any bit is printed, and the exit status is 1.

Capture with the code before the change, check with the code after it.

Usage: .venv/bin/python bench/forecast_identity.py capture /tmp/forecasts.pkl [--days ward-weekday,...]
       .venv/bin/python bench/forecast_identity.py check /tmp/forecasts.pkl
"""
from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from server.engine import forecast as forecast_mod  # noqa: E402
from server.engine import waits as waits_mod  # noqa: E402

DAYS = "ward-weekday,sat-s203-hist,ward-s104-noshow"


def _variants(snap, model, seed: int, only, paths: int, k: int) -> list[tuple[str, object, object, dict]]:
    """(name, snapshot, model, keyword arguments) of the variants of the ``k``-th recorded call."""
    out = [("paths=5", snap, model, dict(seed=seed, paths=5)), ("paths=12", snap, model, dict(seed=seed, paths=12)),
           ("all", snap, model, dict(seed=seed, paths=paths))]
    for w in list(snap.waiting)[k % 3::7]:
        out.append((f"only={w.id}", snap, model, dict(seed=seed, paths=paths, only=w.id)))
    for service in list(snap.new_services)[:3]:
        out.append((f"only=new {service} prio", snap, model, dict(seed=seed, paths=paths, only=(service, True))))
    if snap.waiting and snap.counters:
        ws = list(snap.waiting)
        n = [c.number for c in snap.counters][k % len(snap.counters)]
        ws[len(ws) // 2] = dataclasses.replace(ws[len(ws) // 2], target_counter=n)
        sent = dataclasses.replace(snap, waiting=ws)
        out.append(("sent to a counter", sent, model, dict(seed=seed, paths=paths)))
        out.append(("sent to a counter, only it", sent, model, dict(seed=seed, paths=paths, only=ws[len(ws) // 2].id)))
    strict = dataclasses.replace(snap, calling=snap.calling.model_copy(update={"rule": "strict_preference"}))
    out.append(("strict_preference", strict, model, dict(seed=seed, paths=paths)))
    off = dataclasses.replace(snap, priority=snap.priority.model_copy(update={"enabled": False}))
    out.append(("priority off", off, model, dict(seed=seed, paths=paths)))
    stay = dataclasses.replace(model, survival=[], _first_below=None)
    out.append(("nobody leaves", snap, stay, dict(seed=seed, paths=paths)))
    if only is not None:
        out.append(("nobody leaves, only", snap, stay, dict(seed=seed, paths=paths, only=only)))
    return out


def _run(snap, model, kw) -> tuple:
    f = forecast_mod.forecast(snap, model, **kw)
    return (sorted(f.tickets.items()), sorted(f.new.items()))


def capture(path: Path, days: str, every: int) -> None:
    import estimate_cost
    import estimates
    recorded: list[bytes] = []
    real = waits_mod.forecast

    def spy(snap, model, **kw):
        kw.pop("pause", None)
        result = real(snap, model, **kw)
        recorded.append(pickle.dumps((snap, model, kw), protocol=pickle.HIGHEST_PROTOCOL))
        return result

    waits_mod.forecast = spy
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, _kind, folder, history in estimates.prepare_days(Path(tmp), estimates.GENERATED,
                                                                      wanted=set(days.split(","))):
                before = len(recorded)
                estimates.run_day(name, folder, history)
                print(f"{name}: {len(recorded) - before} forecasts", file=sys.stderr)
            engine, clock = estimate_cost.busy_center(Path(tmp), 100)
            est, conn, site = engine.waits, engine.store.conn(), engine.config.main_site
            before = len(recorded)
            waits_mod.REUSE_S = -1.0
            est.all_waiting(conn, site, engine.roster, clock.now())
            for service in [s.code for s in engine.config.services]:
                for prio in (False, True):
                    est.for_new(conn, service, site, prio, engine.roster, clock.now())
            for _ in range(5):
                clock.advance(1)
                engine.issue("HT")
            print(f"busy center: {len(recorded) - before} forecasts", file=sys.stderr)
    finally:
        waits_mod.forecast = real
    cases = []
    for k, blob in enumerate(recorded):
        snap, model, kw = pickle.loads(blob)
        cases.append(("recorded", blob, _run(snap, model, kw)))
        if k % every == 0:
            for name, s, m, vkw in _variants(snap, model, kw.get("seed", 0), kw.get("only"),
                                              kw.get("paths", forecast_mod.PATHS), k):
                blob_v = pickle.dumps((s, m, vkw), protocol=pickle.HIGHEST_PROTOCOL)
                cases.append((name, blob_v, _run(s, m, vkw)))
    with open(path, "wb") as f:
        pickle.dump(cases, f, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"{len(recorded)} recorded forecasts, {len(cases)} cases with their variants: {path}")


def check(path: Path) -> int:
    with open(path, "rb") as f:
        cases = pickle.load(f)
    bad = 0
    cpu = 0.0
    estimates_n = 0
    for name, blob, expected in cases:
        snap, model, kw = pickle.loads(blob)
        c = time.process_time()
        got = _run(snap, model, kw)
        cpu += time.process_time() - c
        estimates_n += len(expected[0]) + len(expected[1])
        if got != expected:
            bad += 1
            if bad <= 10:
                exp_d, got_d = dict(expected[0] + expected[1]), dict(got[0] + got[1])
                diff = [k for k in set(exp_d) | set(got_d) if exp_d.get(k) != got_d.get(k)]
                print(f"DIFFERENT ({name}, seed {kw.get('seed')}, only {kw.get('only')}): {len(diff)} estimates, "
                      f"e.g. {diff[0]}: {exp_d.get(diff[0])} -> {got_d.get(diff[0])}")
    print(f"{len(cases)} forecasts ({estimates_n} estimates): {len(cases) - bad} the same to the last bit, "
          f"{bad} different; {cpu:.1f} s of CPU in the forecasts")
    return 1 if bad else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["capture", "check"])
    ap.add_argument("file", type=Path)
    ap.add_argument("--days", default=DAYS, help=f"days of bench/estimates.py to replay (default {DAYS})")
    ap.add_argument("--every", type=int, default=10, help="variants of one recorded forecast in this many")
    a = ap.parse_args()
    if a.what == "capture":
        capture(a.file, a.days, a.every)
    else:
        sys.exit(check(a.file))


if __name__ == "__main__":
    main()
