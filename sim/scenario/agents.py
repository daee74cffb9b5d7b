"""Populations, behaviours and Bass arrivals of the agents (design 8)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from sim.scenario._base import (
    MAX_DAYS,
    MAX_PER_DAY,
    MAX_RATIO,
    MAX_THRESHOLD,
    MAX_USD,
    FrozenModel,
    check_issues,
)

MAX_COUNT = 10**12
"""A number of agents or potential users: beyond any machine (the pre-flight check, sim.preflight,
refuses what would not fit long before), and exact in float64 sums."""

Fraction = Annotated[float, Field(ge=0, le=1)]

TRADER_STYLES = ("momentum", "mean_reversion", "volatility", "noise")


class _TruncatedWealth(FrozenModel):
    """A wealth law truncated at ``wealth_max_usd``, above ``wealth_min_usd``."""

    @model_validator(mode="after")
    def _max_above_min(self):
        check_issues([("wealth_max_usd", f"{self.wealth_max_usd:g} must be above wealth_min_usd "
                       f"({self.wealth_min_usd:g})")]
                     if self.wealth_max_usd <= self.wealth_min_usd else [])
        return self


class LPBehaviour(_TruncatedWealth):
    """How liquidity providers decide to deposit, withdraw and panic."""

    wealth_pareto_alpha: float = Field(
        1.5, gt=1, le=MAX_RATIO, description="Pareto tail index of LP wealth."
    )
    wealth_min_usd: float = Field(
        20000.0, ge=1, le=MAX_USD, description="Smallest LP wealth in USD."
    )
    wealth_max_usd: float = Field(
        400000.0, gt=0, le=MAX_USD,
        description="Largest LP wealth in USD (the Pareto law is truncated here, design 8): at "
        "most 20% of the default 2M USD AMM reserve, so one LP's exit sale is not a large share "
        "of the AMM.",
    )
    exit_sale_max_reserve_share: float = Field(
        0.05, gt=0, le=1,
        description="Most an exiting LP sells in one step, as a share of the AMM's USD reserve; "
        "the rest waits for the next step (a sliced, TWAP-like exit: the 10% cap of design 18's "
        "largest-sale check, halved).",
    )
    act_rate_per_day: float = Field(
        1.0, ge=0, le=MAX_PER_DAY, description="Decisions per LP per day (Poisson)."
    )
    hurdle_apy_mean: float = Field(
        0.05, ge=-1, le=MAX_THRESHOLD, description="Mean hurdle rate (annual yield)."
    )
    hurdle_apy_sd: float = Field(
        0.03, ge=0, le=MAX_RATIO, description="Spread of hurdle rates across LPs."
    )
    drawdown_tolerance_mean: float = Field(
        0.10, gt=0, le=MAX_THRESHOLD,
        description="Mean drawdown (fraction) an LP tolerates before leaving."
    )
    drawdown_tolerance_sd: float = Field(
        0.05, ge=0, le=MAX_RATIO, description="Spread of drawdown tolerances across LPs."
    )
    risk_charge: float = Field(
        0.5, ge=0, le=MAX_RATIO,
        description="APY deducted per unit of trailing drawdown and uncovered risk."
    )
    panic_prob: Fraction = Field(0.2, description="Chance per decision of panicking after a depeg.")
    herding: float = Field(
        2.0, ge=0, le=MAX_RATIO,
        description="How much the share of LPs already leaving raises the panic chance."
    )
    deposit_fraction: Fraction = Field(0.5, description="Fraction of tokens deposited at a time.")
    apy_window_days: float = Field(
        30.0, gt=0, le=MAX_DAYS,
        description="Trailing window of the pool APY (days). A month, as vaults report it; over "
        "14 days an option pool's return swings by tens of percent a year and LPs left on noise.",
    )
    exit_sell_fraction: Fraction = Field(
        0.5, description="Fraction of tokens an LP sells on the AMM when leaving after a drawdown."
    )
    panic_discount: Fraction = Field(
        0.05, description="Discount of the AMM price to the token's fair value (latent x "
        "backing) at which LPs start to panic; any depeg (backing below 1) panics them too. "
        "Against the fair value, not the frozen off-hours NAV: weekend news is not a depeg."
    )
    yield_review_days: float = Field(
        30.0, ge=0, le=MAX_DAYS,
        description="An LP reviews whether its pool's yield still pays about once in this many "
        "days (a chance per decision), as vault depositors look at a monthly figure; 0: at every "
        "decision. Without it every LP left on the day the 30-day APY first turned negative.",
    )
    exit_yield_gap: float = Field(
        0.05, ge=0, le=MAX_THRESHOLD,
        description="An LP leaves for yield when APY falls this far below its hurdle."
    )
    target_cover: float = Field(
        0.05, ge=0, le=MAX_THRESHOLD,
        description="Insurance / pool NAV below which LPs charge for uncovered risk."
    )


class TraderBehaviour(_TruncatedWealth):
    """How directional traders choose, size and close positions, and when they leave.

    Every style but noise trades only when its expected edge over its holding time beats the
    cost it sees (spread, fees, option funding; design 8)."""

    wealth_pareto_alpha: float = Field(
        1.6, gt=1, le=MAX_RATIO, description="Pareto tail index of wealth."
    )
    wealth_min_usd: float = Field(
        2000.0, ge=1, le=MAX_USD, description="Smallest trader wealth in USD."
    )
    wealth_max_usd: float = Field(
        100000.0, gt=0, le=MAX_USD,
        description="Largest trader wealth in USD (the Pareto law is truncated here, design 8): "
        "5% of the default 2M USD AMM reserve, so that one retail exit is under the 10% of the "
        "reserve that design 18 allows for a single sale.",
    )
    act_rate_per_day: float = Field(
        1.0, ge=0, le=MAX_PER_DAY, description="Decisions per flat trader per day."
    )
    styles: dict[str, Annotated[float, Field(ge=0, le=1e6)]] = Field(
        {"momentum": 0.3, "mean_reversion": 0.25, "volatility": 0.2, "noise": 0.35},
        description="Relative weights of momentum, mean_reversion, volatility and noise traders; "
        "noise traders (the only price-blind ones) are a minority (design 8), about one in "
        "three: with fewer, under 60% of traders lose money, below ESMA's 74-89% of retail CFD "
        "accounts (design 18's 60-85%).",
    )
    leverage_fraction_median: float = Field(
        0.45, gt=0, le=1,
        description="Median leverage preference, as a fraction of the largest size the margin "
        "rules (design 6) allow the account at that moment (with leverage_fraction_sd, about "
        "19% of traders prefer 0.9 or more: design 18's p95 of at least 0.9).",
    )
    leverage_fraction_sd: float = Field(
        0.8, ge=0, le=10,
        description="Log spread of the leverage preference across traders (lognormal, capped at "
        "leverage_fraction_max): a right tail that uses all the room, as retail perp traders "
        "use much of the 10-50x their venues offer (design 18: p95 at least 0.9).",
    )
    leverage_fraction_max: float = Field(
        0.97, gt=0, le=1,
        description="Cap of the leverage preference: the spread and fee paid at entry come out "
        "of the collateral, so exactly 1.0 would be refused.",
    )
    take_profit: float = Field(
        0.5, gt=0, le=MAX_THRESHOLD,
        description="Close at this gain, fraction of margin (1e9: never, in effect).",
    )
    stop_loss: float = Field(
        0.5, gt=0, le=MAX_THRESHOLD,
        description="Close at this loss, fraction of margin (1e9: never, in effect).",
    )
    holding_days_mean: float = Field(
        20.0, gt=0, le=MAX_DAYS,
        description="Mean holding time in days (exponential across traders); with "
        "min_return_on_margin it sets turnover: design 18's 20-200x pool NAV a year, anchored "
        "on GMX GLP's 50-150x.",
    )
    token_share_of_wealth: Fraction = Field(
        0.8, description="Share of a trader's wealth held in its margin token (the rest in USDC)."
    )
    vol_forecast_noise: float = Field(
        0.25, ge=0, le=10,
        description="Log spread across traders of their vol forecast around the realized vol "
        "over their own horizon (a forecaster's error of about 25%, the typical gap between "
        "implied and next-month realized vol of BTC).",
    )
    vol_window_days_min: float = Field(
        2.0, gt=0, le=MAX_DAYS,
        description="Shortest window (days) over which a trader measures realized vol; its own "
        "holding time when longer.",
    )
    vol_edge_min: float = Field(
        0.05, ge=0, le=MAX_THRESHOLD,
        description="Least edge, as a fraction of its vol forecast, a volatility trader wants "
        "beyond the cost it sees before trading.",
    )
    signal_confidence_median: float = Field(
        0.5, ge=0, le=MAX_RATIO,
        description="Median share of its trailing return a momentum (or, reversed, a mean "
        "reversion) trader expects over its holding time.",
    )
    signal_confidence_sd: float = Field(
        0.5, ge=0, le=10, description="Log spread of the signal confidence across traders."
    )
    min_return_on_margin: float = Field(
        0.3, ge=0, le=MAX_THRESHOLD,
        description="Least expected return on initial margin over its holding time, net of "
        "costs, for which a momentum or mean-reversion trader acts: it waits for a signal it "
        "finds worth the attention (set for design 18's turnover of 20-200x pool NAV a year; "
        "0 would act on any positive edge: about 250x).",
    )
    otm_strike: float = Field(
        0.10, ge=0, lt=1,
        description="Moneyness of the out-of-the-money strikes traders pick (the listed strike "
        "nearest it), for buyers and sellers alike. Anchor, for sellers: Ribbon's theta vaults "
        "sell 10-delta weekly options (docs.ribbon.finance, Strike Selection), about 10-12% out "
        "of the money over a week at BTC and ETH's 60% vol, and its V1 backtest found 20% the "
        "best fixed distance for weekly ETH calls. Ribbon targets delta, not distance: on this "
        "model's everlasting options (1-day funding period) 10 delta is about 3.5% out; the weekly "
        "distance is what is carried over. Chosen after finding that this value decides design "
        "18's Black Thursday row: at 0.05 (no anchor) its path left bad debt in 0 of 5 "
        "calibration seeds (3 of 60 in the insurance sweep's 15-day runs), at 0.10 in 3 of 5, the "
        "row's floor (docs/calibration.md).",
    )
    leave_prob_after_liquidation: Fraction = Field(
        0.5, description="Chance of leaving after being liquidated."
    )
    leave_prob_after_loss: Fraction = Field(
        0.2, description="Chance of leaving after a loss above loss_threshold."
    )
    leave_prob_after_refusal: Fraction = Field(
        0.05, description="Chance of leaving after the pool refused a trade (utilization, caps, safe mode)."
    )
    loss_threshold: float = Field(
        0.5, gt=0, le=MAX_THRESHOLD,
        description="Loss, as a fraction of starting wealth, that counts as large."
    )
    exit_sell_fraction: Fraction = Field(
        1.0, description="Fraction of tokens a leaving trader sells on the AMM."
    )
    exit_sale_max_reserve_share: float = Field(
        0.05, gt=0, le=1,
        description="Most a leaving trader sells in one step, as a share of the AMM's USD "
        "reserve; the rest waits for the next step (a sliced, TWAP-like exit: the 10% cap of "
        "design 18's largest-sale check, halved).",
    )
    perp_share: Fraction = Field(
        0.3, description="Share of noise traders' trades in the perpetual."
    )
    noise_short_share: Fraction = Field(
        0.3, description="Share of noise traders' option trades that sell the option."
    )
    momentum_lookback_hours: float = Field(
        24.0, gt=0, le=24 * MAX_DAYS, description="Lookback of the momentum signal in hours."
    )

    @field_validator("styles")
    @classmethod
    def _known_styles(cls, styles: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(styles) - set(TRADER_STYLES))
        if unknown:
            raise ValueError(f"unknown style(s) {unknown}; styles are {list(TRADER_STYLES)}")
        if not any(w > 0 for w in styles.values()):
            raise ValueError("at least one style needs a weight above 0")
        return styles


# Informed off-hours flow (design 8): market makers and arbitrageurs share these fields, with
# their own sizes; each is stated once here.
def _offhours_informed() -> Any:
    return Field(
        True, description="While NYSE is closed it watches a noisy latent value of each token it "
        "trades and trades the AMM toward it, without mint or redeem (design 8, informed "
        "off-hours flow). false: it does nothing off-hours (the twin of the calibration row)."
    )


def _offhours_noise() -> Any:
    return Field(
        0.005, ge=0, le=1,
        description="Standard deviation of its view's log error, drawn afresh at "
        "each off-hours decision. Anchor: 24/7 equity perps and overnight venues quote US stocks "
        "within about 0.2-1% of the next open."
    )


def _offhours_min_edge(default: float) -> Any:
    return Field(
        default, ge=0, le=MAX_THRESHOLD,
        description="Gap between the AMM price and its view, beyond the AMM fee, "
        "below which it does not trade off-hours (a relative gap)."
    )


def _offhours_trade_fraction(default: float) -> Any:
    return Field(
        default, ge=0, le=1, description="Largest off-hours trade per decision, as a fraction of "
        "capital_usd (thin weekend liquidity: weekend on-chain volume is at most 30% of weekday "
        "volume)."
    )


def _offhours_max_inventory_fraction(default: float) -> Any:
    return Field(
        default, ge=0, le=1, description="Largest net position (USD at its view) it builds per "
        "closed session, as a fraction of capital_usd (its risk limit; it resets at the next open)."
    )


class MMBehaviour(FrozenModel):
    """How market makers supply and withdraw AMM liquidity."""

    capital_usd: float = Field(
        2.0e6, ge=0, le=MAX_USD, description="Capital per market maker in USD."
    )
    act_rate_per_day: float = Field(
        4.0, ge=0, le=MAX_PER_DAY, description="Decisions per market maker per day."
    )
    cost_of_capital: float = Field(
        0.05, ge=0, le=MAX_THRESHOLD, description="Annual return the fee APR must beat."
    )
    vol_charge: float = Field(
        0.1, ge=0, le=MAX_THRESHOLD, description="APR required per unit of annual vol."
    )
    depeg_charge: float = Field(
        2.0, ge=0, le=MAX_THRESHOLD, description="APR required per unit of |premium| (depeg risk)."
    )
    stress_withdraw_fraction: Fraction = Field(
        0.3, description="Fraction of liquidity withdrawn at a decision under stress."
    )
    fee_window_days: float = Field(
        7.0, gt=0, le=MAX_DAYS, description="Trailing window of the fee APR."
    )
    stress_premium: float = Field(
        0.05, gt=0, le=MAX_THRESHOLD,
        description="|premium| above which the token counts as stressed."
    )
    add_fraction: Fraction = Field(
        0.25, description="Fraction of its idle USDC it adds (with tokens) when fees pay."
    )
    offhours_informed: bool = _offhours_informed()
    offhours_noise: float = _offhours_noise()
    offhours_min_edge: float = _offhours_min_edge(0.005)
    offhours_trade_fraction: float = _offhours_trade_fraction(0.025)
    offhours_max_inventory_fraction: float = _offhours_max_inventory_fraction(0.25)


class ArbBehaviour(FrozenModel):
    """How arbitrageurs close token-vs-NAV gaps and option mispricing, and act as keepers."""

    capital_usd: float = Field(
        1.0e6, ge=0, le=MAX_USD, description="Capital per arbitrageur in USD."
    )
    act_rate_per_day: float = Field(
        24.0, ge=0, le=MAX_PER_DAY, description="Decisions per arbitrageur per day."
    )
    min_edge: float = Field(
        0.002, ge=0, le=MAX_THRESHOLD,
        description="Smallest token-vs-NAV gap (after fees) worth trading."
    )
    vol_edge: float = Field(
        0.05, ge=0, le=MAX_THRESHOLD,
        description="Relative gap between pool vol and external vol worth trading."
    )
    keeper: bool = Field(True, description="Also executes liquidations for the keeper share.")
    option_notional_fraction: Fraction = Field(
        0.02, description="Underlying notional of one option arbitrage, as a fraction of capital "
        "(at 5% the arbitrageurs alone turned the pools over about 70x a year)."
    )
    option_holding_days: float = Field(
        1.0, gt=0, le=MAX_DAYS,
        description="Longest it holds an option arbitrage before closing it."
    )
    offhours_informed: bool = _offhours_informed()
    offhours_noise: float = _offhours_noise()
    offhours_min_edge: float = _offhours_min_edge(0.003)
    offhours_trade_fraction: float = _offhours_trade_fraction(0.05)
    offhours_max_inventory_fraction: float = _offhours_max_inventory_fraction(0.5)


class HolderPaths(FrozenModel):
    """Holders' three paths (design 8): a token holder sells premiums (LP), trades on margin,
    or both with parts of its holding (a combination holder)."""

    combination_share: Fraction = Field(
        0.1,
        description="Share of traders (initial and arriving) who are combination holders: they "
        "deposit part of their tokens as LPs and trade with the rest.",
    )
    combination_lp_fraction: Fraction = Field(
        0.5, description="Share of a combination holder's tokens deposited in the main pool."
    )


class Agents(FrozenModel):
    """Initial population sizes and behaviours."""

    liquidity_providers: int = Field(
        100, ge=0, le=MAX_COUNT, description="Initial liquidity providers."
    )
    traders: int = Field(800, ge=0, le=MAX_COUNT, description="Initial directional traders.")
    market_makers: int = Field(5, ge=0, le=MAX_COUNT, description="Market makers (AMM liquidity).")
    arbitrageurs: int = Field(3, ge=0, le=MAX_COUNT, description="Arbitrageurs (and keepers).")
    lp: LPBehaviour = Field(LPBehaviour(), description="Liquidity provider behaviour.")
    holders: HolderPaths = Field(HolderPaths(), description="Combination holders (design 8).")
    trader: TraderBehaviour = Field(TraderBehaviour(), description="Trader behaviour.")
    market_maker: MMBehaviour = Field(MMBehaviour(), description="Market maker behaviour.")
    arbitrageur: ArbBehaviour = Field(ArbBehaviour(), description="Arbitrageur behaviour.")


class Bass(FrozenModel):
    """Bass diffusion of new users: rate (p + q A/M)(M - A) per year (design 8)."""

    p: float = Field(ge=0, le=MAX_RATIO, description="Innovation coefficient, per year.")
    q: float = Field(ge=0, le=MAX_RATIO, description="Imitation coefficient, per year.")
    potential: int = Field(
        ge=0, le=MAX_COUNT, description="Market size M: users who could ever join."
    )


TRADER_BASS = Bass(p=0.5, q=2.0, potential=3000)
LP_BASS = Bass(p=0.3, q=1.0, potential=300)


class Arrivals(FrozenModel):
    """New users arrive by a Bass law scaled by market quality (design 8)."""

    traders: Bass = Field(TRADER_BASS, description="Arrivals of traders.")
    liquidity_providers: Bass = Field(LP_BASS, description="Arrivals of liquidity providers.")
    # quality = (capacity/capacity_ref)^e_capacity x (margin_depth/margin_ref)^e_margin
    #           x (spread/spread_ref)^(-e_spread)  (design 8). The defaults give the quality of
    # the formula before design 8 split it, (sqrt(capacity x AMM depth of both tokens) / 1e6)^0.5:
    # capacity_ref 1e6 and e_capacity 0.25; margin_ref 5e5 per market (two markets' AMMs summed
    # to 1e6) and e_margin 0.25.
    capacity_ref_usd: float = Field(
        1.0e6, ge=1, le=MAX_USD,
        description="Pools' free capacity (USD, every market) at which the capacity "
        "factor of quality is 1."
    )
    margin_ref_usd: float = Field(
        5.0e5, ge=1, le=MAX_USD,
        description="AMM depth +-2% (USD) of a market's margin token at which its "
        "margin factor is 1 (USDC-margined markets: always 1)."
    )
    spread_ref: float = Field(
        0.01, ge=1e-6, le=1, description="Half-spread at which the spread factor of quality is 1."
    )
    e_capacity: float = Field(
        0.25, ge=0, le=10, description="Elasticity of arrivals to pool capacity."
    )
    e_margin: float = Field(
        0.25, ge=0, le=10, description="Elasticity of arrivals to the margin token's AMM depth."
    )
    e_spread: float = Field(0.5, ge=0, le=10, description="Elasticity of arrivals to spread.")

    @field_validator("traders", "liquidity_providers", mode="before")
    @classmethod
    def _merge_onto_default(cls, value: Any, info) -> Any:
        # The two Bass fields have different defaults; a partial mapping such as
        # {p: 0.4} keeps the other numbers of its own field, not those of the class.
        if isinstance(value, dict):
            default = TRADER_BASS if info.field_name == "traders" else LP_BASS
            return {**default.model_dump(), **value}
        return value
