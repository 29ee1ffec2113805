"""``qms plan``: the plan as a table (Vietnamese first, then English) or JSON."""
from __future__ import annotations

import json
from datetime import date

from qms_common.glossary import WEEKDAYS_VI

from .check import CheckResult
from .staffing import StaffPlan



def clock(t_s: float, opens_at: str = "07:30") -> str:
    h, m = (int(x) for x in opens_at.split(":"))
    minutes = h * 60 + m + int(round(t_s / 60))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _moves(plan: StaffPlan) -> list[dict]:
    """Consecutive half hours a clerk is moved to a service that is not their first, joined."""
    out: list[dict] = []
    for i, c, s in sorted(plan.moves, key=lambda m: (m[1], m[2], m[0])):
        a, b = i * plan.forecast.slot_s, (i + 1) * plan.forecast.slot_s
        if out and out[-1]["clerk"] == c and out[-1]["service"] == s and out[-1]["end_s"] == a:
            out[-1]["end_s"] = b
        else:
            out.append({"clerk": c, "service": s, "start_s": a, "end_s": b})
    return out


def as_dict(plan: StaffPlan, check: CheckResult | None, *, names: dict[str, str], opens_at: str) -> dict:
    fc = plan.forecast
    slots = []
    for i in range(fc.slots):
        slots.append({
            "start": clock(i * fc.slot_s, opens_at), "end": clock((i + 1) * fc.slot_s, opens_at),
            "services": {s: {"forecast": round(fc.rates[s][i], 2), "sd": round(fc.sd[s][i], 2),
                             "needed": round(plan.needed[s][i], 2), "staffed": round(plan.staffed[s][i], 2),
                             "short": round(plan.short[s][i], 2),
                             "added": plan.extra.get(s, [0] * fc.slots)[i]} for s in plan.services}})
    return {
        "date": fc.day.isoformat(), "weekday": WEEKDAYS_VI[fc.day.weekday()],
        "history": {"days": fc.days_used, "same_weekday_days": fc.same_weekday_days,
                    "weekday_factor": round(fc.weekday_factor, 3), "trend": round(fc.trend, 3),
                    "day_level_cv": round(fc.level_cv, 3), "notes": fc.notes},
        "forecast_total": round(fc.total(), 1),
        "services": {s: names.get(s, s) for s in plan.services},
        "absent": list(plan.absent),
        "slots": slots,
        "fixes": [{"kind": f.kind, "service": f.service, "clerk": f.clerk, "start": clock(f.start_s, opens_at),
                   "end": clock(f.end_s, opens_at), "clerk_hours": round(f.clerk_hours, 2), "also": list(f.also)}
                  for f in plan.fixes],
        "moves": [{**m, "start": clock(m["start_s"], opens_at), "end": clock(m["end_s"], opens_at)}
                  for m in _moves(plan)],
        "extra_clerk_hours": round(plan.extra_clerk_hours(), 2),
        "check": None if check is None else {
            "synthetic_days": len(check.shares_by_day), "tickets": check.tickets,
            "within_15_min": round(check.share, 4), "by_day": [round(x, 4) for x in check.shares_by_day],
            "rounds": check.rounds, "first_cut_hours": round(check.first_cut_hours, 2),
            "first_cut_by_day": [round(x, 4) for x in check.first_cut_shares],
            "added_half_hours": check.added_by_search, "removed_half_hours": check.removed,
            "trained_by_search": check.trained_by_search, "trainings_removed": check.untrained,
            "moved_by_search": check.moved_by_search, "moves_removed": check.unmoved,
            "held_out_days": len(check.held_out_shares), "held_out_by_day": [round(x, 4) for x in check.held_out_shares],
            "held_out_kept": check.held_out_kept,
            "simulations": check.simulations, "seconds": round(check.seconds, 1)},
    }


def as_json(d: dict) -> str:
    return json.dumps(d, ensure_ascii=False, indent=2)


def as_table(d: dict) -> str:
    h = d["history"]
    day = date.fromisoformat(d["date"])
    codes = list(d["services"])
    lines = [f"Kế hoạch nhân sự ngày {day:%d/%m/%Y} ({d['weekday']}) / Staffing plan for {d['date']}",
             f"Dự báo từ {h['days']} ngày làm việc trước ({h['same_weekday_days']} ngày cùng thứ), hệ số thứ "
             f"{h['weekday_factor']:.2f}, xu hướng {h['trend']:.2f}, dao động giữa các ngày ±{h['day_level_cv'] * 100:.0f}%"
             f" / forecast from {h['days']} earlier working days",
             *[f"  ({n})" for n in h["notes"]],
             f"Dự kiến {d['forecast_total']:.0f} lượt / {d['forecast_total']:.0f} citizens expected"]
    if d["absent"]:
        lines.append(f"Vắng / absent: {', '.join(d['absent'])}")
    lines.append("")
    lines.append("Mỗi ô: lượt dự báo · cán bộ cần / có (thiếu) — per cell: forecast arrivals · clerks needed / on the roster")
    head = f"{'Giờ':<12}" + "".join(f"{c:>20}" for c in codes)
    lines.append(head)
    for slot in d["slots"]:
        cells = []
        for c in codes:
            v = slot["services"][c]
            if v["forecast"] < 0.05 and v["staffed"] == 0:
                cells.append(f"{'–':>20}")
                continue
            mark = f" (-{v['short']:.1f})" if v["short"] >= 0.5 else ""
            cells.append(f"{v['forecast']:>4.1f}·{v['needed']:.1f}/{v['staffed']:.1f}{mark}".rjust(20))
        lines.append(f"{slot['start']}–{slot['end']} " + "".join(cells))
    lines.append("")
    lines.append("Cách bù thiếu, rẻ nhất trước / the cheapest fixes first:")
    names = d["services"]
    if not d["fixes"]:
        lines.append("  Không cần thay đổi: lịch trực đủ / none needed: the roster is enough")
    fixes: list[dict] = []
    for f in d["fixes"]:                 # the same addition several times: one line
        if fixes and f["kind"] == "add" and {k: v for k, v in fixes[-1].items() if k != "count"} == f:
            fixes[-1]["count"] = fixes[-1].get("count", 1) + 1
        else:
            fixes.append(dict(f))
    for f in fixes:
        svc = f"{names[f['service']]} ({f['service']})"
        if f["kind"] == "move":
            lines.append(f"  Chuyển cán bộ {f['clerk']} sang {svc} {f['start']}–{f['end']} (làm {names[f['service']]} "
                         f"trước, không thêm giờ công) / move {f['clerk']} to {f['service']} {f['start']}–{f['end']} "
                         f"(that service first, no extra clerk-hours)")
        elif f["kind"] == "train":
            lines.append(f"  Giao thêm lĩnh vực {svc} cho cán bộ {f['clerk']} (đang rảnh từ {f['start']}) "
                         f"/ train {f['clerk']} for {f['service']}")
        elif f["kind"] == "extend":
            lines.append(f"  Kéo dài ca của {f['clerk']} {f['start']}–{f['end']} cho {svc} "
                         f"/ extend {f['clerk']}'s shift")
        else:
            n = f.get("count", 1)
            also = [c for c in f.get("also", [])]
            two = f", biết cả {', '.join(names.get(c, c) for c in also)}" if also else ""
            lines.append(f"  Thêm {n} cán bộ {svc}{two} {f['start']}–{f['end']} ({n * f['clerk_hours']:.1f} giờ công) "
                         f"/ {n} more clerk{'s' if n > 1 else ''} for {'+'.join([f['service'], *also])}")
    if d["moves"]:
        lines.append("Theo công thức, cán bộ làm lĩnh vực khác của mình trong ca / the formula's assignment: clerks on "
                     "another of their services:")
        for m in d["moves"]:
            lines.append(f"  {m['clerk']} ưu tiên {names[m['service']]} ({m['service']}) {m['start']}–{m['end']}")
    lines.append(f"Tổng giờ công thêm / extra clerk-hours: {d['extra_clerk_hours']:.1f}")
    ck = d["check"]
    if ck:
        lines.append(f"Kiểm tra bằng mô phỏng {ck['synthetic_days']} ngày theo dự báo ({ck['tickets']} lượt): "
                     f"{ck['within_15_min'] * 100:.1f}% được gọi trong 15 phút / simulated check: "
                     f"{ck['within_15_min'] * 100:.1f}% called within 15 minutes")
        low, first = min(ck["by_day"]) * 100, min(ck["first_cut_by_day"]) * 100
        lines.append(f"  Ngày thấp nhất {low:.1f}%; công thức ban đầu {ck['first_cut_hours']:.1f} giờ công (ngày thấp "
                     f"nhất {first:.1f}%), mô phỏng thêm {ck['added_half_hours']} và bớt {ck['removed_half_hours']} "
                     f"nửa giờ công / lowest day {low:.1f}%; the formula alone {ck['first_cut_hours']:.1f} clerk-hours "
                     f"(lowest day {first:.1f}%), the simulation added {ck['added_half_hours']} and took away "
                     f"{ck['removed_half_hours']} clerk-half-hours")
        if ck.get("held_out_days"):
            held = min(ck["held_out_by_day"]) * 100
            said = "giữ được" if ck["held_out_kept"] else "CHƯA giữ được"
            lines.append(f"  {ck['held_out_days']} ngày kiểm chứng riêng (không dùng để chọn): ngày thấp nhất {held:.1f}%, "
                         f"{said} lời hứa; mô phỏng chuyển cán bộ {ck.get('moved_by_search', 0)} lần, giao thêm "
                         f"{ck['trained_by_search']} lĩnh vực / "
                         f"{ck['held_out_days']} held-out days (never used to choose): lowest {held:.1f}%, promise "
                         f"{'kept' if ck['held_out_kept'] else 'NOT kept'}; the simulation moved a clerk "
                         f"{ck.get('moved_by_search', 0)} times and trained "
                         f"{ck['trained_by_search']} times (a clerk for one more service)")
    return "\n".join(lines) + "\n"
