"""What a run measures (design section 11): the per-step row, the events and the summary.

The per-step values are computed once per step into ``model.row`` and handed to Mesa's
DataCollector through one reporter per column, so ``model.datacollector`` holds the series.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import pandas as pd

from kernels.params import SPREAD_UTILIZATION_CAP  # utilization is reported up to the quotes' cap
from sim.protocol.market_events import LiquidationEvent, WaterfallEvent

if TYPE_CHECKING:
    from sim.model import FlywheelModel
    from sim.protocol.options_market import OptionsMarket

STANDARD_NOTIONAL_USD = 100_000.0   # the standard size for the quoted spread (design 5)
MARKET_COLUMNS = (
    "volume_usd", "trades", "open_interest_usd", "fees_usd", "funding_usd", "perp_funding_usd",
    "perp_funding_rate", "hedge_pnl_usd", "hedge_cost_usd", "hedge_shortfall_usd", "pool_nav_usd",
    "pool_nav_tokens", "lp_share_price", "pool_capacity_usd", "utilization", "spread_std",
    "insurance_usd", "insurance_tokens", "liquidations", "liquidations_usd", "bad_debt_usd",
    "bad_debt_lp_usd", "adl_usd", "trader_pnl_usd", "spread_usd", "refused",
)
TOKEN_COLUMNS = (
    "nav", "amm_price", "premium", "premium_after_arb", "oracle", "depth_2pct_usd", "safe_mode",
)
TOTAL_COLUMNS = (
    "active_traders", "active_lps", "arrivals", "departures", "volume_usd", "depth_quality_usd",
    "quality", "liquidations", "liquidations_usd", "bad_debt_usd", "insurance_usd",
    "conservation_error", "arbitrageurs_acted",
)


def columns(model: FlywheelModel) -> list[str]:
    """Every per-step column, in order (docs/interfaces.md section 4)."""
    sc = model.spec
    cols = ["step", "time", "market_open", "burn_in"]
    cols += [f"price[{a}]" for a in sc.assets]
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
    "quality", "depth_quality_usd",
)}


def standard_spread(market: OptionsMarket) -> float:
    """Quoted spread of a USD 100k-notional ATM BTC call (first underlying if no BTC)."""
    sb = market.series
    u = sb.underlyings.index("BTC") if "BTC" in sb.underlyings else 0
    s = sb.listed_near(u, 0.0, True)
    return float(market.quote(s, STANDARD_NOTIONAL_USD / sb.spot[s])[0])


def current_row(model: FlywheelModel, t: int) -> dict[str, Any]:
    """Every per-step value of the contract in docs/interfaces.md section 4."""
    w, sc = model.world, model.spec
    row: dict = {"step": t, "time": w.time, "market_open": w.is_open,
                 "burn_in": t < sc.burn_in_steps}
    for a in sc.assets:
        row[f"price[{a}]"] = w.price(a)
    for name, tok in w.tokens.items():
        o = tok.oracle
        row[f"nav[{name}]"] = tok.nav
        row[f"amm_price[{name}]"] = tok.amm.price
        row[f"premium[{name}]"] = tok.premium
        row[f"premium_after_arb[{name}]"] = model.premium_after_arb.get(name, tok.premium)
        row[f"oracle[{name}]"] = o.price
        row[f"depth_2pct_usd[{name}]"] = tok.amm.depth_usd(0.02) if tok.amm.has_liquidity else 0.0
        row[f"safe_mode[{name}]"] = bool(o.safe_mode)
    tot_vol = tot_liq = tot_liq_usd = tot_bad = tot_ins = 0.0
    for name, m in model.markets.items():
        st, P = m.stats, m.price
        nav_t = m.nav_tokens()
        ins_t = m.insurance_tokens()
        vals = {
            "volume_usd": st.volume_usd, "trades": st.trades,
            "open_interest_usd": m.open_interest_usd(), "fees_usd": st.fees_usd,
            "funding_usd": st.funding_usd, "perp_funding_usd": st.perp_funding_usd,
            "perp_funding_rate": st.perp_funding_rate, "hedge_pnl_usd": st.hedge_pnl_usd,
            "hedge_cost_usd": st.hedge_cost_usd, "hedge_shortfall_usd": st.hedge_shortfall_usd,
            "pool_nav_usd": nav_t * P, "pool_nav_tokens": nav_t,
            "lp_share_price": m.share_price(), "pool_capacity_usd": m.capacity_usd(),
            "utilization": min(m.utilization(), SPREAD_UTILIZATION_CAP), "spread_std": standard_spread(m),
            "insurance_usd": ins_t * P, "insurance_tokens": ins_t, "liquidations": st.liquidations,
            "liquidations_usd": st.liquidations_usd, "bad_debt_usd": st.bad_debt_usd,
            "bad_debt_lp_usd": st.bad_debt_lp_usd, "adl_usd": st.adl_usd,
            "trader_pnl_usd": st.trader_pnl_usd, "spread_usd": st.spread_usd, "refused": st.refused,
        }
        for c, v in vals.items():
            row[f"{c}[{name}]"] = v
        tot_vol += st.volume_usd
        tot_liq += st.liquidations
        tot_liq_usd += st.liquidations_usd
        tot_bad += st.bad_debt_usd
        tot_ins += ins_t * P
    quality, depth, _ = model.quality_now
    row.update({
        "active_traders": model.active_now["trader"],
        "active_lps": model.active_now["liquidity_provider"],
        "arrivals": model.arrivals_step, "departures": model.departures_step, "volume_usd": tot_vol,
        "depth_quality_usd": depth, "quality": quality, "liquidations": tot_liq,
        "liquidations_usd": tot_liq_usd, "bad_debt_usd": tot_bad, "insurance_usd": tot_ins,
        "conservation_error": model.ledger.max_relative_error,
        "arbitrageurs_acted": model.acted["arbitrageur"],
    })
    return row


def record_market_events(model: FlywheelModel, m: OptionsMarket) -> None:
    """Turn a market's step events into event rows (token amounts and USD at the oracle).

    The step's trades and closes come first (as columns), then its other events in order.
    """
    P = m.price
    st = m.stats
    if len(st.trade_account):
        agents = m.account_agent[st.trade_account]
        model.events.extend(model.step_count, ["trade", "close"], st.trade_close, m.token, st.trade_account,
                            agents, st.trade_usd)
    for ev in m.stats.events:
        account = ev.account
        agent = int(m.account_agent[account])        # the owner's Mesa id (-1: not an agent)
        if isinstance(ev, WaterfallEvent):
            from_ins, from_pool = ev.from_insurance_tokens, ev.from_pool_tokens
            if from_ins > 0:
                model.record_event("waterfall_insurance", m.token, account, agent, from_ins, from_ins * P)
            if from_pool > 0:
                model.record_event("waterfall_pool", m.token, account, agent, from_pool, from_pool * P)
        elif isinstance(ev, LiquidationEvent):
            pen = ev.penalty_tokens
            model.record_event(ev.kind, m.token, account, agent, pen, pen * P, "penalty")
        else:                                   # AdlEvent
            paid = ev.paid_tokens
            model.record_event(ev.kind, m.token, account, agent, paid, paid * P, "")


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
    """The run's event log as a DataFrame."""
    return model.events.frame(model.world.times)


class LpPnlSplitUsd(TypedDict):
    """Where the LPs' USD PnL came from, after the burn-in (design 11)."""

    spread: float       # spreads paid by traders to the pool
    fees: float         # the pool's lp_share of the notional fees
    funding: float      # option funding paid by the accounts that paid it
    perp_funding: float  # perp funding the pool kept (longs' payments minus shorts' receipts, or back)
    trader_pnl: float   # minus the traders' realized PnL against the pool
    hedge_pnl: float    # the delta hedge's mark-to-market (pool.hedge: delta; else 0)
    hedge_cost: float   # minus what the hedge paid to trade (hedge_cost_bps of notional)
    bad_debt: float     # minus the deficits the pool wrote off
    token_move: float   # the margin token's own move on the pool's NAV at the end of the burn-in


class MarketSummary(TypedDict):
    """One market's figures over the run after the burn-in."""

    lp_return_token: float          # LP share price return, in the margin token
    lp_return_usd: float            # the same in USD (at NAV)
    lp_max_drawdown: float          # largest fall of the share price from its running peak
    insurance_depleted: bool        # insurance fell to 1% of its starting balance or below
    insurance_depleted_day: float | None  # day (since the start) it first did, None if never
    bad_debt_usd: float             # deficits of liquidated accounts
    bad_debt_lp_usd: float          # the part the main pool (the LPs) paid
    adl_usd: float                  # profit taken from traders by auto-deleveraging
    lp_pnl_split_usd: LpPnlSplitUsd
    volume_usd: float               # option and perp notional traded


class RunSummary(TypedDict):
    """The per-run figures (design 11): the one schema of ``summary.json``.

    Every value depends only on the scenario, the seed and the code: two computations of the
    same run give the same summary. What differs between computations (wall time, versions)
    is ``sim.run.RunInfo`` and lives beside it, in ``run_info.json``.
    """

    scenario: str                   # scenario name
    seed: int
    steps: int                      # steps simulated, burn-in included
    days_simulated: float
    active_users_start: int         # active traders + LPs at the end of the burn-in
    active_users_end: int
    active_users_peak: int
    option_volume_usd: float        # notional traded after the burn-in, every market
    liquidations: int
    liquidations_usd: float         # notional closed by liquidations
    bad_debt_usd: float
    failed_trades: int              # orders refused (margin, caps, safe mode)
    conservation_max_error: float   # the ledger audit's largest relative error
    arrivals: int
    departures: int
    markets: dict[str, MarketSummary]
    peak_premium: float             # highest AMM price / NAV - 1 over the tokens
    peak_discount: float            # lowest
    lp_return_token: float          # mean over the markets
    lp_return_usd: float            # mean over the markets
    lp_max_drawdown: float          # worst over the markets
    insurance_depleted: bool        # in any market
    adl_usd: float                  # over the markets


def summary(model: FlywheelModel) -> RunSummary:
    """Per-run figures of ``model`` (design section 11), after the burn-in."""
    df = timeseries_frame(model)
    sc = model.spec
    step_minutes = sc.clock.step_minutes
    post = df[~df["burn_in"]] if (~df["burn_in"]).any() else df
    out: dict = {
        "scenario": sc.name, "seed": model.root_seed, "steps": int(len(df)),
        "days_simulated": float(len(df) * step_minutes / 1440.0),
        "active_users_start": int(post["active_traders"].iloc[0] + post["active_lps"].iloc[0]),
        "active_users_end": int(post["active_traders"].iloc[-1] + post["active_lps"].iloc[-1]),
        "active_users_peak": int((post["active_traders"] + post["active_lps"]).max()),
        "option_volume_usd": float(post["volume_usd"].sum()),
        "liquidations": int(post["liquidations"].sum()),
        "liquidations_usd": float(post["liquidations_usd"].sum()),
        "bad_debt_usd": float(post["bad_debt_usd"].sum()),
        "failed_trades": int(model.failed_trades),
        "conservation_max_error": float(model.ledger.max_relative_error),
        "arrivals": int(post["arrivals"].sum()), "departures": int(post["departures"].sum()),
    }
    markets = {}
    for name, spec in sc.markets.items():
        sp = post[f"lp_share_price[{name}]"].to_numpy()
        # USD per token at NAV: the oracle can spike on a thin AMM at the last step.
        price = post[f"nav[{name}]"].to_numpy() if name in sc.tokens else np.ones(len(post))
        ins = post[f"insurance_usd[{name}]"].to_numpy()
        depleted = np.flatnonzero(ins <= 0.01 * max(ins[0], 1e-12)) if ins[0] > 0 else np.array([0])
        running_max = np.maximum.accumulate(sp)
        markets[name] = {
            "lp_return_token": float(sp[-1] / sp[0] - 1.0),
            "lp_return_usd": float(sp[-1] * price[-1] / (sp[0] * price[0]) - 1.0),
            "lp_max_drawdown": float(np.max(1.0 - sp / running_max)),
            "insurance_depleted": bool(depleted.size > 0),
            "insurance_depleted_day": (float(post["step"].iloc[depleted[0]] * step_minutes / 1440.0)
                                       if depleted.size else None),
            "bad_debt_usd": float(post[f"bad_debt_usd[{name}]"].sum()),
            "bad_debt_lp_usd": float(post[f"bad_debt_lp_usd[{name}]"].sum()),
            "adl_usd": float(post[f"adl_usd[{name}]"].sum()),
            "lp_pnl_split_usd": {
                "spread": float(post[f"spread_usd[{name}]"].sum()),
                "fees": float(post[f"fees_usd[{name}]"].sum() * spec.lp_share),
                "funding": float(post[f"funding_usd[{name}]"].sum()),
                "perp_funding": float(post[f"perp_funding_usd[{name}]"].sum()),
                "trader_pnl": float(-post[f"trader_pnl_usd[{name}]"].sum()),
                "hedge_pnl": float(post[f"hedge_pnl_usd[{name}]"].sum()),
                "hedge_cost": float(-post[f"hedge_cost_usd[{name}]"].sum()),
                "bad_debt": float(-post[f"bad_debt_lp_usd[{name}]"].sum()),
                "token_move": float((price[-1] / price[0] - 1.0)
                                    * post[f"pool_nav_usd[{name}]"].iloc[0]),
            },
            "volume_usd": float(post[f"volume_usd[{name}]"].sum()),
        }
    out["markets"] = markets
    prem = {t: (float(post[f"premium[{t}]"].max()), float(post[f"premium[{t}]"].min()))
            for t in sc.tokens}
    out["peak_premium"] = max((v[0] for v in prem.values()), default=0.0)
    out["peak_discount"] = min((v[1] for v in prem.values()), default=0.0)
    out["lp_return_token"] = float(np.mean([v["lp_return_token"] for v in markets.values()]))
    out["lp_return_usd"] = float(np.mean([v["lp_return_usd"] for v in markets.values()]))
    out["lp_max_drawdown"] = float(max(v["lp_max_drawdown"] for v in markets.values()))
    out["insurance_depleted"] = any(v["insurance_depleted"] for v in markets.values())
    out["adl_usd"] = float(sum(v["adl_usd"] for v in markets.values()))
    return out
