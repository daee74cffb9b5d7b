"""What a run measures (design section 11): the per-step row, the events and the summary.

The per-step values are computed once per step into ``model.row`` and handed to Mesa's
DataCollector through one reporter per column, so ``model.datacollector`` holds the series.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import pandas as pd

from sim.assets import USDC
from sim.event_log import TradeNames
from sim.flywheel_stats import FlywheelDiagnostics, diagnostics
from sim.protocol.market_events import LiquidationEvent, LpDepositEvent, WaterfallEvent

if TYPE_CHECKING:
    from sim.model import FlywheelModel
    from sim.protocol.options_market import OptionsMarket

STANDARD_NOTIONAL_USD = 100_000.0   # the standard size for the quoted spread (design 5)
DRAINED_FRACTION = 0.10             # a pool is drained below 10% of its NAV at the end of the burn-in (design 11)
# The pool's token flows of a step (``StepStats.pool_*_tokens``, ``lp_*``): with the pool's
# token balance, USDC and the traders' unrealized PnL they give its NAV's change exactly.
FLOW_COLUMNS = (
    "pool_spread_tokens", "pool_fee_tokens", "pool_funding_tokens", "pool_perp_funding_tokens",
    "pool_realized_tokens", "pool_hedge_tokens", "pool_bad_debt_tokens", "pool_usdc_in",
    "lp_deposit_tokens", "lp_withdrawal_tokens", "withdrawal_fee_tokens",
)
MARKET_COLUMNS = (
    "volume_usd", "option_volume_usd", "perp_volume_usd", "trades", "open_interest_usd", "fees_usd",
    "funding_usd", "perp_funding_usd", "perp_funding_rate", "hedge_pnl_usd", "hedge_cost_usd",
    "hedge_shortfall_usd", "pool_nav_usd", "pool_nav_tokens", "lp_share_price", "pool_capacity_usd",
    "utilization", "spread_std", "insurance_usd", "insurance_tokens", "liquidations", "liquidations_usd",
    "bad_debt_usd", "bad_debt_lp_usd", "adl_usd", "trader_pnl_usd", "spread_usd", "refused",
    "margin_price", "pool_token_balance", "pool_usdc_balance", "traders_upnl_usd", *FLOW_COLUMNS,
)
TOKEN_COLUMNS = (
    "nav", "amm_price", "premium", "premium_after_arb", "oracle", "depth_2pct_usd", "safe_mode",
)
TOTAL_COLUMNS = (
    "active_traders", "active_lps", "arrivals", "departures", "volume_usd", "option_volume_usd",
    "perp_volume_usd", "capacity_usd", "margin_depth_usd", "quality", "liquidations", "liquidations_usd",
    "bad_debt_usd", "insurance_usd", "conservation_error", "arbitrageurs_acted",
)


def columns(model: FlywheelModel) -> list[str]:
    """Every per-step column, in order (docs/interfaces.md section 4)."""
    sc = model.spec
    cols = ["step", "time", "market_open", "burn_in"]
    cols += [f"price[{a}]" for a in sc.assets]
    cols += [f"latent[{a}]" for a, spec in sc.assets.items() if spec.kind == "stock"]
    cols += [f"{c}[{t}]" for t in sc.tokens for c in TOKEN_COLUMNS]
    cols += [f"{c}[{m}]" for m in sc.markets for c in MARKET_COLUMNS]
    cols += list(TOTAL_COLUMNS)
    return cols


TABLE = "timeseries"   # the DataCollector table holding every per-step column


def _row_value(column: str):
    def report(model):
        return model.row[column]
    report.__name__ = f"report_{column}"
    return report


# Headline series as Mesa model reporters (what ``mesa.batch_run`` returns); the full row of
# every column goes to the DataCollector table ``timeseries`` (no per-value deepcopy there).
HEADLINE_REPORTERS = {c: _row_value(c) for c in (
    "active_traders", "active_lps", "volume_usd", "liquidations", "bad_debt_usd", "insurance_usd",
    "quality", "capacity_usd", "margin_depth_usd",
)}


def standard_spread(market: OptionsMarket) -> float:
    """Quoted spread of a USD 100k-notional ATM BTC call (first underlying if no BTC)."""
    sb = market.series
    u = sb.underlyings.index("BTC") if "BTC" in sb.underlyings else 0
    s = sb.listed_near(u, 0.0, True)
    return float(market.quote(s, STANDARD_NOTIONAL_USD / sb.spot[s])[0])


def current_row(model: FlywheelModel, t: int) -> dict[str, Any]:
    """Every per-step value of the contract in docs/interfaces.md section 4 (nothing clipped:
    utilization is inf when the pool's NAV is <= 0)."""
    w, sc = model.world, model.spec
    row: dict = {"step": t, "time": w.time, "market_open": w.is_open,
                 "burn_in": t < sc.burn_in_steps}
    for a in sc.assets:
        row[f"price[{a}]"] = w.price(a)
    for a, spec in sc.assets.items():
        if spec.kind == "stock":
            row[f"latent[{a}]"] = float(w.latent[w.asset_index[a]])
    for name, tok in w.tokens.items():
        o = tok.oracle
        row[f"nav[{name}]"] = tok.nav
        row[f"amm_price[{name}]"] = tok.amm.price
        row[f"premium[{name}]"] = tok.premium
        row[f"premium_after_arb[{name}]"] = model.premium_after_arb.get(name, tok.premium)
        row[f"oracle[{name}]"] = o.price
        row[f"depth_2pct_usd[{name}]"] = tok.amm.depth_usd(0.02) if tok.amm.has_liquidity else 0.0
        row[f"safe_mode[{name}]"] = bool(o.safe_mode)
    tot_vol = tot_opt = tot_perp = tot_liq = tot_liq_usd = tot_bad = tot_ins = 0.0
    for name, m in model.markets.items():
        st, P = m.stats, m.price
        nav_t = m.nav_tokens()
        ins_t = m.insurance_tokens()
        led = m.ledger
        vals = {
            "volume_usd": st.volume_usd, "option_volume_usd": st.option_volume_usd,
            "perp_volume_usd": st.perp_volume_usd, "trades": st.trades,
            "open_interest_usd": m.open_interest_usd(), "fees_usd": st.fees_usd,
            "funding_usd": st.funding_usd, "perp_funding_usd": st.perp_funding_usd,
            "perp_funding_rate": st.perp_funding_rate, "hedge_pnl_usd": st.hedge_pnl_usd,
            "hedge_cost_usd": st.hedge_cost_usd, "hedge_shortfall_usd": st.hedge_shortfall_usd,
            "pool_nav_usd": nav_t * P, "pool_nav_tokens": nav_t,
            "lp_share_price": m.share_price(), "pool_capacity_usd": m.capacity_usd(),
            "utilization": m.utilization(), "spread_std": standard_spread(m),
            "insurance_usd": ins_t * P, "insurance_tokens": ins_t, "liquidations": st.liquidations,
            "liquidations_usd": st.liquidations_usd, "bad_debt_usd": st.bad_debt_usd,
            "bad_debt_lp_usd": st.bad_debt_lp_usd, "adl_usd": st.adl_usd,
            "trader_pnl_usd": st.trader_pnl_usd, "spread_usd": st.spread_usd, "refused": st.refused,
            "margin_price": P, "pool_token_balance": led.balance(m.pool_holder, m.token),
            "pool_usdc_balance": (led.balance(m.pool_holder, USDC)
                                  if m.token != USDC and USDC in led.assets else 0.0),
            "traders_upnl_usd": m.traders_upnl_usd(),
        }
        vals.update(st.pool_flows())
        for c, v in vals.items():
            row[f"{c}[{name}]"] = v
        tot_vol += st.volume_usd
        tot_opt += st.option_volume_usd
        tot_perp += st.perp_volume_usd
        tot_liq += st.liquidations
        tot_liq_usd += st.liquidations_usd
        tot_bad += st.bad_debt_usd
        tot_ins += ins_t * P
    quality, capacity, margin_depth, _ = model.quality_now
    row.update({
        "active_traders": model.active_now["trader"],
        "active_lps": model.active_now["liquidity_provider"],
        "arrivals": model.arrivals_step, "departures": model.departures_step, "volume_usd": tot_vol,
        "option_volume_usd": tot_opt, "perp_volume_usd": tot_perp,
        "capacity_usd": capacity, "margin_depth_usd": margin_depth, "quality": quality,
        "liquidations": tot_liq,
        "liquidations_usd": tot_liq_usd, "bad_debt_usd": tot_bad, "insurance_usd": tot_ins,
        "conservation_error": model.ledger.max_relative_error,
        "arbitrageurs_acted": model.acted["arbitrageur"],
    })
    return row


def trade_names(m: OptionsMarket) -> TradeNames:
    """What names market ``m``'s trade rows in the event log (its series and account owners)."""
    sb = m.series
    n = sb.n
    perp, call = sb.is_perp[:n].astype(bool), sb.is_call[:n].astype(bool)
    return TradeNames(
        underlying=[sb.underlyings[u] for u in sb.underlying[:n]],
        product=np.where(perp, "perp", np.where(call, "call", "put")).tolist(),
        strike=np.where(perp, 0.0, sb.strike[:n]),
        agent_kind=m.account_kind, style=m.account_style,
    )


def option_opens(model: FlywheelModel) -> tuple[int, int]:
    """(option positions DirectionalTraders opened after the burn-in, how many of them short),
    from the event log."""
    opened = short = 0
    for name, m in model.markets.items():
        t = model.events.trades(name)
        perp = m.series.is_perp[t["series"].astype(np.int64)].astype(bool)
        by_trader = m.accounts_of_kind("trader")[t["account"].astype(np.int64)]
        opens = t["is_open"] & ~perp & by_trader & (t["step"] >= model.spec.burn_in_steps)
        opened += int(np.count_nonzero(opens))
        short += int(np.count_nonzero(opens & (t["size"] < 0.0)))
    return opened, short


def record_market_events(model: FlywheelModel, m: OptionsMarket) -> None:
    """Turn a market's step events into event rows (token amounts and USD at the oracle).

    The step's trades and closes come first (as columns), then its other events in order.
    """
    P = m.price
    st = m.stats
    t = model.step_count
    if len(st.trade_account):
        model.events.extend_trades(t, m.name, st.trade_close, st.trade_account, m.account_agent[st.trade_account],
                                   st.trade_series, st.trade_size, st.trade_usd, st.trade_leverage_use)
        m.account_last_trade[st.trade_account] = t
    for ev in st.events:
        if isinstance(ev, LpDepositEvent):
            model.events.append(t, ev.kind, m.name, -1, ev.agent, ev.tokens, ev.tokens * P,
                                agent_kind=ev.agent_kind)
            continue
        account = ev.account
        agent = int(m.account_agent[account])        # the owner's Mesa id (-1: not an agent)
        who = {"agent_kind": m.account_kind[account], "style": m.account_style[account]}
        if isinstance(ev, WaterfallEvent):
            from_ins, from_pool = ev.from_insurance_tokens, ev.from_pool_tokens
            if from_ins > 0:
                model.events.append(t, "waterfall_insurance", m.name, account, agent, from_ins,
                                    from_ins * P, **who)
            if from_pool > 0:
                model.events.append(t, "waterfall_pool", m.name, account, agent, from_pool,
                                    from_pool * P, **who)
        elif isinstance(ev, LiquidationEvent):
            pen = ev.penalty_tokens
            model.events.append(t, ev.kind, m.name, account, agent, pen, pen * P, "penalty",
                                notional_usd=ev.notional_usd, **who)
        else:                                   # AdlEvent
            paid = ev.paid_tokens
            model.events.append(t, ev.kind, m.name, account, agent, paid, paid * P, **who)


class History:
    """Per-step history the agents look back on: prices, LP share prices, AMM fees."""

    def __init__(self, model: FlywheelModel) -> None:
        self.model = model
        n = model.n_steps + 1
        self.steps_per_day = 1440.0 / model.spec.clock.step_minutes
        self.assets = list(model.spec.assets)
        self.prices = np.zeros((n, len(self.assets)))
        self.share = {m: np.ones(n) for m in model.markets}
        self.fees = {t: np.zeros(n) for t in model.world.tokens}
        self.t = 0
        self._returns: dict[tuple[str, float], float] = {}
        self._fill(0)

    def _fill(self, i: int) -> None:
        w = self.model.world
        self.prices[i] = [w.price(a) for a in self.assets]
        for name, m in self.model.markets.items():
            self.share[name][i] = m.share_price()
        for name, tok in w.tokens.items():
            self.fees[name][i] = tok.amm.fees_usd

    def record(self, step: int) -> None:
        self.t = step + 1
        self._fill(self.t)
        self._returns.clear()

    def _back(self, days: float) -> int:
        return max(self.t - int(round(days * self.steps_per_day)), 0)

    def trailing_return(self, asset: str, hours: float) -> float:
        """Log return over the last ``hours`` (kept for the rest of the step: traders ask often)."""
        r = self._returns.get((asset, hours))
        if r is None:
            j = self.assets.index(asset)
            i0 = self._back(hours / 24.0)
            r = float(math.log(self.prices[self.t, j] / self.prices[i0, j]))
            self._returns[(asset, hours)] = r
        return r

    def trailing_apy(self, market: str, window_days: float) -> float:
        """Simple annualized growth of the LP share price over the window (0 before a day)."""
        i0 = self._back(window_days)
        days = (self.t - i0) / self.steps_per_day
        if days < 1.0:
            return 0.0
        s = self.share[market]
        return float((s[self.t] / s[i0] - 1.0) * 365.0 / days)

    def drawdown(self, market: str, window_days: float) -> float:
        s = self.share[market][self._back(window_days): self.t + 1]
        peak = float(s.max())
        return max(0.0, 1.0 - float(s[-1]) / peak) if peak > 0 else 0.0

    def amm_fee_apr(self, token: str, window_days: float) -> float:
        i0 = self._back(window_days)
        days = (self.t - i0) / self.steps_per_day
        amm = self.model.world.tokens[token].amm
        tvl = 2.0 * amm.reserve_usd
        if days < 1.0 or tvl <= 0:
            return 0.0
        f = self.fees[token]
        return float((f[self.t] - f[i0]) / tvl * 365.0 / days)


def timeseries_frame(model: FlywheelModel) -> pd.DataFrame:
    """The per-step table of the DataCollector, ``time`` as UTC timestamps."""
    df = model.datacollector.get_table_dataframe(TABLE).reset_index(drop=True)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df


def events_frame(model: FlywheelModel) -> pd.DataFrame:
    """The run's event log as a DataFrame, trade rows named (``trade_names``)."""
    return model.events.frame(model.world.times, {name: trade_names(m) for name, m in model.markets.items()})


class LpPnlSplitUsd(TypedDict):
    """Where the LPs' USD PnL (``MarketSummary.lp_pnl_usd``) came from after the burn-in (design 11).

    Each part is the pool's token flow of that kind valued at the step's oracle price (or a
    USD amount); the parts add up to ``lp_pnl_usd`` exactly (to rounding).
    """

    spread: float             # spreads paid by traders to the pool
    fees: float               # the pool's lp_share of the notional fees
    funding: float            # option funding, net received (payers minus receivers)
    perp_funding: float       # perp funding the pool kept (longs' payments minus shorts' receipts, or back)
    withdrawal_fees: float    # 0: a transfer from leaving to staying LPs (amount: lp_withdrawal_fees_usd)
    trader_realized: float    # minus the traders' realized PnL (closes, liquidations, ADL payments)
    trader_unrealized: float  # minus the change of the traders' unrealized PnL against the pool
    hedge_pnl: float          # the delta hedge's PnL as settled, before its cost (pool.hedge: delta; else 0)
    hedge_cost: float         # minus what the hedge paid to trade (hedge_cost_bps of notional)
    bad_debt: float           # minus the deficits the pool wrote off
    token_move: float         # the margin token's own move on the pool's token balance, step by step


class MarketSummary(TypedDict):
    """One market's figures over the run after the burn-in (design 11, "Definitions").

    Money-weighted returns are modified Dietz from the end of the burn-in to the end, flows =
    LP deposits and withdrawal payments at mid-step when paid, USD at the oracle price; None
    when the pool held nothing to weigh. ``*_annual`` compound: (1 + r)^(365 / days) - 1.
    """

    lp_return_mw_token: float | None
    lp_return_mw_usd: float | None
    lp_return_mw_token_annual: float | None
    lp_return_mw_usd_annual: float | None
    share_price_return_token: float  # LP share price return, in the margin token
    share_price_return_usd: float    # the same in USD (share price x oracle price)
    pool_nav_mean_usd: float         # mean pool NAV after the burn-in
    drained_ever: bool               # NAV (tokens) fell below 10% of its value at the end of the burn-in
    drained_end: bool                # ... and was there at the end
    lp_max_drawdown: float           # largest fall of the share price from its running peak
    insurance_depleted: bool         # insurance fell to 1% of its starting balance or below
    insurance_depleted_day: float | None  # day (since the start) it first did, None if never
    bad_debt_usd: float              # deficits of liquidated accounts
    bad_debt_lp_usd: float           # the part the main pool (the LPs) paid
    adl_usd: float                   # profit taken from traders by auto-deleveraging
    liquidations: int                # accounts liquidated (count of passes' liquidations)
    liquidations_notional_usd: float  # underlying notional they closed (USD at spot)
    option_volume_usd: float         # option notional traded (underlying, USD)
    perp_volume_usd: float           # perpetual-future notional traded
    volume_usd: float                # the two together
    perp_funding_rate_abs_mean: float  # mean over steps of |perp funding rate|, per year
    lp_pnl_usd: float                # NAV end - NAV start - deposits + withdrawals paid (USD)
    lp_pnl_split_usd: LpPnlSplitUsd
    lp_withdrawal_fees_usd: float    # withdrawal fees kept in the pool (paid by leaving LPs)


class RunSummary(TypedDict):
    """The per-run figures (design 11): the one schema of ``summary.json``.

    Every value depends only on the scenario, the seed and the code: two computations of the
    same run give the same summary. What differs between computations (wall time, versions)
    is ``sim.run.RunInfo`` and lives beside it, in ``run_info.json``. Top-level LP returns
    are the mean over the markets that never drained (``lp_return_markets_averaged``; None if
    every pool drained): a drained pool's return is never averaged with healthy ones.
    """

    scenario: str                   # scenario name
    seed: int
    steps: int                      # steps simulated, burn-in included
    days_simulated: float
    active_users_start: int         # active traders + LPs at the end of the burn-in
    active_users_end: int
    active_users_peak: int
    option_volume_usd: float        # option notional traded after the burn-in, every market
    perp_volume_usd: float          # perpetual-future notional, apart
    liquidations: int
    liquidations_usd: float         # underlying notional closed by liquidations (USD)
    bad_debt_usd: float
    failed_trades: int              # orders refused (margin, caps, safe mode)
    conservation_max_error: float   # the ledger audit's largest relative error
    arrivals: int
    impulse_traders: int            # traders an impulse added (design 11; 0 without one)
    capacity_mean_usd: float        # pools' free capacity, every market, mean after the burn-in
    margin_depth_mean_usd: float    # margin tokens' AMM depth +-2% (design 8), mean after it
    departures: int
    markets: dict[str, MarketSummary]
    peak_premium: float             # highest AMM price / NAV - 1 over the tokens
    peak_discount: float            # lowest
    lp_return_mw_token: float | None   # mean over the markets that never drained
    lp_return_mw_usd: float | None
    lp_return_mw_token_annual: float | None
    lp_return_mw_usd_annual: float | None
    share_price_return_token: float | None
    share_price_return_usd: float | None
    lp_return_markets_averaged: list[str]
    markets_drained: list[str]      # drained at some point after the burn-in
    largest_sale_reserve_share: dict[str, float]  # seller kind -> largest single AMM sale of
                                    # phase 8 over the run, as a share of the AMM's USD reserve
    lp_max_drawdown: float          # worst over the markets
    insurance_depleted: bool        # in any market
    adl_usd: float                  # over the markets
    traders_counted: int            # DirectionalTraders that traded after the burn-in
    traders_lost_money: int         # ... whose trading PnL over their life in the run is < 0
    traders_lost_money_share: float | None
    option_opens_directional: int   # option positions DirectionalTraders opened after the burn-in
    option_opens_directional_short: int  # ... of which short
    flywheel_diagnostics: FlywheelDiagnostics  # daily lagged correlations, arrivals' elasticity
                                    # to depth (sim.flywheel_stats)


def modified_dietz(v0: float, v1: float, flows: np.ndarray, weights: np.ndarray) -> float | None:
    """Money-weighted return (V1 - V0 - sum F) / (V0 + sum w F); ``flows`` into the pool (+)
    and out (-), ``weights`` the share of the period each flow was invested. None when the
    denominator is not positive (nothing was invested)."""
    denom = v0 + float(np.dot(weights, flows))
    if not denom > 0.0:
        return None
    return (v1 - v0 - float(np.sum(flows))) / denom


def annualized(r: float | None, days: float) -> float | None:
    """Compounded rate per year of a return ``r`` over ``days``: (1 + r)^(365 / days) - 1."""
    if r is None or days <= 0:
        return None
    if r <= -1.0:
        return -1.0
    with np.errstate(over="ignore"):    # a few days' return compounded to a year can overflow:
        return float(np.float64(1.0 + r) ** (365.0 / days) - 1.0)   # inf (JSON null)


def _start_index(df: pd.DataFrame) -> int:
    """Row of the end of the burn-in (the first row when there is no burn-in)."""
    return max(int(df["burn_in"].to_numpy().sum()) - 1, 0)


def _market_summary(df: pd.DataFrame, name: str, i0: int, step_minutes: float) -> MarketSummary:
    def col(c: str) -> np.ndarray:
        return df[f"{c}[{name}]"].to_numpy(dtype=float)

    P = col("margin_price")
    nav_t, nav_usd = col("pool_nav_tokens"), col("pool_nav_usd")
    flows = slice(i0 + 1, len(df))             # the steps after the start row
    p = P[flows]
    days = (len(df) - 1 - i0) * step_minutes / 1440.0
    dep, wd = col("lp_deposit_tokens")[flows], col("lp_withdrawal_tokens")[flows]
    n = len(p)
    weights = (n - np.arange(n) - 0.5) / n if n else np.zeros(0)     # flows at mid-step
    r_tok = modified_dietz(nav_t[i0], nav_t[-1], dep - wd, weights)
    r_usd = modified_dietz(nav_usd[i0], nav_usd[-1], (dep - wd) * p, weights)
    hedge_cost = float(col("hedge_cost_usd")[flows].sum())
    tok_bal = col("pool_token_balance")
    split: LpPnlSplitUsd = {
        "spread": float(np.dot(col("pool_spread_tokens")[flows], p)),
        "fees": float(np.dot(col("pool_fee_tokens")[flows], p)),
        "funding": float(np.dot(col("pool_funding_tokens")[flows], p)),
        "perp_funding": float(np.dot(col("pool_perp_funding_tokens")[flows], p)),
        "withdrawal_fees": 0.0,
        "trader_realized": float(np.dot(col("pool_realized_tokens")[flows], p)),
        "trader_unrealized": float(-(col("traders_upnl_usd")[-1] - col("traders_upnl_usd")[i0])),
        "hedge_pnl": float(np.dot(col("pool_hedge_tokens")[flows], p)) + hedge_cost,
        "hedge_cost": -hedge_cost,
        "bad_debt": float(np.dot(col("pool_bad_debt_tokens")[flows], p) + col("pool_usdc_in")[flows].sum()),
        "token_move": float(np.dot(tok_bal[i0:-1], np.diff(P[i0:]))),
    }
    sp = col("lp_share_price")[i0:]
    running_max = np.maximum.accumulate(sp)
    ins = col("insurance_usd")[i0:]
    depleted = np.flatnonzero(ins <= 0.01 * max(ins[0], 1e-12)) if ins[0] > 0 else np.array([0])
    post_nav = nav_t[i0:]
    drained = post_nav < DRAINED_FRACTION * nav_t[i0]
    opt, perp = col("option_volume_usd")[flows].sum(), col("perp_volume_usd")[flows].sum()
    return {
        "lp_return_mw_token": r_tok, "lp_return_mw_usd": r_usd,
        "lp_return_mw_token_annual": annualized(r_tok, days),
        "lp_return_mw_usd_annual": annualized(r_usd, days),
        "share_price_return_token": float(sp[-1] / sp[0] - 1.0),
        "share_price_return_usd": float(sp[-1] * P[-1] / (sp[0] * P[i0]) - 1.0),
        "pool_nav_mean_usd": float(nav_usd[i0:].mean()),
        "drained_ever": bool(drained.any()), "drained_end": bool(drained[-1]),
        "lp_max_drawdown": float(np.max(1.0 - sp / running_max)),
        "insurance_depleted": bool(depleted.size > 0),
        "insurance_depleted_day": (float(df["step"].iloc[i0 + depleted[0]] * step_minutes / 1440.0)
                                   if depleted.size else None),
        "bad_debt_usd": float(col("bad_debt_usd")[flows].sum()),
        "bad_debt_lp_usd": float(col("bad_debt_lp_usd")[flows].sum()),
        "adl_usd": float(col("adl_usd")[flows].sum()),
        "liquidations": int(col("liquidations")[flows].sum()),
        "liquidations_notional_usd": float(col("liquidations_usd")[flows].sum()),
        "option_volume_usd": float(opt), "perp_volume_usd": float(perp), "volume_usd": float(opt + perp),
        "perp_funding_rate_abs_mean": float(np.abs(col("perp_funding_rate")[flows]).mean()) if n else 0.0,
        "lp_pnl_usd": float(nav_usd[-1] - nav_usd[i0] - np.dot(dep - wd, p)),
        "lp_pnl_split_usd": split,
        "lp_withdrawal_fees_usd": float(np.dot(col("withdrawal_fee_tokens")[flows], p)),
    }


def trader_pnl_usd(model: FlywheelModel) -> pd.DataFrame:
    """Per DirectionalTrader (Mesa id): its trading PnL over its life in the run, USD at the
    prices of each flow (design 11: realized and unrealized, funding, fees and spreads,
    liquidation penalties; not the margin token's own move), and the last step it traded."""
    parts = []
    for m in model.markets.values():
        book = m.book
        na, k = book.n_accounts, book.n_positions
        ser = book.pos_series[:k]
        upnl = book.pos_size[:k] * (m.series.mark[ser] - book.pos_entry[:k])
        pnl = m.account_pnl_usd[:na] + np.bincount(book.pos_account[:k], weights=upnl, minlength=na)
        is_trader = m.accounts_of_kind("trader")
        parts.append(pd.DataFrame({"agent": m.account_agent[:na][is_trader], "pnl_usd": pnl[is_trader],
                                   "last_trade_step": m.account_last_trade[:na][is_trader]}))
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"agent": [], "pnl_usd": [], "last_trade_step": []})
    return df.groupby("agent", as_index=False).agg(pnl_usd=("pnl_usd", "sum"),
                                                   last_trade_step=("last_trade_step", "max"))


def _mean_or_none(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def summary(model: FlywheelModel) -> RunSummary:
    """Per-run figures of ``model`` (design section 11), after the burn-in."""
    df = timeseries_frame(model)
    sc = model.spec
    step_minutes = sc.clock.step_minutes
    i0 = _start_index(df)
    post = df.iloc[i0 + 1:] if len(df) > i0 + 1 else df.iloc[i0:]
    users = df["active_traders"] + df["active_lps"]
    out: dict = {
        "scenario": sc.name, "seed": model.root_seed, "steps": int(len(df)),
        "days_simulated": float(len(df) * step_minutes / 1440.0),
        "active_users_start": int(users.iloc[i0]),
        "active_users_end": int(users.iloc[-1]),
        "active_users_peak": int(users.iloc[i0:].max()),
        "option_volume_usd": float(post["option_volume_usd"].sum()),
        "perp_volume_usd": float(post["perp_volume_usd"].sum()),
        "liquidations": int(post["liquidations"].sum()),
        "liquidations_usd": float(post["liquidations_usd"].sum()),
        "bad_debt_usd": float(post["bad_debt_usd"].sum()),
        "failed_trades": int(model.failed_trades),
        "conservation_max_error": float(model.ledger.max_relative_error),
        "arrivals": int(post["arrivals"].sum()), "departures": int(post["departures"].sum()),
        "impulse_traders": int(model.impulse_traders),
        "capacity_mean_usd": float(post["capacity_usd"].mean()),
        "margin_depth_mean_usd": float(post["margin_depth_usd"].mean()),
    }
    markets = {name: _market_summary(df, name, i0, step_minutes) for name in sc.markets}
    out["markets"] = markets
    prem = {t: (float(post[f"premium[{t}]"].max()), float(post[f"premium[{t}]"].min())) for t in sc.tokens}
    out["peak_premium"] = max((v[0] for v in prem.values()), default=0.0)
    out["peak_discount"] = min((v[1] for v in prem.values()), default=0.0)
    healthy = [name for name, v in markets.items() if not v["drained_ever"]]
    for key in ("lp_return_mw_token", "lp_return_mw_usd", "lp_return_mw_token_annual",
                "lp_return_mw_usd_annual", "share_price_return_token", "share_price_return_usd"):
        out[key] = _mean_or_none([markets[n][key] for n in healthy])
    out["lp_return_markets_averaged"] = healthy
    out["markets_drained"] = [name for name, v in markets.items() if v["drained_ever"]]
    out["largest_sale_reserve_share"] = dict(sorted(model.sales.largest_reserve_share.items()))
    out["lp_max_drawdown"] = float(max(v["lp_max_drawdown"] for v in markets.values()))
    out["insurance_depleted"] = any(v["insurance_depleted"] for v in markets.values())
    out["adl_usd"] = float(sum(v["adl_usd"] for v in markets.values()))
    traders = trader_pnl_usd(model)
    counted = traders[traders["last_trade_step"] >= sc.burn_in_steps]
    out["traders_counted"] = len(counted)
    out["traders_lost_money"] = int((counted["pnl_usd"] < 0.0).sum())
    out["traders_lost_money_share"] = (out["traders_lost_money"] / len(counted)) if len(counted) else None
    out["option_opens_directional"], out["option_opens_directional_short"] = option_opens(model)
    margin_tokens = [m.token for m in model.markets.values() if m.token in model.world.tokens]
    out["flywheel_diagnostics"] = diagnostics(df, margin_tokens)
    return out
