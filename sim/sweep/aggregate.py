"""Per parameter point, the headline metrics over seeds with their intervals (design 11).

Each headline names its estimator, and ``aggregate.csv`` carries that name in a column:
shares (P(LPs lose money), P(LP loss from bad debt), P(insurance depleted)) with Wilson 95%
intervals; means (LP money-weighted return, ADL events, final active users) with 95% percentile
bootstrap intervals over seeds; VaR95 of bad debt and LaR95 (95th percentiles over seeds,
``sim.stats``) with bootstrap intervals; the day of depletion as the median over the seeds
that depleted; with ``compare:``, the flywheel gain (design 11's k = 10%, H = 30 days), and the
means of every gain and margin-twin difference. Failed runs are left out and counted (``n_failed``); a point with fewer than two
usable seeds has no interval. The bootstrap is seeded, so the same runs give the same file.

The percentile bootstrap is ``sim.stats.percentile_bootstrap``, the one studies use too (NumPy's
resampling, not ``scipy.stats.bootstrap``: importing ``scipy.stats`` would cost the sweep's
parent about 60 MB of its 300 MB budget, design 16); the tests check it against scipy's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim import stats

BOOTSTRAP_RESAMPLES = stats.BOOTSTRAP_RESAMPLES
CONFIDENCE = stats.CONFIDENCE
ID_COLUMNS = ("scenario", "point")


@dataclass(frozen=True)
class Headline:
    """A headline metric: its name in aggregate.csv, label, runs.parquet column and estimator."""

    name: str
    label: str
    column: str
    estimator: str            # "share", "mean", "var95", "lar95" or "median_present"
    unit: str                 # "share", "return", "usd", "days", "count" or "ratio"


HEADLINES: tuple[Headline, ...] = (
    Headline("p_lp_lose_money", "P(LPs lose money)", "lp_lost_money", "share", "share"),
    Headline("p_lp_bad_debt_loss", "P(LP loss from bad debt)", "lp_bad_debt_loss", "share", "share"),
    Headline("lp_return_mw_token", "LP money-weighted return, in token", "lp_return_mw_token",
             "mean", "return"),
    Headline("var95_bad_debt_usd", "VaR95 of bad debt", "bad_debt_usd", "var95", "usd"),
    Headline("lar95_liquidated_usd", "LaR95 (liquidated notional)", "liquidations_usd", "lar95",
             "usd"),
    Headline("p_insurance_depleted", "P(insurance depleted)", "insurance_depleted", "share", "share"),
    Headline("insurance_depleted_day", "day of insurance depletion", "insurance_depleted_day",
             "median_present", "days"),
    Headline("adl_events", "ADL events", "adl_events", "mean", "count"),
    Headline("active_users_end", "final active users", "active_users_end", "mean", "count"),
    # with compare: [impulse]: design 11's verdict point, k = 10% of active traders, H = 30 days
    Headline("flywheel_gain", "flywheel gain G - G_frozen (k=10%, H=30d)", "gain[k=10%,H=30d]",
             "mean", "ratio"),
)
HEADLINE_BY_NAME = {h.name: h for h in HEADLINES}
_GAIN_COLUMN = re.compile(r"^(G|gain)\[k=(?P<k>[^,]+),H=(?P<h>[^\]]+)\]$")


def twin_headlines(columns: Sequence[str]) -> list[Headline]:
    """Means over seeds of the twins' columns (``compare:``): G and the flywheel gain at every
    impulse size and horizon, and each margin-twin difference (stock margin - USDC twin)."""
    out = []
    for c in columns:
        m = _GAIN_COLUMN.match(c)
        if m:
            what = "G" if m[1] == "G" else "flywheel gain G - G_frozen"
            out.append(Headline(c, f"{what} (k={m['k']}, H={m['h']})", c, "mean", "ratio"))
        elif c.startswith("margin_diff."):
            metric = c.removeprefix("margin_diff.")
            unit = ("return" if "return" in metric else "usd" if metric.endswith("_usd")
                    else "count")
            out.append(Headline(c, f"{metric}: stock margin - USDC twin", c, "mean", unit))
    return out


@dataclass(frozen=True)
class Estimate:
    value: float
    std: float
    low: float
    high: float
    n: int
    estimator: str


def bootstrap_interval(values: np.ndarray,
                       statistic: Callable[..., float]) -> tuple[float, float]:
    """95% percentile-bootstrap interval of ``statistic(samples, axis=-1)`` (a resample per
    row) over ``values`` (``sim.stats.percentile_bootstrap``, the one every report uses). NaN
    with fewer than two values, the value itself when all values are equal."""
    if values.size < 2:
        return float("nan"), float("nan")
    if np.all(values == values[0]):
        v = float(statistic(values))
        return v, v
    return stats.percentile_bootstrap((values,), statistic, CONFIDENCE)


def _p95(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """``sim.stats.var95`` and ``lar95`` (the 95th percentile, linear) of each resample."""
    return np.percentile(a, stats.PERCENTILE, axis=axis)


def _std(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size > 1 else float("nan")


def estimate(values: pd.Series, estimator: str) -> Estimate:
    """The ``estimator`` of ``values`` (one per seed; missing values are dropped)."""
    present = values.dropna()
    n_all = len(values)
    nan = float("nan")
    if estimator == "share":
        flags = present.astype(bool).to_numpy()
        n = int(flags.size)
        text = f"share of {n} seeds, Wilson {CONFIDENCE:.0%} interval"
        if n == 0:
            return Estimate(nan, nan, nan, nan, 0, text)
        share, low, high = stats.share_with_interval(flags, CONFIDENCE)
        return Estimate(share, _std(flags.astype(float)), low, high, n, text)
    x = present.astype(float).to_numpy()
    n = int(x.size)
    boot = f"{CONFIDENCE:.0%} percentile bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples)"
    if estimator == "mean":
        text = f"mean over {n} seeds, {boot}"
        point = fn = np.mean
    elif estimator in ("var95", "lar95"):
        text = f"95th percentile over {n} seeds (linear interpolation), {boot}"
        point, fn = (stats.var95 if estimator == "var95" else stats.lar95), _p95
    elif estimator == "median_present":
        text = f"median over the {n} of {n_all} seeds where it happened, {boot}"
        point = fn = np.median
    else:
        raise ValueError(f"estimator: unknown {estimator!r}")
    if n == 0:
        return Estimate(nan, nan, nan, nan, 0, text)
    value = float(point(x))
    low, high = bootstrap_interval(x, fn)
    return Estimate(value, _std(x), low, high, n, text)


def headlines_in(runs: pd.DataFrame) -> list[Headline]:
    """The headlines whose column runs.parquet has (the gains only when twins were run), then
    the twins' columns."""
    return ([h for h in HEADLINES if h.column in runs.columns]
            + twin_headlines(list(runs.columns)))


def aggregate(runs: pd.DataFrame, varied: Sequence[str]) -> pd.DataFrame:
    """aggregate.csv: one row per (scenario, point, headline metric), long format.

    Columns: scenario, point, the varied parameters, metric, label, unit, estimator, n (seeds
    used), n_failed, value, std, low, high.
    """
    rows = []
    heads = headlines_in(runs)
    groups = runs.groupby(list(ID_COLUMNS), sort=False) if len(runs) else []
    for (scenario, point), group in groups:
        good = group[group["status"] == "ok"]
        params = {p: group[p].iloc[0] for p in varied}
        n_failed = int(len(group) - len(good))
        for h in heads:
            est = estimate(good[h.column], h.estimator)
            rows.append({"scenario": scenario, "point": int(point), **params, "metric": h.name,
                         "label": h.label, "unit": h.unit, "estimator": est.estimator,
                         "n": est.n, "n_failed": n_failed, "value": est.value, "std": est.std,
                         "low": est.low, "high": est.high})
    columns = [*ID_COLUMNS, *varied, "metric", "label", "unit", "estimator", "n", "n_failed",
               "value", "std", "low", "high"]
    return pd.DataFrame(rows, columns=columns)


def point_means(runs: pd.DataFrame, column: str) -> pd.Series:
    """Mean of ``column`` over the seeds of each point (ok runs), indexed by point: what a
    Saltelli design's model output is when each point was replicated over seeds."""
    ok = runs[runs["status"] == "ok"]
    return ok.groupby("point")[column].apply(lambda s: s.astype(float).mean()).sort_index()
