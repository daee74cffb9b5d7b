"""The product: option markets, margin, liquidation, pools and insurance (design 5, 6, 7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from kernels.params import SPREAD_UTILIZATION_CAP
from sim.scenario._base import (
    MAX_DAYS,
    MAX_RATIO,
    MAX_THRESHOLD,
    MAX_USD,
    FrozenModel,
    check_issues,
)

# A relative price move, -99% to +1000%: -1 would be a price of zero.
Move = Annotated[float, Field(ge=-0.99, le=10)]
Ratio = Annotated[float, Field(ge=0, le=MAX_RATIO)]


class Margin(FrozenModel):
    """Margin requirement: per-position ratios and a stress grid, the larger wins (design 6)."""

    long_initial: Ratio = Field(0.15, description="Initial ratio for long options.")
    short_initial: Ratio = Field(
        0.33, description="Initial ratio for short options and either side of perpetuals."
    )
    long_maint: Ratio = Field(0.10, description="Maintenance ratio for long options.")
    short_maint: Ratio = Field(
        0.25, description="Maintenance ratio for short options and perpetuals."
    )
    floor: Ratio = Field(0.01, description="Ratio added per position, times |n| x spot.")
    stress_crypto_moves: list[Move] = Field(
        [-0.15, 0.0, 0.15], min_length=1, description="Underlying moves of the stress grid."
    )
    stress_token_moves: list[Move] = Field(
        [0.0, -0.10, -0.25], min_length=1, description="Margin-token moves of the stress grid."
    )
    stress_initial_mult: float = Field(
        1.5, gt=0, le=MAX_RATIO, description="Stress loss multiplier for the initial requirement."
    )
    stress_maint_mult: float = Field(
        1.0, gt=0, le=MAX_RATIO,
        description="Stress loss multiplier for the maintenance requirement."
    )

    @model_validator(mode="after")
    def _maint_below_initial(self) -> Margin:
        pairs = [
            ("long_maint", "long_initial"),
            ("short_maint", "short_initial"),
            ("stress_maint_mult", "stress_initial_mult"),
        ]
        check_issues(
            [
                (maint, f"{getattr(self, maint)} must be <= {initial} ({getattr(self, initial)})")
                for maint, initial in pairs
                if getattr(self, maint) > getattr(self, initial)
            ]
        )
        return self


class Liquidation(FrozenModel):
    """How an account below maintenance is closed and penalised (design 6)."""

    close_factor: float = Field(0.5, gt=0, le=1, description="Fraction of each position closed.")
    full_close_below: float = Field(
        0.95,
        gt=0,
        le=1,
        description="Close everything when equity < this x maintenance requirement.",
    )
    penalty_ratio: float = Field(
        0.05, ge=0, lt=1, description="Penalty as a fraction of the maintenance closed."
    )
    keeper_share: float = Field(
        0.5, ge=0, le=1, description="Fraction of the penalty paid to the keeper (rest: insurance)."
    )


class MarketSpec(FrozenModel):
    """One market: everlasting options on crypto, margined and settled in one token (design 5)."""

    underlyings: list[str] = Field(
        ["BTC", "ETH"], min_length=1, description="Crypto assets the options are written on."
    )
    funding_period_days: float = Field(
        1.0, ge=0.01, le=MAX_DAYS,
        description="Funding period T of the everlasting options, in days (0.01 to 3650).",
    )
    oracle: Literal["nav", "amm_spot", "amm_twap", "guarded"] = Field(
        "guarded", description="How margin values the token (design 4)."
    )
    twap_steps: int = Field(
        4, ge=1, le=10_000, description="Samples in the TWAP (amm_twap, guarded)."
    )
    safe_mode_deviation: float = Field(
        0.10, gt=0, le=MAX_THRESHOLD,
        description="TWAP-vs-NAV gap that puts a guarded market in safe mode."
    )
    split_lag_steps: int = Field(
        0, ge=0, le=100_000,
        description="Steps after a split of the token's stock during which the oracle "
        "still values the token at the old backing (a 3:1 split prints -66%); 0: none."
    )
    strikes: list[Move] = Field(
        [-0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2],
        min_length=1,
        description="Strike grid relative to spot (0.05 = 5% above spot); at least one: the "
        "quoted spread's standard size is an option, and volatility traders trade options.",
    )
    include_perpetual: bool = Field(True, description="Also list the perpetual future (K = 0).")
    base_spread: float = Field(
        0.005, ge=0, lt=1, description="Spread at zero utilization (fraction)."
    )
    skew: float = Field(
        0.02, ge=0, lt=1, description="Spread added per unit of utilization; base_spread + "
        f"{SPREAD_UTILIZATION_CAP:g} x skew must stay below 1 (the utilization the spread counts "
        "is capped there), so the pool's bid stays above zero."
    )
    perp_spread: float = Field(
        0.0005, ge=0, lt=1, description="Spread of the perpetual future (fraction of notional)."
    )
    perp_funding_coeff: float = Field(
        7.0,
        ge=0,
        le=1000,
        description=(
            "Perpetual-future funding rate per year per unit of skew, skew = (long - short perp "
            "notional) / pool NAV (design 5; longs pay when > 0). Anchor: calm markets pay about "
            "10% a year, the common exchange baseline of 0.01% per 8 hours (10.95% a year); the "
            "calm baseline's traders, who now trade both sides, leave a mean |skew| of about "
            "1.5% of NAV, so 7 charges about 11% (docs/calibration.md)."
        ),
    )
    perp_funding_cap: float = Field(
        1.0,
        ge=0,
        le=MAX_RATIO,
        description=(
            "Cap on |perpetual-future funding rate| per year (1.0 = about 0.09% per 8 hours, "
            "9 times the 0.01% per 8 hours exchange baseline)."
        ),
    )
    vol_premium: float = Field(
        0.10, ge=-0.9, le=10, description="Quoted vol = trailing realized vol x (1 + vol_premium)."
    )
    vol_halflife_days: float = Field(
        7.0, ge=0.01, le=MAX_DAYS, description="Half-life of the realized-vol EWMA in days."
    )
    notional_fee: float = Field(
        0.0005, ge=0, lt=0.1, description="Fee as a fraction of underlying notional."
    )
    lp_share: float = Field(
        0.7, ge=0, le=1, description="Share of the notional fee paid to the main pool."
    )
    max_utilization: float = Field(
        0.8, gt=0, le=1, description="Utilization above which risk-raising trades are refused."
    )
    max_net_delta_fraction: float = Field(
        0.30, gt=0, le=MAX_RATIO,
        description="Cap on |net delta notional| per underlying, x pool NAV in USD."
    )
    oi_cap_usd: float = Field(
        5.0e7, gt=0, le=MAX_USD, description="Cap on open interest per underlying, USD notional."
    )
    pool_stress_moves: list[Move] = Field(
        [-0.2, -0.1, -0.05, 0.05, 0.1, 0.2],
        min_length=1,
        description="Underlying moves of the utilization stress grid.",
    )
    haircut: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Collateral haircut; null: the margin token's haircut (0 for USDC).",
    )
    margin: str | None = Field(
        None,
        description="The margin asset (design 5): collateral, funding, fees and PnL are settled "
        "in it; a token, or USDC; null: the token the market is named after. The margin twin "
        "(design 1) sets it to USDC everywhere.",
    )
    requirements: Margin = Field(Margin(), description="Margin requirements.")
    liquidation: Liquidation = Field(Liquidation(), description="Liquidation rules.")

    @field_validator("margin", mode="before")
    @classmethod
    def _margin_is_an_asset(cls, value: Any) -> Any:
        if isinstance(value, dict):
            raise ValueError("`margin:` names the margin asset (a token or USDC); the margin "
                             "requirements are `requirements:` (renamed from `margin:`)")
        return value

    @model_validator(mode="after")
    def _check(self) -> MarketSpec:
        issues = []
        if len(set(self.underlyings)) != len(self.underlyings):
            issues.append(("underlyings", f"repeated names in {self.underlyings}"))
        if self.base_spread + SPREAD_UTILIZATION_CAP * self.skew >= 1:
            issues.append(("skew", f"base_spread + {SPREAD_UTILIZATION_CAP:g} x skew = "
                           f"{self.base_spread + SPREAD_UTILIZATION_CAP * self.skew:g}; it must "
                           "stay below 1, or the pool would bid a negative price"))
        check_issues(issues)
        return self


class Pool(FrozenModel):
    """The main (LP) pool of each market (design 7)."""

    initial_usd: float = Field(
        2.0e6, ge=1, le=MAX_USD,
        description="Initial deposits per market in USD, by the initial LPs."
    )
    cooldown_days: float = Field(
        3.0, ge=0, le=MAX_DAYS, description="Days between a withdrawal request and its payment."
    )
    withdrawal_fee: float = Field(
        0.003, ge=0, lt=1, description="Fraction of a withdrawal left in the pool."
    )
    hedge: Literal["none", "delta"] = Field(
        "none", description="none, or delta: hedge net delta on an external perpetual."
    )
    hedge_cost_bps: float = Field(
        2.0, ge=0, le=10_000, description="Cost of hedging in basis points of notional traded."
    )


class Insurance(FrozenModel):
    """The insurance pool of each market, which pays bad debt before LPs do (design 7)."""

    initial: float = Field(
        0.02, ge=0, le=10,
        description="Seed as a fraction of the initial main pool (USD value; at most 10).",
    )
    denomination: Literal["token", "usdc"] = Field(
        "token", description="Held in the market's token or in USDC."
    )

