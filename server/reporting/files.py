"""One report, every format: what the CLI, the dashboard download and the schedule share."""
from __future__ import annotations

from pathlib import Path

from . import metrics, render, sites, tables
from .period import Period

FORMATS = ("pdf", "html", "xlsx", "csv")
MIME = {"pdf": "application/pdf", "html": "text/html; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv; charset=utf-8"}


def build(engine, period: Period, site: str | None = None) -> dict:
    """The report's figures for the period, from the engine's event log: the whole center
    (with a line per site when it has several), or one site (``site``)."""
    config = engine.config
    events = engine.events_of_days(period.first, period.last)
    sites.check_site(config, site)
    if site is None:
        report = _named(metrics.build(events, config, period, generated_at=engine.clock.now()), engine)
        report["site"] = None
        report["by_site"] = (sites.by_site(events, config, period.first.isoformat(), period.last.isoformat())
                             if len(config.sites) > 1 else [])
        return report
    report = _named(metrics.build(sites.of_site(events, site), config, period, generated_at=engine.clock.now()), engine)
    name = next(s.name for s in config.sites if s.id == site)
    report["site"] = {"id": site, "name": name}
    report["center"] = f"{report['center']} · {name}"
    report["period"]["slug"] = f"{report['period']['slug']}-{site}"
    report["by_site"] = []
    return report


def _named(report: dict, engine) -> dict:
    """Each clerk's line with the clerk's name beside the user name (``Engine.clerk_names``): the
    province reads people, not accounts."""
    names = engine.clerk_names()
    for line in report["by_clerk"]:
        line["name"] = names.get(line["clerk"])
    return report


def content(report: dict, config, fmt: str) -> bytes:
    if fmt == "csv":
        return tables.csv_text(report).encode("utf-8")
    if fmt == "xlsx":
        return tables.xlsx_bytes(report)
    page = render.html(report, config)
    return page.encode("utf-8") if fmt == "html" else render.pdf(page)


def filename(report: dict, fmt: str) -> str:
    return f"bao-cao-{report['period']['slug']}.{fmt}"


def write_all(report: dict, config, folder: str | Path, formats=FORMATS) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    html_text = None
    for fmt in formats:
        path = folder / filename(report, fmt)
        if fmt in ("html", "pdf"):
            html_text = html_text or render.html(report, config)
            data = html_text.encode("utf-8") if fmt == "html" else render.pdf(html_text)
        else:
            data = content(report, config, fmt)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # a reader never sees half a file
        written.append(path)
    return written
