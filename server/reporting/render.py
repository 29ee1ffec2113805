"""The printable report: HTML (jinja2, plots inline as SVG) and PDF (WeasyPrint, A4, the
center's name and the period in every page's margin)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..config import CenterConfig
from ..engine.rating import REASONS

_TEMPLATES = Path(__file__).with_name("templates")


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%".replace(".", ",")


def num(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}".replace(".", ",")


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters.update(pct=pct, num=num, vnday=lambda iso: f"{date.fromisoformat(iso):%d/%m/%Y}",
                       cssq=lambda s: str(s).replace("\\", "\\\\").replace('"', '\\"'))
    return env


def html(report: dict, config: CenterConfig) -> str:
    services = [(s.code, s.name) for s in config.services]
    from . import plots  # matplotlib and numpy (~40 MiB) only in the process that builds a report

    figures = {"tickets": plots.tickets_by_day(report, services), "waits": plots.waits_by_day(report),
               "heatmap": plots.heatmap(report), "satisfaction": plots.satisfaction(report)}
    return _env().get_template("report.html").render(r=report, plots=figures, services=services, reasons=REASONS)


def pdf(html_text: str) -> bytes:
    import logging

    from weasyprint import HTML
    for name in ("weasyprint", "weasyprint.progress", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return HTML(string=html_text, base_url=str(_TEMPLATES)).write_pdf()
