"""New users by the Bass diffusion law, scaled by market quality (design section 8)."""

from __future__ import annotations

import math

from scipy import special

LARGE_MEAN = 1e15
"""A Poisson mean above this (a quality of 1e100 from extreme elasticities) brings everyone who
can still come: the quantile's float arithmetic would return NaN, and the cap would bind."""


def market_quality(capacity_usd: float, margin_factor: float, spread: float, capacity_ref_usd: float,
                   spread_ref: float, e_capacity: float, e_spread: float) -> float:
    """quality = (capacity/capacity_ref)^e_capacity x margin_factor x (spread/spread_ref)^(-e_spread)
    (design 8); ``margin_factor`` is ``margin_depth_factor``'s. No capacity: quality 0."""
    if not capacity_usd > 0.0 or not margin_factor > 0.0:
        return 0.0
    return ((capacity_usd / capacity_ref_usd) ** e_capacity * margin_factor
            * (max(spread, 1e-9) / spread_ref) ** (-e_spread))


def margin_depth_factor(depths_usd: list[float | None], margin_ref_usd: float, e_margin: float) -> float:
    """Mean over the markets of (margin_depth / margin_ref)^e_margin, where margin_depth is the
    AMM depth +-2% (USD) of the margin token a new user of that market must buy; None for a
    USDC-margined market, whose factor is 1 (nothing to buy). A new user picks a market
    uniformly, so the mean is the factor it meets on average."""
    if not depths_usd:
        return 1.0
    factors = [1.0 if d is None else (max(d, 0.0) / margin_ref_usd) ** e_margin for d in depths_usd]
    return sum(factors) / len(factors)


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
    k = special.pdtrik(u, lam)
    if not math.isfinite(k):    # pdtrik gives NaN for extreme u at means above ~1e10: the
        k = max(lam + math.sqrt(lam) * special.ndtri(u), 0.0)   # normal limit, exact there
    k = math.ceil(k)
    below = max(k - 1, 0)
    return below if special.pdtr(below, lam) >= u else k
