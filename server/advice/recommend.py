"""What the director could change now, and what it would change. Pure: a state in, proposals out.

1. **Only what is possible now.** Candidates are changes to counters whose clerk is there: an
   open counter takes a service at risk first, adds it (if its clerk is trained for it), or serves
   only it; a counter on a break is called back. Nothing for a closed counter (its clerk is not
   there), nothing the clerk is not trained for.
2. **Judged by playing the next ``horizon_s`` forward** (``playout.py``): the same drawn citizens
   (those waiting and the forecast arrivals) with the counters as they are and with each change;
   a change is proposed only if it lowers the expected number of citizens called after the target
   by at least ``MIN_GAIN_PEOPLE`` (minutes saved to those already late counted in), does not lower
   the overall share by ``MAX_LOSS_SHARE``, and does no worse in ``ROBUST_SHARE`` of the paths.
   The few that pass are played again on fresh paths and kept only if they pass there too (and
   a change of a counter's services only if its 10th-percentile path there loses no more than
   ``DOWNSIDE_SHARE`` overall, or than its mean gain if that is more); the
   figures shown come from a third draw that decided nothing (``_confirm``: the winner's curse);
   a change of a counter's services must also do no harm were every other service to come in
   twice its forecast (``stress.py``; a call back is not checked).
3. **Steady.** The proposal shown first last time stays first while it is still possible and
   still helps, unless another beats it by ``MARGIN_PEOPLE`` (``previous``, kept by the caller).
4. **Honest about staffing.** When nothing possible helps enough, or the best still leaves a
   service under ``GOOD_SHARE``, it says how many more clerks trained for that service would
   bring it there over the horizon (tried 1 to ``MAX_EXTRA`` extra counters for that service).

Cost: one playout per candidate over ``paths`` paths; at most ``MAX_CANDIDATES`` candidates
(``bench/advice.py`` measures it).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..engine.forecast import CounterNow, Snapshot
from ..engine.learned import Model
from .playout import Outcome, runner
from .spread import paired_se as _paired_se, percentile_range as _range
from .staffing import GOOD_SHARE, pct as _pct, staffing_note as _staffing
from .stress import loss_under_stress

HORIZON_S = 75 * 60.0
PATHS = 16
MAX_CANDIDATES = 14
MAX_PROPOSALS = 3
MIN_GAIN_PEOPLE = 0.5     # fewer late citizens expected, per path (or the same in overdue minutes)
MAX_LOSS_SHARE = 0.005    # and the overall share not half a point lower
OVERDUE_S_PER_PERSON = 600.0  # 10 minutes less waiting for those already late count as one citizen
MARGIN_PEOPLE = 0.75      # a new proposal replaces the current first only if this much better
DEDICATE = False          # "counter N serves only S": off, it lowered some days (docs/advice.md)
STRESS = True             # rule 5: no harm if every other service comes in twice its forecast (stress.py)
COLD_ADDS = False         # rule 6: on a cold day (no earlier days) no counter is given a service it does not serve
ROBUST_SHARE = 0.75       # a proposal must do no worse than things as they are in this share of paths
DOWNSIDE_SHARE = 0.03     # and, moving a counter's time, lose on its 10th-percentile path no more than this
                          # overall, or than it gains on average if that is more
# A change that moves a counter's capacity between services (everything but calling a clerk back)
# is shown only if, over the horizon and all services (those it delays count), it is expected to
# bring at least MIN_WITHIN_GAIN more citizens within the target, and its gain in the overall
# share is at least Z_GAIN standard errors of that gain over the paths. Followed in simulation
# without this margin, most applied proposals predicted about +1 point (under one citizen) with a
# standard error of about 1 point and lived, against the same day without them, 0 on average and
# -7 to +8 on some: three days in thirteen ended lower (docs/performance.md, section 12).
MIN_WITHIN_GAIN = 1.0
Z_GAIN = 2.0
# The winner's curse: of 14 candidates judged on the same 16 paths, the one with the highest gain
# is also the one whose gain those paths overrate most. So the few that pass are played again on
# CONFIRM_PATHS fresh paths (another seed: citizens and dice independent of the first ones), and
# only those that pass the same rules there too are shown. Their figures come from a third draw,
# SHOW_PATHS paths that decided nothing (passing a bar on a draw overrates that draw's figure in
# turn: by about its standard error near the bar). Without it the shown effect was +3.3 points on
# average where the same day with and without the change differed by 0 (docs/performance.md, 12).
SCREEN_SEED = 0
CONFIRM_PATHS = 32
CONFIRM_SEED = 1
SHOW_PATHS = 32
SHOW_SEED = 2
# the first paths only pick which few are played again: their own bar if set (None: the same as the final one)
SCREEN_MIN_WITHIN_GAIN: float | None = None
SCREEN_Z_GAIN: float | None = None


@dataclass(frozen=True)
class Station:
    """A counter as the advice sees it."""
    number: int
    clerk: str | None
    state: str                 # open, paused, closed
    services: tuple[str, ...]  # what it serves now, in order
    trained: tuple[str, ...]   # what its clerk may serve


@dataclass(frozen=True)
class AdviceInput:
    snap: Snapshot
    model: Model
    stations: Sequence[Station]
    names: dict[str, str]
    target_s: float = 900.0
    horizon_s: float = HORIZON_S
    paths: int = PATHS
    persistent: bool = True   # a change holds for all the counter's windows today (no roster)


@dataclass
class Proposal:
    key: str
    counter: int
    action: str                     # set_services, take_first, call_back
    services: list[str] | None      # set_services: the new list
    service: str | None             # take_first: the service; else the service it is for
    before: dict
    after: dict
    focus: str                      # the service it helps
    share_before: float | None      # the focus service's share within the target, over the horizon
    share_after: float | None
    overall_before: float | None
    overall_after: float | None
    late_saved: float               # citizens fewer called late, expected (overdue minutes counted in)
    overdue_saved_min: float = 0.0  # minutes less waiting, each, for those already past the target
    gain_se: float | None = None    # standard error of overall_after - overall_before over the paths (paired)
    within_gain: float = 0.0        # citizens more called within the target, expected (all services)
    screen_gain: float | None = None   # the overall gain on the paths it was picked on (overrated: the winner's curse)
    confirm_gain: float | None = None  # on the fresh paths it had to pass too (overrated a little)
    # one day is one path: its effect on the cohort lies between these 8 times in 10 (the paths' 10th and
    # 90th percentiles of the gain; most reorderings change nothing on most paths and a lot on a few)
    gain_low: float | None = None
    gain_high: float | None = None
    # the overall share it would lose if the counter's other services got busier than forecast
    # (``stress.py``); None: not checked (a call back, or nobody to count)
    stress_loss: float | None = None
    text: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Advice:
    at: float
    proposals: list[Proposal] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)   # per service: share within target over the horizon
    overall: float | None = None
    enough: bool = True              # False: nothing possible helps enough
    staffing: list[dict] = field(default_factory=list)
    message: str = ""
    evaluated: int = 0
    cost_ms: float = 0.0
    cold: bool = False               # rule 6 held back giving a counter a new service (no earlier days)

    def as_dict(self) -> dict:
        return {"at": self.at, "proposals": [p.as_dict() for p in self.proposals], "services": self.services,
                "overall": self.overall, "enough": self.enough, "staffing": self.staffing, "message": self.message,
                "evaluated": self.evaluated, "cost_ms": round(self.cost_ms, 1), "cold": self.cold,
                "cold_note": COLD_NOTE if self.cold else ""}


def _with(counters: Sequence[CounterNow], number: int, services: tuple[str, ...] | None, now: float,
          call_back: bool, persistent: bool) -> list[CounterNow]:
    out = []
    for c in counters:
        if c.number != number:
            out.append(c)
            continue
        wins = list(c.windows)
        for i, (start, end, svcs) in enumerate(wins):
            first = i == 0
            if not (first or persistent):
                break
            if call_back and first:
                start = min(start, now)
            wins[i] = (start, end, services if services is not None else svcs)
        out.append(dataclasses.replace(c, windows=tuple(wins)))
    return out


def _candidates(inp: AdviceInput, at_risk: list[str]) -> tuple[list[tuple], bool]:
    """(action, station, focus, new services or None, key), most promising first; and whether
    rule 6 held back a new service for a counter (a cold day)."""
    out, seen, held = [], set(), False
    adds = COLD_ADDS or inp.snap.history_days > 0

    def add(action, st, focus, new):
        key = f"{st.number}:{action}:{','.join(new) if new else st.state}"
        if key not in seen and (new is None or tuple(new) != st.services):
            seen.add(key)
            out.append((action, st, focus, tuple(new) if new else None, key))
    for focus in at_risk:
        for st in inp.stations:
            if st.state == "paused" and (focus in st.services):
                add("call_back", st, focus, None)
        for st in inp.stations:
            if st.state != "open" or not st.clerk or focus not in st.trained:
                continue
            if focus not in st.services:
                if not adds:
                    held = True
                    continue
                add("set_services", st, focus, (*st.services, focus))
                add("set_services", st, focus, (focus, *st.services))
            elif st.services[0] != focus:
                add("take_first", st, focus, (focus, *(s for s in st.services if s != focus)))
        if DEDICATE:
            for st in inp.stations:
                if st.state == "open" and st.clerk and focus in st.services and len(st.services) > 1:
                    add("set_services", st, focus, (focus,))
    return out[:MAX_CANDIDATES], held


COLD_NOTE = ("Chưa có số liệu các ngày trước nên chưa đề xuất giao thêm lĩnh vực cho quầy (dự báo lượt đến "
             "chưa biết giờ cao điểm); no earlier days yet: no counter is offered a new service")


def _text(inp: AdviceInput, action: str, number: int, focus: str, before: tuple, after: tuple | None,
          share_before, share_after, overdue_min: float = 0.0) -> str:
    name = inp.names.get(focus, focus)
    effect = f"{name}: {_pct(share_before)} → {_pct(share_after)} được gọi trong {round(inp.target_s / 60)} phút"
    if overdue_min >= 1 and _pct(share_before) == _pct(share_after):
        effect = f"{name}: người đã chờ quá {round(inp.target_s / 60)} phút được gọi sớm hơn ~{round(overdue_min)} phút"
    if action == "call_back":
        what, en = f"Gọi quầy {number} trở lại làm việc", f"call counter {number} back from its break"
    elif after == (focus,):
        what, en = f"Quầy {number} chỉ phục vụ {name}", f"counter {number} serves only {focus}"
    elif action == "take_first" or (after and after[0] == focus and focus in before):
        what, en = f"Yêu cầu quầy {number} ưu tiên {name}", f"ask counter {number} to take {focus} first"
    elif after and after[0] == focus:
        what, en = f"Quầy {number} phục vụ thêm {name}, gọi {name} trước", f"counter {number} also serves {focus}, first"
    else:
        what, en = f"Quầy {number} phục vụ thêm {name}", f"counter {number} also serves {focus}"
    en_effect = f"{focus} {_pct(share_before)} → {_pct(share_after)} called within {round(inp.target_s / 60)} min"
    if overdue_min >= 1 and _pct(share_before) == _pct(share_after):
        en_effect = f"those already past {round(inp.target_s / 60)} min called ~{round(overdue_min)} min sooner"
    return f"{what}. {effect}; {en}: {en_effect}"


def recommend(inp: AdviceInput, previous: str | None = None, pause: Callable[[], object] | None = None) -> Advice:
    """The best two or three changes possible now, with their predicted effect. ``pause``, if
    given, is called between two playouts and within them (``playout.PAUSE_EVERY``: the server passes
    one that lets other greenlets run)."""
    t0 = time.perf_counter()
    snap, now = inp.snap, inp.snap.now
    run, base = _runner(inp, SCREEN_SEED, inp.paths, pause)
    advice = Advice(now, overall=base.share())
    codes = sorted(set(base.within) | set(base.late))
    advice.services = [{"service": s, "name": inp.names.get(s, s), "share": base.share(s),
                        "late": round(base.late_per_path(s), 2), "counted": round(base.counted_per_path(s), 2)}
                       for s in codes]
    overdue = {w.service for w in snap.waiting if now - w.wait_from > inp.target_s}
    codes = sorted(set(codes) | overdue)
    at_risk = [s for s in sorted(codes, key=lambda s: (s not in overdue, -base.late_per_path(s)))
               if base.late_per_path(s) >= 0.25 or s in overdue][:3]
    candidates, advice.cold = _candidates(inp, at_risk)
    evaluated = []
    for cand in candidates:
        action, st, focus, new, key = cand
        counters = _with(snap.counters, st.number, new, now, action == "call_back", inp.persistent)
        evaluated.append((cand, counters, *_judge(inp, cand, base, run(counters), screen=bool(CONFIRM_PATHS))))
    advice.evaluated = len(evaluated)
    good = sorted((e for e in evaluated if e[5]), key=lambda e: -e[3])
    # the winner's curse: the chosen few again on fresh paths; what is shown is what they say there
    good = _confirm(inp, good, pause) if CONFIRM_PATHS and good else [(p, s) for _, _, p, s, _, _ in good]
    if previous is not None and good and good[0][0].key != previous:
        held = next(((p, s) for p, s in good if p.key == previous), None)
        if held is not None and good[0][1] - held[1] < MARGIN_PEOPLE:
            good.remove(held)
            good.insert(0, held)
    # one counter's variants with the same effect (add CT last or first, nobody waiting for the rest):
    # the first is enough
    shown: list[Proposal] = []
    for p, _ in good:
        if not any(q.counter == p.counter and abs((q.overall_after or 0) - (p.overall_after or 0)) < 0.01
                   for q in shown):
            shown.append(p)
    advice.proposals = shown[:MAX_PROPOSALS]
    advice.enough = bool(advice.proposals)
    # staffing: the worst service after the best change still under GOOD_SHARE
    worst = at_risk[0] if at_risk else None
    if worst is not None:
        best_counters = snap.counters
        if advice.proposals:
            top = advice.proposals[0]
            best_counters = _with(snap.counters, top.counter, tuple(top.after["services"]), now,
                                  top.action == "call_back", inp.persistent)
        after_share = run(best_counters).share(worst) if advice.proposals else base.share(worst)
        if after_share is not None and after_share < GOOD_SHARE:
            advice.staffing.append(_staffing(inp, run, best_counters, worst, after_share))
    if not advice.proposals:
        if at_risk:
            advice.message = ("Không thay đổi nào có thể làm ngay giúp đủ: các quầy có cán bộ đã phục vụ tốt nhất có "
                              "thể; nothing possible now helps enough")
        else:
            advice.message = (f"Dự kiến mọi lĩnh vực giữ được lời hứa {round(inp.target_s / 60)} phút; "
                              f"every service is expected to keep the promise")
    advice.cost_ms = (time.perf_counter() - t0) * 1000
    return advice


def _runner(inp: AdviceInput, seed: int, paths: int, pause):
    return runner(inp.snap, inp.model, seed=seed, paths=paths, horizon_s=inp.horizon_s, target_s=inp.target_s,
                  pause=pause)


def _judge(inp: AdviceInput, cand, base: Outcome, out: Outcome, *, screen: bool = False,
           downside: bool = False) -> tuple[Proposal, float, float, bool]:
    """One candidate against things as they are, on the same paths: the proposal with its figures,
    the late citizens it saves (overdue minutes counted in), its overall gain, and whether it is
    worth a click (rules 2 and 3)."""
    action, st, focus, new, key = cand
    snap, now = inp.snap, inp.snap.now
    saved = base.late_per_path() - out.late_per_path() + (
        base.overdue_wait_s - out.overdue_wait_s) / out.paths / OVERDUE_S_PER_PERSON
    gain = (out.share() or 0.0) - (base.share() or 0.0)
    before = {"state": st.state, "services": list(st.services)}
    after = {"state": "open" if action == "call_back" else st.state,
             "services": list(new) if new else list(st.services)}
    p = Proposal(key, st.number, action, list(new) if action == "set_services" else None, focus, before, after,
                 focus, base.share(focus), out.share(focus), base.share(), out.share(), round(saved, 2))
    n_overdue = sum(1 for w in snap.waiting if now - w.wait_from > inp.target_s)
    if n_overdue:
        p.overdue_saved_min = round((base.overdue_wait_s - out.overdue_wait_s) / out.paths / n_overdue / 60, 1)
    p.text = _text(inp, action, st.number, focus, st.services, new, p.share_before, p.share_after,
                   p.overdue_saved_min)
    p.gain_se = _paired_se(out.per_path_share, base.per_path_share)
    p.gain_low, p.gain_high = _range(out.per_path_share, base.per_path_share)
    p.within_gain = round((sum(out.within.values()) - sum(base.within.values())) / out.paths, 2)
    p.screen_gain = gain if None not in (out.share(), base.share()) else None
    no_worse = sum(c <= b + 1e-9 for c, b in zip(out.per_path, base.per_path)) / max(1, len(out.per_path))
    if no_worse < ROBUST_SHARE:
        gain = -1.0  # helps on average, but hurts in too many of the paths: not worth the risk
    if downside and action != "call_back" and p.gain_low is not None and p.gain_low < -max(DOWNSIDE_SHARE, gain):
        gain = -1.0  # one day in ten it would cost more than it brings on an average one
    sure = action == "call_back" or (
        base.share() is not None and out.share() is not None
        and p.within_gain >= _bar(screen, SCREEN_MIN_WITHIN_GAIN, MIN_WITHIN_GAIN)
        and gain >= _bar(screen, SCREEN_Z_GAIN, Z_GAIN) * (p.gain_se or 0.0))
    ok = saved >= MIN_GAIN_PEOPLE and gain >= -MAX_LOSS_SHARE and sure
    return p, saved, gain, ok


def _bar(screen: bool, screen_value: float | None, value: float) -> float:
    return screen_value if screen and screen_value is not None else value


def _confirm(inp: AdviceInput, good: list, pause) -> list[tuple[Proposal, float]]:
    """The candidates that passed on the first paths, played again on ``CONFIRM_PATHS`` fresh ones
    (independent of the first: another seed) and kept if they pass the same rules there; each kept
    one is then played on ``SHOW_PATHS`` more (a third seed) whose figures are the ones shown, and
    which decide nothing but this: one whose shown figure helps nobody is dropped (the gains on the
    first two draws are kept as ``screen_gain`` and ``confirm_gain``). In the first paths' order:
    picking the best again on a later draw would make its figures overrated in turn."""
    run, base = _runner(inp, CONFIRM_SEED, CONFIRM_PATHS, pause)
    kept = []
    for cand, counters, first, *_ in good[:2 * MAX_PROPOSALS]:
        p, saved, _, ok = _judge(inp, cand, base, run(counters), downside=True)
        if ok and STRESS:
            ok = _survives_stress(inp, cand, counters, p, pause)
        if ok:
            p.screen_gain, p.confirm_gain = first.screen_gain, p.screen_gain
            kept.append((cand, counters, p, saved))
    if not kept or not SHOW_PATHS:
        return [(p, saved) for _, _, p, saved in kept]
    run, base = _runner(inp, SHOW_SEED, SHOW_PATHS, pause)
    out = []
    for cand, counters, confirmed, saved in kept:
        p, shown_saved, gain, _ = _judge(inp, cand, base, run(counters))
        p.screen_gain, p.confirm_gain = confirmed.screen_gain, confirmed.confirm_gain
        p.stress_loss = confirmed.stress_loss
        # a change whose honest figure says it helps nobody is not shown ("→" the same share)
        if shown_saved > 0 and (p.action == "call_back" or gain > 0):
            out.append((p, saved))
    return out


def _survives_stress(inp: AdviceInput, cand, counters, p: Proposal, pause) -> bool:
    """Rule 5: a change that moves a counter's time to the service at risk must not lose more than
    ``MAX_LOSS_SHARE`` overall if every other service came in ``stress.FACTOR`` times its
    forecast (``stress.py``). A call back only adds capacity: not checked."""
    action, st, focus, new, key = cand
    if action == "call_back":
        return True
    others = sorted({k[0] for k, _ in inp.snap.arrivals} - {focus})
    p.stress_loss = loss_under_stress(inp.snap, inp.model, counters, others, target_s=inp.target_s,
                                      horizon_s=inp.horizon_s, pause=pause)
    return p.stress_loss is None or p.stress_loss <= MAX_LOSS_SHARE
