"""The run's boundary with the outside world: money entering new users' wallets, and the token
sales of phase 8 (keepers' rewards, exiting users), each through the ledger (design 2 and 6).

Both are handed to agents at construction; an agent funds its wallet or queues a sale
through them, not through helper methods of the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.assets import USDC

if TYPE_CHECKING:
    from sim.ledger import Ledger
    from sim.market.world import World


class OutsideWorld:
    """Money entering from the named external account ``outside_world``."""

    def __init__(self, ledger: Ledger, holder: int, token_price: Callable[[str], float]) -> None:
        self.ledger = ledger
        self.holder = holder
        self.token_price = token_price      # USD per token now (AMM, or NAV while it is empty)

    def fund(self, wallet: int, token: str, token_usd: float, usdc_usd: float,
             price: float | None = None) -> None:
        """Pay ``token_usd`` worth of ``token`` (at ``price``, else the token's price now) and
        ``usdc_usd`` of USDC into ``wallet``."""
        if token == USDC:
            self.ledger.transfer(USDC, self.holder, wallet, token_usd + usdc_usd)
            return
        px = price if price is not None else self.token_price(token)
        if token_usd > 0:
            self.ledger.transfer(token, self.holder, wallet, token_usd / px)
        if usdc_usd > 0:
            self.ledger.transfer(USDC, self.holder, wallet, usdc_usd)


class SaleQueue:
    """Token sales to execute on the AMMs in phase 8.

    A sale may carry a cap per step, as a share of the AMM's USD reserve: an exiting user
    slices a large sale over steps (as a TWAP order would) instead of selling it at once;
    what is left stays queued for the next step.
    """

    def __init__(self, world: World, ledger: Ledger) -> None:
        self.world = world
        self.ledger = ledger
        self._sales: list[tuple[int, str, float, float, str]] = []  # wallet, token, tokens, cap, seller
        # Largest single sale (one execution) per seller kind, as a share of the AMM's USD
        # reserve before it (issue 8: a retail sale stays under 10% of the reserve).
        self.largest_reserve_share: dict[str, float] = {}

    def queue(self, wallet: int, token: str, tokens: float,
              max_reserve_share: float = math.inf, seller: str = "other") -> None:
        """Sell ``tokens`` of ``token`` from ``wallet``, at most ``max_reserve_share`` of the
        AMM's USD reserve per step; ``seller`` names the seller's kind for the statistics."""
        if tokens > 0 and token != USDC:
            self._sales.append((wallet, token, tokens, max_reserve_share, seller))

    def __len__(self) -> int:
        return len(self._sales)

    def execute(self) -> None:
        """Sell what is queued, in order; a capped sale's remainder waits for the next step."""
        left: list[tuple[int, str, float, float, str]] = []
        for wallet, token, tokens, cap, seller in self._sales:
            amount = min(tokens, self.ledger.balance(wallet, token))
            if amount <= 0:
                continue
            amm = self.world.tokens[token].amm
            if math.isfinite(cap) and amm.has_liquidity:
                limit = cap * amm.reserve_token     # USD value = cap x the USD reserve
                if amount > limit:
                    left.append((wallet, token, amount - limit, cap, seller))
                    amount = limit
            if amm.has_liquidity:
                share = amount / amm.reserve_token        # USD sold / USD reserve, at the AMM price
                if share > self.largest_reserve_share.get(seller, 0.0):
                    self.largest_reserve_share[seller] = share
            amm.sell_tokens(wallet, amount)
        self._sales = left
