"""Who counts as an active trader, counted without a Python loop over agents.

An active user has not left and holds a position or has traded in the last 7 days (design 8).
"""

from __future__ import annotations

import numpy as np


class ActivityTracker:
    """Per trader slot: market, account, last trade step, left flag (arrays grown by doubling)."""

    def __init__(self) -> None:
        self.n = 0
        self.market = np.zeros(64, dtype=np.int64)
        self.account = np.zeros(64, dtype=np.int64)
        self.last_trade = np.full(64, -(10**12), dtype=np.int64)
        self.left = np.zeros(64, dtype=bool)

    def add(self, market_index: int, account: int) -> int:
        if self.n == self.market.shape[0]:
            for name in ("market", "account", "last_trade", "left"):
                arr = getattr(self, name)
                fill = -(10**12) if name == "last_trade" else 0
                setattr(self, name, np.concatenate([arr, np.full_like(arr, fill)]))
        slot = self.n
        self.n += 1
        self.market[slot], self.account[slot] = market_index, account
        return slot

    def traded(self, slot: int, step: int) -> None:
        self.last_trade[slot] = step

    def mark_left(self, slot: int) -> None:
        self.left[slot] = True

    def count(self, step: int, window_steps: int, has_position: list[np.ndarray]) -> int:
        """Active users now; ``has_position[m][a]`` says account a of market m holds a position."""
        n = self.n
        if n == 0:
            return 0
        recent = (step - self.last_trade[:n]) <= window_steps
        # One gather from all markets' flags laid end to end (market m starts at offset[m]).
        offset = np.cumsum([0] + [len(f) for f in has_position[:-1]])
        holding = np.concatenate(has_position)[offset[self.market[:n]] + self.account[:n]]
        return int(np.count_nonzero(~self.left[:n] & (recent | holding)))
