"""Random streams keyed by what they serve (design section 2).

Every stream is ``default_rng(SeedSequence(root_seed, spawn_key=(component, *key)))``.
Keys name a cohort, never a spawn order or a Mesa ``unique_id``, so adding an agent never
changes another agent's draws and twin runs share their random numbers.
"""

from __future__ import annotations

import math

import numpy as np

# Stable codes: changing one changes every run's numbers.
COMPONENT = {
    "paths": 1,          # exogenous price paths
    "initial": 2,        # agents present at the start: (kind, i)
    "arrival": 3,        # agents arriving later: (kind, step, k)
    "impulse": 4,        # extra agents of an impulse run: (kind, j)
    "arrival_count": 5,  # the Bass arrivals' uniforms, one per step (its index): (kind,)
    "events": 6,         # shock side effects: (event index,)
    "keepers": 7,        # which keeper executes a liquidation: (market, step)
    "offhours": 8,       # an informed agent's view noise: (kind, i, token index)
}

# Agent kinds as stream-key components.
KIND = {"liquidity_provider": 1, "trader": 2, "market_maker": 3, "arbitrageur": 4}


def stream(root_seed: int, component: str, *key: int) -> np.random.Generator:
    """The random stream of ``component`` with ``key`` under ``root_seed``."""
    return np.random.default_rng(
        np.random.SeedSequence(root_seed, spawn_key=(COMPONENT[component], *map(int, key)))
    )


class ScalarDraws:
    """One number at a time from a stream, taken from it ``block`` uniforms at a time.

    A NumPy scalar draw costs about 0.6 us and agents draw a few per act; block draws cost
    about 10 ns a number. ``random()`` gives the same numbers, in the same order, as successive
    ``stream.random()`` calls would; ``exponential(mean)`` is the inverse CDF of one of them.
    """

    __slots__ = ("_stream", "_block", "_buf")

    def __init__(self, stream: np.random.Generator, block: int = 32) -> None:
        self._stream = stream
        self._block = block
        self._buf: list[float] = []

    def random(self) -> float:
        """Uniform on [0, 1)."""
        if not self._buf:
            self._buf = self._stream.random(self._block).tolist()[::-1]   # pop() takes the first
        return self._buf.pop()

    def exponential(self, mean: float) -> float:
        """Exponential with the given mean: -mean log(1 - U)."""
        return -mean * math.log1p(-self.random())


def pick(rng: np.random.Generator, n: int) -> int:
    """One of ``range(n)`` from exactly one uniform of ``rng``, whatever ``n`` is.

    ``rng.integers(n)`` consumes no bits when n = 1 and a variable number otherwise, so a
    choice among markets would shift every later draw of the stream in a scenario with another
    number of markets; one uniform per choice keeps the streams of twin runs aligned."""
    return min(int(rng.random() * n), n - 1)
