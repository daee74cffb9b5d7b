"""New users by the Bass diffusion law, scaled by market quality (design section 8)."""

from __future__ import annotations

import math

from scipy import special

LARGE_MEAN = 1e15
"""A Poisson mean above this (a quality of 1e100 from extreme elasticities) brings everyone who
can still come: the quantile's float arithmetic would return NaN, and the cap would bind."""


def market_quality(capacity_usd: float, amm_depth_usd: float, spread: float, depth_ref_usd: float,
                   spread_ref: float, e_depth: float, e_spread: float) -> tuple[float, float]:
    """(quality, depth_usd): depth is the geometric mean of pool capacity and AMM depth (USD),
    quality = (depth/depth_ref)^e_depth x (spread/spread_ref)^(-e_spread)."""
    depth = math.sqrt(max(capacity_usd, 0.0) * max(amm_depth_usd, 0.0))
    if depth <= 0.0:
        return 0.0, 0.0
    q = (depth / depth_ref_usd) ** e_depth * (max(spread, 1e-9) / spread_ref) ** (-e_spread)
    return q, depth


def bass_arrivals(u: float, dt_years: float, quality: float, p: float, q: float,
                  active: int, potential: int) -> int:
    """Arrivals this step: the Poisson quantile at ``u`` of mean dt x quality x (p + q A/M)(M - A).

    One uniform per step and kind drives the count, so twin runs' arrivals are nested: a run
    with a larger mean never has fewer arrivals for the same ``u``.
    """
    if potential <= 0 or active >= potential or quality <= 0:
        return 0
    lam = dt_years * quality * (p + q * active / potential) * (potential - active)
    if lam <= 0:
        return 0
    if not lam < LARGE_MEAN:           # beyond what the quantile resolves: all who can come
        return potential - active
    return int(min(poisson_quantile(u, lam), potential - active))



def poisson_quantile(u: float, lam: float) -> int:
    """Smallest k with P(Poisson(lam) <= k) >= u: ``scipy.stats.poisson.ppf``'s own rule, called
    through ``scipy.special`` (the distribution object costs ~0.3 ms a call, a step's budget)."""
    if u <= 0.0:
        return 0
    k = math.ceil(special.pdtrik(u, lam))
    below = max(k - 1, 0)
    return below if special.pdtr(below, lam) >= u else k
