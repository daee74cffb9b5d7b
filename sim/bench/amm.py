"""Constant-product AMM: the public kernels (argument checks included) against the twin and
plain NumPy. The design sets no throughput target for the AMM; the ratios are reported."""

from __future__ import annotations

import numpy as np

from kernels import amm
from kernels.reference import amm as ref
from sim.bench.common import Row, throughput

FEE = 0.003
PYTHON_ITEMS = 10_000


def numpy_amount_out(a, r_in, r_out, fee):
    """Uniswap v2's getAmountOut as a NumPy user writes it."""
    a_net = a * (1 - fee)
    return a_net * r_out / (r_in + a_net)


def numpy_depth(x, y, frac):
    """Design section 4's depth formula as written there."""
    p = y / x
    return y * (np.sqrt(1 + frac) - 1) + p * x * (1 / np.sqrt(1 - frac) - 1)


def run(n: int) -> list[Row]:
    """Time swaps and depth on ``n`` pools, and one scalar swap (the per-trade path)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(1e3, 1e5, n)
    y = x * rng.uniform(100.0, 400.0, n)
    a = x * rng.uniform(0.0, 0.05, n)
    m = min(n, PYTHON_ITEMS)
    rows = [
        Row("get_amount_out", n,
            throughput(lambda: amm.get_amount_out(a, x, y, FEE), n),
            throughput(lambda: ref.get_amount_out(a[:m], x[:m], y[:m], FEE), m, repeat=2),
            throughput(lambda: numpy_amount_out(a, x, y, FEE), n, repeat=3)),
        Row("depth_usd", n,
            throughput(lambda: amm.depth_usd(x, y, 0.02), n),
            throughput(lambda: ref.depth_usd(x[:m], y[:m], 0.02), m, repeat=2),
            throughput(lambda: numpy_depth(x, y, 0.02), n, repeat=3)),
        # one trade per call, as SpotAmm makes them: Python's call overhead dominates, so the
        # figure is shown (calls/s) but not judged against the batch ratios
        Row("get_amount_out, one scalar call (not judged)", 1,
            throughput(lambda: amm.get_amount_out(12.5, 1e4, 2.5e6, FEE), 1),
            float("nan"), float("nan")),
    ]
    return rows
