"""The province's weekly report agrees with the event log.

A simulated week (``generate.py ward --date 2026-11-23 --days 5``, each day run through
``qms simulate --db`` into one database, citizens rating) is reported with ``qms report --week``;
every figure is recomputed here, independently, from the events ``qms export-events`` writes
(numpy for the percentile), and compared with the JSON, the spreadsheet and the CSV. The PDF is
checked page by page with pdftotext (poppler-utils): A4, the center and the period on every page.
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy
import pytest
from openpyxl import load_workbook

from server.cli import main as qms

ROOT = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
WEEK, MONDAY = "2026-W48", "2026-11-23"


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    root = tmp_path_factory.mktemp("week")
    subprocess.run([sys.executable, str(ROOT / "data" / "scenarios" / "generate.py"), "ward", "--date", MONDAY,
                    "--days", "5", "--seed", "11", "--out", str(root / "days")], check=True, capture_output=True)
    settings = root / "server.toml"
    settings.write_text(f'state_dir = "{root}"\ndatabase = "{root / "qms.db"}"\n', encoding="utf-8")
    days = sorted(p for p in (root / "days").iterdir() if p.is_dir())
    assert [d.name for d in days] == ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
    for day in days:
        assert qms(["simulate", str(day), "--db", str(root / "qms.db"), "--ratings", "--out", str(root / "sim.csv")]) == 0
    base = ["--settings", str(settings)]
    assert qms([*base, "export-events", "--out", str(root / "events.csv")]) == 0
    assert qms([*base, "report", "--week", WEEK, "--format", "all", "--out", str(root / "out")]) == 0
    from server.app import create_app  # the dashboard's download: the same figures as JSON
    from server.settings import load_settings
    app = create_app(load_settings(settings).model_copy(update={"password_profile": "cheapest-for-tests"}))
    with app.app_context():
        from server.reporting import files, period
        report = files.build(app.extensions["qms"].engine, period.week(WEEK))
    return {"root": root, "out": root / "out", "events": root / "events.csv", "report": report}


def recompute(events_csv: Path) -> dict:
    """The week's figures from the exported events, written without the server's code."""
    tickets: dict[str, dict] = {}
    for row in csv.DictReader(events_csv.open(encoding="utf-8")):
        tid, kind, at, data = row["ticket_id"], row["type"], float(row["at"]), json.loads(row["data"])
        if kind == "ticket_issued":
            tickets[tid] = {"day": data["day"], "service": data["service"], "issued": data.get("issued_at", at),
                            "call": None, "start": None, "end": None, "outcome": "open", "counter": None,
                            "clerk": None, "scores": [], "reasons": []}
            continue
        t = tickets.get(tid)
        if t is None:
            continue
        if kind in ("ticket_call", "ticket_resume"):
            t["call"] = t["call"] or at
            t["counter"], t["clerk"] = int(row["counter"]), row["actor"]
        elif kind == "ticket_start":
            t["start"] = at
        elif kind == "ticket_finish":
            t["end"], t["outcome"] = at, "served"
        elif kind in ("ticket_no_show", "ticket_abandon"):
            t["outcome"] = {"ticket_no_show": "no_show", "ticket_abandon": "abandoned"}[kind]
            t["left"] = at
        elif kind == "ticket_cancel":
            if data.get("reason", "").startswith("superseded_by_offline"):
                del tickets[tid]
            else:
                t["outcome"], t["left"] = "cancelled", at
        elif kind == "ticket_rated":
            t["scores"].append(data["score"])
            if data.get("reason"):
                t["reasons"].append(data["reason"])
    return tickets


def figures(ts: list[dict]) -> dict:
    waits = [t["call"] - t["issued"] for t in ts if t["call"] is not None]
    services = [t["end"] - t["start"] for t in ts if t["outcome"] == "served"]
    n = len(ts)
    return {
        "issued": n,
        "served": sum(t["outcome"] == "served" for t in ts),
        "no_show": sum(t["outcome"] == "no_show" for t in ts),
        "abandoned": sum(t["outcome"] == "abandoned" for t in ts),
        "mean_wait_min": round(numpy.mean(waits) / 60, 1),
        "p90_wait_min": round(float(numpy.percentile(waits, 90)) / 60, 1),
        "called_within_target": round(sum(w <= 900 for w in waits) / len(waits), 4),
        "served_within_target": round(sum(s <= 1800 for s in services) / len(services), 4),
        "no_show_rate": round(sum(t["outcome"] == "no_show" for t in ts) / n, 4),
        "walk_away_rate": round(sum(t["outcome"] == "abandoned" for t in ts) / n, 4),
    }


def test_the_week_is_a_real_busy_week(week):
    r = week["report"]
    assert r["period"]["label"] == "Tuần 48/2026 (23/11/2026 – 29/11/2026)"
    assert r["totals"]["issued"] > 1000 and r["satisfaction"]["ratings"] > 300
    assert r["totals"]["abandoned"] > 0 and r["totals"]["no_show"] > 0 and r["promise_broken"]


def test_totals_days_and_services_agree_with_the_event_log(week):
    tickets = recompute(week["events"])
    r = week["report"]
    ts = list(tickets.values())
    assert {k: r["totals"][k] for k in figures(ts)} == figures(ts)
    for d in r["by_day"]:
        mine = [t for t in ts if t["day"] == d["day"]]
        assert {k: d[k] for k in figures(mine)} == figures(mine), d["day"]
        assert d["issued_by_service"] == {s: sum(t["service"] == s for t in mine) for s in d["issued_by_service"]}
    for s in r["by_service"]:
        mine = [t for t in ts if t["service"] == s["service"]]
        assert {k: s[k] for k in figures(mine)} == figures(mine), s["service"]
    assert sorted({t["day"] for t in ts}) == [d["day"] for d in r["by_day"]]


def test_satisfaction_throughput_heatmap_and_broken_promise_agree(week):
    ts = list(recompute(week["events"]).values())
    r = week["report"]
    scores = Counter(s for t in ts for s in t["scores"])
    assert r["satisfaction"]["levels"] == {str(k): scores[k] for k in (4, 3, 2, 1)}
    assert r["satisfaction"]["satisfied_share"] == round((scores[4] + scores[3]) / sum(scores.values()), 4)
    assert r["satisfaction"]["reasons"] == {k: v for k, v in {
        k: Counter(x for t in ts for x in t["reasons"])[k] for k in r["satisfaction"]["reasons"]}.items()}
    assert sum(r["satisfaction"]["reasons"].values()) == scores[1]  # every low score carries its reason

    served_at = Counter(t["counter"] for t in ts if t["outcome"] == "served")
    assert {c["counter"]: c["served"] for c in r["by_counter"]} == dict(served_at)
    by_clerk = Counter(t["clerk"] for t in ts if t["outcome"] == "served")
    assert {c["clerk"]: c["served"] for c in r["by_clerk"]} == dict(by_clerk)

    heat = defaultdict(int)
    for t in ts:
        local = datetime.fromtimestamp(t["issued"], TZ)
        heat[(local.isoweekday(), local.hour)] += 1
    hm = r["heatmap"]
    assert {(d + 1, h): hm["issued"][d][i] for d in range(7) for i, h in enumerate(hm["hours"])
            if hm["issued"][d][i]} == dict(heat)

    late = [t for t in ts if (t["call"] or t.get("left") or t["issued"]) - t["issued"] > 900]
    assert sum(b["tickets"] for b in r["promise_broken"]) == len(late)
    for t in late:  # each late citizen's overdue stretch lies inside one reported stretch of that day
        start = datetime.fromtimestamp(t["issued"] + 900, TZ).strftime("%H:%M")
        end = datetime.fromtimestamp(t["call"] or t["left"], TZ).strftime("%H:%M")
        assert any(b["day"] == t["day"] and b["from"] <= start and end <= b["to"] for b in r["promise_broken"])
    longest = max((t["call"] or t["left"]) - t["issued"] for t in late)
    assert max(b["longest_wait_min"] for b in r["promise_broken"]) == round(longest / 60, 1)


def test_the_spreadsheet_and_csv_say_the_same_in_vietnamese(week):
    r = week["report"]
    wb = load_workbook(week["out"] / f"bao-cao-{WEEK}.xlsx")
    assert wb["Thông tin"]["B2"].value == r["period"]["label"]
    sheet = wb["Theo lĩnh vực"]
    heads = [c.value for c in sheet[1]]
    assert heads[:3] == ["Lĩnh vực", "Số vé", "Đã phục vụ"] and "Tỷ lệ được gọi trong 15 phút" in heads
    col = heads.index("Tỷ lệ được gọi trong 15 phút")
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    for s in r["by_service"]:
        cell = rows[s["service_name"]][col]
        assert cell.value == s["called_within_target"] and cell.number_format == "0.0%"  # a percentage cell
        assert rows[s["service_name"]][1].value == s["issued"]
    lines = list(csv.reader((week["out"] / f"bao-cao-{WEEK}.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert lines[0][:4] == ["Ngày", "Mã lĩnh vực", "Lĩnh vực", "Số vé"]
    share = lines[0].index("Tỷ lệ được gọi trong 15 phút")
    first = next(x for x in r["by_day_service"] if x["called_within_target"] is not None)
    assert lines[1][share] == f"{first['called_within_target'] * 100:.1f}%"
    assert len(lines) - 1 == len(r["by_day_service"])


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")
def test_the_pdf_is_a4_with_center_and_period_on_every_page(week):
    pdf = week["out"] / f"bao-cao-{WEEK}.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 3 and "pts (A4)" in info
    center = week["report"]["center"]
    for n in range(1, pages + 1):
        text = subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), "-layout", str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert center in text and "Tuần 48/2026" in text and f"Trang {n} / {pages}" in text, n
    whole = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for heading in ("Tổng hợp", "Giờ cao điểm", "Mức độ hài lòng", "Theo quầy", "Theo cán bộ",
                    "Những lúc không giữ được cam kết 15 phút"):
        assert heading in whole
    html = (week["out"] / f"bao-cao-{WEEK}.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/svg+xml;base64,') == 4  # the four plots travel inside the file
