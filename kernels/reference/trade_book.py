"""Plain-Python twin of ``kernels.trade_book.TradeBook``: the same class, loops written for clarity.

It is the specification the Cython book is tested against (same state after the same random
operations) and the baseline ``flywheel bench`` compares it with. It reuses the twins of the
pool and margin formulas, so one statement of each rule serves both.
"""

from __future__ import annotations

import math

import numpy as np

from kernels.params import BookConfig, BookFull, Refusal
from kernels.reference import liquidation as ref_liq
from kernels.reference import pool as ref_pool

_INF = math.inf


class TradeBook:
    """Accounts, positions and the pool's running risk of one market (design sections 5-7).

    State (numpy arrays, capacity-sized; the first ``n_accounts`` / ``n_positions`` are in use):
    ``collateral`` (tokens, may go negative), ``pos_account``, ``pos_series``, ``pos_size``
    (signed units of the underlying), ``pos_entry`` (USD mark at entry), ``pos_take_profit`` /
    ``pos_stop_loss`` (USD of PnL at which the owner is woken). Each account's open positions
    form a linked list (``acct_head``, ``pos_next``), newest first, so a margin check walks only
    that account's positions. Running aggregates for quoting: ``net_size`` / ``abs_size`` per
    series, ``entry_notional`` (USD), ``losses`` (pool loss at each stress point, USD),
    ``delta_usd`` / ``oi_usd`` per underlying.

    ``open`` and ``close`` move collateral in place and report, in ``last_pool_tokens`` and
    ``last_insurance_tokens``, the other side the caller settles in its ledger; the book reads
    no ledger: every call that needs the pool's NAV is handed its assets (``pool_tokens``).
    """

    def __init__(self, cfg: BookConfig, n_pool_points: int) -> None:
        self.cfg = cfg
        self.n_accounts = 0
        self.n_positions = 0
        self.collateral = np.zeros(16)
        self.acct_head = np.full(16, -1, dtype=np.int64)
        self.pos_account = np.zeros(16, dtype=np.int64)
        self.pos_series = np.zeros(16, dtype=np.int64)
        self.pos_size = np.zeros(16)
        self.pos_entry = np.zeros(16)
        self.pos_take_profit = np.full(16, _INF)
        self.pos_stop_loss = np.full(16, _INF)
        self.pos_next = np.full(16, -1, dtype=np.int64)
        self.net_size = np.zeros(0)
        self.abs_size = np.zeros(0)
        self.entry_notional = 0.0
        self.losses = np.zeros(n_pool_points)
        self.delta_usd = np.zeros(0)
        self.oi_usd = np.zeros(0)
        self.price = self.price_in = self.price_out = 1.0
        self.last_pool_tokens = self.last_insurance_tokens = 0.0
        self.last_spread_usd = self.last_fee_usd = self.last_notional_usd = 0.0
        self.last_perp_rate = self.last_perp_funding_tokens = 0.0
        self._n_series = 0
        self._series = None
        self.step_volume_usd = self.step_spread_usd = self.step_fees_usd = self.step_trader_pnl_usd = 0.0
        self.step_trades = 0
        self._log: list[tuple[int, int, float, int, float, float]] = []

    # ------------------------------------------------------------------ capacity
    @property
    def position_capacity(self) -> int:
        return self.pos_size.shape[0]

    def add_account(self) -> int:
        if self.n_accounts == self.collateral.shape[0]:
            self.collateral = np.concatenate([self.collateral, np.zeros_like(self.collateral)])
            self.acct_head = np.concatenate([self.acct_head, np.full_like(self.acct_head, -1)])
        self.n_accounts += 1
        return self.n_accounts - 1

    def grow_positions(self) -> None:
        """Double the position arrays."""
        for name, fill in _POSITION_FILL.items():
            arr = getattr(self, name)
            setattr(self, name, np.concatenate([arr, np.full_like(arr, fill)]))

    def compact(self) -> np.ndarray:
        """Drop closed positions; return the old slots of the kept ones, in their new order."""
        k = self.n_positions
        live = np.flatnonzero(self.pos_size[:k] != 0.0)
        for name, fill in _POSITION_FILL.items():
            arr = getattr(self, name)
            arr[: live.size] = arr[live]
            arr[live.size:] = fill
        self.n_positions = int(live.size)
        self.acct_head[:] = -1
        for p in range(self.n_positions):          # oldest first, so each list is newest first
            a = self.pos_account[p]
            self.pos_next[p] = self.acct_head[a]
            self.acct_head[a] = p
        return live

    # ------------------------------------------------------------------ series and prices
    def bind_series(self, mark, delta, spot, underlying, is_perp, stress_pool, table, token_moves,
                    n_underlyings: int) -> None:
        """The series were (re)priced: take their arrays and recompute the pool's risk."""
        n = len(mark)
        if n > self.net_size.shape[0]:
            grow = n - self.net_size.shape[0]
            self.net_size = np.concatenate([self.net_size, np.zeros(grow)])
            self.abs_size = np.concatenate([self.abs_size, np.zeros(grow)])
        self._n_series = n
        self._series = (mark, delta, spot, underlying, is_perp, stress_pool, table, token_moves)
        self.delta_usd = np.zeros(n_underlyings)
        self.oi_usd = np.zeros(n_underlyings)
        self._recompute_risk()

    def set_prices(self, price: float, price_in: float, price_out: float) -> None:
        """USD per token: ``price`` values the pool's assets (its NAV), ``price_in`` the
        collateral in the margin check and tokens coming in (charges, losses, funding paid),
        ``price_out`` tokens going out (gains, funding received); safe mode widens them."""
        self.price, self.price_in, self.price_out = price, price_in, price_out

    @staticmethod
    def _pool_assets(pool_tokens: float) -> float:
        if not math.isfinite(pool_tokens):
            raise ValueError(f"pool_tokens: must be finite (the pool's assets in tokens), got {pool_tokens}")
        return pool_tokens

    def resync(self) -> None:
        """Recompute the per-series aggregates from the positions (after a kernel moved sizes)."""
        self.net_size[:] = 0.0
        self.abs_size[:] = 0.0
        self.entry_notional = 0.0
        for p in range(self.n_positions):
            s, size = self.pos_series[p], self.pos_size[p]
            self.net_size[s] += size
            self.abs_size[s] += abs(size)
            self.entry_notional += size * self.pos_entry[p]
        self._recompute_risk()

    def _recompute_risk(self) -> None:
        mark, delta, spot, und, _, stress_pool, _, _ = self._series
        n = self._n_series
        self.losses[:] = ref_pool.stress_losses(self.net_size[:n], mark, stress_pool)
        self.delta_usd[:] = 0.0
        self.oi_usd[:] = 0.0
        for s in range(n):
            self.delta_usd[und[s]] += self.net_size[s] * delta[s] * spot[s]
            self.oi_usd[und[s]] += self.abs_size[s] * spot[s]

    # ------------------------------------------------------------------ reading
    def upnl_usd(self) -> float:
        """Traders' unrealized PnL against the pool (USD)."""
        mark = self._series[0]
        return sum(mark[s] * self.net_size[s] for s in range(self._n_series)) - self.entry_notional

    def nav_usd(self, pool_tokens: float) -> float:
        """Pool NAV (USD) given its assets in tokens: assets minus traders' unrealized PnL."""
        return self._pool_assets(pool_tokens) * self.price - self.upnl_usd()

    def utilization(self, pool_tokens: float) -> float:
        """Largest stress loss of the pool's book over its NAV (inf when NAV <= 0), given the
        pool's assets in tokens."""
        return self._util_after(0, 0.0, self.nav_usd(pool_tokens))

    def _util_after(self, s: int, dn: float, nav: float) -> float:
        mark, stress_pool = self._series[0], self._series[5]
        return ref_pool.utilization_from_losses(self.losses, stress_pool, mark, s, dn, nav)

    def positions_of(self, a: int) -> list[int]:
        """Open positions of account ``a``, newest first (closed ones are unlinked)."""
        out, prev, p = [], -1, int(self.acct_head[a])
        while p >= 0:
            nxt = int(self.pos_next[p])
            if self.pos_size[p] == 0.0:
                if prev < 0:
                    self.acct_head[a] = nxt
                else:
                    self.pos_next[prev] = nxt
            else:
                out.append(p)
                prev = p
            p = nxt
        return out

    def margin(self, a: int, extra_series: int = -1, extra_size: float = 0.0, extra_entry: float = 0.0,
               collateral_change: float = 0.0) -> tuple[float, float, float]:
        """(equity, maintenance, initial) USD of account ``a``, optionally with one more
        position and a change of collateral (tokens)."""
        slots = self.positions_of(a)
        ser = [int(self.pos_series[p]) for p in slots]
        size = [float(self.pos_size[p]) for p in slots]
        entry = [float(self.pos_entry[p]) for p in slots]
        if extra_series >= 0:
            ser.append(extra_series), size.append(extra_size), entry.append(extra_entry)
        table, moves = self._series[6], self._series[7]
        eq, mr, ir = ref_liq.margin_from_table(
            [self.collateral[a] + collateral_change], self.price_in, self.cfg.haircut, [0] * len(ser), ser,
            size, entry, table, moves, self.cfg.stress_maint_mult, self.cfg.stress_initial_mult)
        return float(eq[0]), float(mr[0]), float(ir[0])

    def needs_liquidation(self, tol: float = 1e-9) -> bool:
        """True if the liquidation pass has work: an account with an open position and equity
        below (1 + tol) x maintenance (tol: the pass sums in another order), or one with
        nothing open and negative collateral (the waterfall)."""
        for a in range(self.n_accounts):
            if self.positions_of(a):
                eq, mr, _ = self.margin(a)
                if eq < mr + tol * abs(mr):
                    return True
            elif self.collateral[a] < 0.0:
                return True
        return False

    def accrue_funding(self, payoff, dt_over_period: float, tol: float = 1e-9, dt_years: float = 0.0,
                       pool_tokens: float = 0.0) -> tuple[float, float, bool]:
        """Phase 7 in one walk of the accounts: funding (``kernels.pool.accrue_funding``'s rule:
        n (mark - payoff) dt / T USD per position, in tokens, collateral to pool; a perpetual
        future also n x spot x rate x ``dt_years`` USD at ``kernels.pool.perp_funding_rate`` of
        the net perp notional over the NAV of ``pool_tokens``, left in ``last_perp_rate``, the
        pool's net perp take in ``last_perp_funding_tokens``), then the margin check of
        ``needs_liquidation``. Returns (tokens to the pool, option and perp, which the caller
        settles in its ledger, USD of option funding paid by the accounts that paid it,
        needs_liquidation)."""
        if not (math.isfinite(dt_years) and dt_years >= 0.0):
            raise ValueError(f"dt_years: must be finite and >= 0, got {dt_years}")
        k, na = self.n_positions, self.n_accounts
        mark, _, spot, _, is_perp = self._series[:5]
        funding = ref_pool.accrue_funding(self.pos_account[:k], self.pos_series[:k], self.pos_size[:k], mark,
                                          payoff, dt_over_period, 1.0, self.price_in, na)
        net_perp = sum(self.net_size[s] * spot[s] for s in range(self._n_series) if is_perp[s])
        self.last_perp_rate = ref_pool.perp_funding_rate(
            self.cfg.perp_funding_coeff, self.cfg.perp_funding_cap, net_perp, self.nav_usd(pool_tokens))
        # the perp rule alone: mark = payoff leaves no option funding
        perp = ref_pool.accrue_funding(self.pos_account[:k], self.pos_series[:k], self.pos_size[:k], mark,
                                       mark, dt_years, 1.0, self.price_in, na, spot, is_perp, self.last_perp_rate)
        # A net payment comes in at price_in; a net receipt goes out at price_out (safe mode).
        funding[funding < 0.0] *= self.price_in / self.price_out
        perp[perp < 0.0] *= self.price_in / self.price_out
        self.collateral[:na] -= funding + perp
        self.last_perp_funding_tokens = float(np.sum(perp))
        total = float(np.sum(funding))
        return (total + self.last_perp_funding_tokens, float(np.sum(funding[funding > 0.0])) * self.price_in,
                self.needs_liquidation(tol))

    # ------------------------------------------------------------------ trading
    def _spread(self, s: int, util_after: float) -> float:
        if self._series[4][s]:
            return self.cfg.perp_spread
        return ref_pool.spread_for(self.cfg.base_spread, self.cfg.skew, util_after)   # capped there

    def quote(self, s: int, dn: float, pool_tokens: float) -> tuple[float, float, Refusal]:
        """(spread fraction, utilization after, ``Refusal``) of a trade of ``dn`` in ``s``,
        given the pool's assets in tokens."""
        _, delta, spot, und, _, _, _, _ = self._series
        cfg = self.cfg
        nav = self.nav_usd(pool_tokens)
        if nav <= 0:
            return self._spread(s, 1.0), _INF, Refusal.POOL_INSOLVENT
        before = self._util_after(0, 0.0, nav)
        after = self._util_after(s, dn, nav)
        spread = self._spread(s, after)
        if not ref_pool.trade_allowed(before, after, cfg.max_utilization):
            return spread, after, Refusal.UTILIZATION
        u = und[s]
        new_delta = self.delta_usd[u] + dn * delta[s] * spot[s]
        if abs(new_delta) > abs(self.delta_usd[u]) and abs(new_delta) > cfg.max_net_delta_fraction * nav:
            return spread, after, Refusal.DELTA_CAP
        if self.oi_usd[u] + abs(dn) * spot[s] > cfg.oi_cap_usd:
            return spread, after, Refusal.OI_CAP
        return spread, after, Refusal.ACCEPTED

    def open(self, a: int, s: int, dn: float, margin_buffer: float, pool_tokens: float,
             take_profit_usd: float = _INF, stop_loss_usd: float = _INF) -> int:
        """Open ``dn`` of series ``s`` for account ``a`` if the pool and the account's initial
        margin (times ``margin_buffer``) allow; returns the slot, or minus a ``Refusal`` code.
        ``pool_tokens``: the pool's assets (tokens, finite).
        ``take_profit_usd`` / ``stop_loss_usd``: the position's orders (see ``set_triggers``).
        Raises ``BookFull`` (an IndexError) when the position arrays are full."""
        if dn == 0.0 or not math.isfinite(dn):
            return -Refusal.SIZE
        if self.n_positions == self.position_capacity:
            raise BookFull("position arrays are full: compact() or grow_positions() first")
        mark, _, spot = self._series[0], self._series[1], self._series[2]
        spread, _, why = self.quote(s, dn, pool_tokens)
        if why:
            return -why
        spread_usd = abs(dn) * mark[s] * spread
        fee_usd = abs(dn) * spot[s] * self.cfg.notional_fee
        cost_tokens = (spread_usd + fee_usd) / self.price_in
        eq, _, ir = self.margin(a, s, dn, mark[s], -cost_tokens)
        if eq < margin_buffer * ir:
            return -Refusal.MARGIN
        self._charge(a, spread_usd, fee_usd, 0.0)
        p = self.n_positions
        self.n_positions += 1
        self.pos_account[p], self.pos_series[p], self.pos_size[p], self.pos_entry[p] = a, s, dn, mark[s]
        self.pos_take_profit[p], self.pos_stop_loss[p] = take_profit_usd, stop_loss_usd
        self.pos_next[p] = self.acct_head[a]
        self.acct_head[a] = p
        self.entry_notional += dn * mark[s]
        self._book_moved(s, dn, abs(dn))
        self.last_notional_usd = dn * spot[s]
        self._record(0, a, self.last_notional_usd, 0.0, s, dn)
        return p

    def close(self, p: int, fraction: float, pool_tokens: float) -> float:
        """Close ``fraction`` of position ``p`` at mark minus spread (never refused); returns
        the realized PnL in USD before spread and fees."""
        if not math.isfinite(fraction):
            raise ValueError(f"fraction: must be finite, got {fraction}")
        n = float(self.pos_size[p])
        if n == 0.0:
            self.last_pool_tokens = self.last_insurance_tokens = 0.0
            self.last_spread_usd = self.last_fee_usd = self.last_notional_usd = 0.0
            return 0.0
        mark, spot = self._series[0], self._series[2]
        fraction = min(max(fraction, 0.0), 1.0)
        s, a = int(self.pos_series[p]), int(self.pos_account[p])
        dn = -fraction * n
        spread = self._spread(s, self._util_after(s, dn, self.nav_usd(pool_tokens)))
        realized_usd = fraction * n * (mark[s] - self.pos_entry[p])
        pnl_tokens = 0.0
        if realized_usd != 0.0:
            pnl_tokens = realized_usd / (self.price_out if realized_usd > 0 else self.price_in)
            self.collateral[a] += pnl_tokens
        self._charge(a, abs(dn) * mark[s] * spread, abs(dn) * spot[s] * self.cfg.notional_fee, pnl_tokens)
        self.pos_size[p] = n + dn if fraction < 1.0 else 0.0
        closed = n - self.pos_size[p]
        self.entry_notional -= closed * self.pos_entry[p]
        self._book_moved(s, -closed, -abs(closed))
        self.last_notional_usd = dn * spot[s]
        self._record(1, a, self.last_notional_usd, realized_usd, s, -closed)
        return realized_usd

    def _record(self, is_close: int, a: int, notional_usd: float, realized_usd: float, s: int,
                size: float) -> None:
        """Count the order in the step's totals and append it to the step's trade log (with the
        trader's PnL from it: realized PnL less spread and fee, USD)."""
        self._log.append((is_close, a, notional_usd, s, size,
                          realized_usd - self.last_spread_usd - self.last_fee_usd))
        self.step_trades += 1
        self.step_volume_usd += abs(notional_usd)
        self.step_spread_usd += self.last_spread_usd
        self.step_fees_usd += self.last_fee_usd
        self.step_trader_pnl_usd += realized_usd

    def take_step_log(self) -> tuple[np.ndarray, ...]:
        """The step's orders, then reset: (is_close uint8, account int64, signed underlying
        notional USD float64, series int64, signed size float64 (> 0 adds to a long or closes a
        short), the trader's PnL from the order USD float64: realized PnL less spread and fee)
        arrays in order; the totals are ``step_*`` (read them first)."""
        out = (np.array([r[0] for r in self._log], dtype=np.uint8),
               np.array([r[1] for r in self._log], dtype=np.int64),
               np.array([r[2] for r in self._log], dtype=np.float64),
               np.array([r[3] for r in self._log], dtype=np.int64),
               np.array([r[4] for r in self._log], dtype=np.float64),
               np.array([r[5] for r in self._log], dtype=np.float64))
        self._log = []
        self.step_trades = 0
        self.step_volume_usd = self.step_spread_usd = self.step_fees_usd = self.step_trader_pnl_usd = 0.0
        return out

    def set_triggers(self, p: int, take_profit_usd: float, stop_loss_usd: float) -> None:
        """Take-profit / stop-loss orders on position ``p`` (USD of PnL)."""
        self.pos_take_profit[p] = take_profit_usd
        self.pos_stop_loss[p] = stop_loss_usd

    def holding_flags(self) -> np.ndarray:
        """Per account (uint8): 1 if it holds an open position."""
        flags = np.zeros(self.n_accounts, dtype=np.uint8)
        for p in range(self.n_positions):
            if self.pos_size[p] != 0.0:
                flags[self.pos_account[p]] = 1
        return flags

    def triggered_accounts(self) -> np.ndarray:
        """Accounts (ascending, each once) holding an open position whose PnL at the current
        marks reached its take-profit or fell to minus its stop-loss."""
        mark = self._series[0]
        hit = set()
        for p in range(self.n_positions):
            n = self.pos_size[p]
            if n != 0.0:
                pnl = n * (mark[self.pos_series[p]] - self.pos_entry[p])
                if pnl >= self.pos_take_profit[p] or pnl <= -self.pos_stop_loss[p]:
                    hit.add(int(self.pos_account[p]))
        return np.array(sorted(hit), dtype=np.int64)

    def position_pnl_usd(self, p: int) -> float:
        """Unrealized PnL of position ``p`` at the current marks (USD)."""
        mark = self._series[0]
        return float(self.pos_size[p] * (mark[self.pos_series[p]] - self.pos_entry[p]))

    def _charge(self, a: int, spread_usd: float, fee_usd: float, pnl_tokens: float) -> None:
        """Spread to the main pool, the fee split main/insurance; realized PnL out of the pool."""
        spread_t = spread_usd / self.price_in
        to_main, to_ins = ref_pool.split_fee(fee_usd / self.price_in, self.cfg.lp_share)
        self.collateral[a] -= spread_t + to_main + to_ins
        self.last_pool_tokens = spread_t + to_main - pnl_tokens
        self.last_insurance_tokens = to_ins
        self.last_spread_usd, self.last_fee_usd = spread_usd, fee_usd

    def _book_moved(self, s: int, dn: float, gross: float) -> None:
        """Traders' net size of ``s`` moved by ``dn`` and gross size by ``gross``: shift the
        pool's running risk."""
        mark, delta, spot, und, _, stress_pool, _, _ = self._series
        self.net_size[s] += dn
        self.abs_size[s] += gross
        for g in range(self.losses.shape[0]):
            self.losses[g] += dn * (stress_pool[g][s] - mark[s])
        u = und[s]
        self.delta_usd[u] += dn * delta[s] * spot[s]
        self.oi_usd[u] += gross * spot[s]


_POSITION_FILL = {"pos_account": 0, "pos_series": 0, "pos_size": 0.0, "pos_entry": 0.0,
                  "pos_take_profit": _INF, "pos_stop_loss": _INF, "pos_next": -1}
