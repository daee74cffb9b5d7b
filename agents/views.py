"""What traders and LPs decide from, handed to them at construction (design 2, STYLE.md):
a view of price history, of their pool and of their token. The model builds one of each per
market and passes it in; agents never look these numbers up through the model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.market.world import TokenState, World
    from sim.metrics import History
    from sim.protocol.options_market import OptionsMarket


class PriceHistory:
    """Trailing returns and realized vols of the underlyings, from the run's price history."""

    def __init__(self, history: History, world: World, dt_years: float) -> None:
        self._history = history
        self._world = world
        self._dt_years = dt_years
        self._col = {a: j for j, a in enumerate(history.assets)}
        self._cache: dict[tuple[str, int], float] = {}
        self._cache_t = -1

    def trailing_return(self, asset: str, hours: float) -> float:
        """Log return of ``asset`` over the last ``hours``."""
        return self._history.trailing_return(asset, hours)

    def ewma_sigma(self, asset: str) -> float:
        """The trailing EWMA realized vol the pool prices from (annual)."""
        return self._world.sigma(asset)

    def realized_sigma(self, asset: str, steps: int) -> float:
        """Realized vol (annual, zero-mean) of ``asset`` over the last ``steps`` steps; the EWMA
        until that much history exists. Kept for the step: many traders share a horizon."""
        h = self._history
        if h.t != self._cache_t:
            self._cache.clear()
            self._cache_t = h.t
        key = (asset, steps)
        v = self._cache.get(key)
        if v is None:
            if h.t < max(steps, 2):
                v = self._world.sigma(asset)
            else:
                p = h.prices[h.t - steps: h.t + 1, self._col[asset]]
                r = np.diff(np.log(p))
                v = math.sqrt(float(r @ r) / (steps * self._dt_years))
            self._cache[key] = v
        return v


class LpRoster:
    """The LPs of one market, for herding: the share of them whose withdrawal is pending."""

    def __init__(self) -> None:
        self.members: list = []

    def add(self, lp) -> None:
        self.members.append(lp)

    def leaving_share(self) -> float:
        """Share of the LPs still there whose withdrawal is pending."""
        here = [a for a in self.members if not a.has_left]
        return sum(a.leaving for a in here) / len(here) if here else 0.0


class PoolView:
    """What an LP sees of its pool: trailing APY, drawdown, insurance cover, and whether its
    token is in a panic (design 8)."""

    def __init__(self, market: OptionsMarket, token: TokenState | None, history: History,
                 roster: LpRoster, panic_discount: float) -> None:
        self.market = market
        self.token = token            # None for a USDC market (no token to depeg)
        self._history = history
        self.roster = roster
        self._panic_discount = panic_discount

    def trailing_apy(self, window_days: float) -> float:
        """Annualized growth of the LP share price over the last ``window_days`` (simple)."""
        return self._history.trailing_apy(self.market.token, window_days)

    def drawdown(self, window_days: float) -> float:
        """Fall of the LP share price from its peak over the last ``window_days`` (fraction)."""
        return self._history.drawdown(self.market.token, window_days)

    def insurance_cover(self) -> float:
        """Insurance balance over the main pool's NAV (both in tokens); 0 while NAV <= 0."""
        nav = self.market.nav_tokens()
        return self.market.insurance_tokens() / nav if nav > 0 else 0.0

    def in_panic(self) -> bool:
        """The token is depegged or trades below NAV by more than ``panic_discount``."""
        tok = self.token
        if tok is None:
            return False
        return tok.backing < 1.0 or tok.premium < -self._panic_discount

    def leaving_share(self) -> float:
        """Share of this pool's LPs whose withdrawal is pending (herding)."""
        return self.roster.leaving_share()
