# cython: language_level=3
"""The margin rules of design section 6, stated once for every kernel that values an account.

``kernels.liquidation`` (the whole book in one pass) and ``kernels.trade_book`` (one account
before an order) ``cimport`` these; being ``inline`` in a standalone ``.pxd`` they are compiled
into each of them, so the hot loops keep no call and no cross-module dependency at run time.
The plain-Python statement of the same rules is ``kernels.reference.liquidation``.

Units: q in margin tokens, price USD per token, everything else USD (sizes: underlying units).
"""

from libc.math cimport fabs, fmax, fmin

from kernels.pool_core cimport position_pnl

# A margin_table row (``kernels.liquidation.margin_table``), one per series: the mark, the
# delta rule's USD per unit of size for maintenance long / short and initial long / short, then
# mark - stress mark at each crypto stress point (from column _D0).
cdef enum:
    _MARK = 0
    _WM_LONG = 1
    _WM_SHORT = 2
    _WI_LONG = 3
    _WI_SHORT = 4
    _D0 = 5

# An account's sums over its positions (a row of the pass's scratch, or one on the stack):
# unrealized PnL, delta-rule maintenance and initial requirements, open positions, then the
# crypto stress losses L_c (from column _L0).
cdef enum:
    _UPNL = 0
    _DMAINT = 1
    _DINIT = 2
    _NOPEN = 3
    _L0 = 4


cdef inline double collateral_value(double q, double price, double haircut) noexcept nogil:
    """CV (USD) of q tokens: positive balances are haircut, debts are not."""
    return price * (fmax(q, 0.0) * (1.0 - haircut) + fmin(q, 0.0))


cdef inline void accumulate_position(const double* row, double n, double entry, Py_ssize_t nc,
                                     double* acc) noexcept nogil:
    """Add a position of signed size n entered at ``entry`` to its account's sums ``acc``."""
    cdef Py_ssize_t c
    cdef int j = n <= 0.0            # 0: long, 1: short (branch-free column choice)
    cdef double an = fabs(n)
    acc[_UPNL] += position_pnl(n, row[_MARK], entry)
    acc[_DMAINT] += an * row[_WM_LONG + j]
    acc[_DINIT] += an * row[_WI_LONG + j]
    acc[_NOPEN] += an != 0.0
    for c in range(nc):
        acc[_L0 + c] += n * row[_D0 + c]


cdef inline double worst_stress_loss(const double* crypto_loss, Py_ssize_t nc,
                                     const double* token_moves, Py_ssize_t nt, double cv) noexcept nogil:
    """Largest loss over the joint grid (crypto point c x token move t), floored at 0.

    The loss separates, ``L_c - t x CV``, so the worst point is ``max_c L_c + max_t (-t CV)``.
    """
    cdef Py_ssize_t c, t
    cdef double crypto, token
    if nc <= 0 or nt <= 0:
        return 0.0
    crypto = crypto_loss[0]
    for c in range(1, nc):
        crypto = fmax(crypto, crypto_loss[c])
    token = -token_moves[0] * cv
    for t in range(1, nt):
        token = fmax(token, -token_moves[t] * cv)
    return fmax(crypto + token, 0.0)


cdef inline void account_margin(const double* acc, Py_ssize_t nc, double q, double price,
                                double haircut, const double* token_moves, Py_ssize_t nt,
                                double maint_mult, double init_mult,
                                double* equity, double* maint, double* init) noexcept nogil:
    """Equity E = CV + PnL and the requirements, max(delta rule, mult x worst stress loss)."""
    cdef double cv = collateral_value(q, price, haircut)
    cdef double worst = worst_stress_loss(acc + _L0, nc, token_moves, nt, cv)
    equity[0] = cv + acc[_UPNL]
    maint[0] = fmax(acc[_DMAINT], maint_mult * worst)
    init[0] = fmax(acc[_DINIT], init_mult * worst)
