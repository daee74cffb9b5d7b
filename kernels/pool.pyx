# cython: language_level=3
"""The options pool's arithmetic for one market (design sections 5 and 7).

Units: sizes are underlying units (signed, long > 0), marks, spots and PnL are USD, funding and
ERC-4626 amounts are margin tokens; ``oracle_price`` is USD per token. "Net size" is the
traders' signed net size per series; the pool holds the opposite, so the pool's loss when a
mark rises is ``net x (new mark - mark)``.

Public functions check their arguments (ValueError naming the argument) and then run
``nogil`` loops over typed memoryviews. Each rule is a core of ``kernels/pool_core.pxd``, the
same core ``kernels.trade_book.TradeBook`` runs, so what these functions are tested against is
what the simulation computes. The plain-Python twin is ``kernels.reference.pool``.
"""

import math

import numpy as np

cimport numpy as cnp
from libc.float cimport DBL_MIN
from libc.math cimport isfinite
from libc.stdint cimport int64_t, uint8_t

cimport kernels.pool_core as core
from kernels._validate import as_float_array, broadcast
from kernels.params import SPREAD_UTILIZATION_CAP

cnp.import_array()

# ERC-4626 rounds in the vault's favour; with floats we shave this relative amount off every
# share mint and every redemption so that no deposit/redeem round trip can gain value.
ROUNDING_SHAVE = 4.0 * np.finfo(np.float64).eps
cdef double _SHAVE = ROUNDING_SHAVE
cdef double _UTIL_CAP = SPREAD_UTILIZATION_CAP


# ---------------------------------------------------------------- argument checks (shared)

cdef Py_ssize_t _first_out_of_range(const int64_t[::1] idx, int64_t n) noexcept nogil:
    """Index of the first entry outside [0, n), or -1."""
    cdef Py_ssize_t i
    cdef uint8_t bad = 0
    for i in range(idx.shape[0]):
        bad |= (idx[i] < 0) | (idx[i] >= n)
    if not bad:
        return -1
    for i in range(idx.shape[0]):
        if idx[i] < 0 or idx[i] >= n:
            return i
    return -1


cdef Py_ssize_t _first_not_finite(const double[::1] x, bint non_negative=False) noexcept nogil:
    """Index of the first NaN or inf (or negative entry if ``non_negative``), or -1."""
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        if not isfinite(x[i]) or (non_negative and x[i] < 0.0):
            return i
    return -1


def as_index_array(str name, x, Py_ssize_t n_items, int64_t upper, str upper_name):
    """``x`` as a contiguous int64 array of length ``n_items`` (-1: any) with values in [0, upper)."""
    arr = np.asarray(x)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or (arr.dtype.kind not in "iu" and arr.size > 0):
        raise ValueError(f"{name}: expected a 1-D array of integers")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if n_items >= 0 and arr.shape[0] != n_items:
        raise ValueError(f"{name}: length {arr.shape[0]} does not match length {n_items} of the other arguments")
    cdef Py_ssize_t bad = _first_out_of_range(arr, upper)
    if bad >= 0:
        raise ValueError(f"{name}: entry {bad} = {arr[bad]} is outside [0, {upper}) ({upper_name})")
    return arr


def as_finite_array(str name, x, Py_ssize_t n_items=-1, bint non_negative=False):
    """``x`` as a contiguous finite float64 array (of length ``n_items`` unless -1)."""
    arr = as_float_array(name, x)
    if n_items >= 0 and arr.shape[0] != n_items:
        raise ValueError(f"{name}: length {arr.shape[0]} does not match length {n_items} of the other arguments")
    cdef Py_ssize_t bad = _first_not_finite(arr, non_negative)
    if bad >= 0:
        need = "finite and >= 0" if non_negative else "finite"
        raise ValueError(f"{name}: must be {need} (entry {bad} is {arr[bad]})")
    return arr


def as_inout_array(str name, x, Py_ssize_t n_items=-1):
    """An array the kernel modifies in place: must already be contiguous, writeable float64."""
    if not (isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim == 1
            and x.flags.c_contiguous and x.flags.writeable):
        raise ValueError(f"{name}: must be a writeable C-contiguous 1-D float64 array (modified in place)")
    return as_finite_array(name, x, n_items)


def as_scalar(str name, x, bint positive=False, bint non_negative=False):
    """A finite float scalar (optionally > 0 or >= 0)."""
    if np.ndim(x) != 0:
        raise ValueError(f"{name}: expected a number")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {x!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    if positive and v <= 0.0:
        raise ValueError(f"{name}: must be > 0, got {v}")
    if non_negative and v < 0.0:
        raise ValueError(f"{name}: must be >= 0, got {v}")
    return v


def as_count(str name, x):
    """A non-negative integer count."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) or x < 0:
        raise ValueError(f"{name}: must be a non-negative integer, got {x!r}")
    return int(x)


def as_stress_grid(str name, x, Py_ssize_t n_series):
    """Stress marks as a finite C-contiguous float64 array (n_points, n_series)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != n_series:
        raise ValueError(f"{name}: expected shape (n_points, {n_series}), got {arr.shape}")
    arr = np.ascontiguousarray(arr)
    if _first_not_finite(arr.reshape(-1)) >= 0:
        raise ValueError(f"{name}: must be finite (got NaN or inf)")
    return arr


# ---------------------------------------------------------------- quotes and utilization

def spread_for(base_spread, skew, utilization_after):
    """Quoted option spread (fraction of mark) = base_spread + skew x min(utilization after
    the trade, ``kernels.params.SPREAD_UTILIZATION_CAP``).

    The cap (10: a stress loss ten times the NAV) keeps a quote finite when the NAV is nearly
    gone; ``utilization_after`` may be inf (NAV <= 0). The trade book quotes with this core.
    Scalars give a float; arrays (scalars broadcast) give a new float64 array.
    """
    if type(base_spread) is float and type(skew) is float and type(utilization_after) is float \
            and isfinite(base_spread) and isfinite(skew) and utilization_after >= 0.0:
        # Plain floats (the protocol's quotes): skip the array machinery.
        return core.option_spread(base_spread, skew, utilization_after, _UTIL_CAP)
    scalar = np.ndim(base_spread) == 0 and np.ndim(skew) == 0 and np.ndim(utilization_after) == 0
    u = as_float_array("utilization_after", utilization_after)
    if u.shape[0] and not (u >= 0.0).all():        # NaN fails too
        raise ValueError("utilization_after: must be >= 0 (inf allowed)")
    b, k, u = broadcast(
        ("base_spread", "skew", "utilization_after"),
        as_finite_array("base_spread", base_spread),
        as_finite_array("skew", skew),
        u,
    )
    out = np.empty(u.shape[0])
    cdef const double[::1] bv = b, kv = k, uv = u
    cdef double[::1] ov = out
    cdef Py_ssize_t i
    with nogil:
        for i in range(ov.shape[0]):
            ov[i] = core.option_spread(bv[i], kv[i], uv[i], _UTIL_CAP)
    return float(out[0]) if scalar else out


cdef void _stress_losses(const double[::1] net, const double[::1] marks,
                         const double[:, ::1] stress, double[::1] out) noexcept nogil:
    cdef Py_ssize_t g
    if stress.shape[0] and stress.shape[1]:
        core.stress_losses(&net[0], &marks[0], &stress[0, 0], stress.shape[0], stress.shape[1], &out[0])
    else:
        for g in range(out.shape[0]):
            out[g] = 0.0


def _grid_args(net_size, marks, stress_marks):
    net = as_finite_array("net_size", net_size)
    mk = as_finite_array("marks", marks, net.shape[0], non_negative=True)
    grid = as_stress_grid("stress_marks", stress_marks, net.shape[0])
    return net, mk, grid


def stress_losses(net_size, marks, stress_marks):
    """Pool loss (USD) at each stress point g: sum_s net_s (stress_marks[g, s] - marks[s])."""
    net, mk, grid = _grid_args(net_size, marks, stress_marks)
    out = np.empty(grid.shape[0])
    _stress_losses(net, mk, grid, out)
    return out


def utilization(net_size, marks, stress_marks, nav_usd):
    """Largest stress loss (floored at 0) / pool NAV (USD); inf when nav_usd <= 0."""
    nav = as_scalar("nav_usd", nav_usd)
    cdef const double[::1] losses = stress_losses(net_size, marks, stress_marks)
    return core.utilization_after(&losses[0], losses.shape[0], NULL, NULL, 0, 0, 0.0, nav)  # dn = 0


def utilization_after_trade(net_size, marks, stress_marks, nav_usd, series, dn):
    """Utilization if traders' net size of ``series`` changed by ``dn``; nothing is copied."""
    net, mk, grid = _grid_args(net_size, marks, stress_marks)
    nav = as_scalar("nav_usd", nav_usd)
    d = as_scalar("dn", dn)
    if isinstance(series, (bool, np.bool_)) or not isinstance(series, (int, np.integer)) \
            or not 0 <= series < net.shape[0]:
        raise ValueError(f"series: must be an integer in [0, {net.shape[0]}), got {series!r}")
    losses = np.empty(grid.shape[0])
    _stress_losses(net, mk, grid, losses)
    return utilization_from_losses(losses, grid, mk, series, d, nav)


def utilization_from_losses(const double[::1] losses, const double[:, ::1] stress_marks,
                            const double[::1] marks, Py_ssize_t series, double dn, double nav_usd):
    """Utilization after a trade of ``dn`` in ``series``, from the pool's current ``losses``
    (``stress_losses``): max(0, max_g losses_g + dn (stress_marks[g, s] - marks[s])) / NAV.

    Unchecked, for callers that keep ``losses`` and quote many trades against them (the trade
    book does the same through ``pool_core.utilization_after``); ``utilization_after_trade`` is
    the checked entry and gives the same number.
    """
    return core.utilization_after(&losses[0], losses.shape[0], &stress_marks[0, 0], &marks[0],
                                  stress_marks.shape[1], series, dn, nav_usd)


def trade_allowed(util_before, util_after, max_utilization):
    """False only if the trade raises utilization and leaves it above ``max_utilization``."""
    if type(util_before) is float and type(util_after) is float and type(max_utilization) is float \
            and util_before >= 0.0 and util_after >= 0.0 and isfinite(max_utilization) \
            and max_utilization >= 0.0:
        return core.trade_allowed(util_before, util_after, max_utilization)
    for name, v in (("util_before", util_before), ("util_after", util_after)):
        if np.ndim(v) != 0 or math.isnan(float(v)) or float(v) < 0:
            raise ValueError(f"{name}: must be a number >= 0 (inf allowed), got {v!r}")
    cap = as_scalar("max_utilization", max_utilization, non_negative=True)
    return core.trade_allowed(float(util_before), float(util_after), cap)


def net_delta_usd(net_size, deltas, spots, underlying_of_series, n_underlyings):
    """Traders' net delta notional (USD) per underlying: sum over its series of n delta S."""
    net = as_finite_array("net_size", net_size)
    cdef Py_ssize_t n = net.shape[0]
    dl = as_finite_array("deltas", deltas, n)
    sp = as_finite_array("spots", spots, n, non_negative=True)
    nu = as_count("n_underlyings", n_underlyings)
    und = as_index_array("underlying_of_series", underlying_of_series, n, nu, "n_underlyings")
    out = np.zeros(nu)
    cdef const double[::1] nv = net, dv = dl, sv = sp
    cdef const int64_t[::1] uv = und
    cdef double[::1] ov = out
    cdef Py_ssize_t s
    with nogil:
        for s in range(n):
            ov[uv[s]] += core.delta_usd(nv[s], dv[s], sv[s])
    return out


# ---------------------------------------------------------------- funding and PnL

def perp_funding_rate(coeff, cap, net_perp_usd, nav_usd):
    """Perpetual-future funding rate per year (design 5, skew-based, as GMX v2 and Synthetix):
    ``clamp(coeff x skew, -cap, +cap)`` with ``skew = (long - short perp notional) / NAV``,
    notionals and NAV in USD (``net_perp_usd`` = long minus short, |size| x spot). When NAV <= 0
    the rate is the cap with the sign of the net position (0 if flat). A rate > 0: longs pay."""
    c = as_scalar("coeff", coeff, non_negative=True)
    k = as_scalar("cap", cap, non_negative=True)
    net = as_scalar("net_perp_usd", net_perp_usd)
    nav = as_scalar("nav_usd", nav_usd)
    return core.perp_funding_rate(c, k, net, nav)


def accrue_funding(pos_account, pos_series, pos_size, series_mark, series_payoff,
                   dt_years, funding_period_years, oracle_price, n_accounts,
                   series_spot=None, series_is_perp=None, perp_rate=0.0):
    """Funding (tokens) each account pays this step (< 0: receives), one pass over positions.

    A position of signed size n pays n (mark - payoff) dt / T USD (design section 5), converted
    to tokens at the oracle price. A perpetual future (``series_is_perp``, given with
    ``series_spot``) pays also n x spot x ``perp_rate`` x dt USD (``perp_funding_rate``, per
    year). The caller debits it from collateral and credits the pool.
    """
    mark = as_finite_array("series_mark", series_mark, non_negative=True)
    n_series = mark.shape[0]
    payoff = as_finite_array("series_payoff", series_payoff, n_series, non_negative=True)
    dt = as_scalar("dt_years", dt_years, non_negative=True)
    period = as_scalar("funding_period_years", funding_period_years, positive=True)
    price = as_scalar("oracle_price", oracle_price, positive=True)
    na = as_count("n_accounts", n_accounts)
    rate = as_scalar("perp_rate", perp_rate)
    if (series_spot is None) != (series_is_perp is None):
        raise ValueError("series_spot and series_is_perp: give both or neither")
    if series_spot is None:
        spot = np.zeros(n_series)
        perp = np.zeros(n_series, dtype=np.uint8)
    else:
        spot = as_finite_array("series_spot", series_spot, n_series, non_negative=True)
        perp = np.ascontiguousarray(np.asarray(series_is_perp), dtype=np.uint8)
        if perp.ndim != 1 or perp.shape[0] != n_series:
            raise ValueError(f"series_is_perp: expected {n_series} flags, got shape {perp.shape}")
    size = as_finite_array("pos_size", pos_size)
    n = size.shape[0]
    acct = as_index_array("pos_account", pos_account, n, na, "n_accounts")
    ser = as_index_array("pos_series", pos_series, n, n_series, "series")
    out = np.zeros(na)
    _accrue(acct, ser, size, mark, payoff, spot, perp, dt / period / price, rate * dt / price, out)
    return out


cdef void _accrue(const int64_t[::1] acct, const int64_t[::1] ser, const double[::1] size,
                  const double[::1] mark, const double[::1] payoff, const double[::1] spot,
                  const uint8_t[::1] perp, double dt_over_period_per_price, double rate_dt_per_price,
                  double[::1] out) noexcept nogil:
    cdef Py_ssize_t i, s
    for i in range(size.shape[0]):
        s = ser[i]
        out[acct[i]] += core.funding_tokens(size[i], mark[s], payoff[s], dt_over_period_per_price)
        if perp[s]:
            out[acct[i]] += core.perp_funding_tokens(size[i], spot[s], rate_dt_per_price)


def unrealized_pnl_usd(pos_series, pos_size, pos_entry, series_mark):
    """Traders' total unrealized PnL (USD) against the pool: sum n (mark - entry)."""
    mark = as_finite_array("series_mark", series_mark, non_negative=True)
    size = as_finite_array("pos_size", pos_size)
    cdef Py_ssize_t n = size.shape[0]
    entry = as_finite_array("pos_entry", pos_entry, n, non_negative=True)
    ser = as_index_array("pos_series", pos_series, n, mark.shape[0], "series")
    cdef const int64_t[::1] sv = ser
    cdef const double[::1] nv = size, ev = entry, mv = mark
    cdef double total = 0.0
    cdef Py_ssize_t i
    with nogil:
        for i in range(n):
            total += core.position_pnl(nv[i], mv[sv[i]], ev[i])
    return total


# ---------------------------------------------------------------- LP shares and fees

def shares_for_deposit(assets, total_shares, total_assets):
    """LP shares minted for ``assets`` tokens, ERC-4626 style (design section 7).

    ``shares = assets x total_shares / total_assets``, rounded down (a few ulps) in the pool's
    favour; the first deposit (no shares yet) is 1:1. ValueError if shares exist while the
    NAV ``total_assets`` (tokens) is <= 0: deposits are refused then.
    """
    a = as_scalar("assets", assets, non_negative=True)
    ts = as_scalar("total_shares", total_shares, non_negative=True)
    ta = as_scalar("total_assets", total_assets)
    if ts == 0.0:
        if ta < 0.0:
            raise ValueError(f"total_assets: must be >= 0 for a first deposit, got {ta}")
        return a
    if ta <= 0.0:
        raise ValueError(f"total_assets: deposits are refused while NAV <= 0 (got {ta})")
    return _round_down(a * ts / ta)


def assets_for_shares(shares, total_shares, total_assets):
    """Tokens that ``shares`` are worth at NAV per share, rounded down; 0 when NAV <= 0."""
    s = as_scalar("shares", shares, non_negative=True)
    ts = as_scalar("total_shares", total_shares, non_negative=True)
    ta = as_scalar("total_assets", total_assets)
    if s > ts:
        raise ValueError(f"shares: {s} exceeds total_shares {ts}")
    if ts == 0.0 or ta <= 0.0:
        return 0.0
    return _round_down(s * ta / ts)


cdef inline double _round_down(double x):
    """x shaved in the pool's favour; subnormal dust (no relative precision left) is 0."""
    return x * (1.0 - _SHAVE) if x >= DBL_MIN else 0.0


def split_fee(fee, lp_share):
    """Split a fee (tokens) into (to_main_pool, to_insurance); the parts add up exactly."""
    cdef double to_main, to_ins
    if not (type(fee) is float and type(lp_share) is float and isfinite(fee) and fee >= 0.0
            and isfinite(lp_share) and 0.0 <= lp_share <= 1.0):       # else: say what is wrong
        fee = as_scalar("fee", fee, non_negative=True)
        lp_share = as_scalar("lp_share", lp_share, non_negative=True)
        if lp_share > 1.0:
            raise ValueError(f"lp_share: must be in [0, 1], got {lp_share}")
    core.split_fee(fee, lp_share, &to_main, &to_ins)
    return to_main, to_ins
