"""Timing harness shared by the benchmark modules.

Each benchmark module exposes ``run(n: int) -> list[Row]``; ``sim.bench.main`` prints them.
Timings are best-of-``repeat`` wall clock on one core (kernels are single-threaded).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Row:
    """One benchmark figure: throughput and the ratios the design (section 16) asks for."""

    name: str                   # what was timed, e.g. "everlasting_price"
    items: int                  # items processed per call
    items_per_s: float          # Cython kernel throughput
    python_items_per_s: float   # plain-Python twin throughput (nan if not timed)
    numpy_items_per_s: float    # NumPy vectorization throughput (nan if none)
    target_items_per_s: float = float("nan")  # design target (nan if none)
    min_vs_python: float = 100.0  # the least ratio to the plain-Python twin that passes (design 16)

    @property
    def vs_python(self) -> float:
        return self.items_per_s / self.python_items_per_s

    @property
    def vs_numpy(self) -> float:
        return self.items_per_s / self.numpy_items_per_s


def best_time(fn: Callable[[], object], repeat: int = 5, min_time: float = 0.05) -> float:
    """Best wall time of one call of ``fn`` in seconds, looping short calls to ``min_time``."""
    fn()  # warm up
    best = float("inf")
    for _ in range(repeat):
        loops, elapsed = 0, 0.0
        t0 = time.perf_counter()
        while elapsed < min_time:
            fn()
            loops += 1
            elapsed = time.perf_counter() - t0
        best = min(best, elapsed / loops)
    return best


def throughput(fn: Callable[[], object], items: int, repeat: int = 5, min_time: float = 0.05) -> float:
    """Items per second of ``fn`` processing ``items`` items per call."""
    return items / best_time(fn, repeat=repeat, min_time=min_time)
