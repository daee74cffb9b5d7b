"""Scheduled shocks (design 10): a list of events told apart by ``kind``.

Each event fires at ``at`` ("day 30", "day 30.5", "step 100" or an ISO datetime, UTC if no
zone is given) and names its ``target`` (the token, asset or market it hits). Syntax is
checked here; whether the target exists and the time falls inside the run is checked by the
Scenario, which knows the assets, tokens, markets and clock.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, field_validator, model_validator

from sim.durations import parse_at, parse_duration
from sim.scenario._base import MAX_LOG_MOVE, MAX_USD, FrozenModel

AT_DESCRIPTION = (
    "When the event fires: 'day 30', 'day 30.5' (days since the start), 'step 100', "
    "or an ISO datetime such as '2025-08-08T22:00:00Z'."
)
DURATION_HELP = "e.g. '3d', '12h', '90m'"


TARGET_FIELD = {"tokens": "token", "markets": "market", "assets": "asset"}
"""The field that names an event's target, by the scenario section the target is a key of."""


class _Event(FrozenModel):
    # What ``target`` names: a key of "tokens", "markets" or "assets" (checked by the Scenario);
    # an asset target must be of ``asset_kind``.
    target_kind: ClassVar[str] = "tokens"
    asset_kind: ClassVar[str] = ""
    at: str = Field(description=AT_DESCRIPTION)

    @field_validator("at", mode="before")
    @classmethod
    def _at_text(cls, value: Any) -> Any:
        # YAML reads an unquoted ISO datetime as a datetime; keep the text form.
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value

    @field_validator("at")
    @classmethod
    def _at_parses(cls, value: str) -> str:
        parse_at(value)
        return value

    @field_validator("duration", mode="after", check_fields=False)
    @classmethod
    def _duration_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def target(self) -> str:
        """The name of what the event hits: a token, an asset or a market."""
        return getattr(self, TARGET_FIELD[self.target_kind])

    @property
    def target_market(self) -> str:
        """The market its event-log row names: the token or market it hits ("" for an asset)."""
        return "" if self.target_kind == "assets" else self.target


class DepegEvent(_Event):
    """The token's backing drops and/or redemptions halt; holders panic-sell a fraction."""

    kind: Literal["depeg"] = Field(description="depeg")
    token: str = Field(description="The token that depegs (a key of tokens).")
    backing: float = Field(
        ge=0.01, le=1, description="New backing ratio (0.85: NAV falls 15%; 0.01 to 1)."
    )
    halt_redemptions: bool = Field(
        False, description="The issuer stops redeeming (minting goes on) until the duration ends."
    )
    panic_sell_fraction: float = Field(
        0.0, ge=0, le=1, description="Fraction of their tokens that holders sell on the AMM."
    )
    duration: str | None = Field(
        None, description=f"How long until backing and issuer recover ({DURATION_HELP}); "
        "null: never."
    )


class PremiumEvent(_Event):
    """Buy flow into the AMM that lifts the token above NAV, with minting capped."""

    kind: Literal["premium"] = Field(description="premium")
    token: str = Field(description="The token bought (a key of tokens).")
    size_usd: float | None = Field(
        None, gt=0, le=MAX_USD,
        description="USD of buy flow into the AMM over the duration, spread evenly "
        "over its steps. Give this or target_premium."
    )
    target_premium: float | None = Field(
        None, gt=0, le=10,
        description="Instead of a USD size: at each step of the duration, buy the "
        "USDC that lifts the AMM price to NAV x (1 + target_premium), nothing when it is already "
        "there (demand that holds the token at a premium; 0.12: AAPLX's +12% over NAV, 3 Jul 2025)."
    )
    cap_mint: bool = Field(True, description="Minting is unavailable while the flow lasts.")
    duration: str | None = Field(
        "1d", description=f"How long the flow lasts ({DURATION_HELP}); null: one step."
    )

    @model_validator(mode="after")
    def _one_size(self) -> PremiumEvent:
        if (self.size_usd is None) == (self.target_premium is None):
            raise ValueError("give exactly one of size_usd and target_premium")
        return self


class PinEvent(_Event):
    """One large market order into the token's AMM (a wick on thin liquidity)."""

    kind: Literal["pin"] = Field(description="pin")
    token: str = Field(description="The token traded (a key of tokens).")
    side: Literal["sell", "buy"] = Field("sell", description="sell pushes the AMM price down.")
    size_usd: float | None = Field(
        None, gt=0, le=MAX_USD,
        description="Size of the order in USD at the pre-trade price. Give this or move."
    )
    move: float | None = Field(
        None, ge=-0.99, le=10,
        description="Instead of a USD size: the AMM price move the order makes, "
        "fee included (-0.35: a sell sized to take the price 35% down). Its sign must match side."
    )

    @model_validator(mode="after")
    def _one_size(self) -> PinEvent:
        if (self.size_usd is None) == (self.move is None):
            raise ValueError("give exactly one of size_usd and move")
        if self.move is not None and (self.move == 0 or (self.move < 0) != (self.side == "sell")):
            raise ValueError(f"move {self.move} does not match side {self.side!r} "
                             "(a sell moves the price down: move < 0)")
        return self


class CryptoJumpEvent(_Event):
    """A jump in a crypto price."""

    target_kind: ClassVar[str] = "assets"
    asset_kind: ClassVar[str] = "crypto"
    kind: Literal["crypto_jump"] = Field(description="crypto_jump")
    asset: str = Field(description="The crypto asset that jumps (a key of assets).")
    size: float = Field(
        ge=-MAX_LOG_MOVE, le=MAX_LOG_MOVE,
        description="Jump as a log return (-0.15 is about -14%; -5 to 5).",
    )


class WeekendGapEvent(_Event):
    """The latent value of a stock moves while its market is closed; seen at the open."""

    target_kind: ClassVar[str] = "assets"
    asset_kind: ClassVar[str] = "stock"
    kind: Literal["weekend_gap"] = Field(description="weekend_gap")
    asset: str = Field(description="The stock asset that gaps (a key of assets).")
    size: float = Field(
        ge=-MAX_LOG_MOVE, le=MAX_LOG_MOVE,
        description="Move of the latent value as a log return (-5 to 5).",
    )


class OracleOutageEvent(_Event):
    """The token's oracle goes stale for a while."""

    kind: Literal["oracle_outage"] = Field(description="oracle_outage")
    token: str = Field(description="The token whose oracle stops (a key of tokens).")
    duration: str = Field(description=f"How long the oracle is stale ({DURATION_HELP}).")


class LpRunEvent(_Event):
    """A fraction of a market's LPs request withdrawal at once."""

    target_kind: ClassVar[str] = "markets"
    kind: Literal["lp_run"] = Field(description="lp_run")
    market: str = Field(description="The market whose LPs run (a key of markets).")
    fraction: float = Field(gt=0, le=1, description="Fraction of LP shares asked back.")


class MmWithdrawalEvent(_Event):
    """Market makers pull a fraction of the token's AMM liquidity."""

    kind: Literal["mm_withdrawal"] = Field(description="mm_withdrawal")
    token: str = Field(description="The token whose AMM loses liquidity (a key of tokens).")
    fraction: float = Field(gt=0, le=1, description="Fraction of AMM liquidity withdrawn.")


class SplitEvent(_Event):
    """A stock split (a corporate action): the stock's price divides by ``ratio`` and every
    token backed by it holds ``ratio`` times the stock per token, so NAV is continuous."""

    target_kind: ClassVar[str] = "assets"
    asset_kind: ClassVar[str] = "stock"
    kind: Literal["split"] = Field(description="split")
    asset: str = Field(description="The stock that splits (a key of assets).")
    ratio: float = Field(
        ge=1e-3, le=1e3,
        description="New shares per old share, 0.001 to 1000 (3: a 3-for-1 split; 0.1: a 1-for-10 "
        "reverse split). A simulated stock's prices divide by it at that time; a replayed "
        "stock's feed is used as it is (an unadjusted feed already holds the division)."
    )


EVENT_TYPES = (
    DepegEvent,
    PremiumEvent,
    PinEvent,
    CryptoJumpEvent,
    WeekendGapEvent,
    OracleOutageEvent,
    LpRunEvent,
    MmWithdrawalEvent,
    SplitEvent,
)
EVENT_KINDS = {cls.model_fields["kind"].annotation.__args__[0]: cls for cls in EVENT_TYPES}

Event = Annotated[
    Union[EVENT_TYPES],  # noqa: UP007  (a discriminated union needs the Union form for Annotated)
    Field(discriminator="kind"),
]


TIMED_EVENTS = (DepegEvent, PremiumEvent, OracleOutageEvent)
"""Events with a ``duration`` after which they end (None: never)."""
