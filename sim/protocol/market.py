"""One option market: the pool that writes options against traders, margined in one token.

Accounts (collateral) and positions are struct-of-arrays grown by doubling, so one kernel
call per step handles funding, margin and liquidation for every account (design 5-7).
Every transfer goes through the ledger; kernels move collateral in place and the pool and
insurance sides are settled with ``Ledger.settle_kernel`` so the audit checks both sides.
Token amounts are in units of the margin token; USD amounts say so in their names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kernels import liquidation as liq_kernel
from kernels import pool as pool_kernel
from kernels.params import MarginParams
from sim.ledger import Ledger
from sim.protocol.series import SeriesBook


_POSITION_ARRAYS = ("pos_account", "pos_series", "pos_size", "pos_entry", "pos_take_profit", "pos_stop_loss")


@dataclass
class StepStats:
    """What happened in a market during one step (reset every step, read by metrics)."""

    volume_usd: float = 0.0
    trades: int = 0
    fees_usd: float = 0.0
    spread_usd: float = 0.0
    funding_usd: float = 0.0
    liquidations: int = 0
    liquidations_usd: float = 0.0
    bad_debt_usd: float = 0.0
    bad_debt_lp_usd: float = 0.0
    adl_usd: float = 0.0
    trader_pnl_usd: float = 0.0      # realized PnL paid to traders by the pool (negative: received)
    refused: int = 0
    events: list = field(default_factory=list)


@dataclass(frozen=True)
class MarketConfig:
    """The numbers of one market that the protocol needs (from the scenario)."""

    name: str                    # margin token, or "USDC"
    haircut: float
    funding_period_years: float
    base_spread: float
    skew: float
    perp_spread: float
    notional_fee: float          # fraction of underlying notional
    lp_share: float
    max_utilization: float
    max_net_delta_fraction: float
    oi_cap_usd: float
    cooldown_steps: int
    withdrawal_fee: float
    margin: MarginParams
    token_moves: tuple[float, ...] = (0.0,)   # margin-token moves of the stress grid


class OptionsMarket:
    """Pool, insurance, accounts and positions of one margin token."""

    def __init__(self, cfg: MarketConfig, ledger: Ledger, series: SeriesBook) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.series = series
        self.token = cfg.name
        self.pool_holder = ledger.open_account(f"pool:{cfg.name}")
        self.insurance_holder = ledger.open_account(f"insurance:{cfg.name}")
        # accounts
        self.n_accounts = 0
        self.collateral = np.zeros(64)              # tokens, may go negative
        self.account_owner: list[object] = []
        self._positions_of: list[list[int]] = []
        ledger.register_vector(f"collateral:{cfg.name}", cfg.name, lambda: self.collateral[: self.n_accounts])
        # positions
        self.n_positions = 0
        self.pos_account = np.zeros(256, dtype=np.int64)
        self.pos_series = np.zeros(256, dtype=np.int64)
        self.pos_size = np.zeros(256)                # signed, units of the underlying
        self.pos_entry = np.zeros(256)               # USD mark at entry
        self.pos_take_profit = np.full(256, np.inf)  # USD PnL at which the owner is woken (order)
        self.pos_stop_loss = np.full(256, np.inf)    # USD loss at which the owner is woken (order)
        self.last_refusal = ""                       # why the last open_position returned None
        self.net_size = np.zeros(0)                  # traders' net signed size per series
        self.abs_size = np.zeros(0)                  # traders' gross size per series (open interest)
        self.entry_notional = 0.0                    # USD, sum of n x entry over open positions
        # pool shares (ERC-4626 style) and the withdrawal queue
        self.total_shares = 0.0
        self.shares: dict[object, float] = {}
        self.queue: list[list] = []                  # [lp, shares, ready_step]
        # prices, set by the model every step
        self.price = 1.0             # oracle price, USD per token (valuation of margin)
        self.price_in = 1.0          # USD per token for tokens coming in (safe mode: min)
        self.price_out = 1.0         # USD per token for tokens going out (safe mode: max)
        self.safe_mode = False
        self.stats = StepStats()
        self._util_cache: float | None = None
        self._losses: np.ndarray | None = None       # pool stress losses per grid point (USD)
        self._exposure_cache: tuple[np.ndarray, np.ndarray] | None = None
        self.table = np.zeros((0, 5))                # margin_table of the current marks
        self.token_moves = np.ascontiguousarray(cfg.token_moves, dtype=float)  # margin stress grid

    # ---------------------------------------------------------------- prices and NAV
    def set_prices(self, price: float, price_in: float, price_out: float, safe_mode: bool) -> None:
        self.price, self.price_in, self.price_out, self.safe_mode = price, price_in, price_out, safe_mode
        self._util_cache = None

    def marks_changed(self) -> None:
        """The series were repriced: rebuild the margin table, forget cached pool risk."""
        sb = self.series
        self.table = liq_kernel.margin_table(sb.view("mark"), sb.view("delta"), sb.view("spot"),
                                             sb.view("is_perp"), sb.view("stress_margin"), self.cfg.margin)
        self._ensure_net_size()
        self._util_cache = None
        self._losses = None
        self._exposure_cache = None

    def _pool_losses(self) -> np.ndarray:
        """The pool's loss (USD) at each utilization stress point, cached until the book moves."""
        if self._losses is None:
            self._ensure_net_size()
            sb = self.series
            self._losses = pool_kernel.stress_losses(self.net_size, sb.view("mark"), sb.view("stress_pool"))
        return self._losses

    def _sync_net_size(self) -> None:
        """Recompute the per-series aggregates from the positions (after a kernel changed sizes)."""
        n = self.series.n
        k = self.n_positions
        ser, size = self.pos_series[:k], self.pos_size[:k]
        self.net_size = np.bincount(ser, weights=size, minlength=n).astype(float)
        self.abs_size = np.bincount(ser, weights=np.abs(size), minlength=n).astype(float)
        self.entry_notional = float(np.dot(size, self.pos_entry[:k]))
        self._util_cache = None
        self._losses = None
        self._exposure_cache = None

    def traders_upnl_usd(self) -> float:
        """Traders' unrealized PnL against the pool, USD: sum_s mark_s net_s - sum n entry."""
        self._ensure_net_size()
        return float(np.dot(self.series.view("mark"), self.net_size)) - self.entry_notional

    def pool_assets_tokens(self) -> float:
        """The pool's balance in tokens (a USDC balance, from USDC insurance payouts, converted)."""
        bal = self.ledger.balance(self.pool_holder, self.token)
        if self.token != "USDC":
            bal += self.ledger.balance(self.pool_holder, "USDC") / self.price
        return bal

    def nav_tokens(self) -> float:
        """Pool NAV in tokens: own balance minus traders' unrealized PnL against it (design 7)."""
        return self.pool_assets_tokens() - self.traders_upnl_usd() / self.price

    def nav_usd(self) -> float:
        return self.nav_tokens() * self.price

    def share_price(self) -> float:
        """Tokens per LP share (1.0 before the first deposit)."""
        return self.nav_tokens() / self.total_shares if self.total_shares > 0 else 1.0

    def insurance_tokens(self) -> float:
        bal = self.ledger.balance(self.insurance_holder, self.token)
        if self.token != "USDC":
            bal += self.ledger.balance(self.insurance_holder, "USDC") / self.price
        return bal

    def utilization(self) -> float:
        """Largest stress loss of the pool's book over its NAV (design 5)."""
        if self._util_cache is None:
            self._util_cache = self._utilization_after(0, 0.0, self.nav_usd())
        return self._util_cache

    def _book_changed(self, s: int, dn: float, abs_change: float) -> None:
        """Traders' net size of series ``s`` moved by ``dn`` (gross by ``abs_change``): shift
        the cached pool losses and exposures."""
        self._util_cache = None
        sb = self.series
        if self._losses is not None:
            self._losses += dn * (sb.stress_pool[:, s] - sb.mark[s])
        if self._exposure_cache is not None:
            u = sb.underlying[s]
            self._exposure_cache[0][u] += dn * sb.delta[s] * sb.spot[s]
            self._exposure_cache[1][u] += abs_change * sb.spot[s]

    def _utilization_after(self, s: int, dn: float, nav_usd: float) -> float:
        sb = self.series
        return pool_kernel.utilization_from_losses(self._pool_losses(), sb.stress_pool, sb.view("mark"),
                                                   s, dn, nav_usd)

    def capacity_usd(self) -> float:
        """USD of stress loss the pool can still take: (max_utilization - utilization) x NAV."""
        nav = self.nav_usd()
        if nav <= 0:
            return 0.0
        return max(self.cfg.max_utilization - self.utilization(), 0.0) * nav

    def open_interest_usd(self) -> float:
        self._ensure_net_size()
        return float(np.dot(self.abs_size, self.series.view("spot")))

    def _ensure_net_size(self) -> None:
        """Series listed since the last sync get zero aggregates."""
        n = self.series.n
        if self.net_size.shape[0] != n:
            grow = n - self.net_size.shape[0]
            self.net_size = np.concatenate([self.net_size, np.zeros(grow)])
            self.abs_size = np.concatenate([self.abs_size, np.zeros(grow)])

    # ---------------------------------------------------------------- accounts
    def open_account(self, owner: object) -> int:
        if self.n_accounts == self.collateral.shape[0]:
            self.collateral = np.concatenate([self.collateral, np.zeros_like(self.collateral)])
        a = self.n_accounts
        self.n_accounts += 1
        self.account_owner.append(owner)
        self._positions_of.append([])
        return a

    def accounts_holding(self) -> np.ndarray:
        """Per account: does it hold an open position?"""
        flags = np.zeros(self.n_accounts, dtype=bool)
        k = self.n_positions
        flags[self.pos_account[:k][self.pos_size[:k] != 0.0]] = True
        return flags

    def deposit_collateral(self, account: int, wallet: int, tokens: float) -> float:
        return self.ledger.into_vector(self.token, wallet, self.collateral, account, tokens)

    def positions_of(self, account: int) -> list[int]:
        """Open position slots of an account (closed ones are dropped from its list)."""
        live = [p for p in self._positions_of[account] if self.pos_size[p] != 0.0]
        self._positions_of[account] = live
        return live

    def account_margin(self, account: int, extra: tuple[int, float, float] | None = None,
                       collateral_change: float = 0.0) -> tuple[float, float, float]:
        """(equity, maintenance, initial) in USD of one account, optionally with a new position
        ``extra = (series, size, entry)`` and a change of collateral in tokens."""
        slots = self.positions_of(account)
        ser = [int(self.pos_series[p]) for p in slots]
        size = [float(self.pos_size[p]) for p in slots]
        entry = [float(self.pos_entry[p]) for p in slots]
        if extra is not None:
            ser.append(extra[0]), size.append(extra[1]), entry.append(extra[2])
        ser, size, entry = np.array(ser, dtype=np.int64), np.array(size), np.array(entry)
        mg = self.cfg.margin
        eq, mr, ir = liq_kernel.margin_from_table(
            np.array([self.collateral[account] + collateral_change]), self.price, self.cfg.haircut,
            np.zeros(ser.shape[0], dtype=np.int64), ser, size, entry, self.table, self.token_moves,
            mg.stress_maint_mult, mg.stress_initial_mult,
        )
        return float(eq[0]), float(mr[0]), float(ir[0])

    def withdraw_collateral(self, account: int, wallet: int, tokens: float | None = None) -> float:
        """Move free collateral back to the wallet (all of it when no position is open)."""
        q = float(self.collateral[account])
        if q <= 0:
            return 0.0
        if self.positions_of(account):
            eq, _, ir = self.account_margin(account)
            free_usd = eq - ir
            if free_usd <= 0:
                return 0.0
            limit = free_usd / (self.price * (1.0 - self.cfg.haircut) if self.token != "USDC" else 1.0)
            amount = min(q, limit if tokens is None else min(tokens, limit))
        else:
            amount = q if tokens is None else min(tokens, q)
        return self.ledger.from_vector(self.token, self.collateral, account, wallet, amount)

    # ---------------------------------------------------------------- trading
    def _spread(self, s: int, util_after: float) -> float:
        if self.series.is_perp[s]:
            return self.cfg.perp_spread
        return pool_kernel.spread_for(self.cfg.base_spread, self.cfg.skew, min(util_after, 10.0))

    def quote(self, s: int, dn: float) -> tuple[float, float, bool, str]:
        """(spread fraction, utilization after, allowed, reason) for a trade of ``dn`` in ``s``."""
        self._ensure_net_size()
        sb = self.series
        nav = self.nav_usd()
        if nav <= 0:
            return self._spread(s, 1.0), float("inf"), False, "pool_insolvent"
        if self._util_cache is None:
            self._util_cache = self._utilization_after(0, 0.0, nav)
        before = self._util_cache
        after = self._utilization_after(s, dn, nav)
        spread = self._spread(s, after)
        if not pool_kernel.trade_allowed(before, after, self.cfg.max_utilization):
            return spread, after, False, "utilization"
        u = int(sb.underlying[s])
        delta_usd, oi_usd = self._exposure()
        new_delta = delta_usd[u] + dn * sb.delta[s] * sb.spot[s]
        if abs(new_delta) > abs(delta_usd[u]) and abs(new_delta) > self.cfg.max_net_delta_fraction * nav:
            return spread, after, False, "delta_cap"
        if oi_usd[u] + abs(dn) * sb.spot[s] > self.cfg.oi_cap_usd:
            return spread, after, False, "oi_cap"
        return spread, after, True, ""

    def _exposure(self) -> tuple[np.ndarray, np.ndarray]:
        """Traders' net delta notional and open interest (USD) per underlying, cached until
        the marks move; trades shift them in ``_book_changed``."""
        if self._exposure_cache is None:
            self._ensure_net_size()
            sb = self.series
            nu = len(sb.underlyings)
            und, spot = sb.view("underlying"), sb.view("spot")
            delta = pool_kernel.net_delta_usd(self.net_size, sb.view("delta"), spot, und, nu)
            oi = np.bincount(und, weights=self.abs_size * spot, minlength=nu).astype(float)
            self._exposure_cache = (delta, oi)
        return self._exposure_cache

    def open_position(self, account: int, s: int, dn: float, margin_buffer: float = 1.0) -> int | None:
        """Open a position of signed size ``dn`` in series ``s``; returns its slot or None if refused."""
        if dn == 0.0 or not np.isfinite(dn):
            self.last_refusal = "size"
            return None
        if self.safe_mode:
            return self._refuse("safe_mode")
        spread, _, allowed, why = self.quote(s, dn)
        if not allowed:
            return self._refuse(why)
        sb = self.series
        mark, spot = float(sb.mark[s]), float(sb.spot[s])
        spread_usd = abs(dn) * mark * spread
        fee_usd = abs(dn) * spot * self.cfg.notional_fee
        cost_tokens = (spread_usd + fee_usd) / self.price_in
        eq, _, ir = self.account_margin(account, extra=(s, dn, mark), collateral_change=-cost_tokens)
        if eq < margin_buffer * ir:
            self.last_refusal = "margin"       # the trader's own limit, not the pool's
            return None
        self._charge(account, spread_usd, fee_usd)
        p = self._new_position(account, s, dn, mark)
        self.stats.events.append(("trade", account, dn * spot))   # signed notional, USD
        self.stats.volume_usd += abs(dn) * spot
        self.stats.trades += 1
        return p

    def _refuse(self, reason: str) -> None:
        self.last_refusal = reason
        self.stats.refused += 1
        return None

    def set_triggers(self, p: int, take_profit_usd: float, stop_loss_usd: float) -> None:
        """Take-profit / stop-loss orders on position ``p`` (USD of PnL): the owner is woken."""
        self.pos_take_profit[p] = take_profit_usd
        self.pos_stop_loss[p] = stop_loss_usd

    def triggered_owners(self) -> list:
        """Owners of positions whose PnL crossed their take-profit or stop-loss this step."""
        k = self.n_positions
        if k == 0:
            return []
        size = self.pos_size[:k]
        pnl = size * (self.series.mark[self.pos_series[:k]] - self.pos_entry[:k])
        hit = (size != 0.0) & ((pnl >= self.pos_take_profit[:k]) | (pnl <= -self.pos_stop_loss[:k]))
        return [self.account_owner[a] for a in np.unique(self.pos_account[:k][hit])]

    def close_position(self, p: int, fraction: float = 1.0) -> float:
        """Close ``fraction`` of position ``p`` against the pool at mark minus spread; returns
        the realized PnL in USD (before spread and fees). Never refused."""
        n = float(self.pos_size[p])
        if n == 0.0:
            return 0.0
        fraction = min(max(fraction, 0.0), 1.0)
        s, a = int(self.pos_series[p]), int(self.pos_account[p])
        dn = -fraction * n
        spread = self._spread(s, self._utilization_after(s, dn, self.nav_usd()))
        sb = self.series
        mark, spot = float(sb.mark[s]), float(sb.spot[s])
        realized_usd = fraction * n * (mark - float(self.pos_entry[p]))
        self._settle_pnl(a, realized_usd)
        self._charge(a, abs(dn) * mark * spread, abs(dn) * spot * self.cfg.notional_fee)
        self.pos_size[p] = n + dn if fraction < 1.0 else 0.0
        closed = n - float(self.pos_size[p])
        self.net_size[s] -= closed
        self.abs_size[s] -= abs(closed)
        self.entry_notional -= closed * float(self.pos_entry[p])
        self._book_changed(s, -closed, -abs(closed))
        self.stats.events.append(("close", a, dn * spot))
        self.stats.volume_usd += abs(dn) * spot
        self.stats.trades += 1
        return realized_usd

    def position_pnl_usd(self, p: int) -> float:
        return float(self.pos_size[p] * (self.series.mark[self.pos_series[p]] - self.pos_entry[p]))

    def _settle_pnl(self, account: int, usd: float) -> None:
        """Realized PnL between the account's collateral and the pool's balance."""
        if usd == 0.0:
            return
        tokens = usd / (self.price_out if usd > 0 else self.price_in)
        self.stats.trader_pnl_usd += usd
        self.collateral[account] += tokens
        self.ledger.settle_kernel(self.token, {self.pool_holder: -tokens})

    def _charge(self, account: int, spread_usd: float, fee_usd: float) -> None:
        """Spread to the main pool; the notional fee split main/insurance (design 5)."""
        spread_t = spread_usd / self.price_in
        fee_t = fee_usd / self.price_in
        to_main, to_ins = pool_kernel.split_fee(fee_t, self.cfg.lp_share)
        led, tok = self.ledger, self.token
        led.from_vector(tok, self.collateral, account, self.pool_holder, spread_t + to_main)
        led.from_vector(tok, self.collateral, account, self.insurance_holder, to_ins)
        self.stats.spread_usd += spread_usd
        self.stats.fees_usd += fee_usd

    def _new_position(self, account: int, s: int, n: float, entry: float) -> int:
        if self.n_positions == self.pos_size.shape[0]:
            self._compact_or_grow()
        p = self.n_positions
        self.n_positions += 1
        self.pos_account[p], self.pos_series[p], self.pos_size[p], self.pos_entry[p] = account, s, n, entry
        self.pos_take_profit[p] = self.pos_stop_loss[p] = np.inf
        self._positions_of[account].append(p)
        self._ensure_net_size()
        self.net_size[s] += n
        self.abs_size[s] += abs(n)
        self.entry_notional += n * entry
        self._book_changed(s, n, abs(n))
        return p

    def _compact_or_grow(self) -> None:
        """Drop closed positions (renumbering slots) or, if most are open, double the arrays."""
        k = self.n_positions
        live = np.flatnonzero(self.pos_size[:k] != 0.0)
        if live.size < k // 2:
            remap = {int(old): new for new, old in enumerate(live)}
            for name in _POSITION_ARRAYS:
                arr = getattr(self, name)
                arr[: live.size] = arr[live]
                arr[live.size:] = np.inf if name in ("pos_take_profit", "pos_stop_loss") else 0
            self.n_positions = int(live.size)
            self._positions_of = [[remap[p] for p in ps if p in remap] for ps in self._positions_of]
            self._on_compact(remap)
        else:
            for name in _POSITION_ARRAYS:
                arr = getattr(self, name)
                fill = np.inf if name in ("pos_take_profit", "pos_stop_loss") else 0
                setattr(self, name, np.concatenate([arr, np.full_like(arr, fill)]))

    def _on_compact(self, remap: dict[int, int]) -> None:
        """Tell the owners of positions their new slots (owners keep slot ids)."""
        for owner in self.account_owner:
            fix = getattr(owner, "remap_positions", None)
            if fix is not None:
                fix(self, remap)

    # ---------------------------------------------------------------- funding, margin, liquidation
    def settle_step(self, dt_years: float, keepers: list[int], keeper_rng: np.random.Generator,
                    step: int) -> None:
        """Phase 7: funding for every position, then the liquidation kernel (design 5-6)."""
        k, na = self.n_positions, self.n_accounts
        if na == 0 or (k == 0 and not np.any(self.collateral[:na] < 0.0)):
            return      # nothing to fund, nothing to liquidate, no deficit to cover
        sb = self.series
        self._ensure_net_size()
        tok, led = self.token, self.ledger
        funding = pool_kernel.accrue_funding(
            self.pos_account[:k], self.pos_series[:k], self.pos_size[:k], sb.view("mark"),
            sb.view("payoff"), dt_years, self.cfg.funding_period_years, self.price, na,
        )
        self.collateral[:na] -= funding
        led.settle_kernel(tok, {self.pool_holder: float(funding.sum())})
        self.stats.funding_usd += float(funding[funding > 0].sum()) * self.price

        ins_tok = led.balance(self.insurance_holder, tok)
        ins_usdc = led.balance(self.insurance_holder, "USDC") / self.price if tok != "USDC" else 0.0
        res = liq_kernel.run_liquidations(
            self.collateral[:na], self.price, self.cfg.haircut, self.pos_account[:k], self.pos_series[:k],
            self.pos_size[:k], self.pos_entry[:k], sb.view("mark"), sb.view("delta"), sb.view("spot"),
            sb.view("is_perp"), sb.view("stress_margin"), self.token_moves, self.cfg.margin,
            ins_tok + ins_usdc, self.pool_assets_tokens(),
        )
        self._settle_liquidations(res, ins_tok, keepers, keeper_rng, step)
        self._sync_net_size()
        self.last_margin = res

    def _settle_liquidations(self, res, ins_tok: float, keepers: list[int],
                             rng: np.random.Generator, step: int) -> None:
        tok, led, P = self.token, self.ledger, self.price
        n_liq = len(res.liq_account)
        keeper_total = float(np.sum(res.liq_keeper_tokens)) if n_liq else 0.0
        # Insurance paid out in tokens first, then (USDC-denominated cover) in USDC to the pool.
        paid_by_ins = float(np.sum(res.wf_from_insurance)) if len(res.wf_account) else 0.0
        ins_in = float(np.sum(res.liq_insurance_tokens)) if n_liq else 0.0
        from_tok = min(paid_by_ins, max(ins_tok + ins_in, 0.0))
        from_usdc = paid_by_ins - from_tok
        pool_delta = res.pool_delta_tokens - from_usdc      # the pool fronts the tokens ...
        led.settle_kernel(tok, {self.pool_holder: pool_delta, self.insurance_holder: ins_in - from_tok})
        if from_usdc > 0:                                      # ... and is paid in USDC
            led.transfer("USDC", self.insurance_holder, self.pool_holder, from_usdc * P)
        if n_liq:
            if keepers:
                picks = rng.integers(0, len(keepers), size=n_liq)
                for i in range(n_liq):
                    kt = float(res.liq_keeper_tokens[i])
                    if kt > 0:
                        led.settle_kernel(tok, {keepers[picks[i]]: kt})
            else:
                led.settle_kernel(tok, {self.insurance_holder: keeper_total})
            st = self.stats
            st.liquidations += n_liq
            st.liquidations_usd += float(np.sum(np.abs(res.liq_realized_tokens))) * P
            st.trader_pnl_usd += float(np.sum(res.liq_realized_tokens)) * P
            for i in range(n_liq):
                st.events.append(("liquidation", int(res.liq_account[i]), float(res.liq_penalty_tokens[i])))
        if len(res.wf_account):
            self.stats.bad_debt_usd += float(np.sum(res.wf_deficit_tokens)) * P
            self.stats.bad_debt_lp_usd += float(np.sum(res.wf_from_pool)) * P
            for i in range(len(res.wf_account)):
                self.stats.events.append(("waterfall", int(res.wf_account[i]), float(res.wf_deficit_tokens[i]),
                                          float(res.wf_from_insurance[i]), float(res.wf_from_pool[i])))
        if len(res.adl_account):
            self.stats.adl_usd += float(np.sum(res.adl_profit_tokens) - np.sum(res.adl_paid_tokens)) * P
            for i in range(len(res.adl_account)):
                self.stats.events.append(("adl", int(res.adl_account[i]), float(res.adl_paid_tokens[i])))

    # ---------------------------------------------------------------- LP shares
    def lp_deposit(self, lp: object, wallet: int, tokens: float) -> float:
        """Deposit tokens into the main pool for shares; refused (0) while NAV <= 0."""
        nav = self.nav_tokens()
        if tokens <= 0 or (self.total_shares > 0 and nav <= 0):
            return 0.0
        shares = pool_kernel.shares_for_deposit(tokens, self.total_shares, nav)
        self.ledger.transfer(self.token, wallet, self.pool_holder, tokens)
        self.total_shares += shares
        self.shares[lp] = self.shares.get(lp, 0.0) + shares
        self._util_cache = None
        return shares

    def request_withdrawal(self, lp: object, step: int) -> None:
        held = self.shares.get(lp, 0.0)
        queued = sum(e[1] for e in self.queue if e[0] is lp)
        if held - queued > 0:
            self.queue.append([lp, held - queued, step + self.cfg.cooldown_steps])

    def process_withdrawals(self, step: int, wallet_of) -> list[tuple[object, float]]:
        """Pay ready requests from free liquidity (utilization stays <= max); the rest waits."""
        paid = []
        for entry in list(self.queue):
            lp, shares, ready = entry
            if ready > step:
                continue
            shares = entry[1] = min(shares, self.shares.get(lp, 0.0), self.total_shares)  # rounding
            if shares <= 0:
                self.queue.remove(entry)
                continue
            nav_t = self.nav_tokens()
            if nav_t <= 0 or self.total_shares <= 0:
                break
            gross = pool_kernel.assets_for_shares(shares, self.total_shares, nav_t)
            loss_usd = self.utilization() * self.nav_usd()
            free_t = (self.nav_usd() - loss_usd / self.cfg.max_utilization) / self.price
            free_t = min(free_t, self.ledger.balance(self.pool_holder, self.token))
            if free_t <= 0:
                break
            take = min(gross, free_t)
            burn = shares * take / gross
            out = take * (1.0 - self.cfg.withdrawal_fee)
            self.ledger.transfer(self.token, self.pool_holder, wallet_of(lp), out)
            self.total_shares -= burn
            self.shares[lp] -= burn
            entry[1] -= burn
            self._util_cache = None
            paid.append((lp, out))
            if entry[1] <= 1e-12 * max(shares, 1.0):
                self.queue.remove(entry)
                if self.shares[lp] <= 1e-12:
                    self.shares.pop(lp)
        return paid
