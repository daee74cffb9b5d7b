"""Estimators over seeds for sweeps (design 11, "Definitions"): VaR95, LaR95, Wilson intervals.

Every report states its estimator beside the number; these are the ones it names:
- ``var95``: the 95th percentile over seeds of bad debt (Gauntlet's VaR), USD;
- ``lar95``: the 95th percentile over seeds of liquidated notional, USD;
- ``wilson_interval``: the Wilson score interval of a share (e.g. P(LPs lose money)).
Percentiles interpolate linearly between order statistics (Hyndman-Fan type 7, numpy's and
scipy's default), so 20 seeds give the value 95% of the way from the 19th to the 20th.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

PERCENTILE = 95.0


def percentile(values: Sequence[float], q: float = PERCENTILE) -> float:
    """The ``q``-th percentile of ``values`` (linear interpolation, type 7); ValueError if empty
    or not finite."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("values: need at least one run")
    if not np.all(np.isfinite(arr)):
        raise ValueError("values: must be finite")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q: must be in [0, 100], got {q}")
    return float(np.percentile(arr, q))


def var95(bad_debt_usd: Sequence[float]) -> float:
    """VaR95 of bad debt: the 95th percentile over seeds of each run's bad debt (USD)."""
    return percentile(bad_debt_usd)


def lar95(liquidated_notional_usd: Sequence[float]) -> float:
    """LaR95: the 95th percentile over seeds of each run's liquidated notional (USD)."""
    return percentile(liquidated_notional_usd)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (low, high) of a share ``successes / n`` (Wilson 1927): it stays
    inside [0, 1] and is honest at 0 or n successes, where the normal interval collapses."""
    if n <= 0:
        raise ValueError(f"n: need at least one run, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes: must be in [0, {n}], got {successes}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def share_with_interval(flags: Sequence[bool], confidence: float = 0.95) -> tuple[float, float, float]:
    """(share, low, high): the share of runs where ``flags`` is true, with its Wilson interval
    (e.g. P(LPs lose money): flags = lp_return_mw_token < 0 per run)."""
    arr = np.asarray(flags, dtype=bool)
    low, high = wilson_interval(int(arr.sum()), int(arr.size), confidence)
    return float(arr.mean()), low, high


# The one bootstrap of every report (studies and sweeps), so the same runs always give the
# same interval wherever they are reported.
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9_999
BOOTSTRAP_SEED = 20_251_111        # fixed: the same values always give the same interval


def percentile_bootstrap(samples: Sequence[np.ndarray], statistic,
                         confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile-bootstrap interval (Efron 1979) of ``statistic(*samples, axis=-1)``: the
    samples are resampled together by index (paired by seed), ``BOOTSTRAP_RESAMPLES`` times
    with a fixed seed, and the interval is the (1 - confidence)/2 and (1 + confidence)/2
    percentiles of the statistic. NaN with fewer than two values."""
    arrays = [np.asarray(s, dtype=float) for s in samples]
    n = arrays[0].size
    if n < 2:
        return math.nan, math.nan
    idx = np.random.default_rng(BOOTSTRAP_SEED).integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    stat = np.asarray(statistic(*(a[idx] for a in arrays), axis=-1), dtype=float)
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(stat, [tail, 100.0 - tail])
    return float(low), float(high)
