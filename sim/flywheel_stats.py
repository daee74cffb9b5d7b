"""Flywheel diagnostics of one run (design 1, 8, 11): does activity -> depth -> users -> activity
show in the run's own daily series?

Pure functions of a run's per-step frame (``sim.metrics.timeseries_frame``). After the burn-in
the steps are grouped into whole days counted from the first step after the burn-in (a last,
incomplete day is dropped):

- ``activity``: option + perp notional traded per day (USD);
- ``depth``: the daily mean of the pools' capacity (``pool_capacity_usd[<m>]`` summed over the
  markets, USD of stress loss the pools can still take);
- ``margin_depth``: the daily mean of the AMM depth at +-2% (``depth_2pct_usd[<t>]``) summed over
  the margin tokens (NaN when no market is margined in a token, e.g. a USDC venue);
- ``users``: the daily mean of active traders + active LPs;
- ``arrivals``: new users per day.

Cross-correlations are Pearson correlations of day-over-day changes, corr(dx_t, dy_{t+lag}) for
lags of 0..14 days: a peak at a positive lag says x moves first. Changes are log differences when
every day of the series is > 0 and plain differences otherwise (levels of trending series
correlate spuriously); ``changes`` in the result says which each series got.

The elasticity of arrivals to depth is the slope of a Poisson regression (maximum likelihood, log
link, with intercept) of daily arrivals on log daily depth; zero-arrival days count as they are,
days with depth <= 0 are dropped. Its standard error is the robust (Huber-White sandwich, scaled
by n/(n-2)) one, since the one-regressor model leaves out the Bass term and spread and the counts
are over-dispersed. It is a realized association, not the causal e_depth of the arrival law.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import numpy as np
import pandas as pd

MAX_LAG_DAYS = 14
MIN_PAIRS = 5          # fewer pairs of changes at a lag: the correlation is NaN
MIN_DAYS = 5           # fewer usable days: no elasticity
DAY = pd.Timedelta(days=1)
# (x, y) pairs reported, named "x->y": the loop, its reverse, and the AMM depth's part in it
PAIRS = (
    ("activity", "depth"), ("depth", "users"), ("users", "activity"),
    ("depth", "activity"), ("users", "depth"), ("activity", "users"),
    ("activity", "margin_depth"), ("margin_depth", "users"),
)
ESTIMATOR = ("Poisson MLE (log link, intercept) of daily arrivals on log daily pool capacity; "
             "robust (sandwich, n/(n-2)) standard error; days with capacity <= 0 dropped")


class ArrivalElasticity(TypedDict):
    """Slope of log E[arrivals per day] on log depth (``ESTIMATOR``)."""

    estimate: float
    std_error: float
    days: int
    estimator: str


class FlywheelDiagnostics(TypedDict):
    """``summary["flywheel_diagnostics"]``; JSON-ready (None where a value is undefined)."""

    days: int                                  # whole days after the burn-in used
    changes: dict[str, str]                    # series -> "log difference", "difference", "no data"
    lags_days: list[int]                       # 0..14
    xcorr: dict[str, list[float | None]]       # "x->y" -> corr(dx_t, dy_{t+lag}) per lag
    peak_lag_days: dict[str, int | None]       # lag of the largest |corr|
    peak_corr: dict[str, float | None]         # that correlation
    noise_band_95: list[float | None]          # per lag: 1.96 / sqrt(pairs), see ``noise_band``
    arrival_depth_elasticity: ArrivalElasticity | None


def _columns(frame: pd.DataFrame, prefix: str, names: Sequence[str] | None = None) -> list[str]:
    """The per-market or per-token columns ``prefix[...]`` (only those of ``names`` if given)."""
    found = [c for c in frame.columns if c.startswith(prefix + "[") and c.endswith("]")]
    if names is not None:
        found = [c for c in found if c[len(prefix) + 1:-1] in set(names)]
    return found


def daily_series(frame: pd.DataFrame, margin_tokens: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per whole day after the burn-in: activity, depth, margin_depth, users, arrivals.

    ``margin_tokens``: the tokens markets are margined in (default: every token with an AMM
    depth column). Empty when the frame holds no whole day after the burn-in.
    """
    names = ["activity", "depth", "margin_depth", "users", "arrivals"]
    post = frame.loc[~frame["burn_in"].to_numpy(dtype=bool)] if "burn_in" in frame else frame
    if len(post) < 2:
        return pd.DataFrame(columns=names, dtype=float)
    time = pd.to_datetime(post["time"], utc=True)
    step = time.diff().median()
    elapsed = time - time.iloc[0]
    whole_days = int((elapsed.iloc[-1] + step) // DAY)
    day = (elapsed // DAY).to_numpy()
    keep = day < whole_days
    if not keep.any():
        return pd.DataFrame(columns=names, dtype=float)
    margin_cols = _columns(post, "depth_2pct_usd", margin_tokens)
    per_step = pd.DataFrame({
        "activity": (post["option_volume_usd"].to_numpy(float)
                     + post["perp_volume_usd"].to_numpy(float)),
        "depth": post[_columns(post, "pool_capacity_usd")].to_numpy(float).sum(axis=1),
        "margin_depth": (post[margin_cols].to_numpy(float).sum(axis=1) if margin_cols
                         else np.full(len(post), np.nan)),
        "users": post["active_traders"].to_numpy(float) + post["active_lps"].to_numpy(float),
        "arrivals": post["arrivals"].to_numpy(float),
    })[keep]
    by_day = per_step.groupby(day[keep])
    daily = pd.concat([by_day[["activity", "arrivals"]].sum(),
                       by_day[["depth", "margin_depth", "users"]].mean()], axis=1)
    return daily[names].reset_index(drop=True)


def changes(series: np.ndarray) -> tuple[np.ndarray, str]:
    """Day-over-day changes: log differences if every value is > 0, else differences ("no data"
    for a series without a finite value, e.g. the margin depth of a USDC venue)."""
    x = np.asarray(series, dtype=float)
    if not np.isfinite(x).any():
        return np.diff(x), "no data"
    if np.all(x > 0):
        return np.diff(np.log(x)), "log difference"
    return np.diff(x), "difference"


def lagged_xcorr(dx: np.ndarray, dy: np.ndarray, max_lag: int = MAX_LAG_DAYS) -> np.ndarray:
    """corr(dx_t, dy_{t+lag}) for lag = 0..max_lag (Pearson over the overlapping pairs); NaN
    where fewer than ``MIN_PAIRS`` pairs remain, a value is not finite or a side is constant."""
    dx, dy = np.asarray(dx, dtype=float), np.asarray(dy, dtype=float)
    n = min(dx.size, dy.size)
    out = np.full(max_lag + 1, np.nan)
    for lag in range(max_lag + 1):
        if n - lag < MIN_PAIRS:
            break
        a, b = dx[:n - lag], dy[lag:n]
        if _varies(a) and _varies(b):
            a, b = a - a.mean(), b - b.mean()
            out[lag] = float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return out


def _varies(v: np.ndarray) -> bool:
    """Finite and not constant (beyond rounding)."""
    return bool(np.all(np.isfinite(v))) and np.ptp(v) > 1e-12 * max(float(np.abs(v).max()), 1e-300)


def noise_band(n_changes: int, max_lag: int = MAX_LAG_DAYS) -> list[float | None]:
    """Per lag, 1.96 / sqrt(pairs): the 95% band of the correlation of two independent white-noise
    series (Bartlett); a |corr| inside it is noise. Autocorrelated changes widen the true band."""
    return [float(1.96 / np.sqrt(n_changes - lag)) if n_changes - lag >= MIN_PAIRS else None
            for lag in range(max_lag + 1)]


def peak_lag(xcorr: np.ndarray) -> int | None:
    """The lag of the largest |correlation| (the first of ties); None if every lag is NaN."""
    finite = np.isfinite(xcorr)
    if not finite.any():
        return None
    return int(np.argmax(np.where(finite, np.abs(xcorr), -1.0)))


def poisson_elasticity(counts: np.ndarray, regressor: np.ndarray,
                       max_iter: int = 100) -> tuple[float, float] | None:
    """(slope, robust standard error) of the Poisson regression log E[counts] = a + slope x
    regressor, by Newton's method on the log-likelihood; None with fewer than ``MIN_DAYS``
    points, no variation in the regressor, no count above 0, or no finite maximum."""
    y, x = np.asarray(counts, dtype=float), np.asarray(regressor, dtype=float)
    ok = np.isfinite(y) & np.isfinite(x)
    y, x = y[ok], x[ok]
    n = y.size
    if n < MIN_DAYS or y.sum() <= 0 or not _varies(x):
        return None
    X = np.column_stack([np.ones(n), x - x.mean()])     # centred: a well-conditioned Hessian
    beta = np.array([np.log(y.mean()), 0.0])

    def loglik(b: np.ndarray) -> float:
        eta = X @ b
        return float(np.dot(y, eta) - np.exp(eta).sum())

    ll = loglik(beta)
    for _ in range(max_iter):
        mu = np.exp(X @ beta)
        hessian = X.T @ (mu[:, None] * X)
        try:
            step = np.linalg.solve(hessian, X.T @ (y - mu))
        except np.linalg.LinAlgError:
            return None
        t = 1.0
        while t > 1e-10:                      # halve the step until the likelihood rises
            trial = beta + t * step
            ll_trial = loglik(trial)
            if np.isfinite(ll_trial) and ll_trial >= ll - 1e-12 * abs(ll):
                break
            t /= 2.0
        else:
            return None
        beta, ll = trial, ll_trial
        if np.max(np.abs(t * step)) < 1e-10:
            break
    else:
        return None
    mu = np.exp(X @ beta)
    try:
        bread = np.linalg.inv(X.T @ (mu[:, None] * X))
    except np.linalg.LinAlgError:
        return None
    meat = X.T @ (((y - mu) ** 2)[:, None] * X)
    cov = bread @ meat @ bread * n / (n - 2)
    slope, se = float(beta[1]), float(np.sqrt(cov[1, 1]))
    if not (np.isfinite(slope) and np.isfinite(se)) or abs(slope) > 1e6:
        return None                           # the maximum is at infinity (no finite MLE)
    return slope, se


def _none_if_nan(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def diagnostics(frame: pd.DataFrame,
                margin_tokens: Sequence[str] | None = None) -> FlywheelDiagnostics:
    """The flywheel diagnostics of a run's per-step ``frame`` (module docstring); never raises
    on short or constant series: undefined values are None."""
    daily = daily_series(frame, margin_tokens)
    diffs: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for name in ("activity", "depth", "margin_depth", "users"):
        diffs[name], kinds[name] = changes(daily[name].to_numpy(float))
    xcorr, peaks, peak_corr = {}, {}, {}
    for x, y in PAIRS:
        key = f"{x}->{y}"
        c = lagged_xcorr(diffs[x], diffs[y])
        lag = peak_lag(c)
        xcorr[key] = [_none_if_nan(v) for v in c]
        peaks[key] = lag
        peak_corr[key] = None if lag is None else float(c[lag])
    depth = daily["depth"].to_numpy(float)
    positive = depth > 0
    fit = poisson_elasticity(daily["arrivals"].to_numpy(float)[positive], np.log(depth[positive]))
    elasticity: ArrivalElasticity | None = None if fit is None else {
        "estimate": fit[0], "std_error": fit[1], "days": int(positive.sum()),
        "estimator": ESTIMATOR}
    return {
        "days": len(daily), "changes": kinds, "lags_days": list(range(MAX_LAG_DAYS + 1)),
        "xcorr": xcorr, "peak_lag_days": peaks, "peak_corr": peak_corr,
        "noise_band_95": noise_band(max(len(daily) - 1, 0)),
        "arrival_depth_elasticity": elasticity,
    }


def table_rows(diag: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) lines of the CLI summary table: the elasticity and the activity -> depth
    lag, with the noise band at that lag."""
    if not diag:
        return []
    e = diag.get("arrival_depth_elasticity")
    elasticity = "-" if not e else (
        f"{e['estimate']:+.2f} (s.e. {e['std_error']:.2f}, {e['days']} days, Poisson)")
    lag = diag.get("peak_lag_days", {}).get("activity->depth")
    corr = diag.get("peak_corr", {}).get("activity->depth")
    peak = "-"
    if lag is not None and corr is not None:
        band = (diag.get("noise_band_95") or [None] * (lag + 1))[lag]
        noise = "" if band is None else f", noise band +-{band:.2f}"
        peak = f"{lag} days (corr of daily changes {corr:+.2f}{noise})"
    return [("arrivals' elasticity to pool capacity", elasticity),
            ("activity -> depth peak lag", peak)]
