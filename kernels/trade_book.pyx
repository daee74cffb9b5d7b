# cython: language_level=3
"""The trade book of one market: accounts, positions, quotes, opens and closes in C.

A trader's order is one call: the quote (spread from utilization after the trade; the
utilization, net-delta and open-interest caps), the account's initial-margin check (a walk of
that account's own positions through the step's ``margin_table``), the charge and the new
position, with the pool's running risk shifted in place. The pool's and the margin rules it
applies (spread, utilization after, funding, fee split, PnL, collateral value, the account's
requirements) are the cores that the public functions of ``kernels.pool`` and
``kernels.liquidation`` also run (``kernels/pool_core.pxd``, ``kernels/margin_core.pxd``); what
is its own is bookkeeping: running aggregates, the net-delta and open-interest caps, and which
price converts USD to tokens. ``kernels.reference.trade_book`` is its plain-Python twin.

Units: sizes in units of the underlying (signed), marks and spots in USD, collateral and the
``last_*_tokens`` settlements in margin tokens, ``*_usd`` in USD. Collateral moves in place;
nothing else is written: the caller hands in the pool's assets (``pool_tokens``) and settles
``last_pool_tokens`` / ``last_insurance_tokens`` (orders) and the funding total in its ledger.
"""

cimport cython
import numpy as np
cimport numpy as cnp
from libc.math cimport fabs, fmax, fmin, isfinite, INFINITY
from libc.stdint cimport int64_t, uint8_t

cimport kernels.pool_core as core
from kernels.margin_core cimport _D0, _L0, account_margin, accumulate_position
from kernels.params import SPREAD_UTILIZATION_CAP, BookConfig, BookFull, Refusal

cnp.import_array()

cdef enum:
    _MAX_CRYPTO = 64        # crypto stress points a margin check can hold on the stack

cdef double _UTIL_CAP = SPREAD_UTILIZATION_CAP
# Refusal codes (kernels.params.Refusal), as C ints for the order path.
cdef int _POOL_INSOLVENT = Refusal.POOL_INSOLVENT
cdef int _UTILIZATION = Refusal.UTILIZATION
cdef int _DELTA_CAP = Refusal.DELTA_CAP
cdef int _OI_CAP = Refusal.OI_CAP
cdef int _MARGIN = Refusal.MARGIN
cdef int _SIZE = Refusal.SIZE
_REFUSALS = tuple(Refusal)          # code -> member

_POSITION_FILL = {"pos_account": 0, "pos_series": 0, "pos_size": 0.0, "pos_entry": 0.0,
                  "pos_take_profit": np.inf, "pos_stop_loss": np.inf, "pos_next": -1}


@cython.final                 # no subclasses: cdef methods are called directly (and inlined)
cdef class TradeBook:
    """Accounts, positions and the pool's running risk of one market (see the module doc and
    ``kernels.reference.trade_book.TradeBook``, whose docstrings state each method's rule)."""

    cdef readonly object cfg
    cdef readonly Py_ssize_t n_accounts, n_positions
    cdef readonly object collateral, acct_head
    cdef readonly object pos_account, pos_series, pos_size, pos_entry, pos_take_profit, pos_stop_loss, pos_next
    cdef readonly object net_size, abs_size, losses, delta_usd, oi_usd
    cdef readonly double entry_notional, price, price_in, price_out
    cdef readonly double last_pool_tokens, last_insurance_tokens, last_spread_usd, last_fee_usd, last_notional_usd
    cdef readonly double last_perp_rate, last_perp_funding_tokens
    cdef readonly double step_volume_usd, step_spread_usd, step_fees_usd, step_trader_pnl_usd
    cdef readonly Py_ssize_t step_trades
    cdef object _log_close, _log_account, _log_usd, _log_series, _log_size, _log_pnl
    cdef uint8_t[::1] _lk
    cdef int64_t[::1] _la, _ls
    cdef double[::1] _lu, _ln, _lp
    cdef double[::1] _q, _size, _entry, _tp, _sl, _net, _abs, _losses, _dusd, _oi
    cdef int64_t[::1] _head, _acct, _ser, _next
    cdef double[::1] _mark, _delta, _spot, _moves
    cdef int64_t[::1] _und
    cdef uint8_t[::1] _perp
    cdef double[:, ::1] _stress, _table
    cdef Py_ssize_t _n_series, _nc
    cdef object _series_refs
    cdef double _haircut, _base, _skew, _perp_spread, _fee, _lp_share, _max_util, _max_delta, _oi_cap, _mm, _im
    cdef double _perp_coeff, _perp_cap

    def __init__(self, cfg, Py_ssize_t n_pool_points):
        if not isinstance(cfg, BookConfig):
            raise ValueError(f"cfg: expected a BookConfig, got {type(cfg).__name__}")
        if n_pool_points < 0:
            raise ValueError(f"n_pool_points: must be >= 0, got {n_pool_points}")
        self.cfg = cfg
        self._haircut, self._base, self._skew = cfg.haircut, cfg.base_spread, cfg.skew
        self._perp_spread, self._fee, self._lp_share = cfg.perp_spread, cfg.notional_fee, cfg.lp_share
        self._max_util, self._max_delta, self._oi_cap = cfg.max_utilization, cfg.max_net_delta_fraction, cfg.oi_cap_usd
        self._mm, self._im = cfg.stress_maint_mult, cfg.stress_initial_mult
        self._perp_coeff, self._perp_cap = cfg.perp_funding_coeff, cfg.perp_funding_cap
        self.collateral = np.zeros(16)
        self.acct_head = np.full(16, -1, dtype=np.int64)
        for name, fill in _POSITION_FILL.items():
            self._set(name, np.full(16, fill, dtype=np.int64 if isinstance(fill, int) else np.float64))
        self.net_size = np.zeros(0)
        self.abs_size = np.zeros(0)
        self.losses = np.zeros(n_pool_points)
        self.delta_usd = np.zeros(0)
        self.oi_usd = np.zeros(0)
        self.price = self.price_in = self.price_out = 1.0
        self._log_close, self._log_account, self._log_usd = (
            np.zeros(64, dtype=np.uint8), np.zeros(64, dtype=np.int64), np.zeros(64))
        self._log_series, self._log_size, self._log_pnl = np.zeros(64, dtype=np.int64), np.zeros(64), np.zeros(64)
        self._bind_log()
        self._bind_accounts()
        self._bind_positions()
        self._bind_aggregates()

    # ------------------------------------------------------------------ binding arrays
    def _bind_log(self):
        self._lk, self._la, self._lu = self._log_close, self._log_account, self._log_usd
        self._ls, self._ln, self._lp = self._log_series, self._log_size, self._log_pnl

    def _bind_accounts(self):
        self._q = self.collateral
        self._head = self.acct_head

    def _bind_positions(self):
        self._acct, self._ser, self._next = self.pos_account, self.pos_series, self.pos_next
        self._size, self._entry = self.pos_size, self.pos_entry
        self._tp, self._sl = self.pos_take_profit, self.pos_stop_loss

    def _bind_aggregates(self):
        self._net, self._abs, self._losses = self.net_size, self.abs_size, self.losses
        self._dusd, self._oi = self.delta_usd, self.oi_usd

    def _set(self, str name, value):
        if name == "pos_account": self.pos_account = value
        elif name == "pos_series": self.pos_series = value
        elif name == "pos_size": self.pos_size = value
        elif name == "pos_entry": self.pos_entry = value
        elif name == "pos_take_profit": self.pos_take_profit = value
        elif name == "pos_stop_loss": self.pos_stop_loss = value
        elif name == "pos_next": self.pos_next = value

    # ------------------------------------------------------------------ capacity
    @property
    def position_capacity(self):
        return self.pos_size.shape[0]

    def add_account(self):
        """A new account with no collateral and no positions; returns its index."""
        if self.n_accounts == self.collateral.shape[0]:
            self.collateral = np.concatenate([self.collateral, np.zeros_like(self.collateral)])
            self.acct_head = np.concatenate([self.acct_head, np.full_like(self.acct_head, -1)])
            self._bind_accounts()
        self.n_accounts += 1
        return self.n_accounts - 1

    def grow_positions(self):
        """Double the position arrays."""
        for name, fill in _POSITION_FILL.items():
            arr = getattr(self, name)
            self._set(name, np.concatenate([arr, np.full_like(arr, fill)]))
        self._bind_positions()

    def compact(self):
        """Drop closed positions; return the old slots of the kept ones, in their new order."""
        k = self.n_positions
        live = np.flatnonzero(self.pos_size[:k] != 0.0)
        for name, fill in _POSITION_FILL.items():
            arr = getattr(self, name)
            arr[: live.size] = arr[live]
            arr[live.size:] = fill
        self.n_positions = live.size
        self.acct_head[:] = -1
        cdef Py_ssize_t p
        cdef int64_t a
        for p in range(self.n_positions):          # oldest first, so each list is newest first
            a = self._acct[p]
            self._next[p] = self._head[a]
            self._head[a] = p
        return live

    # ------------------------------------------------------------------ series and prices
    def bind_series(self, mark, delta, spot, underlying, is_perp, stress_pool, table, token_moves,
                    Py_ssize_t n_underlyings):
        """The series were (re)priced: take their arrays and recompute the pool's risk."""
        refs = (np.ascontiguousarray(mark, dtype=np.float64), np.ascontiguousarray(delta, dtype=np.float64),
                np.ascontiguousarray(spot, dtype=np.float64), np.ascontiguousarray(underlying, dtype=np.int64),
                np.ascontiguousarray(is_perp, dtype=np.uint8), np.ascontiguousarray(stress_pool, dtype=np.float64),
                np.ascontiguousarray(table, dtype=np.float64), np.ascontiguousarray(token_moves, dtype=np.float64))
        n = refs[0].shape[0]
        for name, arr in zip(("delta", "spot", "underlying", "is_perp"), refs[1:5]):
            if arr.shape[0] != n:
                raise ValueError(f"{name}: expected {n} series, got {arr.shape[0]}")
        if refs[5].ndim != 2 or refs[5].shape[1] != n or refs[5].shape[0] != self.losses.shape[0]:
            raise ValueError(f"stress_pool: expected shape ({self.losses.shape[0]}, {n}), got {refs[5].shape}")
        if refs[6].ndim != 2 or refs[6].shape[0] != n or not 0 <= refs[6].shape[1] - _D0 <= _MAX_CRYPTO:
            raise ValueError(f"table: expected a margin_table of {n} rows, got shape {refs[6].shape}")
        if n and (refs[3].min() < 0 or refs[3].max() >= n_underlyings):
            raise ValueError(f"underlying: must be in [0, {n_underlyings})")
        self._series_refs = refs
        self._mark, self._delta, self._spot, self._und, self._perp, self._stress, self._table, self._moves = refs
        self._n_series = n
        self._nc = refs[6].shape[1] - _D0
        if n > self.net_size.shape[0]:
            grow = n - self.net_size.shape[0]
            self.net_size = np.concatenate([self.net_size, np.zeros(grow)])
            self.abs_size = np.concatenate([self.abs_size, np.zeros(grow)])
        self.delta_usd = np.zeros(n_underlyings)
        self.oi_usd = np.zeros(n_underlyings)
        self._bind_aggregates()
        self._recompute_risk()

    def set_prices(self, double price, double price_in, double price_out):
        """USD per token: ``price`` values the pool's assets (its NAV), ``price_in`` the
        collateral in the margin check and tokens coming in (charges, losses, funding paid),
        ``price_out`` tokens going out (gains, funding received); safe mode widens them."""
        if not (price > 0 and price_in > 0 and price_out > 0 and isfinite(price) and isfinite(price_in)
                and isfinite(price_out)):
            raise ValueError(f"prices: must be finite and > 0, got {price}, {price_in}, {price_out}")
        self.price, self.price_in, self.price_out = price, price_in, price_out

    def resync(self):
        """Recompute the per-series aggregates from the positions (after a kernel moved sizes)."""
        cdef Py_ssize_t p, s
        cdef double n, total = 0.0
        for s in range(self._net.shape[0]):
            self._net[s] = 0.0
            self._abs[s] = 0.0
        for p in range(self.n_positions):
            s, n = self._ser[p], self._size[p]
            self._net[s] += n
            self._abs[s] += fabs(n)
            total += n * self._entry[p]
        self.entry_notional = total
        self._recompute_risk()

    cdef void _recompute_risk(self) noexcept:
        cdef Py_ssize_t g, s, u
        core.stress_losses(&self._net[0], &self._mark[0], &self._stress[0, 0], self._losses.shape[0],
                           self._n_series, &self._losses[0])
        for u in range(self._dusd.shape[0]):
            self._dusd[u] = 0.0
            self._oi[u] = 0.0
        for s in range(self._n_series):
            u = self._und[s]
            self._dusd[u] += core.delta_usd(self._net[s], self._delta[s], self._spot[s])
            self._oi[u] += self._abs[s] * self._spot[s]

    # ------------------------------------------------------------------ reading
    cdef double _upnl(self) noexcept:
        cdef Py_ssize_t s
        cdef double total = 0.0
        for s in range(self._n_series):
            total += self._mark[s] * self._net[s]
        return total - self.entry_notional

    cdef double _nav(self, double pool_tokens) noexcept:
        return pool_tokens * self.price - self._upnl()

    cdef double _util_after(self, Py_ssize_t s, double dn, double nav) noexcept:
        return core.utilization_after(&self._losses[0], self._losses.shape[0], &self._stress[0, 0],
                                      &self._mark[0], self._n_series, s, dn, nav)

    def upnl_usd(self):
        """Traders' unrealized PnL against the pool (USD)."""
        return self._upnl()

    def nav_usd(self, double pool_tokens):
        """Pool NAV (USD) given its assets in tokens: assets minus traders' unrealized PnL."""
        return self._nav(_pool_assets(pool_tokens))

    def utilization(self, double pool_tokens):
        """Largest stress loss of the pool's book over its NAV (inf when NAV <= 0), given the
        pool's assets in tokens."""
        return self._util_after(0, 0.0, self._nav(_pool_assets(pool_tokens)))

    def positions_of(self, Py_ssize_t a):
        """Open positions of account ``a``, newest first (closed ones are unlinked)."""
        self._check_account(a)
        out = []
        cdef int64_t p = self._head[a], prev = -1, nxt
        while p >= 0:
            nxt = self._next[p]
            if self._size[p] == 0.0:
                if prev < 0:
                    self._head[a] = nxt
                else:
                    self._next[prev] = nxt
            else:
                out.append(p)
                prev = p
            p = nxt
        return out

    cdef void _margin(self, Py_ssize_t a, Py_ssize_t xs, double xn, double xe, double dq,
                      double* eq, double* mr, double* ir) noexcept:
        """One account's (equity, maintenance, initial) in USD, as margin_from_table: its
        positions (and the extra one ``xs``) summed by the margin core on the stack; collateral
        valued at ``price_in`` (safe mode: the lower price)."""
        cdef double acc[_L0 + _MAX_CRYPTO]
        cdef Py_ssize_t c, nc = self._nc
        cdef int64_t p = self._head[a], prev = -1, nxt
        for c in range(_L0 + nc):
            acc[c] = 0.0
        while p >= 0:
            nxt = self._next[p]
            if self._size[p] == 0.0:         # closed: unlink it
                if prev < 0:
                    self._head[a] = nxt
                else:
                    self._next[prev] = nxt
            else:
                accumulate_position(&self._table[self._ser[p], 0], self._size[p], self._entry[p], nc, acc)
                prev = p
            p = nxt
        if xs >= 0:
            accumulate_position(&self._table[xs, 0], xn, xe, nc, acc)
        account_margin(acc, nc, self._q[a] + dq, self.price_in, self._haircut, &self._moves[0],
                       self._moves.shape[0], self._mm, self._im, eq, mr, ir)

    def margin(self, Py_ssize_t a, Py_ssize_t extra_series=-1, double extra_size=0.0,
               double extra_entry=0.0, double collateral_change=0.0):
        """(equity, maintenance, initial) USD of account ``a``, optionally with one more
        position and a change of collateral (tokens)."""
        self._check_account(a)
        if extra_series >= 0:
            self._check_series(extra_series)
        cdef double eq, mr, ir
        self._margin(a, extra_series, extra_size, extra_entry, collateral_change, &eq, &mr, &ir)
        return eq, mr, ir

    def needs_liquidation(self, double tol=1e-9):
        """True if the liquidation pass has work: an account with an open position and equity
        below (1 + tol) x maintenance (tol: the pass sums in another order), or one with
        nothing open and negative collateral (the waterfall). No allocation: a quiet step
        costs one walk of the accounts."""
        cdef Py_ssize_t a
        cdef double eq, mr, ir
        for a in range(self.n_accounts):
            if self._head[a] >= 0:
                self._margin(a, -1, 0.0, 0.0, 0.0, &eq, &mr, &ir)   # unlinks closed positions
            if self._head[a] < 0:
                if self._q[a] < 0.0:
                    return True
            elif eq < mr + tol * fabs(mr):
                return True
        return False

    def accrue_funding(self, payoff, double dt_over_period, double tol=1e-9, double dt_years=0.0,
                       double pool_tokens=0.0):
        """Phase 7 in one walk of the accounts: funding, then the margin check.

        Each open position of signed size n pays n (mark - payoff) dt / T USD (design 5) from
        its account's collateral; a perpetual future also pays n x spot x rate x ``dt_years`` USD
        at the skew-based rate of ``perp_funding_rate`` (the book's net perp notional over the
        NAV of ``pool_tokens``; left in ``last_perp_rate``, the pool's net perp take in
        ``last_perp_funding_tokens``). An account's net payment of each kind is converted to
        tokens at ``price_in`` (tokens coming in), a net receipt at ``price_out`` (tokens going
        out; the two differ only in safe mode). The total is the pool's, which the caller
        settles in its ledger. Then each account is checked as ``needs_liquidation`` does.
        Returns (tokens to the pool, option and perp, USD of option funding paid by the
        accounts that paid it, needs_liquidation).
        """
        cdef const double[::1] pay = np.ascontiguousarray(payoff, dtype=np.float64)
        if pay.shape[0] != self._n_series:
            raise ValueError(f"payoff: expected {self._n_series} series, got {pay.shape[0]}")
        if not (isfinite(dt_years) and dt_years >= 0.0):
            raise ValueError(f"dt_years: must be finite and >= 0, got {dt_years}")
        cdef Py_ssize_t a, s
        cdef int64_t p
        cdef double f, fp, total = 0.0, perp_total = 0.0, paid = 0.0, eq, mr, ir, k = dt_over_period / self.price_in
        cdef double net_perp = 0.0, kp
        cdef double out_ratio = self.price_in / self.price_out     # 1 outside safe mode
        cdef bint needs = False
        for s in range(self._n_series):
            if self._perp[s]:
                net_perp += self._net[s] * self._spot[s]
        self.last_perp_rate = core.perp_funding_rate(self._perp_coeff, self._perp_cap, net_perp,
                                                     self._nav(_pool_assets(pool_tokens)))
        kp = self.last_perp_rate * dt_years / self.price_in
        for a in range(self.n_accounts):
            if self._head[a] >= 0:
                f = 0.0
                fp = 0.0
                p = self._head[a]
                while p >= 0:
                    s = self._ser[p]
                    f += core.funding_tokens(self._size[p], self._mark[s], pay[s], k)
                    if self._perp[s]:
                        fp += core.perp_funding_tokens(self._size[p], self._spot[s], kp)
                    p = self._next[p]
                if f < 0.0:
                    f *= out_ratio
                if fp < 0.0:
                    fp *= out_ratio
                self._q[a] -= f + fp
                total += f
                perp_total += fp
                if f > 0.0:
                    paid += f
                if not needs:
                    self._margin(a, -1, 0.0, 0.0, 0.0, &eq, &mr, &ir)   # unlinks closed positions
                    needs = self._head[a] >= 0 and eq < mr + tol * fabs(mr)
            if not needs and self._head[a] < 0 and self._q[a] < 0.0:
                needs = True
        self.last_perp_funding_tokens = perp_total
        return total + perp_total, paid * self.price_in, needs

    # ------------------------------------------------------------------ trading
    cdef inline double _spread(self, Py_ssize_t s, double util_after) noexcept:
        if self._perp[s]:
            return self._perp_spread
        return core.option_spread(self._base, self._skew, util_after, _UTIL_CAP)

    cdef int _quote(self, Py_ssize_t s, double dn, double nav, double* spread, double* after) noexcept:
        cdef double before, old_delta, new_delta
        cdef Py_ssize_t u
        if nav <= 0.0:
            spread[0] = self._spread(s, 1.0)
            after[0] = INFINITY
            return _POOL_INSOLVENT
        before = self._util_after(0, 0.0, nav)
        after[0] = self._util_after(s, dn, nav)
        spread[0] = self._spread(s, after[0])
        if not core.trade_allowed(before, after[0], self._max_util):
            return _UTILIZATION
        u = self._und[s]
        old_delta = self._dusd[u]
        new_delta = old_delta + core.delta_usd(dn, self._delta[s], self._spot[s])
        if fabs(new_delta) > fabs(old_delta) and fabs(new_delta) > self._max_delta * nav:
            return _DELTA_CAP
        if self._oi[u] + fabs(dn) * self._spot[s] > self._oi_cap:
            return _OI_CAP
        return 0

    def quote(self, Py_ssize_t s, double dn, double pool_tokens):
        """(spread fraction, utilization after, ``Refusal``) of a trade of ``dn`` in ``s``,
        given the pool's assets in tokens."""
        self._check_series(s)
        cdef double spread, after
        cdef int why = self._quote(s, dn, self._nav(_pool_assets(pool_tokens)), &spread, &after)
        return spread, after, _REFUSALS[why]

    def open(self, Py_ssize_t a, Py_ssize_t s, double dn, double margin_buffer, double pool_tokens,
             double take_profit_usd=INFINITY, double stop_loss_usd=INFINITY):
        """Open ``dn`` of series ``s`` for account ``a`` if the pool and the account's initial
        margin (times ``margin_buffer``) allow; returns the slot, or minus a ``Refusal`` code.
        ``pool_tokens``: the pool's assets (tokens, finite). The spread and the pool's share of
        the fee are left in ``last_pool_tokens``, insurance's in ``last_insurance_tokens``.
        ``take_profit_usd`` / ``stop_loss_usd``: the position's orders (see ``set_triggers``).
        Raises ``BookFull`` (an IndexError) when the position arrays are full."""
        self._check_account(a)
        self._check_series(s)
        if dn == 0.0 or not isfinite(dn):
            return -_SIZE
        if self.n_positions == self._size.shape[0]:
            raise BookFull("position arrays are full: compact() or grow_positions() first")
        cdef double spread, after, spread_usd, fee_usd, eq, mr, ir, mark = self._mark[s]
        cdef int why = self._quote(s, dn, self._nav(_pool_assets(pool_tokens)), &spread, &after)
        if why:
            return -why
        spread_usd = fabs(dn) * mark * spread
        fee_usd = fabs(dn) * self._spot[s] * self._fee
        self._margin(a, s, dn, mark, -(spread_usd + fee_usd) / self.price_in, &eq, &mr, &ir)
        if eq < margin_buffer * ir:
            return -_MARGIN
        self._charge(a, spread_usd, fee_usd, 0.0)
        cdef Py_ssize_t p = self.n_positions
        self.n_positions += 1
        self._acct[p], self._ser[p], self._size[p], self._entry[p] = a, s, dn, mark
        self._tp[p] = take_profit_usd
        self._sl[p] = stop_loss_usd
        self._next[p] = self._head[a]
        self._head[a] = p
        self.entry_notional += dn * mark
        self._book_moved(s, dn, fabs(dn))
        self.last_notional_usd = dn * self._spot[s]
        self._log(0, a, self.last_notional_usd, 0.0, s, dn)
        return p

    def close(self, Py_ssize_t p, double fraction, double pool_tokens):
        """Close ``fraction`` of position ``p`` at mark minus spread (never refused), given the
        pool's assets in tokens; returns the realized PnL in USD before spread and fees. The
        pool's side (spread and fee share, minus the realized PnL) is left in
        ``last_pool_tokens``, insurance's in ``last_insurance_tokens``."""
        self._check_position(p)
        if not isfinite(fraction):
            raise ValueError(f"fraction: must be finite, got {fraction}")
        cdef double n = self._size[p]
        if n == 0.0:
            self.last_pool_tokens = self.last_insurance_tokens = 0.0
            self.last_spread_usd = self.last_fee_usd = self.last_notional_usd = 0.0
            return 0.0
        fraction = fmin(fmax(fraction, 0.0), 1.0)
        cdef Py_ssize_t s = self._ser[p], a = self._acct[p]
        cdef double dn = -fraction * n, mark = self._mark[s], closed, pnl_tokens = 0.0
        cdef double spread = self._spread(s, self._util_after(s, dn, self._nav(_pool_assets(pool_tokens))))
        cdef double realized_usd = core.position_pnl(fraction * n, mark, self._entry[p])
        if realized_usd != 0.0:
            pnl_tokens = realized_usd / (self.price_out if realized_usd > 0 else self.price_in)
            self._q[a] += pnl_tokens
        self._charge(a, fabs(dn) * mark * spread, fabs(dn) * self._spot[s] * self._fee, pnl_tokens)
        self._size[p] = n + dn if fraction < 1.0 else 0.0
        closed = n - self._size[p]
        self.entry_notional -= closed * self._entry[p]
        self._book_moved(s, -closed, -fabs(closed))
        self.last_notional_usd = dn * self._spot[s]
        self._log(1, a, self.last_notional_usd, realized_usd, s, -closed)
        return realized_usd

    cdef void _charge(self, Py_ssize_t a, double spread_usd, double fee_usd, double pnl_tokens) noexcept:
        """Spread to the main pool, the fee split main/insurance; realized PnL out of the pool."""
        cdef double spread_t = spread_usd / self.price_in, fee_t = fee_usd / self.price_in, to_main, to_ins
        core.split_fee(fee_t, self._lp_share, &to_main, &to_ins)
        self._q[a] -= spread_t + to_main + to_ins
        self.last_pool_tokens = spread_t + to_main - pnl_tokens
        self.last_insurance_tokens = to_ins
        self.last_spread_usd = spread_usd
        self.last_fee_usd = fee_usd

    cdef void _book_moved(self, Py_ssize_t s, double dn, double gross) noexcept:
        """Traders' net size of ``s`` moved by ``dn`` and gross size by ``gross``."""
        cdef Py_ssize_t g, u = self._und[s]
        cdef double mark = self._mark[s]
        self._net[s] += dn
        self._abs[s] += gross
        for g in range(self._losses.shape[0]):
            self._losses[g] += core.trade_loss(dn, self._stress[g, s], mark)
        self._dusd[u] += core.delta_usd(dn, self._delta[s], self._spot[s])
        self._oi[u] += gross * self._spot[s]

    cdef void _log(self, uint8_t is_close, Py_ssize_t a, double notional_usd, double realized_usd,
                   Py_ssize_t s, double size) except *:
        """Count the order in the step's totals and append it to the step's trade log (with the
        trader's PnL from it: realized PnL less spread and fee, USD)."""
        cdef Py_ssize_t i = self.step_trades
        if i == self._lk.shape[0]:
            self._log_close = np.concatenate([self._log_close, np.zeros_like(self._log_close)])
            self._log_account = np.concatenate([self._log_account, np.zeros_like(self._log_account)])
            self._log_usd = np.concatenate([self._log_usd, np.zeros_like(self._log_usd)])
            self._log_series = np.concatenate([self._log_series, np.zeros_like(self._log_series)])
            self._log_size = np.concatenate([self._log_size, np.zeros_like(self._log_size)])
            self._log_pnl = np.concatenate([self._log_pnl, np.zeros_like(self._log_pnl)])
            self._bind_log()
        self._lk[i], self._la[i], self._lu[i] = is_close, a, notional_usd
        self._ls[i], self._ln[i] = s, size
        self._lp[i] = realized_usd - self.last_spread_usd - self.last_fee_usd
        self.step_trades = i + 1
        self.step_volume_usd += fabs(notional_usd)
        self.step_spread_usd += self.last_spread_usd
        self.step_fees_usd += self.last_fee_usd
        self.step_trader_pnl_usd += realized_usd

    def take_step_log(self):
        """The step's orders, then reset: (is_close uint8, account int64, signed underlying
        notional USD float64, series int64, signed size float64 (> 0 adds to a long or closes a
        short), the trader's PnL from the order USD float64: realized PnL less spread and fee)
        arrays in order; the totals are ``step_*`` (read them first)."""
        n = self.step_trades
        out = (self._log_close[:n].copy(), self._log_account[:n].copy(), self._log_usd[:n].copy(),
               self._log_series[:n].copy(), self._log_size[:n].copy(), self._log_pnl[:n].copy())
        self.step_trades = 0
        self.step_volume_usd = self.step_spread_usd = self.step_fees_usd = self.step_trader_pnl_usd = 0.0
        return out

    def set_triggers(self, Py_ssize_t p, double take_profit_usd, double stop_loss_usd):
        """Take-profit / stop-loss orders on position ``p`` (USD of PnL)."""
        self._check_position(p)
        self._tp[p] = take_profit_usd
        self._sl[p] = stop_loss_usd

    def holding_flags(self):
        """Per account (uint8): 1 if it holds an open position."""
        flags = np.zeros(self.n_accounts, dtype=np.uint8)
        cdef uint8_t[::1] f = flags
        cdef Py_ssize_t p
        for p in range(self.n_positions):
            if self._size[p] != 0.0:
                f[self._acct[p]] = 1
        return flags

    def triggered_accounts(self):
        """Accounts (ascending, each once) holding an open position whose PnL at the current
        marks reached its take-profit or fell to minus its stop-loss."""
        cdef Py_ssize_t p, a, k = 0
        cdef double pnl, n
        hit = np.zeros(self.n_accounts, dtype=np.uint8)
        cdef uint8_t[::1] h = hit
        for p in range(self.n_positions):
            n = self._size[p]
            if n != 0.0:
                pnl = core.position_pnl(n, self._mark[self._ser[p]], self._entry[p])
                if pnl >= self._tp[p] or pnl <= -self._sl[p]:
                    h[self._acct[p]] = 1
        return np.flatnonzero(hit)

    def position_pnl_usd(self, Py_ssize_t p):
        """Unrealized PnL of position ``p`` at the current marks (USD)."""
        self._check_position(p)
        return core.position_pnl(self._size[p], self._mark[self._ser[p]], self._entry[p])

    # ------------------------------------------------------------------ checks
    cdef inline void _check_position(self, Py_ssize_t p) except *:
        if p < 0 or p >= self.n_positions:
            raise IndexError(f"position {p} out of range [0, {self.n_positions})")

    cdef inline void _check_account(self, Py_ssize_t a) except *:
        if a < 0 or a >= self.n_accounts:
            raise IndexError(f"account {a} out of range [0, {self.n_accounts})")

    cdef inline void _check_series(self, Py_ssize_t s) except *:
        if s < 0 or s >= self._n_series:
            raise IndexError(f"series {s} out of range [0, {self._n_series})")


cdef inline double _pool_assets(double pool_tokens) except? -1.0:
    """The pool's assets (tokens) the caller handed in: they must be finite."""
    if not isfinite(pool_tokens):
        raise ValueError(f"pool_tokens: must be finite (the pool's assets in tokens), got {pool_tokens}")
    return pool_tokens
