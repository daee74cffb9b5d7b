"""Plain-Python twin of ``kernels.pool`` (design sections 5 and 7): same signatures, loops
written for clarity, used by the tests as the specification and by the benchmarks as a baseline.

The twins trust their inputs; argument checks live in the Cython module's Python layer.
"""

from __future__ import annotations

import math

import numpy as np

from kernels.params import SPREAD_UTILIZATION_CAP

# ERC-4626 rounds in the vault's favour; with floats we shave this relative amount off
# every share mint and every redemption so that no round trip can gain value.
ROUNDING_SHAVE = 4.0 * float(np.finfo(np.float64).eps)
DBL_MIN = float(np.finfo(np.float64).tiny)   # smallest normal float: below it rounding is absolute


def spread_for(base_spread, skew, utilization_after):
    """Quoted option spread (fraction of mark) = base_spread + skew x min(utilization after the
    trade, SPREAD_UTILIZATION_CAP)."""
    if np.ndim(base_spread) == 0 and np.ndim(skew) == 0 and np.ndim(utilization_after) == 0:
        u = min(float(utilization_after), SPREAD_UTILIZATION_CAP)
        return float(base_spread) + float(skew) * u
    b, k, u = np.broadcast_arrays(
        np.atleast_1d(np.asarray(base_spread, dtype=float)),
        np.atleast_1d(np.asarray(skew, dtype=float)),
        np.atleast_1d(np.asarray(utilization_after, dtype=float)),
    )
    return np.array([b[i] + k[i] * min(u[i], SPREAD_UTILIZATION_CAP) for i in range(len(u))])


def stress_losses(net_size, marks, stress_marks):
    """Pool loss (USD) at each stress point: sum_s net_s (stress_marks[g, s] - marks[s])."""
    n_points, n_series = np.shape(stress_marks)
    out = np.zeros(n_points)
    for g in range(n_points):
        total = 0.0
        for s in range(n_series):
            total += net_size[s] * (stress_marks[g][s] - marks[s])
        out[g] = total
    return out


def utilization(net_size, marks, stress_marks, nav_usd):
    """Largest stress loss (floored at 0) / pool NAV in USD; inf when nav_usd <= 0."""
    if nav_usd <= 0:
        return math.inf
    return float(max(0.0, max(stress_losses(net_size, marks, stress_marks), default=0.0)) / nav_usd)


def utilization_after_trade(net_size, marks, stress_marks, nav_usd, series, dn):
    """Utilization if traders' net size of ``series`` changed by ``dn`` (nothing is modified)."""
    trial = [float(x) for x in net_size]
    trial[series] += dn
    return utilization(trial, marks, stress_marks, nav_usd)


def utilization_from_losses(losses, stress_marks, marks, series, dn, nav_usd):
    """Utilization after a trade of ``dn`` in ``series`` from the book's current stress losses."""
    if nav_usd <= 0:
        return math.inf
    after = [losses[g] + dn * (stress_marks[g][series] - marks[series]) for g in range(len(losses))]
    return float(max(0.0, max(after, default=0.0)) / nav_usd)


def trade_allowed(util_before, util_after, max_utilization):
    """A trade is refused only if it raises utilization and leaves it above the cap."""
    return not (util_after > util_before and util_after > max_utilization)


def net_delta_usd(net_size, deltas, spots, underlying_of_series, n_underlyings):
    """Traders' net delta notional (USD) per underlying: sum over its series of n delta S."""
    out = np.zeros(n_underlyings)
    for s in range(len(net_size)):
        out[underlying_of_series[s]] += net_size[s] * deltas[s] * spots[s]
    return out


def perp_funding_rate(coeff, cap, net_perp_usd, nav_usd):
    """Perp funding rate per year: clamp(coeff x (long - short perp notional) / NAV, -cap, cap);
    NAV <= 0: the cap, signed as the net position (0 if flat). Bad arguments: ValueError naming
    them, as the kernel raises."""
    for name, v, non_negative in (("coeff", coeff, True), ("cap", cap, True),
                                  ("net_perp_usd", net_perp_usd, False), ("nav_usd", nav_usd, False)):
        if not math.isfinite(v) or (non_negative and v < 0):
            raise ValueError(f"{name}: must be finite{' and >= 0' if non_negative else ''}, got {v}")
    coeff, cap, net_perp_usd, nav_usd = float(coeff), float(cap), float(net_perp_usd), float(nav_usd)
    if nav_usd <= 0:
        return cap if net_perp_usd > 0 else (-cap if net_perp_usd < 0 else 0.0)
    return min(max(coeff * net_perp_usd / nav_usd, -cap), cap)


def accrue_funding(pos_account, pos_series, pos_size, series_mark, series_payoff,
                   dt_years, funding_period_years, oracle_price, n_accounts,
                   series_spot=None, series_is_perp=None, perp_rate=0.0):
    """Funding (tokens) each account pays this step; < 0 means it receives.

    A long of size n pays n (mark - payoff) dt / T USD, converted at the oracle price; a
    perpetual future also pays n x spot x perp_rate x dt USD.
    """
    out = np.zeros(n_accounts)
    for i in range(len(pos_size)):
        s = pos_series[i]
        usd = pos_size[i] * (series_mark[s] - series_payoff[s]) * dt_years / funding_period_years
        out[pos_account[i]] += usd / oracle_price
        if series_is_perp is not None and series_is_perp[s]:
            out[pos_account[i]] += pos_size[i] * series_spot[s] * perp_rate * dt_years / oracle_price
    return out


def shares_for_deposit(assets, total_shares, total_assets):
    """LP shares minted for ``assets`` tokens (ERC-4626; the first deposit is 1:1).

    Raises ValueError if the pool has shares but a NAV <= 0 (deposits are refused).
    """
    if assets < 0:
        raise ValueError("assets: must be >= 0")
    if total_shares == 0:
        if total_assets < 0:
            raise ValueError("total_assets: must be >= 0 for a first deposit")
        return float(assets)
    if total_assets <= 0:
        raise ValueError("total_assets: deposits are refused while NAV <= 0")
    shares = assets * total_shares / total_assets
    return _round_down(shares)


def assets_for_shares(shares, total_shares, total_assets):
    """Tokens that ``shares`` are worth at NAV per share (0 when NAV <= 0)."""
    if shares < 0 or shares > total_shares:
        raise ValueError("shares: must be in [0, total_shares]")
    if total_shares == 0 or total_assets <= 0:
        return 0.0
    assets = shares * total_assets / total_shares
    return _round_down(assets)


def _round_down(x):
    """x shaved in the pool's favour; subnormal dust (no relative precision left) is 0."""
    return float(x) * (1.0 - ROUNDING_SHAVE) if x >= DBL_MIN else 0.0


def split_fee(fee, lp_share):
    """Split a fee (tokens) into (to_main_pool, to_insurance); the parts add up exactly."""
    to_main = fee * lp_share
    return to_main, fee - to_main


def unrealized_pnl_usd(pos_series, pos_size, pos_entry, series_mark):
    """Traders' total unrealized PnL (USD) against the pool: sum n (mark - entry)."""
    total = 0.0
    for i in range(len(pos_size)):
        total += pos_size[i] * (series_mark[pos_series[i]] - pos_entry[i])
    return float(total)
