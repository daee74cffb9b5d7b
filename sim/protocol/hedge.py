"""The pool's delta hedge on an external perpetual venue (design 5 and 7, ``pool.hedge: delta``).

Once a step the pool trades its net delta per underlying to zero with perpetual futures on a
venue outside this one, paying ``hedge_cost_bps`` of the notional traded. The hedge position
(units of each underlying, long > 0, delta 1) is marked to market between steps; its PnL less
the cost settles into the pool, in the margin token at the oracle price (``OptionsMarket.run_hedge``).
State only: the market moves the money through its ledger.
"""

from __future__ import annotations

import numpy as np


class DeltaHedge:
    """Hedge positions of one market's pool, one per underlying (USD in, USD out)."""

    def __init__(self, n_underlyings: int, cost_bps: float) -> None:
        self.size = np.zeros(n_underlyings)        # perp units held on the venue, long > 0
        self.last_spot = np.zeros(n_underlyings)   # USD, the spot of the last rebalance
        self.cost_bps = float(cost_bps)

    def step(self, spot: np.ndarray, pool_delta_usd: np.ndarray) -> tuple[float, float, float]:
        """Mark the hedge to ``spot`` (USD per underlying) and rebalance it so that the pool's
        net delta notional ``pool_delta_usd`` (USD per underlying) plus the hedge's is zero.

        Returns (PnL since the last step, cost of the trade, notional traded), all USD: PnL
        = sum size x (spot - last spot); the new size is -pool_delta / spot; cost = |traded
        notional| x cost_bps / 10^4.
        """
        spot = np.asarray(spot, dtype=float)
        n = spot.shape[0]
        if n > self.size.shape[0]:                      # an underlying listed since: start flat
            grow = n - self.size.shape[0]
            self.size = np.concatenate([self.size, np.zeros(grow)])
            self.last_spot = np.concatenate([self.last_spot, np.zeros(grow)])
        pnl = float(np.dot(self.size, spot - self.last_spot))
        target = np.divide(-np.asarray(pool_delta_usd, dtype=float), spot, out=np.zeros(n), where=spot > 0)
        traded = float(np.sum(np.abs(target - self.size) * spot))
        cost = traded * self.cost_bps * 1e-4
        self.size = target
        self.last_spot = spot.copy()
        return pnl, cost, traded

    def delta_usd(self) -> np.ndarray:
        """The hedge's delta notional per underlying at the last rebalance (USD)."""
        return self.size * self.last_spot
