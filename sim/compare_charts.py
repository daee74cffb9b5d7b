"""The comparison chart of twin runs (design 11, issue 9): users, depth and activity of the
base run and its twins on one time axis (daily), the difference twin - base below."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from sim.charts import (
    DPI,
    _decorate,
    _new_figure,
    _RunView,
    _total,
    _usd,
    _users,
    chart_style,
    save_figure,
)

# (title, how a day aggregates it, column or builder, is it USD)
PANELS = (
    ("users: active traders + LPs", "mean", _users, False),
    ("depth: pool capacity (USD)", "mean", lambda v: _total(v, "pool_capacity_usd"), True),
    ("depth: margin tokens' AMM depth +-2% (USD)", "mean", lambda v: v.col("margin_depth_usd"), True),
    ("activity: option + perp volume per day (USD)", "sum", lambda v: _total(v, "volume_usd"), True),
)
BASE_STYLE = dict(color="black", lw=1.8)
TWIN_COLORS = ("tab:blue", "tab:orange", "tab:green")


def draw_comparison(base: pd.DataFrame, twins: Mapping[str, pd.DataFrame], path: str | Path,
                    title: str = "", t0_step: int | None = None) -> Path:
    """Draw ``comparison.png``: per panel, the base's daily path and each twin's, and below it
    each twin minus the base. ``t0_step``: the impulse's step, marked on every axis."""
    views = {"base": _RunView.of(base, None)} | {n: _RunView.of(ts, None) for n, ts in twins.items()}
    t0 = None
    if t0_step is not None:
        rows = base.index[base["step"] == t0_step]
        t0 = views["base"].ts.index[rows[0]] if len(rows) else None
    with chart_style():
        fig = _new_figure(title, "Base run (black) and its twins, daily; below: twin - base",
                          height_in=8.5)
        axes = fig.subplots(2, len(PANELS), sharex=True, height_ratios=[2.2, 1])
        for j, (label, how, pick, usd) in enumerate(PANELS):
            top, low = axes[0, j], axes[1, j]
            daily = {n: v.daily(s, how) for n, v in views.items() if (s := pick(v)) is not None}
            if "base" not in daily:
                top.set_title(f"{label}\n(no data)", fontsize=10)
                continue
            top.plot(daily["base"].index, daily["base"].to_numpy(), label="base", **BASE_STYLE)
            for color, name in zip(TWIN_COLORS, twins, strict=False):
                if name in daily:
                    ls = "--" if "frozen" in name else "-"     # frozen twins often overlap
                    top.plot(daily[name].index, daily[name].to_numpy(), color=color, lw=1.4, ls=ls,
                             label=name)
                    diff = daily[name] - daily["base"]
                    low.plot(diff.index, diff.to_numpy(), color=color, lw=1.4, ls=ls)
            low.axhline(0.0, color="0.4", lw=0.8)
            for ax in (top, low):
                _decorate(ax, views["base"], daily=True)
                if t0 is not None:
                    ax.axvline(t0, color="tab:purple", ls=":", lw=1.2)
                if usd:
                    ax.yaxis.set_major_formatter(_usd_formatter())
            missing = [n for n in twins if n not in daily or daily[n].isna().all()]
            top.set_title(label + (f"\n(none in: {', '.join(missing)})" if missing else ""), fontsize=10)
            low.set_title("twin - base", fontsize=9)
            low.set_xlabel("time (UTC)")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        if t0 is not None:
            from matplotlib.lines import Line2D

            handles.append(Line2D([], [], color="tab:purple", ls=":", lw=1.2))
            labels.append("impulse (t0)")
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=9)
        return save_figure(fig, path, DPI)


def _usd_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(_usd)
