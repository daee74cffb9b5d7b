"""The four charts of a run (design section 12): prices, pools, flywheel, risk.

Each chart reads the run's time series and events by the column names of docs/interfaces.md
section 4 (per-entity columns such as ``premium[TSLA.M]``; the entities are found from the
names) and shows market-closed periods, the burn-in and the shocks on its time axis. Figures are
built as plain ``Figure`` objects on the Agg canvas, never through pyplot, so drawing leaks no
global state and the figures can be inspected before they are saved.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sim import results_io as rio

CHART_FILES = ("prices.png", "pools.png", "flywheel.png", "risk.png")
FIGSIZE_IN = (14.0, 8.0)
DPI = 100  # 1400 x 800 px

CLOSED_COLOR = "0.88"          # weekends and holidays
NIGHT_COLOR = "0.955"          # closed overnight: lighter, so weekends stand out
BURN_IN_COLOR = "#f3dfa8"
BURN_IN_HATCH = "#d9b865"
SHOCK_COLOR = "#c0392b"
DAY = pd.Timedelta(days=1)
LONG_CLOSE = pd.Timedelta(hours=20)  # longer than a night: weekends and holidays

_ENTITY_COLUMN = re.compile(r"^(?P<metric>[^\[\]]+)\[(?P<entity>[^\[\]]+)\]$")


def entities(columns: Sequence[str], metric: str) -> list[str]:
    """Entities that have a ``metric[<entity>]`` column, in column order."""
    found = []
    for col in columns:
        m = _ENTITY_COLUMN.match(str(col))
        if m and m["metric"] == metric:
            found.append(m["entity"])
    return found


def closed_spans(
    times: Sequence, market_open: Sequence[bool], min_length: pd.Timedelta = pd.Timedelta(0)
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Merged (start, end) spans of consecutive closed steps.

    A span runs from the first closed step's time to the next open step's time (or one step
    past the last row); spans shorter than ``min_length`` are dropped.
    """
    times = pd.DatetimeIndex(times)
    closed = ~np.asarray(market_open, dtype=bool)
    if len(times) == 0 or not closed.any():
        return []
    step = times[1] - times[0] if len(times) > 1 else pd.Timedelta(hours=1)
    edges = np.diff(np.concatenate(([0], closed.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # index of the first open step after the span
    spans = []
    for a, b in zip(starts, ends, strict=True):
        end = times[b] if b < len(times) else times[-1] + step
        if end - times[a] >= min_length:
            spans.append((times[a], end))
    return spans


@dataclass
class _RunView:
    """A run's time series indexed by naive UTC time, and what every time axis shows."""

    ts: pd.DataFrame
    shocks: list[tuple[pd.Timestamp, str]]
    burn_in_end: pd.Timestamp | None
    spans_all: list[tuple[pd.Timestamp, pd.Timestamp]]
    spans_long: list[tuple[pd.Timestamp, pd.Timestamp]]
    length: pd.Timedelta

    @classmethod
    def of(cls, timeseries: pd.DataFrame, events: pd.DataFrame | None) -> _RunView:
        if "time" not in timeseries.columns:
            raise ValueError("the time series has no 'time' column")
        if len(timeseries) == 0:
            raise ValueError("the time series has no rows")
        times = _naive_utc(timeseries["time"])
        ts = timeseries.set_axis(pd.DatetimeIndex(times, name="time"), axis=0)
        length = times[-1] - times[0] if len(times) > 1 else pd.Timedelta(hours=1)

        burn_in_end = None
        if "burn_in" in ts.columns:
            burn = ts["burn_in"].to_numpy(dtype=bool)
            if burn.any():
                after = np.flatnonzero(~burn)
                burn_in_end = times[after[0]] if len(after) else times[-1]

        if "market_open" in ts.columns:
            spans_all = closed_spans(times, ts["market_open"].to_numpy(dtype=bool))
        else:
            spans_all = []
        spans_long = [(a, b) for a, b in spans_all if b - a >= LONG_CLOSE]
        return cls(ts, _shocks(events, timeseries), burn_in_end, spans_all, spans_long, length)

    def col(self, name: str) -> pd.Series | None:
        return self.ts[name].astype(float) if name in self.ts.columns else None

    def daily(self, series: pd.Series, how: str) -> pd.Series:
        """Daily values (``sum`` of a flow, ``mean`` of a level) in days that end at the end
        of the burn-in, each plotted at the end of its day."""
        origin = self.burn_in_end if self.burn_in_end is not None else self.ts.index[0]
        grouped = series.resample(DAY, origin=origin, label="right", closed="left")
        return grouped.sum(min_count=1) if how == "sum" else grouped.mean()


def _naive_utc(values: Any) -> pd.DatetimeIndex:
    times = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    return times.tz_convert(None)


def _shocks(
    events: pd.DataFrame | None, timeseries: pd.DataFrame
) -> list[tuple[pd.Timestamp, str]]:
    if events is None or len(events) == 0 or "kind" not in events.columns:
        return []
    shocks = events[events["kind"] == "shock"]
    if shocks.empty:
        return []
    if "time" in shocks.columns:
        times = _naive_utc(shocks["time"])
    else:  # place by step
        step_time = pd.Series(_naive_utc(timeseries["time"]), index=timeseries["step"])
        times = pd.DatetimeIndex(step_time.reindex(shocks["step"]).to_numpy())
    labels: dict[pd.Timestamp, list[str]] = {}  # shocks at one time share a line and a label
    for t, (_, row) in zip(times, shocks.iterrows(), strict=True):
        detail = row.get("detail")
        market = row.get("market")
        label = str(detail) if isinstance(detail, str) and detail else "shock"
        if isinstance(market, str) and market and market not in label:
            label = f"{label} ({market})"
        if label not in labels.setdefault(t, []):
            labels[t].append(label)
    out = []
    for t, parts in labels.items():
        label = " + ".join(parts)
        out.append((t, label if len(label) <= 48 else label[:47] + "…"))
    return out


# ---------------------------------------------------------------- axis helpers


def _usd(x: float, _pos: Any = None) -> str:
    sign = "-" if x < 0 else ""
    x = abs(x)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if x >= size:
            return f"{sign}${x / size:.3g}{suffix}"
    return f"{sign}${x:.3g}"


def _decorate(ax: Axes, view: _RunView, *, daily: bool = False, label_shocks: bool = False) -> None:
    """Shade every closed hour (nights lighter than weekends and holidays) and the burn-in,
    mark shocks, format the time axis."""
    for a, b in view.spans_all:
        ax.axvspan(a, b, color=CLOSED_COLOR if b - a >= LONG_CLOSE else NIGHT_COLOR, lw=0, zorder=0)
    if view.burn_in_end is not None:
        ax.axvspan(view.ts.index[0], view.burn_in_end, facecolor=BURN_IN_COLOR, alpha=0.35,
                   lw=0, zorder=0)  # fmt: skip
        ax.axvspan(view.ts.index[0], view.burn_in_end, facecolor="none", edgecolor=BURN_IN_HATCH,
                   hatch="///", lw=0, zorder=0)  # fmt: skip
        ax.axvline(view.burn_in_end, color="0.45", lw=0.8, ls=":", zorder=1)
    for t, label in view.shocks:
        ax.axvline(t, color=SHOCK_COLOR, lw=1.1, ls="--", zorder=3)
        if label_shocks:
            ax.annotate(label, xy=(t, 1), xycoords=("data", "axes fraction"), xytext=(3, -4),
                        textcoords="offset points", rotation=90, va="top", ha="left", fontsize=8,
                        color=SHOCK_COLOR,
                        bbox=dict(fc="white", ec="none", alpha=0.75, pad=1))  # fmt: skip
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlim(view.ts.index[0], view.ts.index[-1])
    ax.grid(True, color="0.92", lw=0.6)


def _marker_legend(fig: Figure, view: _RunView, daily: bool) -> None:
    """One legend for what every time axis shows: closed market, burn-in, shocks."""
    handles = []
    if len(view.spans_long) < len(view.spans_all):
        handles.append(Patch(color=NIGHT_COLOR, label="stock market closed (nights)"))
    if view.spans_long:
        handles.append(Patch(color=CLOSED_COLOR, label="stock market closed (weekends, holidays)"))
    if view.burn_in_end is not None:
        handles.append(Patch(facecolor=BURN_IN_COLOR, edgecolor=BURN_IN_HATCH, hatch="///", lw=0,
                             label="burn-in (not counted)"))
    if view.shocks:
        handles.append(Line2D([], [], color=SHOCK_COLOR, ls="--", label="shock"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False,
                   fontsize=9)  # fmt: skip


def _new_figure(title: str, subtitle: str, height_in: float = FIGSIZE_IN[1]) -> Figure:
    fig = Figure(figsize=(FIGSIZE_IN[0], height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(f"{title}\n{subtitle}" if title else subtitle, fontsize=13)
    return fig


def _finish(ax: Axes, title: str, ylabel: str, *, usd: bool = False, xlabel: bool = False) -> None:
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_ylabel(ylabel)
    if usd:
        ax.yaxis.set_major_formatter(FuncFormatter(_usd))
    if xlabel:
        ax.set_xlabel("time (UTC)")
    ax.legend(loc="best", fontsize=9, framealpha=0.85)


# ---------------------------------------------------------------- the four charts


def prices_figure(view: _RunView, title: str = "") -> Figure:
    """NAV vs AMM price vs oracle per token (USD per token), premium (%) below."""
    tokens = entities(view.ts.columns, "nav")
    if not tokens:
        return _asset_prices_figure(view, title)
    ncols = min(len(tokens), 3)
    groups = math.ceil(len(tokens) / ncols)
    fig = _new_figure(title, "Stock tokens: NAV vs AMM price vs oracle, and premium over NAV",
                      FIGSIZE_IN[1] * groups)  # fmt: skip
    grid = fig.add_gridspec(2 * groups, ncols, height_ratios=[3, 1.3] * groups)
    for i, token in enumerate(tokens):
        g, c = divmod(i, ncols)
        top = fig.add_subplot(grid[2 * g, c])
        low = fig.add_subplot(grid[2 * g + 1, c], sharex=top)
        for metric, label, style in (
            ("nav", "NAV", dict(color="black", lw=1.4)),
            ("amm_price", "AMM price", dict(color="tab:blue", lw=1.0, alpha=0.9)),
            ("oracle", "oracle (margin price)", dict(color="tab:orange", lw=1.0, ls="--")),
        ):
            series = view.col(f"{metric}[{token}]")
            if series is not None:
                top.plot(series.index, series.to_numpy(), label=label, **style)
        fair = _fair_value(view, token)
        if fair is not None:
            top.plot(fair.index, fair.to_numpy(), label="fair value (latent x backing)", color="tab:green",
                     lw=0.9, ls=":")  # fmt: skip
        _decorate(top, view, label_shocks=True)
        top.tick_params(labelbottom=False)
        _finish(top, f"{token}: price", "USD per token")

        premium = view.col(f"premium[{token}]")
        if premium is None:
            premium = (view.col(f"amm_price[{token}]") / view.col(f"nav[{token}]")) - 1
        low.plot(premium.index, 100 * premium.to_numpy(), color="tab:purple", lw=0.9,
                 label="premium = AMM / NAV - 1")  # fmt: skip
        low.axhline(0, color="0.3", lw=0.7)
        safe = view.ts.get(f"safe_mode[{token}]")
        if safe is not None and safe.astype(bool).any():
            low.fill_between(view.ts.index, 0, 1, where=safe.to_numpy(dtype=bool), color="tab:red",
                             alpha=0.2, transform=low.get_xaxis_transform(),
                             label="oracle safe mode")  # fmt: skip
        _decorate(low, view)
        _finish(low, f"{token}: premium over NAV", "premium (%)", xlabel=(g == groups - 1))
    _marker_legend(fig, view, daily=False)
    return fig


def _fair_value(view: _RunView, token: str) -> pd.Series | None:
    """The token's fair value, USD: its stock's latent value (``latent[TSLA]`` for ``TSLA.M``)
    times the backing per token (NAV / official price); None without those columns."""
    asset = token.split(".")[0]
    latent, price, nav = view.col(f"latent[{asset}]"), view.col(f"price[{asset}]"), view.col(f"nav[{token}]")
    if latent is None or price is None or nav is None:
        return None
    return latent * nav / price


def _asset_prices_figure(view: _RunView, title: str) -> Figure:
    """A run with no stock token (the USDC control): the underlyings' prices instead."""
    fig = _new_figure(title, "Prices: no stock tokens in this run (USDC margin), token panels "
                      "skipped; underlying prices shown")  # fmt: skip
    assets = entities(view.ts.columns, "price")
    axes = fig.subplots(max(len(assets), 1), 1, sharex=True, squeeze=False)[:, 0]
    if not assets:
        axes[0].plot([], [], label="no price columns")
    for i, (ax, asset) in enumerate(zip(axes, assets, strict=False)):
        series = view.col(f"price[{asset}]")
        ax.plot(series.index, series.to_numpy(), color=f"C{i}", lw=1.0, label=f"{asset} price")
    for i, ax in enumerate(axes):
        _decorate(ax, view, label_shocks=(i == 0))
        name = assets[i] if i < len(assets) else "prices"
        _finish(ax, f"{name}: underlying price", "USD", usd=True, xlabel=(i == len(axes) - 1))
    _marker_legend(fig, view, daily=False)
    return fig


def pools_figure(view: _RunView, title: str = "") -> Figure:
    """Per market: main pool NAV (USD), LP share price (tokens per share), insurance (USD)."""
    markets = entities(view.ts.columns, "pool_nav_usd")
    fig = _new_figure(title, "Pools per market: main pool NAV, LP share price, insurance balance")
    axes = fig.subplots(3, 1, sharex=True)
    panels = (
        ("pool_nav_usd", "Main pool NAV", "USD", True),
        ("lp_share_price", "LP share price (in the market's margin token)", "tokens per share",
         False),
        ("insurance_usd", "Insurance pool balance", "USD", True),
    )
    for ax, (metric, panel_title, unit, usd) in zip(axes, panels, strict=True):
        drawn = False
        for i, market in enumerate(markets):
            series = view.col(f"{metric}[{market}]")
            if series is not None:
                ax.plot(series.index, series.to_numpy(), color=f"C{i}", lw=1.1, label=market)
                drawn = True
        if not drawn:
            ax.plot([], [], label=f"no {metric} columns")
        _decorate(ax, view, label_shocks=(ax is axes[0]))
        _finish(ax, panel_title, unit, usd=usd, xlabel=(ax is axes[-1]))
    _marker_legend(fig, view, daily=False)
    return fig


def _total(view: _RunView, metric: str) -> pd.Series | None:
    """The total column ``metric``, else the sum of its per-market columns."""
    total = view.col(metric)
    if total is not None:
        return total
    parts = [view.col(f"{metric}[{m}]") for m in entities(view.ts.columns, metric)]
    return sum(parts[1:], parts[0]) if parts else None


def _indexed(daily: pd.Series, base_time: pd.Timestamp) -> tuple[pd.Series, str]:
    """``daily`` scaled so the value of the day ending at ``base_time`` is 100."""
    base = daily.get(base_time, np.nan)
    note = ""
    if not (np.isfinite(base) and base > 0):
        positive = daily[(daily.index >= base_time) & (daily > 0)]
        if positive.empty:
            return daily * np.nan, " (no data)"
        base, note = positive.iloc[0], f" (base: {positive.index[0]:%d %b})"
    return 100 * daily / base, note


def flywheel_figure(view: _RunView, title: str = "") -> Figure:
    """Activity, depth and users on one axis, each indexed to 100 at the end of burn-in."""
    fig = _new_figure(title, "Flywheel: activity -> depth -> users -> activity (daily)")
    top, low = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    base_time = view.burn_in_end if view.burn_in_end is not None else view.daily(
        view.ts["step"].astype(float), "sum").index[0]  # fmt: skip
    lines = (
        ("activity: option + perp volume per day", _total(view, "volume_usd"), "sum", "tab:blue"),
        ("depth: margin tokens' AMM depth +-2% (USD)", view.col("margin_depth_usd"), "mean", "tab:green"),
        ("depth: pool capacity (USD)", _total(view, "pool_capacity_usd"), "mean", "tab:olive"),
        ("users: active traders + LPs", _users(view), "mean", "tab:red"),
    )
    for label, series, how, color in lines:
        if series is None:
            continue
        index, note = _indexed(view.daily(series, how), base_time)
        style = dict(ls="--") if "capacity" in label else {}
        top.plot(index.index, index.to_numpy(), color=color, lw=1.6, marker="o", ms=2.5,
                 label=label + note, **style)  # fmt: skip
    top.axhline(100, color="0.4", lw=0.7)
    _decorate(top, view, daily=True, label_shocks=True)
    top.tick_params(labelbottom=False)
    _finish(top, "Activity, depth and users (end of burn-in = 100)", "index (end of burn-in = 100)")

    width = 0.4
    bars = ((-0.2, "arrivals", "tab:green", "arrivals"),
            (0.2, "departures", "tab:gray", "departures"))  # fmt: skip
    for offset, metric, color, label in bars:
        series = view.col(metric)
        if series is not None:
            per_day = view.daily(series, "sum")
            low.bar(per_day.index - pd.Timedelta(days=0.5 - offset), per_day.to_numpy(),
                    width=width, color=color, label=label)  # fmt: skip
    if not low.get_legend_handles_labels()[0]:
        low.plot([], [], label="no arrival/departure columns")
    _decorate(low, view, daily=True)
    low.yaxis.set_major_locator(MaxNLocator(integer=True))
    _finish(low, "New and leaving users", "users per day", xlabel=True)
    _marker_legend(fig, view, daily=True)
    return fig


def _users(view: _RunView) -> pd.Series | None:
    traders, lps = view.col("active_traders"), view.col("active_lps")
    if traders is None or lps is None:
        return traders if lps is None else lps
    return traders + lps


def risk_figure(view: _RunView, title: str = "") -> Figure:
    """Liquidations per day (count, USD), cumulative bad debt and ADL (USD), per market."""
    markets = entities(view.ts.columns, "pool_nav_usd")
    fig = _new_figure(title, "Risk: liquidations, bad debt and auto-deleveraging")
    axes = fig.subplots(2, 2, sharex=True)
    panels = (
        (axes[0, 0], "liquidations", "Liquidations per day", "accounts per day", "bars"),
        (axes[0, 1], "liquidations_usd", "Liquidated notional per day", "USD per day", "bars"),
        (axes[1, 0], "bad_debt_usd", "Bad debt, cumulative", "USD", "cumulative"),
        (axes[1, 1], "adl_usd", "Auto-deleveraging (ADL), cumulative", "USD", "cumulative"),
    )
    for ax, metric, panel_title, unit, kind in panels:
        per_market = [(m, view.col(f"{metric}[{m}]")) for m in markets]
        per_market = [(m, s) for m, s in per_market if s is not None]
        if not per_market and (total := view.col(metric)) is not None:
            per_market = [("all markets", total)]
        if kind == "bars":
            bottom = None
            for i, (market, series) in enumerate(per_market):
                per_day = view.daily(series, "sum").fillna(0.0)
                ax.bar(per_day.index - pd.Timedelta(days=0.5), per_day.to_numpy(), width=0.8,
                       bottom=bottom, color=f"C{i}", label=market)  # fmt: skip
                bottom = per_day.to_numpy() if bottom is None else bottom + per_day.to_numpy()
        else:
            for i, (market, series) in enumerate(per_market):
                cum = series.fillna(0.0).cumsum()
                ax.plot(cum.index, cum.to_numpy(), color=f"C{i}", lw=1.3, label=market)
            if len(per_market) > 1:
                total = sum(s.fillna(0.0) for _, s in per_market).cumsum()
                ax.plot(total.index, total.to_numpy(), color="black", lw=1.6, label="total")
        heights = [np.abs(ln.get_ydata()) for ln in ax.lines if len(ln.get_ydata())]
        peak = max((float(np.nanmax(h)) for h in heights), default=0.0)
        peak = max([peak] + [float(p.get_y() + p.get_height()) for p in ax.patches])
        if not per_market or peak == 0:
            panel_title += " (none in this run)"
            ax.set_ylim(0, 1)  # not a symmetric range of tiny negative dollars
        else:
            ax.set_ylim(0, 1.08 * peak)
        if not per_market:
            ax.plot([], [], label=f"no {metric} columns")
        if metric == "liquidations":
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _decorate(ax, view, daily=True, label_shocks=(ax is axes[0, 0]))
        _finish(ax, panel_title, unit, usd="USD" in unit, xlabel=(ax in axes[1]))
    _marker_legend(fig, view, daily=True)
    return fig


_STYLE_LOCK = threading.RLock()


@contextmanager
def chart_style() -> Iterator[None]:
    """The charts' matplotlib style (no top or right spines), held by one thread at a time:
    ``rc_context`` changes matplotlib's global settings, and the dashboard draws from several
    threads."""
    with _STYLE_LOCK, mpl.rc_context({"axes.spines.top": False, "axes.spines.right": False}):
        yield


def save_figure(fig: Figure, path: str | Path, dpi: float = DPI) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically, then clear it (a figure not registered
    with pyplot is freed by clearing it). Every chart of the package is saved here."""
    with rio.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    fig.clear()
    return Path(path)


def png_bytes(fig: Figure, dpi: float = DPI) -> bytes:
    """``fig`` as PNG bytes (for a page, not a file), then cleared, as ``save_figure`` does."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    fig.clear()
    return buffer.getvalue()


def stored_run_title(run_dir: str | Path, summary: dict, info: dict) -> str:
    """A stored run's chart title from its summary.json and run_info.json (either may be
    empty): the folder names stand in for what they lack."""
    run_dir = Path(run_dir)
    return rio.run_title(summary.get("scenario", run_dir.parent.name), summary.get("seed"),
                         info.get("run_key", run_dir.name))


FIGURE_BUILDERS = {
    "prices.png": prices_figure,
    "pools.png": pools_figure,
    "flywheel.png": flywheel_figure,
    "risk.png": risk_figure,
}


def build_figures(
    timeseries: pd.DataFrame, events: pd.DataFrame | None, title: str = ""
) -> dict[str, Figure]:
    """The run's figures by file name, not yet saved."""
    view = _RunView.of(timeseries, events)
    with chart_style():
        return {name: build(view, title) for name, build in FIGURE_BUILDERS.items()}


def draw_run_charts(
    timeseries: pd.DataFrame,
    events: pd.DataFrame | None,
    out_dir: str | Path,
    title: str = "",
    only: Iterable[str] | None = None,
) -> list[Path]:
    """Draw the four run charts (or those of ``CHART_FILES`` named in ``only``) as PNG files in
    ``out_dir``, each written atomically."""
    out_dir = Path(out_dir)
    view = _RunView.of(timeseries, events)
    wanted = set(CHART_FILES if only is None else only)
    written = []
    for name, build in FIGURE_BUILDERS.items():
        if name not in wanted:
            continue
        with chart_style():
            fig = build(view, title)
        written.append(save_figure(fig, out_dir / name))
    return written
