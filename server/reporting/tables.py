"""The report as spreadsheets for the province: CSV (one table) and XLSX (one sheet per table),
Vietnamese headers; shares written as percentages (CSV ``87,5%``; XLSX a number formatted %)."""
from __future__ import annotations

import csv
import io

from ..engine.rating import LEVELS, REASONS

# (key, Vietnamese header, kind): kind "pct" is a share, "num" minutes, "int" a count, "text"
FIGURES = [
    ("issued", "Số vé", "int"), ("served", "Đã phục vụ", "int"), ("no_show", "Vắng mặt", "int"),
    ("abandoned", "Bỏ về", "int"), ("cancelled", "Đã hủy", "int"), ("open", "Chưa xong", "int"),
    ("mean_wait_min", "Thời gian chờ trung bình (phút)", "num"),
    ("p90_wait_min", "Thời gian chờ bách phân vị 90 (phút)", "num"),
    ("called_within_target", "Tỷ lệ được gọi trong 15 phút", "pct"),
    ("mean_service_min", "Thời gian xử lý trung bình (phút)", "num"),
    ("served_within_target", "Tỷ lệ giải quyết trong 30 phút", "pct"),
    ("no_show_rate", "Tỷ lệ vắng mặt", "pct"), ("walk_away_rate", "Tỷ lệ bỏ về", "pct"),
]


DAILY = "Theo ngày và lĩnh vực"
DAILY_HEADS = ([("Ngày", "text"), ("Mã lĩnh vực", "text"), ("Lĩnh vực", "text")] + [(h, k) for _, h, k in FIGURES[:11]]
               + [("Số lượt đánh giá", "int"), ("Điểm hài lòng trung bình (1-4)", "num")])


def daily_sheet(rows: list[dict]) -> tuple[list, list]:
    """The per day and service table (server/reports.py's rows)."""
    return DAILY_HEADS, [[r["day"], r["service"], r["service_name"], *[r.get(k) for k, _, _ in FIGURES[:11]],
                          r["ratings"], r["mean_rating"]] for r in rows]


def sheets(report: dict) -> dict[str, tuple[list[tuple[str, str]], list[list]]]:
    """Sheet name -> (headers with kinds, rows)."""
    fig_heads = [(h, k) for _, h, k in FIGURES]
    sat_heads = [("Số lượt đánh giá", "int"), ("Tỷ lệ hài lòng", "pct")] + [
        (LEVELS[s][0], "int") for s in sorted(LEVELS, reverse=True)]

    def figs(row: dict) -> list:
        return [row.get(k) for k, _, _ in FIGURES]

    def sat(s: dict) -> list:
        return [s["ratings"], s["satisfied_share"], *s["levels"].values()]

    out: dict[str, tuple[list, list]] = {}
    out[DAILY] = daily_sheet(report["by_day_service"])
    out["Theo ngày"] = ([("Ngày", "text")] + fig_heads + [("Tỷ lệ hài lòng", "pct")],
                       [[d["day"], *figs(d), d["satisfied_share"]] for d in report["by_day"]])
    if report.get("by_site"):
        out["Theo điểm"] = ([("Điểm tiếp nhận", "text")] + fig_heads + [("Tỷ lệ hài lòng", "pct")],
                            [[s["site_name"], *figs(s), s["satisfied_share"]] for s in report["by_site"]])
    out["Theo lĩnh vực"] = ([("Lĩnh vực", "text")] + fig_heads + sat_heads,
                           [[s["service_name"], *figs(s), *sat(s["satisfaction"])] for s in report["by_service"]])
    thr = [("Đã gọi", "int"), ("Đã phục vụ", "int"), ("Vắng mặt", "int"), ("Thời gian xử lý trung bình (phút)", "num"),
           ("Tỷ lệ giải quyết trong 30 phút", "pct")] + sat_heads
    out["Theo quầy"] = ([("Quầy", "int")] + thr, [[c["counter"], c["called"], c["served"], c["no_show"],
                        c["mean_service_min"], c["served_within_target"], *sat(c["satisfaction"])]
                        for c in report["by_counter"]])
    out["Theo cán bộ"] = ([("Cán bộ", "text"), ("Tài khoản", "text")] + thr, [[c.get("name") or c["clerk"], c["clerk"], c["called"], c["served"], c["no_show"],
                          c["mean_service_min"], c["served_within_target"], *sat(c["satisfaction"])]
                          for c in report["by_clerk"]])
    out["Lý do không hài lòng"] = ([("Lý do", "text"), ("Số lượt", "int")],
                                   [[REASONS[k][0], n] for k, n in report["satisfaction"]["reasons"].items()])
    h = report["heatmap"]
    out["Giờ cao điểm"] = ([("Thứ", "text")] + [(f"{x}h", "int") for x in h["hours"]],
                           [[h["weekdays"][i], *row] for i, row in enumerate(h["issued"])])
    out["Quá cam kết 15 phút"] = (
        [("Ngày", "text"), ("Từ", "text"), ("Đến", "text"), ("Kéo dài (phút)", "num"),
         ("Số người chờ quá 15 phút", "int"), ("Chờ lâu nhất (phút)", "num")],
        [[b["day"], b["from"], b["to"], b["minutes"], b["tickets"], b["longest_wait_min"]]
         for b in report["promise_broken"]])
    return out


def _csv_cell(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "pct":
        return f"{value * 100:.1f}%"
    return str(value)


def write_table(heads: list, rows: list, out) -> None:
    w = csv.writer(out)
    w.writerow([h for h, _ in heads])
    for row in rows:
        w.writerow([_csv_cell(v, k) for v, (_, k) in zip(row, heads)])


def csv_text(report: dict, sheet: str = DAILY) -> str:
    """One table as CSV, with a byte-order mark so spreadsheet programs read Vietnamese as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    write_table(*sheets(report)[sheet], out)
    return out.getvalue()


def xlsx_bytes(report: dict) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    info = wb.active
    info.title = "Thông tin"
    for row in (("Đơn vị", report["center"]), ("Kỳ báo cáo", report["period"]["label"]),
                ("Từ ngày", report["period"]["first"]), ("Đến ngày", report["period"]["last"]),
                ("Lập lúc", report["generated_at"])):
        info.append(row)
    info.column_dimensions["A"].width, info.column_dimensions["B"].width = 16, 60
    for name, (heads, rows) in sheets(report).items():
        ws = wb.create_sheet(name[:31])
        ws.append([h for h, _ in heads])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in rows:
            ws.append(row)
            for cell, (_, kind) in zip(ws[ws.max_row], heads):
                if kind == "pct":
                    cell.number_format = "0.0%"
                elif kind == "num":
                    cell.number_format = "0.0"
        for i, (h, _) in enumerate(heads, start=1):
            ws.column_dimensions[ws.cell(1, i).column_letter].width = max(10, min(28, len(h) + 2))
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
