"""A study's charts (PNG beside REPORT.md in ``charts/``): the flywheel gain per scenario
against the horizon, and the margin twin's paired differences per scenario.

Figures are plain ``Figure`` objects on the Agg canvas (as ``sim.charts``), written atomically.
Every bar is the 95% paired percentile bootstrap interval over seeds that the report states.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter
from PIL import Image

from sim import results_io as rio
from sim.charts import chart_style
from sim.study.aggregate import (
    VERDICT_HORIZON_DAYS,
    VERDICT_IMPULSE,
    Estimate,
    MarginRow,
    ScenarioResult,
)
from sim.study.text import usd

DPI = 100
PALETTE = 64            # colours of a saved chart
GAIN_CHART, MARGIN_CHART = "gain.png", "margin_twin.png"
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
NOTE = "bars: 95% paired percentile bootstrap interval over seeds"


def _figure(width_in: float, height_in: float, title: str) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=12)
    return fig


def _errorbar(ax: Axes, x: float, e: Estimate, *, horizontal: bool = False, **style) -> None:
    lo = e.mean - e.low if e.has_interval else 0.0
    hi = e.high - e.mean if e.has_interval else 0.0
    err = [[lo], [hi]]
    if horizontal:
        ax.errorbar([e.mean], [x], xerr=err, capsize=3, **style)
    else:
        ax.errorbar([x], [e.mean], yerr=err, capsize=3, **style)


def gain_figure(results: Sequence[ScenarioResult], study_name: str) -> Figure:
    """One panel per scenario: G (solid) and G - G_frozen (dashed) against H, per impulse size,
    with the reference lines G = 1 and G - G_frozen = 0."""
    shown = [r for r in results if r.points]
    cols = min(4, max(1, len(shown)))
    rows = max(1, math.ceil(len(shown) / cols))
    fig = _figure(max(3.3 * cols, 8.0), 2.6 * rows + 1.4,
                  f"Flywheel gain by horizon: study {study_name}\n{NOTE}")
    fractions = sorted({p.fraction for r in shown for p in r.points})
    horizons = sorted({p.horizon_days for r in shown for p in r.points})
    span = max(horizons) - min(horizons) or max(horizons)
    step = span * 0.012
    verdict_shown = any(math.isclose(h, VERDICT_HORIZON_DAYS) for h in horizons)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    for ax, r in zip(axes.flat, shown, strict=False):
        ax.axhline(1.0, color="0.35", lw=0.9, ls=":")
        ax.axhline(0.0, color="0.35", lw=0.9, ls="-", alpha=0.6)
        if verdict_shown:
            ax.axvline(VERDICT_HORIZON_DAYS, color="0.8", lw=4, zorder=0)
        ax.set_xlim(min(horizons) - 0.12 * span, max(horizons) + 0.12 * span)
        for i, k in enumerate(fractions):
            color = COLORS[i % len(COLORS)]
            mine = [p for p in r.points if p.fraction == k and p.inside_run]
            series = (([(p.horizon_days, p.gain) for p in mine if p.gain], "-", "o"),
                      ([(p.horizon_days, p.flywheel) for p in mine if p.flywheel], "--", "s"))
            for j, (pts, ls, marker) in enumerate(series):
                dx = (2 * i + j - len(fractions)) * step
                ax.plot([h + dx for h, _ in pts], [e.mean for _, e in pts], color=color, ls=ls,
                        lw=1.1)
                for h, e in pts:
                    _errorbar(ax, h + dx, e, color=color, marker=marker, ms=4, ls="none", lw=1)
        for h in sorted({p.horizon_days for p in r.points if not p.inside_run}):
            ax.text(h, 0.5, "past the run's end", transform=ax.get_xaxis_transform(),
                    rotation=90, ha="center", va="center", fontsize=8, color="0.4",
                    bbox=dict(fc="white", ec="none", alpha=0.9, pad=1))
        ax.set_title(f"{r.name}: {r.verdict.label}", fontsize=10, loc="left")
        ax.set_xticks(horizons)
        ax.grid(True, color="0.92", lw=0.6)
    for ax in axes[-1]:
        ax.set_xlabel("horizon H after the impulse (days)")
    for ax in axes[:, 0]:
        ax.set_ylabel("users per added trader")
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=COLORS[i % len(COLORS)], lw=6, label=f"k = {k:.0%}")
               for i, k in enumerate(fractions)]
    handles += [Line2D([], [], color="0.2", ls="-", marker="o", label="G"),
                Line2D([], [], color="0.2", ls="--", marker="s", label="G - G_frozen"),
                Line2D([], [], color="0.35", ls=":",
                       label="G = 1: the added traders stay, no more"),
                Line2D([], [], color="0.35", ls="-", alpha=0.6,
                       label="G - G_frozen = 0: depth and spread add nobody"),
                ]
    if verdict_shown:
        handles.append(Line2D([], [], color="0.8", lw=4,
                              label=f"verdict at H = {VERDICT_HORIZON_DAYS:g} d, "
                                    f"k = {VERDICT_IMPULSE:.0%}"))
    fig.legend(handles=handles, loc="outside lower center", ncols=math.ceil(len(handles) / 2),
               frameon=False, fontsize=8)
    return fig


# (measure key, panel title, x-axis label, what is plotted)
_MARGIN_PANELS = (
    ("users", "active users at the end", "(base - twin) / twin", "relative"),
    ("volume", "volume, options + perps", "(base - twin) / twin", "relative"),
    ("capacity", "pool capacity (mean)", "(base - twin) / twin", "relative"),
    ("margin_depth", "margin-token AMM depth +-2% (mean), base only",
     "USD (the USDC twin has no margin token)", "base"),
    ("lp_return", "LP money-weighted return (USD terms)", "base - twin (percentage points)",
     "difference"),
    ("bad_debt", "bad debt", "base - twin (USD)", "difference"),
)


_MARGIN_VALUE = {"relative": lambda row: row.relative, "difference": lambda row: row.difference,
                 "base": lambda row: row.base}


def margin_figure(results: Sequence[ScenarioResult], study_name: str) -> Figure:
    """One panel per measure: stock-token margin against its USDC twin, one row per scenario."""
    shown = [r for r in results if r.margin]
    fig = _figure(13.0, 1.6 + 0.32 * len(shown) * 2 + 1.0,
                  f"Stock-token margin against its USDC margin twin: study {study_name}\n"
                  f"base (stock-token margin) - twin (USDC margin), paired by seed; {NOTE}")
    axes = fig.subplots(2, 3, squeeze=False, sharey=True)
    labels = [r.name for r in shown]
    for ax, (key, title, xlabel, what) in zip(axes.flat, _MARGIN_PANELS, strict=True):
        if what != "base":
            ax.axvline(0.0, color="0.35", lw=0.9)
        scale = 100.0 if key == "lp_return" else 1.0      # a return's difference in pp
        plotted = []
        for y, r in enumerate(shown):
            row: MarginRow | None = next((m for m in r.margin if m.measure.key == key), None)
            e = _MARGIN_VALUE[what](row) if row else None
            if e is None:
                continue
            e = Estimate(e.mean * scale, None if e.low is None else e.low * scale,
                         None if e.high is None else e.high * scale, e.n)
            color = ("#1f77b4" if what == "base" else "#2ca02c" if e.above(0)
                     else "#d62728" if e.below(0) else "0.3")
            _errorbar(ax, y, e, horizontal=True, color=color, marker="o", ms=4, lw=1.2)
            plotted.append(e)
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xlabel(xlabel, fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        if what == "relative":
            ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        elif key in ("bad_debt", "margin_depth"):
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: usd(x)))
        note = ("not measured" if not plotted else
                "0 in every seed" if all(e.mean == 0 and e.low in (0, None) and e.high in (0, None)
                                         for e in plotted) else "")
        if note:
            ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center",
                    color="0.3", fontsize=9, bbox=dict(fc="white", ec="none", alpha=0.9))
            ax.set_xticks([])
        ax.grid(True, axis="x", color="0.92", lw=0.6)
        ax.set_yticks(range(len(labels)), labels, fontsize=9)
        ax.set_ylim(len(labels) - 0.5, -0.5)
    fig.legend(handles=[Line2D([], [], color="#2ca02c", marker="o", label="interval above 0"),
                        Line2D([], [], color="#d62728", marker="o", label="interval below 0"),
                        Line2D([], [], color="0.3", marker="o", label="interval contains 0"),
                        Line2D([], [], color="#1f77b4", marker="o",
                               label="level of the base run")],
               loc="outside lower center", ncols=4, frameon=False, fontsize=8)
    return fig


def _save_png(fig: Figure, path: Path) -> None:
    """Write ``fig`` atomically as a PNG of at most ``PALETTE`` colours (Pillow, matplotlib's own
    image library): a chart of lines and text looks the same at a quarter of the bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(PALETTE, method=Image.Quantize.FASTOCTREE)
    with rio.atomic_path(path) as tmp:
        image.save(tmp, format="png", optimize=True)


def draw_study_charts(results: Sequence[ScenarioResult], study_name: str,
                      out_dir: str | Path) -> list[str]:
    """Write the study's charts into ``out_dir``; their file names, in the report's order."""
    builders = {GAIN_CHART: gain_figure, MARGIN_CHART: margin_figure}
    written = []
    for name, build in builders.items():
        if not any(r.points if name == GAIN_CHART else r.margin for r in results):
            continue
        with chart_style():
            fig = build(results, study_name)
        _save_png(fig, Path(out_dir) / name)
        fig.clear()
        written.append(name)
    return written
