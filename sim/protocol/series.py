"""The option series of one market and their marks, deltas and stress-grid marks.

Strikes sit on a log grid (2.5% apart) anchored at each underlying's initial price, so
re-listing around a moving spot reuses series instead of creating new ones every day: the
number of series stays bounded and a position keeps referring to the same series.
Each series is priced once per step and once per stress point (design section 16).
"""

from __future__ import annotations

import math

import numpy as np

from kernels import KernelSet, kernel_set

STRIKE_GRID_LOG_STEP = 0.025  # log distance between neighbouring strikes


class ListedSeries:
    """Series (underlying, strike, call/put, perpetual) as struct-of-arrays."""

    def __init__(
        self,
        underlyings: list[str],
        anchor_prices: np.ndarray,           # USD, initial price of each underlying
        strikes_rel: list[float],            # listing grid relative to spot
        include_perpetual: bool,
        funding_period_years: float,
        margin_moves: list[float],           # crypto moves of the margin stress grid
        pool_moves: list[float],             # underlying moves of the pool's utilization grid
        kernels: KernelSet | None = None,    # the pricing kernel's engine (default: Cython)
    ) -> None:
        self._pricing = (kernels or kernel_set()).pricing
        self.underlyings = list(underlyings)
        self.anchor = np.asarray(anchor_prices, dtype=float)
        self.strikes_rel = list(strikes_rel)
        self._nearest_rel: dict[float, float] = {}     # asked relative strike -> nearest listed
        self.include_perpetual = include_perpetual
        self.funding_period_years = funding_period_years
        self.margin_moves = np.ascontiguousarray(margin_moves, dtype=float)
        self.pool_moves = np.ascontiguousarray(pool_moves, dtype=float)
        self.n = 0
        cap = 64
        self.underlying = np.zeros(cap, dtype=np.int64)
        self.strike = np.zeros(cap)
        self.is_call = np.zeros(cap, dtype=np.uint8)
        self.is_perp = np.zeros(cap, dtype=np.uint8)
        self._key: dict[tuple[int, int, int], int] = {}
        self.listed: dict[tuple[int, float, bool], int] = {}  # (underlying, rel strike, call) -> series
        self.perp_of: dict[int, int] = {}                      # underlying -> perpetual series
        self._alloc_marks()

    def _alloc_marks(self) -> None:
        cap = self.underlying.shape[0]
        self.mark = np.zeros(cap)
        self.delta = np.zeros(cap)
        self.payoff = np.zeros(cap)
        self.spot = np.zeros(cap)
        self.sigma = np.zeros(cap)
        self.stress_margin = np.zeros((self.margin_moves.size, 0))   # (points, n), contiguous
        self.stress_pool = np.zeros((self.pool_moves.size, 0))

    def _grow(self) -> None:
        cap = 2 * self.underlying.shape[0]
        for name in ("underlying", "strike", "is_call", "is_perp"):
            old = getattr(self, name)
            new = np.zeros(cap, dtype=old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)
        self._alloc_marks()

    def _get_or_create(self, u: int, grid_index: int, call: bool, perp: bool) -> int:
        key = (u, -(10**9) if perp else grid_index, int(call))
        s = self._key.get(key)
        if s is not None:
            return s
        if self.n == self.underlying.shape[0]:
            self._grow()
        s = self.n
        self.n += 1
        self.underlying[s] = u
        self.strike[s] = 0.0 if perp else self.anchor[u] * math.exp(STRIKE_GRID_LOG_STEP * grid_index)
        self.is_call[s] = 1 if call else 0
        self.is_perp[s] = 1 if perp else 0
        self._key[key] = s
        return s

    def relist(self, spots: np.ndarray) -> None:
        """List the strike grid around today's spot of each underlying (USD)."""
        self.listed = {}
        for u in range(len(self.underlyings)):
            for rel in self.strikes_rel:
                j = round(math.log(spots[u] * (1.0 + rel) / self.anchor[u]) / STRIKE_GRID_LOG_STEP)
                for call in (True, False):
                    self.listed[(u, rel, call)] = self._get_or_create(u, j, call, perp=False)
            if self.include_perpetual:
                self.perp_of[u] = self._get_or_create(u, 0, True, perp=True)

    def listed_near(self, u: int, rel: float, call: bool) -> int:
        """The listed series of underlying ``u`` whose relative strike is nearest ``rel``."""
        best = self._nearest_rel.get(rel)
        if best is None:
            best = self._nearest_rel[rel] = min(self.strikes_rel, key=lambda r: (abs(r - rel), r))
        return self.listed[(u, best, call)]

    def update_marks(self, spots: np.ndarray, sigmas: np.ndarray) -> None:
        """Price every series now and at every stress point (spots USD, sigmas annual)."""
        n = self.n
        und = self.underlying[:n]
        S = np.ascontiguousarray(spots[und], dtype=float)
        sig = np.ascontiguousarray(sigmas[und], dtype=float)
        K = self.strike[:n]
        call = self.is_call[:n]
        T = self.funding_period_years
        self.spot[:n] = S
        self.sigma[:n] = sig
        pricing = self._pricing
        pricing.everlasting_price_into(S, K, sig, T, call, self.mark[:n])
        pricing.everlasting_delta_into(S, K, sig, T, call, self.delta[:n])
        self.payoff[:n] = np.where(call == 1, np.maximum(S - K, 0.0), np.maximum(K - S, 0.0))
        self.stress_margin = np.empty((self.margin_moves.size, n))
        pricing.stress_marks_into(S, K, sig, T, call, self.margin_moves, self.stress_margin)
        self.stress_pool = np.empty((self.pool_moves.size, n))
        pricing.stress_marks_into(S, K, sig, T, call, self.pool_moves, self.stress_pool)

    def view(self, name: str) -> np.ndarray:
        """The first n entries (contiguous) of a per-series array, for kernels."""
        arr = getattr(self, name)
        return arr if arr.ndim == 2 else arr[: self.n]
