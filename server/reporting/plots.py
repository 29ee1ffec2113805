"""The report's plots, drawn with matplotlib (Agg, no display) as SVG data URIs."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..engine.rating import LEVELS  # noqa: E402

plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9, "svg.fonttype": "path",
                     "axes.spines.top": False, "axes.spines.right": False})
COLORS = ["#1f5fa8", "#e07b39", "#3a9a5b", "#b8453b", "#7d5ba6", "#8c6d46", "#d4a017", "#4b8f9e"]


def _svg(fig) -> str:
    """The figure as an ``<img>`` source (an SVG data URI: sharp when printed, one file)."""
    out = io.BytesIO()
    fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _day(iso: str) -> str:
    return f"{iso[8:10]}/{iso[5:7]}"


def tickets_by_day(report: dict, services: list[tuple[str, str]]) -> str:
    days = report["by_day"]
    fig, ax = plt.subplots(figsize=(7.2, 2.6))
    bottom = [0] * len(days)
    for i, (code, name) in enumerate(services):
        values = [d["issued_by_service"].get(code, 0) for d in days]
        if any(values):
            ax.bar([_day(d["day"]) for d in days], values, bottom=bottom, label=name, color=COLORS[i % len(COLORS)])
            bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("Số vé (tickets)")
    if any(bottom):
        ax.legend(fontsize=7, ncol=3, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    return _svg(fig)


def waits_by_day(report: dict) -> str:
    days = report["by_day"]
    labels = [_day(d["day"]) for d in days]
    fig, ax = plt.subplots(figsize=(7.2, 2.4))
    x = range(len(days))
    ax.bar([i - 0.2 for i in x], [d["mean_wait_min"] or 0 for d in days], width=0.4, label="Chờ trung bình (mean)",
           color=COLORS[0])
    ax.bar([i + 0.2 for i in x], [d["p90_wait_min"] or 0 for d in days], width=0.4,
           label="90% chờ không quá (90th percentile)", color=COLORS[1])
    ax.axhline(report["targets"]["max_wait_min"], color="#b8453b", linestyle="--", linewidth=1)
    ax.text(len(days) - 0.5, report["targets"]["max_wait_min"], " cam kết 15 phút", color="#b8453b",
            va="bottom", ha="right", fontsize=7)
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("Phút (minutes)")
    ax.legend(fontsize=7, frameon=False, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return _svg(fig)


def heatmap(report: dict) -> str:
    h = report["heatmap"]
    rows = [i for i, r in enumerate(h["issued"]) if any(r)] or list(range(5))
    fig, ax = plt.subplots(figsize=(7.2, 0.45 * len(rows) + 0.9))
    data = [h["issued"][i] for i in rows]
    im = ax.imshow(data, aspect="auto", cmap="YlOrRd")
    ax.set_yticks(range(len(rows)), [h["weekdays"][i] for i in rows])
    ax.set_xticks(range(len(h["hours"])), [f"{x}h" for x in h["hours"]])
    top = max(max(r) for r in data) or 1
    for y, row in enumerate(data):
        for x, v in enumerate(row):
            if v:
                ax.text(x, y, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 * top else "black")
    fig.colorbar(im, ax=ax, label="vé (tickets)", fraction=0.03)
    ax.spines[:].set_visible(False)
    return _svg(fig)


def satisfaction(report: dict) -> str:
    levels = report["satisfaction"]["levels"]
    fig, ax = plt.subplots(figsize=(7.2, 1.8))
    names = [LEVELS[int(s)][0] for s in levels]
    ax.barh(names[::-1], list(levels.values())[::-1], color=["#b8453b", "#d4a017", "#7fb069", "#3a9a5b"])
    for i, v in enumerate(list(levels.values())[::-1]):
        ax.text(v, i, f" {v}", va="center", fontsize=8)
    ax.set_xlabel("Lượt đánh giá (ratings)")
    return _svg(fig)
