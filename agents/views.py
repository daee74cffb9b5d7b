"""What traders and LPs decide from, handed to them at construction (design 2, STYLE.md):
a view of price history, of their pool and of their token. The model builds one of each per
market and passes it in; agents never look these numbers up through the model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.market.world import FairValueView, TokenState, World
    from sim.metrics import History
    from sim.protocol.options_market import OptionsMarket


class PriceHistory:
    """Trailing returns and realized vols of the underlyings, from the run's price history."""

    def __init__(self, history: History, world: World, dt_years: float) -> None:
        self._history = history
        self._world = world
        self._dt_years = dt_years
        self._col = {a: j for j, a in enumerate(history.assets)}
        # Prefix sums of squared log returns per asset, extended as the history grows, so a
        # realized vol over any window costs O(1).
        self._sq = np.zeros((history.prices.shape[0], len(self._col)))
        self._filled = 0          # rows of _sq filled (row i: sum of r^2 up to price row i)

    def trailing_return(self, asset: str, hours: float) -> float:
        """Log return of ``asset`` over the last ``hours``."""
        return self._history.trailing_return(asset, hours)

    def realized_sigma(self, asset: str, steps: int) -> float:
        """Realized vol (annual, zero-mean) of ``asset`` over the last ``steps`` steps; the EWMA
        until that much history exists."""
        h = self._history
        if h.t < max(steps, 2):
            return self._world.sigma(asset)
        if self._filled < h.t:
            lo = max(self._filled, 0)
            r = np.diff(np.log(h.prices[lo: h.t + 1]), axis=0)
            self._sq[lo + 1: h.t + 1] = self._sq[lo] + np.cumsum(r * r, axis=0)
            self._filled = h.t
        j = self._col[asset]
        return math.sqrt(max(float(self._sq[h.t, j] - self._sq[h.t - steps, j]), 0.0)
                         / (steps * self._dt_years))


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
                 roster: LpRoster, panic_discount: float, fair: FairValueView | None = None) -> None:
        self.market = market
        self.token = token            # None for a USDC market (no token to depeg)
        self.fair = fair              # the token's fair value (latent x backing), None for USDC
        self._history = history
        self.roster = roster
        self._panic_discount = panic_discount

    def trailing_apy(self, window_days: float) -> float:
        """Annualized growth of the LP share price over the last ``window_days`` (simple)."""
        return self._history.trailing_apy(self.market.name, window_days)

    def has_window(self, window_days: float) -> bool:
        """Whether the history already spans ``window_days`` (a trailing APY means something)."""
        return self._history.t >= window_days * self._history.steps_per_day

    def drawdown(self, window_days: float) -> float:
        """Fall of the LP share price from its peak over the last ``window_days`` (fraction)."""
        return self._history.drawdown(self.market.name, window_days)

    def insurance_cover(self) -> float:
        """Insurance balance over the main pool's NAV (both in tokens); 0 while NAV <= 0."""
        nav = self.market.nav_tokens()
        return self.market.insurance_tokens() / nav if nav > 0 else 0.0

    def in_panic(self) -> bool:
        """The token is depegged or trades below its fair value by more than ``panic_discount``.

        The fair value (the stock's latent value x backing, which 24/7 equity perps and news
        show everyone) rather than NAV: off-hours NAV is frozen at the close, so a weekend's
        news would otherwise look like a depeg and empty the pool in a calm market.
        """
        tok = self.token
        if tok is None:
            return False
        fair = self.fair.value if self.fair is not None else tok.nav
        return tok.backing < 1.0 or tok.amm.price < (1.0 - self._panic_discount) * fair

    def leaving_share(self) -> float:
        """Share of this pool's LPs whose withdrawal is pending (herding)."""
        return self.roster.leaving_share()
