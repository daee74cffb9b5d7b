"""A sweep's charts (design 12): each headline metric against the swept parameter.

One varied parameter (or a ``zip:`` of several): one chart per headline metric, a line per
scenario with its 95% interval as a band, the points evenly spaced along x and labelled by
their values, and the report's threshold drawn where the sweep names one; plus
``headlines.png``, every headline on one page (the twins' gains and differences, with
``compare:``, have their own charts only). Two ``grid:`` parameters: a heatmap per metric,
one panel per scenario, each cell labelled with its value and interval. ``sample:`` sweeps are
read through ``flywheel sensitivity`` instead. Figures are plain ``Figure`` objects on the Agg
canvas (as ``sim.charts``), written atomically.
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from sim.charts import save_figure
from sim.sweep.aggregate import HEADLINE_BY_NAME
from sim.sweep.spec import SweepSpec, describe

DPI = 100
THRESHOLD_COLOR = "#c0392b"


def _fmt(unit: str, x: float) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    match unit:
        case "share" | "return":
            return f"{100 * x:.{0 if unit == 'share' and abs(100 * x - round(100 * x)) < 1e-9 else 1}f}%"
        case "usd":
            sign = "-" if x < 0 else ""
            for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
                if abs(x) >= factor:
                    return f"{sign}${abs(x) / factor:.1f}{suffix}"
            return f"{sign}${abs(x):,.0f}"
        case "days":
            return f"day {x:.1f}"
        case "ratio":
            return f"{x:+.2f}"
    return f"{x:,.1f}"


def _axis_label(unit: str) -> str:
    return {"share": "share of seeds", "return": "return", "usd": "USD",
            "days": "day of the run", "count": "count",
            "ratio": "extra active users per added trader"}.get(unit, unit)


def _meta(frame: pd.DataFrame, metric: str) -> tuple[str, str]:
    """(label, unit) of a metric, as aggregate.csv states them."""
    row = frame.loc[frame["metric"] == metric].iloc[0]
    return str(row["label"]), str(row["unit"])


def chart_file(metric: str) -> str:
    """``gain_k_10_H_30d_.png``: a metric's chart file (its name made safe for a file system)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", metric) + ".png"


def _save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` atomically, then free it at once (a figure and its renderer hold several
    MB until the cycle collector runs; the parent's memory is budgeted, design 16)."""
    save_figure(fig, path, DPI)
    gc.collect()
    return path


def _x_labels(frame: pd.DataFrame, varied: Sequence[str]) -> tuple[list[int], list[str], str]:
    """(points in order, their tick labels, the x axis's title)."""
    pts = frame.drop_duplicates("point").sort_values("point")
    if len(varied) == 1:
        labels = [f"{v:g}" if isinstance(v, float) else str(v) for v in pts[varied[0]]]
        return list(pts["point"]), labels, f"{varied[0]} (points evenly spaced)"
    labels = [describe({p: row[p] for p in varied}).replace(", ", "\n")
              for _, row in pts.iterrows()]
    return list(pts["point"]), labels, "point (values varied together)"


def _line_panel(ax: Axes, frame: pd.DataFrame, varied: Sequence[str], metric: str,
                threshold: float | None, scenarios: Sequence[str] | None = None,
                dodge: bool = False) -> None:
    """``metric`` against the points: a line per scenario with its 95% interval (a band, or
    with ``dodge`` an error bar shifted a little per scenario so that equal values stay
    visible); shares are labelled k/n."""
    _, unit = _meta(frame, metric)
    rows = frame[frame["metric"] == metric]
    if scenarios is not None:
        rows = rows[rows["scenario"].isin(scenarios)]
    points, labels, xtitle = _x_labels(rows, varied)
    xpos = {p: i for i, p in enumerate(points)}
    groups = list(rows.groupby("scenario", sort=False))
    for i, (scenario, group) in enumerate(groups):
        group = group.sort_values("point")
        shift = 0.08 * (i - (len(groups) - 1) / 2) if dodge else 0.0
        x = np.array([xpos[p] for p in group["point"]], dtype=float) + shift
        y = group["value"].to_numpy(float)
        if dodge:
            # a percentile interval need not contain its point estimate (a 95th percentile's
            # resamples, rounding): the bar then reaches the point, not past it
            err = np.vstack([y - group["low"].to_numpy(float), group["high"].to_numpy(float) - y])
            err = np.clip(np.where(np.isfinite(err), err, 0.0), 0.0, None)
            ax.errorbar(x, y, yerr=err, marker="o",
                        markersize=4, capsize=2, label=str(scenario))
        else:
            line, = ax.plot(x, y, marker="o", label=str(scenario))
            ax.fill_between(x, group["low"], group["high"], color=line.get_color(), alpha=0.18,
                            linewidth=0, label="95% interval")
            if unit == "share":
                for xi, yi, n in zip(x, y, group["n"]):
                    if np.isfinite(yi):
                        ax.annotate(f"{int(round(yi * n))}/{int(n)}", (xi, yi),
                                    textcoords="offset points", xytext=(0, 7), ha="center",
                                    fontsize=8)
    if not np.isfinite(rows["value"].to_numpy(float)).any():
        ax.text(0.5, 0.5, "no seed has a value here\n(e.g. the insurance never depleted)",
                transform=ax.transAxes, ha="center", va="center", color="0.4")
    if threshold is not None:
        ax.axhline(threshold, color=THRESHOLD_COLOR, linestyle="--", linewidth=1.2,
                   label=f"threshold {_fmt(unit, threshold)}")
    every = max(1, math.ceil(len(points) / 20))            # at most ~20 labels on the axis
    ax.set_xticks(range(0, len(points), every), labels[::every])
    ax.set_xlabel(xtitle)
    ax.set_ylabel(_axis_label(unit))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt(unit, v)))
    if unit == "share":
        ax.set_ylim(-0.02, 1.05)
    ax.grid(True, alpha=0.3)


def _estimator_note(frame: pd.DataFrame, metric: str) -> str:
    texts = frame.loc[frame["metric"] == metric, "estimator"]
    return str(texts.mode().iloc[0]) if len(texts) else ""


def line_figure(frame: pd.DataFrame, spec: SweepSpec, metric: str) -> Figure:
    """One headline against the swept parameter: a panel per scenario (shared y axis), its
    line and 95% band, the threshold where the sweep names one."""
    label, _ = _meta(frame, metric)
    scenarios = list(dict.fromkeys(frame.loc[frame["metric"] == metric, "scenario"]))
    cols = min(len(scenarios), 3)
    rows = math.ceil(len(scenarios) / cols)
    fig = Figure(figsize=(5.2 * cols + 1.0, 4.2 * rows + 1.2), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    threshold = spec.threshold.below if spec.threshold and spec.threshold.metric == metric else None
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel()
    for ax, scenario in zip(axes, scenarios):
        _line_panel(ax, frame, spec.varied, metric, threshold, scenarios=[scenario])
        ax.set_title(str(scenario), fontsize=11, loc="left")
        ax.legend(loc="best", fontsize=8, framealpha=0.85)
    for ax in axes[len(scenarios):]:
        ax.set_visible(False)
    fig.suptitle(f"{spec.name}: {label}\n{_estimator_note(frame, metric)}", fontsize=12)
    return fig


def overview_figure(frame: pd.DataFrame, spec: SweepSpec, metrics: Sequence[str]) -> Figure:
    """Every headline on one page, a panel each, the scenarios side by side at each point
    (bars: 95% intervals)."""
    cols = 3
    rows = math.ceil(len(metrics) / cols)
    fig = Figure(figsize=(16, 4.2 * rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics):
        threshold = (spec.threshold.below
                     if spec.threshold and spec.threshold.metric == metric else None)
        _line_panel(ax, frame, spec.varied, metric, threshold, dodge=True)
        ax.set_title(_meta(frame, metric)[0], fontsize=11, loc="left")
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6),
               title="scenario (bars: 95% intervals; estimators in aggregate.csv)")
    fig.suptitle(f"{spec.name}: headline metrics by point", fontsize=13)
    return fig


def heatmap_figure(frame: pd.DataFrame, spec: SweepSpec, metric: str) -> Figure:
    """One headline over two grid parameters: a panel per scenario, cells labelled."""
    label, unit = _meta(frame, metric)
    ypath, xpath = spec.varied
    rows = frame[frame["metric"] == metric]
    scenarios = list(dict.fromkeys(rows["scenario"]))
    fig = Figure(figsize=(6.5 * len(scenarios), 5.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(scenarios), squeeze=False).ravel()
    yvals = list(dict.fromkeys(spec.grid[ypath]))
    xvals = list(dict.fromkeys(spec.grid[xpath]))
    for ax, scenario in zip(axes, scenarios):
        sub = rows[rows["scenario"] == scenario]
        grid = np.full((len(yvals), len(xvals)), np.nan)
        text = [["" for _ in xvals] for _ in yvals]
        for _, r in sub.iterrows():
            i, j = yvals.index(r[ypath]), xvals.index(r[xpath])
            grid[i, j] = r["value"]
            text[i][j] = (f"{_fmt(unit, r['value'])}\n"
                          f"[{_fmt(unit, r['low'])}, {_fmt(unit, r['high'])}]")
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        for i in range(len(yvals)):
            for j in range(len(xvals)):
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8, color="white")
        ax.set_xticks(range(len(xvals)), [str(v) for v in xvals])
        ax.set_yticks(range(len(yvals)), [str(v) for v in yvals])
        ax.set_xlabel(xpath)
        ax.set_ylabel(ypath)
        ax.set_title(str(scenario), fontsize=11, loc="left")
        fig.colorbar(image, ax=ax, label=_axis_label(unit),
                     format=FuncFormatter(lambda v, _pos: _fmt(unit, v)))
    fig.suptitle(f"{spec.name}: {label}\n{_estimator_note(frame, metric)} "
                 "(cells: value [95% interval])", fontsize=12)
    return fig


def draw_sweep_charts(aggregate: pd.DataFrame, spec: SweepSpec, charts_dir: Path) -> list[Path]:
    """Draw the sweep's charts into ``charts_dir``; the paths written (none for a sample)."""
    metrics = list(dict.fromkeys(aggregate["metric"]))
    if spec.kind == "sample" or not metrics:
        return []
    written = []
    if spec.kind == "grid" and len(spec.varied) == 2:
        for metric in metrics:
            written.append(_save(heatmap_figure(aggregate, spec, metric),
                                 charts_dir / chart_file(metric)))
        return written
    if spec.kind == "grid" and len(spec.varied) > 2:
        return []
    for metric in metrics:
        written.append(_save(line_figure(aggregate, spec, metric), charts_dir / chart_file(metric)))
    headline = [m for m in metrics if m in HEADLINE_BY_NAME]     # the twins' columns apart
    written.append(_save(overview_figure(aggregate, spec, headline), charts_dir / "headlines.png"))
    return written
