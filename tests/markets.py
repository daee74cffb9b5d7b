"""A BTC options market margined in TSLA.M, built by hand (no model): for the tests that check
the market's own arithmetic (perp funding, the delta hedge) against hand computations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kernels import kernel_set
from kernels.params import MarginParams
from sim.ledger import Ledger
from sim.protocol.options_market import MarketConfig, OptionsMarket
from sim.protocol.series import ListedSeries
from tests.doubles import Holder, Owner

TOKEN = "TSLA.M"
PRICE = 300.0            # USD per TSLA.M
BTC = 100_000.0          # USD


def btc_market(engine: str, pool_tokens: float, **config: Any) -> tuple[Ledger, int, OptionsMarket]:
    """(ledger, outside-world wallet, market): BTC at 100k USD, vol 0.55, the perpetual listed;
    TSLA.M at 300 USD; no spreads and no fees; a pool of ``pool_tokens`` deposited by one LP.
    ``config`` sets further MarketConfig fields (perp funding, the hedge)."""
    ledger = Ledger([TOKEN])
    world = ledger.open_account("world", external=True)
    engines = kernel_set(engine)
    series = ListedSeries(["BTC"], np.array([BTC]), [0.0], True, 1 / 365.25, [-0.15, 0.0, 0.15],
                          [-0.2, -0.1, 0.1, 0.2], engines)
    series.relist(np.array([BTC]))
    series.update_marks(np.array([BTC]), np.array([0.55]))
    cfg = MarketConfig(
        name=TOKEN, haircut=0.25, funding_period_years=1 / 365.25, base_spread=0.0, skew=0.0,
        perp_spread=0.0, notional_fee=0.0, lp_share=0.7, max_utilization=0.8,
        max_net_delta_fraction=100.0, oi_cap_usd=math.inf, cooldown_steps=72, withdrawal_fee=0.003,
        margin=MarginParams(), token_moves=(0.0, -0.1, -0.25), **config,
    )
    market = OptionsMarket(cfg, ledger, series, engines)
    market.set_prices(PRICE, PRICE, PRICE, False)
    market.marks_changed()
    lp = ledger.open_account("lp")
    ledger.transfer(TOKEN, world, lp, pool_tokens)
    market.lp_deposit(Holder(1, lp), lp, pool_tokens)
    return ledger, world, market


def open_perp(ledger: Ledger, world: int, market: OptionsMarket, uid: int, size: float,
              collateral_tokens: float = 2_000.0) -> int:
    """A trader ``uid`` posts ``collateral_tokens`` and opens ``size`` BTC perpetual; its account."""
    w = ledger.open_account(f"trader{uid}")
    ledger.transfer(TOKEN, world, w, collateral_tokens)
    a = market.open_account(Owner(uid))
    market.deposit_collateral(a, w, collateral_tokens)
    assert market.open_position(a, int(market.series.perp_of[0]), size) is not None
    return a
