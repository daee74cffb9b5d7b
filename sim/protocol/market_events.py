"""The events an options market's liquidation pass leaves in ``StepStats.events`` (design 6).

``sim.metrics.record_market_events`` turns them into event rows. Amounts are margin tokens;
``account`` is the market's account index. ``kind`` names the event (a waterfall payment
becomes a ``waterfall_insurance`` and/or a ``waterfall_pool`` row). An LP deposit names the
depositor, not an account.
"""

from __future__ import annotations

from typing import NamedTuple


class LiquidationEvent(NamedTuple):
    """An account was liquidated and paid ``penalty_tokens`` (keeper's and insurance's parts);
    the liquidation closed ``notional_usd`` of underlying notional (USD at spot)."""

    account: int
    penalty_tokens: float
    notional_usd: float = 0.0
    kind = "liquidation"


class WaterfallEvent(NamedTuple):
    """An account's deficit was filled: ``from_insurance_tokens`` first, then ``from_pool_tokens``
    (a write-off against the LPs); the two add up to ``deficit_tokens``."""

    account: int
    deficit_tokens: float
    from_insurance_tokens: float
    from_pool_tokens: float
    kind = "waterfall"


class AdlEvent(NamedTuple):
    """Auto-deleveraging closed a profitable position of ``account`` and paid it ``paid_tokens``."""

    account: int
    paid_tokens: float
    kind = "adl"


class LpDepositEvent(NamedTuple):
    """A share holder (Mesa id ``agent``, -1: the treasury; ``agent_kind`` its kind) deposited
    ``tokens`` into the main pool."""

    agent: int
    agent_kind: str
    tokens: float
    kind = "lp_deposit"


MarketEvent = LiquidationEvent | WaterfallEvent | AdlEvent | LpDepositEvent
