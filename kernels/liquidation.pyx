# cython: language_level=3
"""Margin, liquidation, deficit waterfall and auto-deleveraging of one market (design section 6).

Units: ``collateral`` and every ``*_tokens`` amount are margin tokens; equity, requirements,
marks, entries and spots are USD; ``oracle_price`` is USD per token. Positions are
struct-of-arrays (``pos_account``, ``pos_series``, ``pos_size`` signed, ``pos_entry`` USD);
series arrays are indexed by ``pos_series``.

The margin pass is one pass over positions that accumulates per-account sums in one
interleaved scratch row per account (a gather from small per-series tables and a scatter-add),
then one pass over accounts. The stress rule uses that the loss at grid point (crypto c,
token move t) separates: ``loss = sum_j n_j (mark_j - stress_c,j) - t x CV``, so the worst
point is ``max_c L_c + max_t (-t CV)``; the twin revalues every point instead.
The plain-Python twin is ``kernels.reference.liquidation``.
"""

import numpy as np

cimport numpy as cnp
from libc.math cimport fabs, fmax, fmin
from libc.stdint cimport int64_t, uint8_t, uintptr_t

from kernels.margin_core cimport (_D0, _L0, _MARK, _NOPEN, _UPNL, _WI_LONG, _WI_SHORT,
                                  _WM_LONG, _WM_SHORT, account_margin, accumulate_position,
                                  collateral_value)
from kernels.params import ADL_REL_TOL, TINY_USD, LiquidationResult, MarginParams
from kernels.pool import as_count, as_finite_array, as_index_array, as_inout_array, as_scalar, \
    as_stress_grid

cnp.import_array()

cdef extern from *:
    void __builtin_prefetch(const void* addr, int rw, int locality) nogil

# Positions ahead whose account row is prefetched: hides DRAM latency on books with many
# accounts whose positions arrive in random order.
cdef enum:
    _PREFETCH = 16

# The margin_table's columns (_MARK, _WM_LONG, ..., _D0) and an account's sums (_UPNL, ...,
# _L0: one scratch row per account here) are laid out in kernels/margin_core.pxd, beside the
# rules that read them.


def _scratch(Py_ssize_t n_accounts, Py_ssize_t n_crypto):
    """Zeroed scratch (n_accounts, stride), each row 64-byte aligned when stride is 8."""
    cdef Py_ssize_t stride = ((_L0 + n_crypto + 7) // 8) * 8
    raw = np.zeros(n_accounts * stride + 8)
    cdef Py_ssize_t offset = ((64 - (<uintptr_t>cnp.PyArray_DATA(raw)) % 64) % 64) // 8
    return raw[offset:offset + n_accounts * stride].reshape(n_accounts, stride)


def _series_table(mark, delta, spot, is_perp, stress, params):
    """Per series: mark, delta-rule USD per unit (maint/initial x long/short), mark - stress_c."""
    cdef Py_ssize_t n = mark.shape[0], nc = stress.shape[0], s, c
    out = np.empty((n, _D0 + nc))
    cdef double[:, ::1] t = out
    cdef const double[::1] mv = mark, dv = delta, sv = spot
    cdef const uint8_t[::1] pv = is_perp
    cdef const double[:, ::1] gv = stress
    cdef double lm, li, ad, fl = params.floor, sm = params.short_maint, si = params.short_initial
    cdef double lm0 = params.long_maint, li0 = params.long_initial
    with nogil:
        for s in range(n):
            # Perpetual futures use the short ratios on both sides.
            lm = sm if pv[s] else lm0
            li = si if pv[s] else li0
            ad = fabs(dv[s])
            t[s, _MARK] = mv[s]
            t[s, _WM_LONG] = sv[s] * (lm * ad + fl)
            t[s, _WM_SHORT] = sv[s] * (sm * ad + fl)
            t[s, _WI_LONG] = sv[s] * (li * ad + fl)
            t[s, _WI_SHORT] = sv[s] * (si * ad + fl)
            for c in range(nc):
                t[s, _D0 + c] = mv[s] - gv[c, s]
    return out


cdef void _accumulate(const int64_t[::1] acct, const int64_t[::1] ser, const double[::1] size,
                      const double[::1] entry, const double[:, ::1] tab,
                      double[:, ::1] acc) noexcept nogil:
    """One pass over positions: per-account PnL, delta-rule sums, open count, crypto losses."""
    cdef Py_ssize_t i, nc = tab.shape[1] - _D0
    cdef Py_ssize_t n_pos = size.shape[0]
    for i in range(n_pos):
        if i + _PREFETCH < n_pos:
            __builtin_prefetch(&acc[acct[i + _PREFETCH], 0], 1, 3)
        accumulate_position(&tab[ser[i], 0], size[i], entry[i], nc, &acc[acct[i], 0])


cdef void _requirements(const double[::1] q, double price, double haircut,
                        const double[::1] token_moves, Py_ssize_t nc,
                        double maint_mult, double init_mult, const double[:, ::1] acc,
                        double[::1] equity, double[::1] maint, double[::1] init) noexcept nogil:
    """One pass over accounts: equity and the max of the delta and stress rules (USD)."""
    cdef Py_ssize_t a
    for a in range(q.shape[0]):
        account_margin(&acc[a, 0], nc, q[a], price, haircut, &token_moves[0], token_moves.shape[0],
                       maint_mult, init_mult, &equity[a], &maint[a], &init[a])


def _check_series(series_mark, series_delta, series_spot, series_is_perp, stress_marks):
    """Checked per-series arrays: (mark, delta, spot, is_perp as uint8, stress grid)."""
    mark = as_finite_array("series_mark", series_mark, non_negative=True)
    ns = mark.shape[0]
    delta = as_finite_array("series_delta", series_delta, ns)
    spot = as_finite_array("series_spot", series_spot, ns, non_negative=True)
    perp = np.asarray(series_is_perp)
    if perp.ndim != 1 or perp.shape[0] != ns or (perp.dtype.kind not in "biu" and perp.size):
        raise ValueError(f"series_is_perp: expected {ns} bools or 0/1 integers")
    perp = np.ascontiguousarray(perp != 0, dtype=np.uint8)
    grid = as_stress_grid("stress_marks", stress_marks, ns)
    return mark, delta, spot, perp, grid


def _check(collateral, oracle_price, haircut, pos_account, pos_series, pos_size, pos_entry,
           series_mark, series_delta, series_spot, series_is_perp, stress_marks, token_moves,
           params, bint in_place):
    if not isinstance(params, MarginParams):
        raise ValueError(f"params: expected a MarginParams, got {type(params).__name__}")
    price = as_scalar("oracle_price", oracle_price, positive=True)
    h = as_scalar("haircut", haircut, non_negative=True)
    if h >= 1.0:
        raise ValueError(f"haircut: must be in [0, 1), got {h}")
    q = as_inout_array("collateral", collateral) if in_place else \
        as_finite_array("collateral", collateral)
    mark, delta, spot, perp, grid = _check_series(series_mark, series_delta, series_spot,
                                                  series_is_perp, stress_marks)
    ns = mark.shape[0]
    moves = as_finite_array("token_moves", token_moves)
    if moves.shape[0] and moves.min() < -1.0:
        raise ValueError("token_moves: a move below -1 (-100%) is impossible")
    size = as_inout_array("pos_size", pos_size) if in_place else \
        as_finite_array("pos_size", pos_size)
    n = size.shape[0]
    entry = as_finite_array("pos_entry", pos_entry, n, non_negative=True)
    acct = as_index_array("pos_account", pos_account, n, q.shape[0], "len(collateral)")
    ser = as_index_array("pos_series", pos_series, n, ns, "len(series_mark)")
    return q, price, h, acct, ser, size, entry, mark, delta, spot, perp, grid, moves


def _margin(q, price, h, acct, ser, size, entry, mark, delta, spot, perp, grid, moves, params):
    """Checked arrays in -> (equity, maint, init, scratch)."""
    tab = _series_table(mark, delta, spot, perp, grid, params)
    acc = _scratch(q.shape[0], grid.shape[0])
    na = q.shape[0]
    equity, maint, init = np.empty(na), np.empty(na), np.empty(na)
    cdef double[:, ::1] accv = acc
    cdef double p = price, hc = h, mm = params.stress_maint_mult, im = params.stress_initial_mult
    cdef Py_ssize_t nc = grid.shape[0]
    cdef const int64_t[::1] av = acct, sv = ser
    cdef const double[::1] nv = size, ev = entry, qv = q, mv = moves
    cdef const double[:, ::1] tv = tab
    cdef double[::1] eo = equity, mo = maint, io = init
    with nogil:
        _accumulate(av, sv, nv, ev, tv, accv)
        _requirements(qv, p, hc, mv, nc, mm, im, accv, eo, mo, io)
    return equity, maint, init, acc


def margin_pass(collateral, oracle_price, haircut, pos_account, pos_series, pos_size, pos_entry,
                series_mark, series_delta, series_spot, series_is_perp, stress_marks, token_moves,
                params=MarginParams()):
    """Per account (USD): ``(equity_usd, maint_req_usd, initial_req_usd)``.

    E = CV + sum n (mark - entry), CV = P (max(q,0)(1 - haircut) + min(q,0)).
    Requirement = max of (a) sum |n| S (ratio |delta| + floor), ratio by side and the short
    ratios for perpetual futures, and (b) ``stress_*_mult x`` the largest loss (floored at 0)
    over crypto moves (rows of ``stress_marks``, shape (n_crypto, n_series)) x token moves
    (``token_moves`` applied to P in CV). An account without positions has the requirement of
    its collateral alone (the token-move loss), which its equity covers when q >= 0.
    """
    args = _check(collateral, oracle_price, haircut, pos_account, pos_series, pos_size,
                  pos_entry, series_mark, series_delta, series_spot, series_is_perp,
                  stress_marks, token_moves, params, False)
    equity, maint, init, _ = _margin(*args, params)
    return equity, maint, init


def margin_table(series_mark, series_delta, series_spot, series_is_perp, stress_marks,
                 params=MarginParams()):
    """Per-series table the margin rules read (checked), shape (n_series, 5 + n_crypto).

    Columns: mark (USD); delta-rule USD per unit of size for maintenance long / short and
    initial long / short (``S (ratio |delta| + floor)``, perpetuals at the short ratios); then
    ``mark - stress_mark`` at each crypto stress point. Price the series once per step, build
    this once, and value any number of accounts with ``margin_from_table``.
    """
    if not isinstance(params, MarginParams):
        raise ValueError(f"params: expected a MarginParams, got {type(params).__name__}")
    return _series_table(*_check_series(series_mark, series_delta, series_spot, series_is_perp,
                                        stress_marks), params)


def margin_from_table(const double[::1] collateral, double oracle_price, double haircut,
                      const int64_t[::1] pos_account, const int64_t[::1] pos_series,
                      const double[::1] pos_size, const double[::1] pos_entry,
                      const double[:, ::1] table, const double[::1] token_moves,
                      double stress_maint_mult, double stress_initial_mult):
    """``margin_pass`` from a ``margin_table``: per account (equity, maint, initial) USD.

    Unchecked: the protocol's hot path (one account's margin before a trade) calls it with
    arrays it built itself; ``margin_pass`` is the checked entry and gives the same numbers.
    """
    cdef Py_ssize_t na = collateral.shape[0], nc = table.shape[1] - _D0
    acc = np.zeros((na, _L0 + nc))
    equity, maint, init = np.empty(na), np.empty(na), np.empty(na)
    cdef double[:, ::1] accv = acc
    cdef double[::1] eo = equity, mo = maint, io = init
    with nogil:
        _accumulate(pos_account, pos_series, pos_size, pos_entry, table, accv)
        _requirements(collateral, oracle_price, haircut, token_moves, nc, stress_maint_mult,
                      stress_initial_mult, accv, eo, mo, io)
    return equity, maint, init


cdef Py_ssize_t _close(const double[::1] equity, const double[::1] maint, const double[:, ::1] acc,
                       double close_factor, double full_close_below,
                       double[::1] frac, int64_t[::1] liq_acct) noexcept nogil:
    """Fraction closed per account (0: healthy or nothing open); returns the count."""
    cdef Py_ssize_t a, k = 0
    for a in range(equity.shape[0]):
        frac[a] = 0.0
        if acc[a, _NOPEN] > 0.0 and equity[a] < maint[a]:
            frac[a] = 1.0 if equity[a] < full_close_below * maint[a] else close_factor
            liq_acct[k] = a
            k += 1
    return k


cdef void _shrink(const int64_t[::1] acct, const double[::1] frac, double[::1] size) noexcept nogil:
    """Close each liquidated account's positions by its fraction (all of them at 1)."""
    cdef Py_ssize_t i
    cdef double f
    for i in range(size.shape[0]):
        f = frac[acct[i]]
        if f > 0.0:
            size[i] = size[i] - f * size[i] if f < 1.0 else 0.0


cdef double _settle(const int64_t[::1] liq_acct, const double[::1] frac, const double[::1] maint,
                    const double[:, ::1] acc, double price, double price_out, double haircut,
                    double penalty_ratio, double keeper_share, double[::1] q,
                    double* pool, double* insurance, double[::1] realized, double[::1] penalty,
                    double[::1] keeper) noexcept nogil:
    """Realize PnL at mark into collateral (out of the pool; a gain in tokens at
    ``price_out``, a loss at ``price``) and charge capped penalties."""
    cdef Py_ssize_t k, a
    cdef double f, r, e_after, pen
    for k in range(liq_acct.shape[0]):
        a = liq_acct[k]
        f = frac[a]
        r = f * acc[a, _UPNL] / (price_out if acc[a, _UPNL] > 0.0 else price)
        q[a] += r
        pool[0] -= r
        e_after = collateral_value(q[a], price, haircut) + (1.0 - f) * acc[a, _UPNL]
        # Capped by equity and by positive collateral: a penalty creates no bad debt.
        pen = fmin(fmin(penalty_ratio * f * maint[a] / price, fmax(e_after, 0.0) / price),
                   fmax(q[a], 0.0))
        q[a] -= pen
        insurance[0] += pen - keeper_share * pen
        realized[k] = r
        penalty[k] = pen
        keeper[k] = keeper_share * pen
    return 0.0


cdef Py_ssize_t _waterfall(const double[:, ::1] acc, const double[::1] frac, double[::1] q,
                           double* pool, double* insurance, int64_t[::1] wf_acct,
                           double[::1] deficit, double[::1] from_ins) noexcept nogil:
    """Fill negative collateral of accounts with nothing open: insurance first, then the pool."""
    cdef Py_ssize_t a, k = 0
    cdef double d, x
    for a in range(q.shape[0]):
        if q[a] >= 0.0 or (acc[a, _NOPEN] > 0.0 and frac[a] < 1.0):
            continue
        d = -q[a]
        x = fmin(d, fmax(insurance[0], 0.0))
        insurance[0] -= x
        pool[0] -= d - x
        q[a] = 0.0
        wf_acct[k] = a
        deficit[k] = d
        from_ins[k] = x
        k += 1
    return k


cdef double _upnl_after(const double[:, ::1] acc, const double[::1] frac) noexcept nogil:
    """Traders' total unrealized PnL (USD) left after the liquidations closed fraction frac."""
    cdef Py_ssize_t a
    cdef double total = 0.0
    for a in range(frac.shape[0]):
        total += acc[a, _UPNL] * (1.0 - frac[a])
    return total


def _adl(q, price, h, acct, ser, size, entry, mark, pool_balance, double upnl_usd,
         double p_out):
    """Auto-deleverage (design section 6) if the pool's NAV in tokens is below 0.

    Positions with positive PnL are taken, accounts ranked by PnL / max(CV, TINY_USD), until
    their profit covers the shortfall; they are closed and paid pro rata so that the NAV ends
    at 0. If all profits together fall short, all are closed, nothing is paid, and the NAV
    stays negative by what is left. Traders' gains are tokens going out, valued at ``p_out``
    (safe mode: the higher price), losses at ``price`` (design 4). Returns (pool_balance,
    position, account, profit, paid).
    """
    tol = ADL_REL_TOL * max(abs(pool_balance), abs(upnl_usd) / price, 1.0)
    # Cheap test first, from the per-account sums (valid when gains go out at p_out >= price:
    # the NAV is then at least this); positions are revisited only for an ADL.
    if p_out >= price and not pool_balance - upnl_usd / price < -tol:
        return pool_balance, None
    pnl = size * (mark[ser] - entry)
    nav = pool_balance - pnl[pnl > 0.0].sum() / p_out - pnl[pnl < 0.0].sum() / price
    if not nav < -tol:
        return pool_balance, None
    shortfall = -nav
    account_pnl = np.bincount(acct, weights=pnl, minlength=q.shape[0])
    cv = price * (np.maximum(q, 0.0) * (1.0 - h) + np.minimum(q, 0.0))
    score = account_pnl / np.maximum(cv, TINY_USD)
    winners = np.flatnonzero(pnl > 0.0)
    order = winners[np.lexsort((winners, acct[winners], -score[acct[winners]]))]
    profit = pnl[order] / p_out
    covered = np.cumsum(profit)
    enough = np.flatnonzero(covered >= shortfall)
    if enough.shape[0]:
        take = enough[0] + 1
        keep = 1.0 - shortfall / covered[take - 1] if covered[take - 1] > shortfall else 0.0
    else:
        take, keep = order.shape[0], 0.0
    order, profit = order[:take], profit[:take]
    paid = profit * keep
    accounts = acct[order]
    for k in range(take):  # sequential, as the twin, so balances agree to the last bit
        q[accounts[k]] += paid[k]
        pool_balance -= paid[k]
    size[order] = 0.0
    return pool_balance, (order.astype(np.int64), accounts.astype(np.int64), profit, paid)


def run_liquidations(collateral, oracle_price, haircut, pos_account, pos_series, pos_size,
                     pos_entry, series_mark, series_delta, series_spot, series_is_perp,
                     stress_marks, token_moves, params=MarginParams(), insurance_balance=0.0,
                     pool_balance=0.0, price_out=None):
    """Liquidate unhealthy accounts, fill deficits, auto-deleverage; -> ``LiquidationResult``.

    ``collateral`` (tokens) and ``pos_size`` are modified in place. Accounts with an open
    position and E < maintenance close ``close_factor`` of every position (all when
    E < ``full_close_below`` x maintenance) at mark; the realized PnL moves between collateral
    and ``pool_balance`` (tokens): a loss at ``oracle_price``, a gain at ``price_out``
    (default ``oracle_price``; safe mode passes the higher price: tokens going out). Penalty = min(penalty_ratio x the closed share of the
    maintenance requirement, max(E after close, 0), positive collateral), ``keeper_share`` of
    it to the keeper (returned), the rest to insurance. Then accounts with nothing open and
    q < 0 are filled by insurance up to its balance, then by the pool (a write-off); then ADL
    if the pool's NAV in tokens is negative (its payments, tokens going out, at ``price_out``).
    sum(collateral) + pool + insurance + keeper payouts is conserved.
    """
    args = _check(collateral, oracle_price, haircut, pos_account, pos_series, pos_size,
                  pos_entry, series_mark, series_delta, series_spot, series_is_perp,
                  stress_marks, token_moves, params, True)
    q, price, h, acct, ser, size, entry, mark = args[:8]
    insurance0 = as_scalar("insurance_balance", insurance_balance, non_negative=True)
    pool0 = as_scalar("pool_balance", pool_balance)
    p_out = price if price_out is None else as_scalar("price_out", price_out, positive=True)
    equity, maint, init, acc = _margin(*args, params)

    na = q.shape[0]
    frac = np.empty(na)
    liq_buf = np.empty(na, dtype=np.int64)
    cdef double pool = pool0, insurance = insurance0
    cdef Py_ssize_t n_liq, n_wf
    cdef double[:, ::1] accv = acc
    cdef double[::1] fv = frac, qv = q, sv = size
    cdef const int64_t[::1] av = acct
    n_liq = _close(equity, maint, accv, params.close_factor, params.full_close_below, fv, liq_buf)
    liq_acct = liq_buf[:n_liq].copy()
    realized, penalty, keeper = np.empty(n_liq), np.empty(n_liq), np.empty(n_liq)
    if n_liq:
        with nogil:
            _shrink(av, fv, sv)
        _settle(liq_acct, frac, maint, accv, price, p_out, h, params.penalty_ratio, params.keeper_share,
                qv, &pool, &insurance, realized, penalty, keeper)

    wf_buf = np.empty(na, dtype=np.int64)
    deficit, from_ins = np.empty(na), np.empty(na)
    n_wf = _waterfall(accv, fv, qv, &pool, &insurance, wf_buf, deficit, from_ins)
    deficit, from_ins = deficit[:n_wf].copy(), from_ins[:n_wf].copy()

    pool_after, adl = _adl(q, price, h, acct, ser, size, entry, mark, pool, _upnl_after(accv, fv),
                           p_out)
    result = LiquidationResult(
        equity_usd=equity, maint_req_usd=maint, initial_req_usd=init,
        insurance_balance=insurance, pool_balance=pool_after,
        pool_delta_tokens=pool_after - pool0, insurance_delta_tokens=insurance - insurance0,
        liq_account=liq_acct, liq_close_fraction=frac[liq_acct], liq_realized_tokens=realized,
        liq_penalty_tokens=penalty, liq_keeper_tokens=keeper,
        liq_insurance_tokens=penalty - keeper,
        wf_account=wf_buf[:n_wf].copy(), wf_deficit_tokens=deficit,
        wf_from_insurance=from_ins, wf_from_pool=deficit - from_ins,
    )
    if adl is not None:
        (result.adl_position, result.adl_account, result.adl_profit_tokens,
         result.adl_paid_tokens) = adl
    return result
