"""Parameters, limits and result types shared by the kernels and their twins (design 5-7):
margin rules and the liquidation pass's result (``kernels.liquidation``), the trade book's
configuration and refusal codes (``kernels.trade_book``), the spread's utilization cap
(``kernels.pool`` and the book).

Units: ratios are fractions of underlying notional (USD); ``*_tokens`` amounts are in units of
the market's margin token; ``*_usd`` amounts are in USD at the oracle price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import IntEnum

import numpy as np

# Auto-deleveraging starts only when the pool's NAV is below -ADL_REL_TOL x its scale (so that a
# NAV left at 0 up to rounding by the previous ADL does not trigger another), and ranks
# accounts by unrealized PnL / max(collateral value, TINY_USD).
ADL_REL_TOL = 1e-12
TINY_USD = 1e-12


@dataclass(frozen=True)
class MarginParams:
    """Margin and liquidation rules of one market (defaults: design section 6).

    The delta rule requires ``|n| S (ratio |delta| + floor)`` USD per position, ``ratio`` by
    side (long/short, initial/maintenance); perpetual futures use the short ratios for both
    sides. The stress rule requires ``mult x`` the largest loss over the joint stress grid.
    """

    long_initial: float = 0.15
    short_initial: float = 0.33
    long_maint: float = 0.10
    short_maint: float = 0.25
    floor: float = 0.01
    stress_initial_mult: float = 1.5
    stress_maint_mult: float = 1.0
    close_factor: float = 0.5        # share of each position closed by a partial liquidation
    full_close_below: float = 0.95   # close everything when E < this x maintenance
    penalty_ratio: float = 0.05      # penalty = this x maintenance requirement closed (capped)
    keeper_share: float = 0.5        # share of the penalty paid to the keeper

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v)):
                raise ValueError(f"params.{f.name}: must be a finite number, got {v!r}")
            if v < 0:
                raise ValueError(f"params.{f.name}: must be >= 0, got {v}")
        for name in ("close_factor", "keeper_share"):
            if getattr(self, name) > 1:
                raise ValueError(f"params.{name}: must be <= 1, got {getattr(self, name)}")
        if self.close_factor == 0:
            raise ValueError("params.close_factor: must be > 0")


def _empty(dtype: type) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@dataclass
class LiquidationResult:
    """What one ``run_liquidations`` call did (arrays are per event, in the order they happened).

    Margin before liquidation (per account, USD): ``equity_usd``, ``maint_req_usd``,
    ``initial_req_usd``.
    Per liquidated account: ``liq_account``, ``liq_close_fraction`` (share of each position
    closed), ``liq_realized_tokens`` (PnL realized into collateral, < 0 for a loss),
    ``liq_penalty_tokens`` = ``liq_keeper_tokens`` + ``liq_insurance_tokens``.
    Per waterfall payment: ``wf_account``, ``wf_deficit_tokens`` = ``wf_from_insurance`` +
    ``wf_from_pool`` (the pool's part is a write-off against the LPs).
    Per auto-deleveraged position: ``adl_position`` (index into the position arrays),
    ``adl_account``, ``adl_profit_tokens`` (its unrealized profit at mark), ``adl_paid_tokens``
    (what it was actually paid, pro rata).
    Balances after (tokens): ``insurance_balance``, ``pool_balance``, and their total changes
    ``insurance_delta_tokens``, ``pool_delta_tokens``. ``keeper_tokens`` is the keepers' total.
    """

    equity_usd: np.ndarray
    maint_req_usd: np.ndarray
    initial_req_usd: np.ndarray
    insurance_balance: float
    pool_balance: float
    pool_delta_tokens: float
    insurance_delta_tokens: float
    liq_account: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    liq_close_fraction: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    liq_realized_tokens: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    liq_penalty_tokens: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    liq_keeper_tokens: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    liq_insurance_tokens: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    wf_account: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    wf_deficit_tokens: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    wf_from_insurance: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    wf_from_pool: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    adl_position: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    adl_account: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    adl_profit_tokens: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    adl_paid_tokens: np.ndarray = field(default_factory=lambda: _empty(np.float64))

    @property
    def keeper_tokens(self) -> float:
        """Total penalty paid to keepers (tokens); the caller credits the keeper."""
        return float(np.sum(self.liq_keeper_tokens))


class BookFull(IndexError):
    """``TradeBook.open`` found the position arrays full: compact or grow them, then retry."""


class Refusal(IntEnum):
    """Why an order was refused; ``TradeBook.open`` returns minus the code, 0 is accepted.

    Stable codes: the book's return values and the ``kernels.trade_book`` C constants are these.
    """

    ACCEPTED = 0
    POOL_INSOLVENT = 1     # the pool's NAV is <= 0
    UTILIZATION = 2        # raises utilization above max_utilization
    DELTA_CAP = 3          # raises |net delta notional| above the cap
    OI_CAP = 4             # open interest of the underlying above oi_cap_usd
    MARGIN = 5             # the account's equity after the order is below its initial requirement
    SIZE = 6               # size 0, NaN or inf
    SAFE_MODE = 7          # the market refuses new positions (oracle safe mode), not the book


# The option spread reads utilization capped here: base + skew x min(utilization after, cap).
# A stress loss ten times the NAV already quotes the widest spread; the cap keeps the quote
# finite when the NAV is nearly gone (utilization -> inf). ``kernels.pool.spread_for``, the
# trade book and their twins all apply it.
SPREAD_UTILIZATION_CAP = 10.0


@dataclass(frozen=True)
class BookConfig:
    """The numbers a market's trade book quotes and charges with (design sections 5-7).

    Spreads and fees are fractions: the option spread is ``base_spread + skew x min(utilization
    after the trade, SPREAD_UTILIZATION_CAP)`` of the mark (``kernels.pool.spread_for``),
    perpetuals pay ``perp_spread``; ``notional_fee`` is a
    fraction of underlying notional, ``lp_share`` of it goes to the main pool and the rest to
    insurance. Caps: ``max_utilization`` (stress loss / NAV), ``max_net_delta_fraction`` (of
    NAV, per underlying) and ``oi_cap_usd`` (per underlying). Perpetual futures pay funding at
    ``clamp(perp_funding_coeff x skew, +-perp_funding_cap)`` per year (``kernels.pool.perp_funding_rate``).
    """

    haircut: float = 0.25
    base_spread: float = 0.005
    skew: float = 0.02
    perp_spread: float = 0.0005
    notional_fee: float = 0.0003
    lp_share: float = 0.8
    max_utilization: float = 0.8
    max_net_delta_fraction: float = 0.5
    oi_cap_usd: float = math.inf
    stress_maint_mult: float = 1.0
    stress_initial_mult: float = 1.5
    perp_funding_coeff: float = 0.0      # perp funding rate per year per unit of skew (design 5)
    perp_funding_cap: float = 0.0        # |perp funding rate| per year at most

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float, np.floating, np.integer)) or math.isnan(v) or v < 0:
                raise ValueError(f"book.{f.name}: must be a number >= 0, got {v!r}")
            if f.name != "oi_cap_usd" and math.isinf(v):
                raise ValueError(f"book.{f.name}: must be finite, got {v}")
        for name in ("haircut", "lp_share"):
            if getattr(self, name) > 1:
                raise ValueError(f"book.{name}: must be <= 1, got {getattr(self, name)}")
