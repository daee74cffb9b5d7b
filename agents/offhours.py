"""Informed off-hours flow (design 8): trade a token's AMM toward a noisy view of its fair value
while NYSE is closed, without mint or redeem.

Market makers and arbitrageurs with ``offhours_informed`` each hold one ``InformedFlow`` per
token they watch. It sees the latent value (``FairValueView``) with a fresh log-normal error per
decision, trades only when the AMM price lies beyond its view by more than the AMM fee plus
``min_edge``, and then only up to the price at which the last unit breaks even after the fee
(``view x (1 - fee)`` for a buy, ``view x (1 + fee)`` for a sell), capped by the trade size,
its wallet and a net position per closed session (its risk limit, reset at the open).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING

from sim.assets import USDC
from sim.rng import ScalarDraws

if TYPE_CHECKING:
    from sim.ledger import Ledger
    from sim.market.amm import SpotAmm
    from sim.market.world import FairValueView

_NORMAL = NormalDist()


class InformedFlow:
    """One agent's off-hours trading in one token's AMM (see the module docstring)."""

    def __init__(self, amm: SpotAmm, fair: FairValueView, ledger: Ledger, wallet: int,
                 draws: ScalarDraws, noise: float, min_edge: float, max_trade_usd: float,
                 max_inventory_usd: float) -> None:
        """``draws``: its own noise stream (kept apart from the agent's clock, so switching the
        flow off leaves every other draw unchanged); ``noise``: sd of the view's log error;
        USD limits per decision and per closed session."""
        self.amm = amm
        self.fair = fair
        self.ledger = ledger
        self.wallet = wallet
        self.draws = draws
        self.noise = noise
        self.min_edge = min_edge
        self.max_trade_usd = max_trade_usd
        self.max_inventory_usd = max_inventory_usd
        self.session_tokens = 0.0      # tokens bought (> 0) or sold (< 0) this closed session

    def act(self) -> float:
        """One decision: returns the tokens bought (> 0) or sold (< 0); 0 while NYSE is open."""
        if self.fair.market_open:
            self.session_tokens = 0.0
            return 0.0
        amm = self.amm
        if not amm.has_liquidity:
            return 0.0
        z = _NORMAL.inv_cdf(min(max(self.draws.random(), 1e-12), 1.0 - 1e-12))
        view = self.fair.value * math.exp(self.noise * z)
        if not view > 0:
            return 0.0
        price, fee = amm.price, amm.fee
        # The risk limit: |session_tokens after the trade| x view <= max_inventory_usd, so
        # buying back what it sold this session (or selling what it bought) always has room.
        if price < view * (1.0 - fee) * (1.0 - self.min_edge):
            room_tokens = self.max_inventory_usd / view - self.session_tokens
            # USD at the pre-trade price buys at most usd / price tokens (slippage: fewer).
            usd = min(amm.usd_to_reach_price(view * (1.0 - fee)), self.max_trade_usd,
                      self.ledger.balance(self.wallet, USDC), max(room_tokens, 0.0) * price)
            if usd <= 1.0:
                return 0.0
            got = amm.buy_tokens(self.wallet, usd)
            self.session_tokens += got
            return got
        if price > view * (1.0 + fee) * (1.0 + self.min_edge):
            room_usd = self.max_inventory_usd + self.session_tokens * view
            tokens = min(amm.tokens_to_reach_price(view * (1.0 + fee)), self.max_trade_usd / view,
                         self.ledger.balance(self.wallet, amm.token), max(room_usd, 0.0) / view)
            if tokens * view <= 1.0:
                return 0.0
            amm.sell_tokens(self.wallet, tokens)
            self.session_tokens -= tokens
            return -tokens
        return 0.0
