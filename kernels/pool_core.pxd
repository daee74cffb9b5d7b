# cython: language_level=3
"""The pool's rules of design sections 5 and 7, stated once: quotes, utilization, funding, fees.

The checked public functions of ``kernels.pool`` (tested against outside truths) and the
``TradeBook`` of ``kernels.trade_book`` (what the simulation runs) both call these cores, so
the tested code is the running code. ``inline`` in a standalone ``.pxd``: compiled into each
module that ``cimport``s them, no call and no import at run time. The plain-Python statement of
the same rules is ``kernels.reference.pool``.

Units: sizes in underlying units (signed, long > 0), marks, spots and losses in USD; funding
and fees in margin tokens. Stress grids are C-contiguous (n_points, n_series) arrays.
"""

from libc.math cimport INFINITY, fmax, fmin


cdef inline double position_pnl(double n, double mark, double entry) noexcept nogil:
    """Unrealized PnL (USD) of a futures-style position: n (mark - entry)."""
    return n * (mark - entry)


cdef inline double option_spread(double base_spread, double skew, double utilization_after,
                                 double utilization_cap) noexcept nogil:
    """Quoted spread (fraction of mark): base + skew x min(utilization after, cap)."""
    return base_spread + skew * fmin(utilization_after, utilization_cap)


cdef inline double trade_loss(double dn, double stress_mark, double mark) noexcept nogil:
    """The pool's loss (USD) at a stress point from traders holding dn more: dn (stress - mark)."""
    return dn * (stress_mark - mark)


cdef inline void stress_losses(const double* net, const double* marks, const double* stress,
                               Py_ssize_t n_points, Py_ssize_t n_series, double* out) noexcept nogil:
    """Pool loss (USD) at each stress point g: sum_s net_s (stress[g, s] - marks[s])."""
    cdef Py_ssize_t g, s
    cdef double total
    for g in range(n_points):
        total = 0.0
        for s in range(n_series):
            total += trade_loss(net[s], stress[g * n_series + s], marks[s])
        out[g] = total


cdef inline double utilization_after(const double* losses, Py_ssize_t n_points, const double* stress,
                                     const double* marks, Py_ssize_t n_series, Py_ssize_t s, double dn,
                                     double nav_usd) noexcept nogil:
    """Largest stress loss (floored at 0) after traders' net size of ``s`` moves by ``dn``,
    over the pool's NAV (USD); inf when NAV <= 0. ``losses`` are the losses before; with
    dn = 0 (the utilization now) ``stress`` and ``marks`` are not read."""
    cdef Py_ssize_t g
    cdef double worst = 0.0, x
    if nav_usd <= 0.0:
        return INFINITY
    for g in range(n_points):
        x = losses[g]
        if dn != 0.0:
            x += trade_loss(dn, stress[g * n_series + s], marks[s])
        if x > worst:
            worst = x
    return worst / nav_usd


cdef inline bint trade_allowed(double util_before, double util_after, double max_utilization) noexcept nogil:
    """False only if the trade raises utilization and leaves it above ``max_utilization``."""
    return not (util_after > util_before and util_after > max_utilization)


cdef inline double delta_usd(double n, double delta, double spot) noexcept nogil:
    """Delta notional (USD) of n units of a series: n x delta x S."""
    return n * delta * spot


cdef inline double funding_tokens(double n, double mark, double payoff,
                                  double dt_over_period_per_price) noexcept nogil:
    """Funding (tokens) a position of signed size n pays this step: n (mark - payoff) dt / T
    USD at the oracle price (``dt_over_period_per_price`` = dt / T / price); < 0: receives."""
    return n * (mark - payoff) * dt_over_period_per_price


cdef inline double perp_funding_rate(double coeff, double cap, double net_perp_usd,
                                     double nav_usd) noexcept nogil:
    """Perpetual-future funding rate per year (design 5, skew-based):
    clamp(coeff x skew, -cap, +cap), skew = (long - short perp notional, USD) / NAV_USD.
    With NAV <= 0 the skew has no size: the cap, signed as the net position (0 if flat)."""
    if nav_usd <= 0.0:
        return cap if net_perp_usd > 0.0 else (-cap if net_perp_usd < 0.0 else 0.0)
    return fmin(fmax(coeff * net_perp_usd / nav_usd, -cap), cap)


cdef inline double perp_funding_tokens(double n, double spot, double rate_dt_per_price) noexcept nogil:
    """Perp funding (tokens) a position of signed size n pays this step: n x spot x rate x dt
    USD at the oracle price (``rate_dt_per_price`` = rate x dt / price); < 0: receives."""
    return n * spot * rate_dt_per_price


cdef inline void split_fee(double fee, double lp_share, double* to_main, double* to_insurance) noexcept nogil:
    """A fee (tokens): ``lp_share`` to the main pool, the rest to insurance (adds up exactly)."""
    to_main[0] = fee * lp_share
    to_insurance[0] = fee - to_main[0]
