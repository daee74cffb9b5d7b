"""One option market: the pool that writes options against traders, margined in one token.

Accounts (collateral) and positions are struct-of-arrays grown by doubling, so one kernel
call per step handles funding, margin and liquidation for every account (design 5-7).
Every transfer goes through the ledger; kernels move collateral in place (a vector the ledger
audits) and report the pool's and insurance's sides, which this class settles through the
ledger's checked API (``Ledger.settle_order`` for orders, ``Ledger.settle_kernel`` for funding
and liquidations), so the audit checks both sides. The book reads no ledger: it is handed the
pool's assets on every call that needs the NAV.
Token amounts are in units of the margin token; USD amounts say so in their names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kernels import KernelSet, kernel_set
from kernels.params import BookConfig, BookFull, LiquidationResult, MarginParams, Refusal
from sim.assets import USDC
from sim.ledger import Ledger
from sim.protocol.hedge import DeltaHedge
from sim.protocol.market_events import (
    AdlEvent,
    LiquidationEvent,
    LpDepositEvent,
    MarketEvent,
    WaterfallEvent,
)
from sim.protocol.owners import AccountOwner, ShareHolder
from sim.protocol.series import ListedSeries


@dataclass
class StepStats:
    """What happened in a market during one step (reset every step, read by metrics)."""

    volume_usd: float = 0.0          # option and perp notional traded (underlying, USD)
    option_volume_usd: float = 0.0   # the options' part
    perp_volume_usd: float = 0.0     # the perpetual futures' part
    trades: int = 0
    fees_usd: float = 0.0
    spread_usd: float = 0.0
    funding_usd: float = 0.0
    perp_funding_usd: float = 0.0    # perp funding the pool kept (longs' minus shorts' payments)
    perp_funding_rate: float = 0.0   # the step's perp funding rate, per year (> 0: longs pay)
    hedge_pnl_usd: float = 0.0       # the delta hedge's mark-to-market since the last step
    hedge_cost_usd: float = 0.0      # hedge_cost_bps of the notional the hedge traded
    hedge_shortfall_usd: float = 0.0  # hedge loss the pool could not pay (its token balance ran out)
    liquidations: int = 0
    liquidations_usd: float = 0.0    # underlying notional closed by liquidations (USD at spot)
    bad_debt_usd: float = 0.0
    bad_debt_lp_usd: float = 0.0
    adl_usd: float = 0.0
    trader_pnl_usd: float = 0.0      # realized PnL paid to traders by the pool (negative: received)
    refused: int = 0
    # The pool's token balance, flow by flow (margin tokens; what sums to its change in a step,
    # so the LP PnL split of ``sim.metrics`` adds up exactly):
    pool_spread_tokens: float = 0.0      # spreads paid to the pool
    pool_fee_tokens: float = 0.0         # the pool's lp_share of the notional fees
    pool_funding_tokens: float = 0.0     # option funding, net (payers minus receivers)
    pool_perp_funding_tokens: float = 0.0  # perp funding the pool kept
    pool_realized_tokens: float = 0.0    # minus the traders' realized PnL (orders, liquidations, ADL)
    pool_hedge_tokens: float = 0.0       # the delta hedge, its PnL net of cost, as settled
    pool_bad_debt_tokens: float = 0.0    # minus write-offs (and tokens fronted for a USDC cover)
    pool_usdc_in: float = 0.0            # USDC the pool received (a USDC insurance's cover), USD
    lp_deposit_tokens: float = 0.0       # LP deposits into the pool
    lp_withdrawal_tokens: float = 0.0    # withdrawals paid to LPs (after the fee)
    withdrawal_fee_tokens: float = 0.0   # withdrawal fees kept in the pool (a transfer among LPs)
    events: list[MarketEvent] = field(default_factory=list)
    # Trades and closes (the step's most numerous events) as columns, from the book's log:
    # is-close flag, account, signed underlying notional (USD); and from this market's own log
    # of the same orders: series, signed size, leverage use (perp opens; NaN elsewhere).
    trade_close: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    trade_account: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    trade_usd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    trade_series: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    trade_size: np.ndarray = field(default_factory=lambda: np.zeros(0))
    trade_leverage_use: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def pool_flows(self) -> dict[str, float]:
        """The pool's flows of the step by name (``sim.metrics.FLOW_COLUMNS``)."""
        return {
            "pool_spread_tokens": self.pool_spread_tokens, "pool_fee_tokens": self.pool_fee_tokens,
            "pool_funding_tokens": self.pool_funding_tokens,
            "pool_perp_funding_tokens": self.pool_perp_funding_tokens,
            "pool_realized_tokens": self.pool_realized_tokens, "pool_hedge_tokens": self.pool_hedge_tokens,
            "pool_bad_debt_tokens": self.pool_bad_debt_tokens, "pool_usdc_in": self.pool_usdc_in,
            "lp_deposit_tokens": self.lp_deposit_tokens, "lp_withdrawal_tokens": self.lp_withdrawal_tokens,
            "withdrawal_fee_tokens": self.withdrawal_fee_tokens,
        }


@dataclass(frozen=True)
class MarketConfig:
    """The numbers of one market that the protocol needs (from the scenario)."""

    name: str                    # the market's name (by default its margin token's)
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
    perp_funding_coeff: float = 0.0            # perp funding rate per year per unit of skew
    perp_funding_cap: float = 0.0              # |perp funding rate| per year at most
    hedge: str = "none"                        # "delta": hedge the pool's net delta each step
    hedge_cost_bps: float = 0.0                # hedge cost, basis points of notional traded
    asset: str | None = None                   # the margin asset (design 5); None: ``name``


class OptionsMarket:
    """Pool, insurance, accounts and positions of one market, margined in one asset.

    Accounts and positions live in a Cython ``TradeBook`` (``kernels.trade_book``): an order is one
    call that quotes, checks the caps and the account's margin, charges and books it. This
    class adds the ledger, the step's statistics, compaction and the LP shares.
    """

    def __init__(self, cfg: MarketConfig, ledger: Ledger, series: ListedSeries,
                 kernels: KernelSet | None = None) -> None:
        kernels = kernels or kernel_set()        # Cython unless the model asks for the twins
        self.liq_kernel, self.pool_kernel = kernels.liquidation, kernels.pool
        self.cfg = cfg
        self.ledger = ledger
        self.series = series
        self.name = cfg.name
        self.token = cfg.asset or cfg.name          # the margin asset: a token, or USDC
        self.pool_holder = ledger.open_account(f"pool:{cfg.name}")
        self._token_id = ledger.asset_id(self.token)
        self.insurance_holder = ledger.open_account(f"insurance:{cfg.name}")
        self.insurance_otc: int | None = None    # USDC-denominated insurance: who buys its tokens
        mg = cfg.margin
        self.book = kernels.trade_book.TradeBook(BookConfig(
            haircut=cfg.haircut, base_spread=cfg.base_spread, skew=cfg.skew, perp_spread=cfg.perp_spread,
            notional_fee=cfg.notional_fee, lp_share=cfg.lp_share, max_utilization=cfg.max_utilization,
            max_net_delta_fraction=cfg.max_net_delta_fraction, oi_cap_usd=cfg.oi_cap_usd,
            stress_maint_mult=mg.stress_maint_mult, stress_initial_mult=mg.stress_initial_mult,
            perp_funding_coeff=cfg.perp_funding_coeff, perp_funding_cap=cfg.perp_funding_cap,
        ), series.pool_moves.size)
        # The pool also holds USDC (insurance payouts in a USDC-denominated cover).
        self._pool_holds_usdc = self.token != USDC and USDC in ledger.assets
        self.account_owner: list[AccountOwner] = []
        self._slot_keepers: dict[int, AccountOwner] = {}   # each owner once, told on compaction
        self.account_agent = np.full(64, -1, dtype=np.int64)   # the owner's Mesa unique_id (-1: none)
        # Per account (design 11, "a trader lost money"): trading PnL in USD at the prices of each
        # flow (spreads, fees, realized PnL, funding, penalties, deficits filled; not deposits or
        # withdrawals of collateral, not the token's own move; unrealized PnL is added at the
        # end by ``sim.metrics``), the last step it traded (-1: never; set by sim.metrics), and
        # its owner's kind and style.
        self.account_pnl_usd = np.zeros(64)
        self.account_last_trade = np.full(64, -1, dtype=np.int64)
        self.account_kind: list[str] = []
        self.account_style: list[str] = []
        # Leverage use of this step's perp opens, by their index in the book's step log.
        self._leverage_use: dict[int, float] = {}
        self._perp_flags: list[int] = []             # per series: 1 for the perpetual (from marks_changed)
        self._step_pool_tokens = 0.0                 # the pool's side of this step's orders (tokens)
        ledger.register_vector(f"collateral:{cfg.name}", self.token,
                               lambda: self.book.collateral[: self.book.n_accounts])
        self.last_refusal = Refusal.ACCEPTED         # why the last open_position returned None
        self.last_margin: LiquidationResult | None = None   # the last liquidation pass, if one ran
        # pool shares (ERC-4626 style) and the withdrawal queue
        self.total_shares = 0.0
        self.shares: dict[ShareHolder, float] = {}
        self._non_agent_holders: set[ShareHolder] = set()   # unique_id < 0: the treasury
        self.queue: list[list] = []                  # [lp, shares, ready_step]
        # prices, set by the model every step
        self.price = 1.0             # oracle price, USD per token (valuation of margin)
        self.price_in = 1.0          # USD per token for tokens coming in (safe mode: min)
        self.price_out = 1.0         # USD per token for tokens going out (safe mode: max)
        self.safe_mode = False
        self.stats = StepStats()
        self.table = np.zeros((0, 5))                # margin_table of the current marks
        self.token_moves = np.ascontiguousarray(cfg.token_moves, dtype=float)  # margin stress grid
        # The pool's delta hedge on an external perpetual venue (None: unhedged).
        self.hedge: DeltaHedge | None = None
        if cfg.hedge == "delta":
            self.hedge = DeltaHedge(len(series.underlyings), cfg.hedge_cost_bps)
            self.hedge_venue = ledger.open_account(f"hedge_venue:{cfg.name}", external=True)
        elif cfg.hedge != "none":
            raise ValueError(f"hedge: must be 'none' or 'delta', got {cfg.hedge!r}")

    # ---------------------------------------------------------------- prices and NAV
    def set_prices(self, price: float, price_in: float, price_out: float, safe_mode: bool) -> None:
        self.price, self.price_in, self.price_out, self.safe_mode = price, price_in, price_out, safe_mode
        self.book.set_prices(price, price_in, price_out)

    def marks_changed(self) -> None:
        """The series were repriced: rebuild the margin table and the pool's running risk."""
        sb = self.series
        self._perp_flags = sb.is_perp[: sb.n].tolist()
        self.table = self.liq_kernel.margin_table(
            sb.view("mark"), sb.view("delta"), sb.view("spot"), sb.view("is_perp"), sb.view("stress_margin"),
            self.cfg.margin)
        self.book.bind_series(sb.view("mark"), sb.view("delta"), sb.view("spot"), sb.view("underlying"),
                              sb.view("is_perp"), sb.stress_pool, self.table, self.token_moves,
                              len(sb.underlyings))

    def traders_upnl_usd(self) -> float:
        """Traders' unrealized PnL against the pool, USD: sum_s mark_s net_s - sum n entry."""
        return self.book.upnl_usd()

    def pool_assets_tokens(self) -> float:
        """The pool's balance in tokens (a USDC balance, from USDC insurance payouts, converted
        at the oracle price), read from the ledger; what the book is handed as the pool's assets."""
        led = self.ledger
        tokens = led.balance(self.pool_holder, self.token)
        if self._pool_holds_usdc:
            tokens += led.balance(self.pool_holder, USDC) / self.price
        return tokens

    def nav_tokens(self) -> float:
        """Pool NAV in tokens: own balance minus traders' unrealized PnL against it (design 7)."""
        return self.pool_assets_tokens() - self.traders_upnl_usd() / self.price

    def nav_usd(self) -> float:
        return self.nav_tokens() * self.price

    def share_price(self) -> float:
        """Tokens per LP share (1.0 before the first deposit)."""
        return self.nav_tokens() / self.total_shares if self.total_shares > 0 else 1.0

    def hold_insurance_in_usdc(self) -> None:
        """Keep the insurance pool in USDC (``insurance.denomination: usdc``, design 7): its
        shares of fees and penalties, which the book and the liquidation kernel pay in tokens,
        are sold as they arrive to an external OTC desk (``insurance_otc:<token>``, a ledger
        account outside the venue, like the issuer) at ``price_in``, the price they were
        charged at (so the insurance receives the fee's USD share exactly; the oracle price
        outside safe mode). No AMM trade: the sale moves no price."""
        if self.token == USDC or USDC not in self.ledger.assets:
            raise ValueError(f"market {self.name}: its insurance cannot be held in USDC")
        if self.insurance_otc is None:
            self.insurance_otc = self.ledger.open_account(f"insurance_otc:{self.name}", external=True)

    def _insurance_to_usdc(self) -> None:
        """A USDC-held insurance sells the tokens it received to its OTC desk at ``price_in``."""
        led, ins, otc = self.ledger, self.insurance_holder, self.insurance_otc
        tokens = led.balance(ins, self.token)
        if tokens > 0.0:
            led.transfer(self.token, ins, otc, tokens)
            led.transfer(USDC, otc, ins, tokens * self.price_in)

    def insurance_tokens(self) -> float:
        bal = self.ledger.balance(self.insurance_holder, self.token)
        if self.token != USDC:
            bal += self.ledger.balance(self.insurance_holder, USDC) / self.price
        return bal

    def utilization(self) -> float:
        """Largest stress loss of the pool's book over its NAV (design 5)."""
        return self.book.utilization(self.pool_assets_tokens())

    def capacity_usd(self) -> float:
        """USD of stress loss the pool can still take: (max_utilization - utilization) x NAV."""
        nav = self.nav_usd()
        if nav <= 0:
            return 0.0
        return max(self.cfg.max_utilization - self.utilization(), 0.0) * nav

    def open_interest_usd(self) -> float:
        return float(self.book.oi_usd.sum())

    # ---------------------------------------------------------------- accounts
    def open_account(self, owner: AccountOwner) -> int:
        """A new margin account of ``owner`` (told of liquidations and of compaction)."""
        a = self.book.add_account()
        self.account_owner.append(owner)
        self._slot_keepers.setdefault(id(owner), owner)
        if a == self.account_agent.shape[0]:
            self.account_agent = np.concatenate([self.account_agent, np.full_like(self.account_agent, -1)])
        self.account_agent[a] = owner.unique_id
        if a == self.account_pnl_usd.shape[0]:
            self.account_pnl_usd = np.concatenate([self.account_pnl_usd, np.zeros_like(self.account_pnl_usd)])
            self.account_last_trade = np.concatenate([self.account_last_trade,
                                                      np.full_like(self.account_last_trade, -1)])
        self.account_kind.append(owner.kind)
        self.account_style.append(owner.style)
        return a

    def accounts_of_kind(self, kind: str) -> np.ndarray:
        """Per account (in opening order): whether its owner is of ``kind`` ("trader", ...)."""
        return np.asarray(self.account_kind, dtype=object) == kind

    def accounts_holding(self) -> np.ndarray:
        """Per account: does it hold an open position?"""
        return self.book.holding_flags().view(bool)

    def deposit_collateral(self, account: int, wallet: int, tokens: float) -> float:
        return self.ledger.into_vector(self.token, wallet, self.book.collateral, account, tokens)

    def positions_of(self, account: int) -> list[int]:
        """Open position slots of an account, newest first."""
        return self.book.positions_of(account)

    def account_margin(self, account: int, extra: tuple[int, float, float] | None = None,
                       collateral_change: float = 0.0) -> tuple[float, float, float]:
        """(equity, maintenance, initial) in USD of one account, optionally with a new position
        ``extra = (series, size, entry)`` and a change of collateral in tokens."""
        if extra is None:
            return self.book.margin(account, -1, 0.0, 0.0, collateral_change)
        return self.book.margin(account, extra[0], extra[1], extra[2], collateral_change)

    def withdraw_collateral(self, account: int, wallet: int, tokens: float | None = None) -> float:
        """Move free collateral back to the wallet (all of it when no position is open)."""
        q = float(self.book.collateral[account])
        if q <= 0:
            return 0.0
        if self.positions_of(account):
            eq, _, ir = self.account_margin(account)
            free_usd = eq - ir
            if free_usd <= 0:
                return 0.0
            # Tokens going out are valued at price_out (safe mode: the higher price).
            limit = free_usd / (self.price_out * (1.0 - self.cfg.haircut) if self.token != USDC else 1.0)
            amount = min(q, limit if tokens is None else min(tokens, limit))
        else:
            amount = q if tokens is None else min(tokens, q)
        return self.ledger.from_vector(self.token, self.book.collateral, account, wallet, amount)

    # ---------------------------------------------------------------- trading
    def quote(self, s: int, dn: float) -> tuple[float, float, bool, Refusal]:
        """(spread fraction, utilization after, allowed, reason) for a trade of ``dn`` in ``s``."""
        spread, after, why = self.book.quote(s, dn, self.pool_assets_tokens())
        return spread, after, why == Refusal.ACCEPTED, why

    def open_position(self, account: int, s: int, dn: float, margin_buffer: float = 1.0,
                      take_profit_usd: float = math.inf, stop_loss_usd: float = math.inf) -> int | None:
        """Open a position of signed size ``dn`` in series ``s``, with take-profit / stop-loss
        orders (USD of PnL, see ``set_triggers``); returns its slot or None if refused."""
        if self.safe_mode and dn != 0.0 and math.isfinite(dn):
            return self._refuse(Refusal.SAFE_MODE)
        pool_tokens = self.pool_assets_tokens()
        book = self.book
        is_perp = 0 <= s < len(self._perp_flags) and self._perp_flags[s]
        if is_perp:                                    # free initial margin before the order
            eq, _, ir = book.margin(account)
            free_before = eq - ir
        try:
            p = book.open(account, s, dn, margin_buffer, pool_tokens, take_profit_usd, stop_loss_usd)
        except BookFull:
            self._compact_or_grow()
            p = book.open(account, s, dn, margin_buffer, pool_tokens, take_profit_usd, stop_loss_usd)
        if p < 0:
            why = Refusal(-p)
            if why == Refusal.MARGIN or why == Refusal.SIZE:   # the trader's own limit, not the pool's
                self.last_refusal = why
                return None
            return self._refuse(why)
        if is_perp and free_before > 0.0:
            # Notional over the most design 6 allows now, as a share of the free initial margin
            # (equity - initial requirement) the order used: exact while equity and requirement
            # are linear in the size (an account holding only this perp; one stress point binds).
            eq, _, ir = book.margin(account)
            self._leverage_use[book.step_trades - 1] = 1.0 - (eq - ir) / free_before
        self._settle_order()
        return p

    def _settle_order(self) -> None:
        """The pool's and insurance's sides of the book's last order, through the ledger."""
        book = self.book
        self.ledger.settle_order(self.token, self.pool_holder, self.insurance_holder,
                                 book.last_pool_tokens, book.last_insurance_tokens)
        self._step_pool_tokens += book.last_pool_tokens
        if self.insurance_otc is not None and book.last_insurance_tokens != 0.0:
            self._insurance_to_usdc()

    def _refuse(self, reason: Refusal) -> None:
        self.last_refusal = reason
        self.stats.refused += 1
        return None

    def set_triggers(self, p: int, take_profit_usd: float, stop_loss_usd: float) -> None:
        """Take-profit / stop-loss orders on position ``p`` (USD of PnL): the owner is woken."""
        self.book.set_triggers(p, take_profit_usd, stop_loss_usd)

    def triggered_owners(self) -> list:
        """Owners of positions whose PnL crossed their take-profit or stop-loss this step."""
        return [self.account_owner[a] for a in self.book.triggered_accounts()]

    def close_position(self, p: int, fraction: float = 1.0) -> float:
        """Close ``fraction`` of position ``p`` against the pool at mark minus spread; returns
        the realized PnL in USD (before spread and fees). Never refused."""
        book = self.book
        if book.pos_size[p] == 0.0:
            return 0.0
        realized_usd = book.close(p, fraction, self.pool_assets_tokens())
        self._settle_order()
        return realized_usd

    def position_pnl_usd(self, p: int) -> float:
        return self.book.position_pnl_usd(p)

    def take_book_stats(self) -> None:
        """Move the book's step totals and trade log into ``stats`` (once, before metrics), and
        the orders' PnL into the accounts' accumulators."""
        book, st = self.book, self.stats
        st.volume_usd += book.step_volume_usd
        st.trades += book.step_trades
        st.spread_usd += book.step_spread_usd
        st.fees_usd += book.step_fees_usd
        st.trader_pnl_usd += book.step_trader_pnl_usd
        # The pool's side of the orders, flow by flow (tokens; fee split as the book splits it).
        spread_t = book.step_spread_usd / self.price_in
        fee_t = book.step_fees_usd / self.price_in
        fee_main_t = fee_t * self.cfg.lp_share
        st.pool_spread_tokens += spread_t
        st.pool_fee_tokens += fee_main_t
        st.pool_realized_tokens += self._step_pool_tokens - spread_t - fee_main_t
        self._step_pool_tokens = 0.0
        st.trade_close, st.trade_account, st.trade_usd, st.trade_series, st.trade_size, pnl = book.take_step_log()
        st.trade_leverage_use = np.full(len(pnl), math.nan)
        if self._leverage_use:
            st.trade_leverage_use[list(self._leverage_use)] = list(self._leverage_use.values())
            self._leverage_use.clear()
        if len(st.trade_account):
            np.add.at(self.account_pnl_usd, st.trade_account, pnl)
            perp = self.series.is_perp[st.trade_series].astype(bool)
            abs_usd = np.abs(st.trade_usd)
            st.perp_volume_usd += float(abs_usd[perp].sum())
            st.option_volume_usd += float(abs_usd[~perp].sum())

    def _collateral_pnl(self, q_before: np.ndarray) -> None:
        """Add to the accounts' PnL the change of their collateral since ``q_before`` (tokens,
        overwritten), a payment at ``price_in`` and a receipt at ``price_out`` (the prices of
        the flow; one price outside safe mode)."""
        n = q_before.shape[0]
        dq = np.subtract(self.book.collateral[:n], q_before, out=q_before)
        if self.price_in == self.price_out:
            dq *= self.price_in
            self.account_pnl_usd[:n] += dq
        else:
            self.account_pnl_usd[:n] += np.where(dq < 0.0, dq * self.price_in, dq * self.price_out)

    def _compact_or_grow(self) -> None:
        """Drop closed positions (renumbering slots) when at most a quarter are open, else
        double the arrays (compaction renumbers every owner's slots: keep it rare)."""
        book = self.book
        if np.count_nonzero(book.pos_size[: book.n_positions]) < book.n_positions // 4:
            live = book.compact()
            self._on_compact({int(old): new for new, old in enumerate(live)})
        else:
            book.grow_positions()

    def _on_compact(self, remap: dict[int, int]) -> None:
        """Tell every account owner (each once) the positions' new slots (``remap_positions``)."""
        for owner in self._slot_keepers.values():
            owner.remap_positions(self, remap)

    # ---------------------------------------------------------------- funding, margin, liquidation
    def settle_step(self, dt_years: float, keepers: list[int], keeper_rng: Callable[[], np.random.Generator],
                    step: int) -> None:
        """Phase 7: funding for every position, then the liquidation kernel (design 5-6).

        ``keeper_rng()`` gives the stream that picks each liquidation's keeper (made only when
        someone is liquidated)."""
        book = self.book
        k, na = book.n_positions, book.n_accounts
        if na == 0 or (k == 0 and not np.any(book.collateral[:na] < 0.0)):
            self.last_margin = None    # no pass ran: nobody was liquidated in this step
            return      # nothing to fund, nothing to liquidate, no deficit to cover
        sb = self.series
        tok, led = self.token, self.ledger
        q_before = book.collateral[:na].copy()
        to_pool, paid_usd, needs = book.accrue_funding(sb.view("payoff"), dt_years / self.cfg.funding_period_years,
                                                       1e-9, dt_years, self.pool_assets_tokens())
        led.settle_kernel(tok, {self.pool_holder: to_pool})    # the book debited collateral
        self._collateral_pnl(q_before)
        st = self.stats
        st.funding_usd += paid_usd
        st.perp_funding_usd += book.last_perp_funding_tokens * self.price
        st.perp_funding_rate = book.last_perp_rate
        st.pool_perp_funding_tokens += book.last_perp_funding_tokens
        st.pool_funding_tokens += to_pool - book.last_perp_funding_tokens
        if not needs and self.nav_tokens() >= 0.0:
            self.last_margin = None        # nobody to liquidate, no deficit, no ADL: skip the pass
            return
        ins_tok = led.balance(self.insurance_holder, tok)
        ins_usdc = led.balance(self.insurance_holder, USDC) / self.price if tok != USDC else 0.0
        # Safe mode: collateral and losses at the lower price, gains paid at the higher one.
        q_before = book.collateral[:na].copy()
        size_before = book.pos_size[:k].copy()
        res = self.liq_kernel.run_liquidations(
            book.collateral[:na], self.price_in, self.cfg.haircut, book.pos_account[:k], book.pos_series[:k],
            book.pos_size[:k], book.pos_entry[:k], sb.view("mark"), sb.view("delta"), sb.view("spot"),
            sb.view("is_perp"), sb.view("stress_margin"), self.token_moves, self.cfg.margin,
            ins_tok + ins_usdc, self.pool_assets_tokens(), price_out=self.price_out,
        )
        closed_usd = np.abs(size_before - book.pos_size[:k]) * sb.view("spot")[book.pos_series[:k]]
        if len(res.adl_account):
            closed_usd[res.adl_position] = 0.0      # ADL closes are not liquidations
        self._settle_liquidations(res, ins_tok, keepers, keeper_rng, step,
                                  np.bincount(book.pos_account[:k], weights=closed_usd, minlength=na))
        self._collateral_pnl(q_before)
        book.resync()                # the kernel moved sizes in place
        self.last_margin = res

    def run_hedge(self) -> None:
        """Phase 7, after ``settle_step``: the delta hedge (design 5). Its PnL since the last
        step less the cost of trading the pool's net delta per underlying to zero settles
        between the pool and the venue, in tokens at the oracle price (design 5 says so; the hedge
        is not a token flow that safe mode widens). A loss is paid up to the pool's token
        balance; what it cannot pay is recorded as ``hedge_shortfall_usd`` and left out of
        ``hedge_pnl_usd``, so the PnL the stats report is what the pool paid or received.
        Nothing happens when the pool is unhedged."""
        if self.hedge is None:
            return
        sb = self.series
        spot = np.zeros(len(sb.underlyings))
        spot[sb.view("underlying")] = sb.view("spot")
        pnl_usd, cost_usd, _ = self.hedge.step(spot, -self.book.delta_usd)   # the pool holds -traders'
        net = (pnl_usd - cost_usd) / self.price
        led, tok = self.ledger, self.token
        shortfall = 0.0                                     # tokens owed and not paid
        st = self.stats
        if net > 0.0:
            st.pool_hedge_tokens += led.transfer(tok, self.hedge_venue, self.pool_holder, net)
        elif net < 0.0:
            can_pay = min(-net, max(led.balance(self.pool_holder, tok), 0.0))
            # The ledger refuses any debit, even of 0, from a negative balance (a pool left
            # below 0 by a deficit ADL could not cover): then the whole loss is a shortfall.
            paid = led.transfer(tok, self.pool_holder, self.hedge_venue, can_pay) if can_pay > 0.0 else 0.0
            shortfall = -net - paid
            st.pool_hedge_tokens -= paid
        st.hedge_pnl_usd += pnl_usd + shortfall * self.price
        st.hedge_cost_usd += cost_usd
        st.hedge_shortfall_usd += shortfall * self.price

    def _settle_liquidations(self, res: LiquidationResult, ins_tok: float, keepers: list[int],
                             rng: Callable[[], np.random.Generator], step: int,
                             closed_usd: np.ndarray) -> None:
        """Settle a liquidation pass through the ledger; ``closed_usd``: per account, the
        underlying notional (USD at spot) its liquidation closed."""
        tok, led, P = self.token, self.ledger, self.price
        n_liq = len(res.liq_account)
        keeper_total = float(np.sum(res.liq_keeper_tokens)) if n_liq else 0.0
        # Insurance paid out in tokens first, then (USDC-denominated cover) in USDC to the pool.
        paid_by_ins = float(np.sum(res.wf_from_insurance)) if len(res.wf_account) else 0.0
        ins_in = float(np.sum(res.liq_insurance_tokens)) if n_liq else 0.0
        from_tok = min(paid_by_ins, max(ins_tok + ins_in, 0.0))
        # The kernel's payout may exceed the token balance by rounding (1e-16 of it); only USDC
        # the insurance holds is paid in USDC, a rounding residue stays in tokens.
        ins_usdc_tok = led.balance(self.insurance_holder, USDC) / P if tok != USDC else 0.0
        from_usdc = min(paid_by_ins - from_tok, max(ins_usdc_tok, 0.0))
        from_tok = paid_by_ins - from_usdc
        pool_delta = res.pool_delta_tokens - from_usdc      # the pool fronts the tokens ...
        led.settle_kernel(tok, {self.pool_holder: pool_delta, self.insurance_holder: ins_in - from_tok})
        if from_usdc > 0:                                      # ... and is paid in USDC
            led.transfer(USDC, self.insurance_holder, self.pool_holder, from_usdc * P)
        st = self.stats
        # The pool's side, by kind: write-offs (and tokens fronted for a USDC cover, repaid in
        # USDC: pool_usdc_in), the rest minus the traders' realized PnL (liquidations, ADL).
        bad_debt = -(float(np.sum(res.wf_from_pool)) if len(res.wf_account) else 0.0) - from_usdc
        st.pool_bad_debt_tokens += bad_debt
        st.pool_realized_tokens += pool_delta - bad_debt
        st.pool_usdc_in += from_usdc * P if from_usdc > 0 else 0.0
        if n_liq:
            if keepers:
                picks = rng().integers(0, len(keepers), size=n_liq)
                for i in range(n_liq):
                    kt = float(res.liq_keeper_tokens[i])
                    if kt > 0:
                        led.settle_kernel(tok, {keepers[picks[i]]: kt})
            else:
                led.settle_kernel(tok, {self.insurance_holder: keeper_total})
            st.liquidations += n_liq
            st.liquidations_usd += float(np.sum(closed_usd[res.liq_account]))
            st.trader_pnl_usd += float(np.sum(res.liq_realized_tokens)) * P
            for i in range(n_liq):
                a = int(res.liq_account[i])
                st.events.append(LiquidationEvent(a, float(res.liq_penalty_tokens[i]), float(closed_usd[a])))
        if len(res.wf_account):
            self.stats.bad_debt_usd += float(np.sum(res.wf_deficit_tokens)) * P
            self.stats.bad_debt_lp_usd += float(np.sum(res.wf_from_pool)) * P
            for i in range(len(res.wf_account)):
                self.stats.events.append(WaterfallEvent(int(res.wf_account[i]), float(res.wf_deficit_tokens[i]),
                                                        float(res.wf_from_insurance[i]), float(res.wf_from_pool[i])))
        if len(res.adl_account):
            self.stats.adl_usd += float(np.sum(res.adl_profit_tokens) - np.sum(res.adl_paid_tokens)) * P
            for i in range(len(res.adl_account)):
                self.stats.events.append(AdlEvent(int(res.adl_account[i]), float(res.adl_paid_tokens[i])))
        if self.insurance_otc is not None:        # penalties (and keepers' share if none) in USDC
            self._insurance_to_usdc()

    # ---------------------------------------------------------------- LP shares
    def lp_deposit(self, lp: ShareHolder, wallet: int, tokens: float) -> float:
        """Deposit tokens into the main pool for shares; refused (0) while NAV <= 0."""
        nav = self.nav_tokens()
        if tokens <= 0 or (self.total_shares > 0 and nav <= 0):
            return 0.0
        shares = self.pool_kernel.shares_for_deposit(tokens, self.total_shares, nav)
        self.ledger.transfer(self.token, wallet, self.pool_holder, tokens)
        self.stats.lp_deposit_tokens += tokens
        self.stats.events.append(LpDepositEvent(lp.unique_id, lp.kind, tokens))
        self.total_shares += shares
        self.shares[lp] = self.shares.get(lp, 0.0) + shares
        if lp.unique_id < 0:
            self._non_agent_holders.add(lp)
        return shares

    def lp_holders(self) -> int:
        """LP agents holding shares (holders with ``unique_id < 0``, the treasury, are not)."""
        return len(self.shares) - sum(1 for h in self._non_agent_holders if h in self.shares)

    def request_withdrawal(self, lp: ShareHolder, step: int) -> None:
        held = self.shares.get(lp, 0.0)
        queued = sum(e[1] for e in self.queue if e[0] is lp)
        if held - queued > 0:
            self.queue.append([lp, held - queued, step + self.cfg.cooldown_steps])

    def process_withdrawals(self, step: int, wallet_of: Callable[[ShareHolder], int]) -> list[tuple[ShareHolder, float]]:
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
            gross = self.pool_kernel.assets_for_shares(shares, self.total_shares, nav_t)
            loss_usd = self.utilization() * self.nav_usd()
            free_t = (self.nav_usd() - loss_usd / self.cfg.max_utilization) / self.price
            free_t = min(free_t, self.ledger.balance(self.pool_holder, self.token))
            if free_t <= 0:
                break
            take = min(gross, free_t)
            # Paid in full: burn exactly the shares asked for (shares x gross / gross can miss
            # them by an ulp and leave the LP holding dust forever, counted as an active LP).
            burn = shares if take >= gross else shares * take / gross
            out = take * (1.0 - self.cfg.withdrawal_fee)
            self.ledger.transfer(self.token, self.pool_holder, wallet_of(lp), out)
            self.stats.lp_withdrawal_tokens += out
            self.stats.withdrawal_fee_tokens += take - out
            self.total_shares -= burn
            self.shares[lp] -= burn
            entry[1] -= burn
            paid.append((lp, out))
            if entry[1] <= 1e-12 * max(shares, 1.0):
                self.queue.remove(entry)
                if self.shares[lp] <= 1e-12:
                    self.shares.pop(lp)
        return paid
