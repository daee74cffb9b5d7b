"""The exogenous world of a scenario: clock, assets and their prices, stock tokens (design 3, 4)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sim.market.calendar import DEFAULT_NYSE_HOLIDAYS
from sim.scenario._base import (
    MAX_PRICE_USD,
    MAX_SIGMA,
    MAX_USD,
    MIN_PRICE_USD,
    MIN_SIGMA,
    FrozenModel,
    check_issues,
)

CALENDAR_START = datetime(1900, 1, 1, tzinfo=UTC)
CALENDAR_END = datetime(2200, 1, 1, tzinfo=UTC)
"""A run lies within 1900-2200: well inside pandas' nanosecond times (1677-2262), which the
time series and the price files use, and inside what zoneinfo's New York rules describe (a
start near year 1 or 9999 overflowed the calendar)."""

NYSE_HOLIDAYS_2020_2027: list[date] = list(DEFAULT_NYSE_HOLIDAYS)  # the calendar's own list


class Clock(FrozenModel):
    """When the run starts, how long it lasts and how long one step is (design 3)."""

    start: datetime = Field(
        datetime(2025, 7, 7, tzinfo=UTC),
        description="Start of the run (UTC; a time without a zone is read as UTC); the run lies "
        "within 1900-01-01 to 2200-01-01.",
    )
    days: float = Field(
        90.0, gt=0, description="Length of the run in days, burn-in included (the pre-flight "
        "check refuses a run too large for the machine)."
    )
    step_minutes: int = Field(
        60, gt=0, le=1440, description="Length of one step in minutes; must divide a day (1440)."
    )
    burn_in_days: float = Field(
        7.0,
        ge=0,
        description="Days at the start before metrics, impulses and shocks count (< days).",
    )
    holidays: list[date] = Field(
        NYSE_HOLIDAYS_2020_2027,
        description="Dates the stock market is closed all day (default: NYSE 2020-2027).",
    )

    @field_validator("start")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _check(self) -> Clock:
        issues = []
        if not CALENDAR_START <= self.start < CALENDAR_END:
            issues.append(("start", f"{self.start.isoformat()} is outside the calendar's range "
                           f"({CALENDAR_START.date()} to {CALENDAR_END.date()})"))
        elif self.days > (CALENDAR_END - self.start) / timedelta(days=1):
            issues.append(("days", f"{self.days:g} days from {self.start.date()} end after "
                           f"{CALENDAR_END.date()}, the calendar's end"))
        if 1440 % self.step_minutes:
            issues.append(("step_minutes", f"{self.step_minutes} does not divide a day (1440)"))
        elif self.days * 1440 / self.step_minutes < 1 - 1e-9:
            issues.append(("days", f"{self.days} days is shorter than one step"))
        if self.burn_in_days >= self.days:
            issues.append(
                ("burn_in_days", f"{self.burn_in_days} must be shorter than days ({self.days})")
            )
        check_issues(issues)
        return self


class Asset(FrozenModel):
    """An underlying: a crypto coin trading 24/7 or a stock with market hours (design 3)."""

    kind: Literal["crypto", "stock"] = Field(
        description="crypto (trades 24/7) or stock (reference price moves only in NYSE hours)."
    )
    price: float = Field(
        ge=MIN_PRICE_USD, le=MAX_PRICE_USD, description="Starting price in USD (1e-6 to 1e9)."
    )
    sigma: float = Field(
        ge=MIN_SIGMA, le=MAX_SIGMA,
        description="Annual volatility of log returns (0.55 = 55%; 0.001 to 5).",
    )
    mu: float = Field(
        0.0, ge=-MAX_SIGMA, le=MAX_SIGMA,
        description="Annual drift of log price before the Ito correction (-5 to 5).",
    )
    jump_intensity: float = Field(
        0.0, ge=0, le=100, description="Expected number of jumps per year (at most 100, two a "
        "week)."
    )
    jump_mean: float = Field(
        0.0, ge=-1, le=1, description="Mean jump size as a log return (-0.05 = -5%; -1 to 1)."
    )
    jump_sd: float = Field(
        0.0, ge=0, le=1, description="Standard deviation of jump sizes (log; at most 1)."
    )


DEFAULT_ASSETS: dict[str, Asset] = {
    "BTC": Asset(
        kind="crypto", price=108000.0, sigma=0.55, jump_intensity=4.0, jump_mean=-0.05,
        jump_sd=0.08,
    ),
    "ETH": Asset(kind="crypto", price=2500.0, sigma=0.75),
    "TSLA": Asset(kind="stock", price=315.0, sigma=0.60),
    "NVDA": Asset(kind="stock", price=160.0, sigma=0.50),
}  # fmt: skip


class PriceFile(FrozenModel):
    """Replay recorded prices instead of simulating them (design 3)."""

    path: str = Field(
        min_length=1,
        description="CSV or Parquet file of prices, one column per asset; relative to the "
        "scenario file's folder.",
    )
    time_column: str = Field(
        "time", min_length=1, description="Column holding the times, each row a time and "
        "every asset's price."
    )
    time_unit: Literal["s", "ms", "ns", "iso"] | None = Field(
        None,
        description="How the times are written: epoch seconds (s), milliseconds (ms), "
        "nanoseconds (ns), or ISO 8601 text (iso; no zone means UTC). Default: s for numbers, "
        "iso for text. A column of timestamps (Parquet) carries its own unit.",
    )


class AssetPriceFile(FrozenModel):
    """Replay one asset's recorded prices from its own file (design 13); the other assets are
    simulated conditionally on its returns."""

    path: str = Field(
        min_length=1,
        description="CSV or Parquet file of this asset's prices (other columns are ignored); "
        "relative to the scenario file's folder. Rows may be unsorted, irregular or repeated: a "
        "step's price is the last observation at or before the step's end (equal times: the "
        "later row); a file that starts after the run's start is an error.",
    )
    time_column: str = Field("time", min_length=1, description="Column holding the times.")
    price_column: str = Field("price", min_length=1, description="Column holding the USD price.")
    time_unit: Literal["s", "ms", "ns", "iso"] | None = Field(
        None,
        description="How the times are written: epoch seconds (s), milliseconds (ms), "
        "nanoseconds (ns), or ISO 8601 text (iso; no zone means UTC). Default: s for numbers, "
        "iso for text. A column of timestamps (Parquet) carries its own unit.",
    )


class Amm(FrozenModel):
    """The token/USDC constant-product pool (design 4)."""

    reserve_usd: float = Field(
        2.0e6, ge=1, le=MAX_USD,
        description="Initial USDC reserve in USD (the token side matches at NAV).",
    )
    fee: float = Field(0.003, ge=0, lt=0.1, description="Swap fee as a fraction (0.003 = 0.30%).")


class Issuer(FrozenModel):
    """The issuer that mints and redeems the token at NAV while the market is open (design 4)."""

    mint_fee: float = Field(0.001, ge=0, lt=0.1, description="Mint fee as a fraction of NAV.")
    redeem_fee: float = Field(0.001, ge=0, lt=0.1, description="Redeem fee as a fraction of NAV.")
    daily_capacity_usd: float = Field(
        5.0e6, ge=0, le=MAX_USD,
        description="USD of issuer flow per UTC calendar day: one budget shared by "
        "mints (USDC paid in) and redeems (USDC paid out), restored at each new UTC date.",
    )


class Token(FrozenModel):
    """A tokenized stock: backed by the stock, traded on its AMM, usable as margin (design 4)."""

    underlying: str = Field(description="The stock asset backing the token (a key of assets).")
    backing: float = Field(
        1.0, ge=0.01, le=1.5,
        description="Stock per token at the start (0.01 to 1.5); NAV = price x backing.",
    )
    haircut: float = Field(
        0.25, ge=0, lt=1, description="Fraction of the token's value not counted as margin."
    )
    amm: Amm = Field(Amm(), description="The token's AMM against USDC.")
    issuer: Issuer = Field(Issuer(), description="The token's issuer (mint and redeem).")


DEFAULT_TOKENS: dict[str, Token] = {
    "TSLA.M": Token(underlying="TSLA"),
    "NVDA.M": Token(underlying="NVDA"),
}
