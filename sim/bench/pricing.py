"""Everlasting-option pricing: the ``_into`` kernels against the twin and plain NumPy.

Design section 16: >= 50 M valuations/s on one core, >= 100x the pure-Python twin and
>= 1.5x a straightforward NumPy vectorization of the same formula.
"""

from __future__ import annotations

import numpy as np

from kernels import pricing
from kernels.reference import pricing as ref
from sim.bench.common import Row, throughput

TARGET_VALUATIONS_PER_S = 50e6
FUNDING_PERIOD_YEARS = 1 / 365
SIGMA = 0.55
PYTHON_ITEMS = 10_000  # the twin runs ~1 us/item; timing it on 10^6 would take seconds
STRESS_MOVES = np.array([-0.3, -0.2, -0.1, -0.05, 0.05, 0.1, 0.2, 0.3])


def numpy_price(S, K, sigma, T, is_call):
    """The design's formula as a NumPy user writes it: both branches, then np.where."""
    u = np.sqrt(1.0 + 8.0 / (sigma**2 * T))
    x = np.log(S / K)
    call = np.where(x >= 0, S - K + (K / u) * np.exp((1 - u) / 2 * x),
                    (K / u) * np.exp((1 + u) / 2 * x))
    return np.where(is_call, call, call - S + K)


def numpy_delta(S, K, sigma, T, is_call):
    u = np.sqrt(1.0 + 8.0 / (sigma**2 * T))
    x = np.log(S / K)
    call = np.where(x >= 0, 1 + (1 - u) / (2 * u) * np.exp(-(1 + u) / 2 * x),
                    (1 + u) / (2 * u) * np.exp((u - 1) / 2 * x))
    return np.where(is_call, call, call - 1)


def _series(n: int, seed: int = 0):
    """A strike grid around spot (+-30%), calls and puts, one underlying per series."""
    rng = np.random.default_rng(seed)
    S = rng.uniform(50_000.0, 70_000.0, n)
    K = S * rng.uniform(0.7, 1.3, n)
    is_call = (rng.random(n) < 0.5).astype(np.uint8)
    return S, K, is_call


def _row(name, n, kernel, twin, numpy_fn, items_per_call=1) -> Row:
    n_py = min(n, PYTHON_ITEMS)
    return Row(
        name=name,
        items=n * items_per_call,
        items_per_s=throughput(lambda: kernel(n), n * items_per_call),
        python_items_per_s=throughput(lambda: twin(n_py), n_py * items_per_call, repeat=2,
                                      min_time=1e-3),
        numpy_items_per_s=throughput(lambda: numpy_fn(n), n * items_per_call, repeat=3),
        target_items_per_s=TARGET_VALUATIONS_PER_S,
    )


def run(n: int) -> list[Row]:
    """Time the pricing kernels on ``n`` option series."""
    S, K, is_call = _series(n)
    flags = is_call.astype(bool)
    sigma_each = np.where(np.arange(n) % 2 == 0, 0.55, 0.75)  # BTC and ETH series mixed
    out = np.empty(n)
    T = FUNDING_PERIOD_YEARS

    def ref_into(fn, m, sigma):
        fn(S[:m], K[:m], sigma if np.ndim(sigma) == 0 else sigma[:m], T, is_call[:m], out[:m])

    rows = [
        _row("everlasting_price_into", n,
             lambda m: pricing.everlasting_price_into(S, K, SIGMA, T, is_call, out),
             lambda m: ref_into(ref.everlasting_price_into, m, SIGMA),
             lambda m: numpy_price(S, K, SIGMA, T, flags)),
        _row("everlasting_price_into, sigma per series", n,
             lambda m: pricing.everlasting_price_into(S, K, sigma_each, T, is_call, out),
             lambda m: ref_into(ref.everlasting_price_into, m, sigma_each),
             lambda m: numpy_price(S, K, sigma_each, T, flags)),
        _row("everlasting_delta_into", n,
             lambda m: pricing.everlasting_delta_into(S, K, SIGMA, T, is_call, out),
             lambda m: ref_into(ref.everlasting_delta_into, m, SIGMA),
             lambda m: numpy_delta(S, K, SIGMA, T, flags)),
    ]

    n_stress = max(n // len(STRESS_MOVES), 1)  # same number of valuations as the rows above
    n_stress_py = max(PYTHON_ITEMS // len(STRESS_MOVES), 1)
    grid = np.empty((len(STRESS_MOVES), n_stress))
    grid_py = np.empty((len(STRESS_MOVES), n_stress_py))
    S_s, K_s, c_s = S[:n_stress], K[:n_stress], is_call[:n_stress]

    def numpy_stress():
        for g, move in enumerate(STRESS_MOVES):
            grid[g] = numpy_price(S_s * (1 + move), K_s, SIGMA, T, flags[:n_stress])

    items = n_stress * len(STRESS_MOVES)
    rows.append(Row(
        name=f"stress_marks_into ({len(STRESS_MOVES)} moves)",
        items=items,
        items_per_s=throughput(
            lambda: pricing.stress_marks_into(S_s, K_s, SIGMA, T, c_s, STRESS_MOVES, grid), items),
        python_items_per_s=throughput(
            lambda: ref.stress_marks_into(S[:n_stress_py], K[:n_stress_py], SIGMA, T,
                                          is_call[:n_stress_py], STRESS_MOVES, grid_py),
            n_stress_py * len(STRESS_MOVES), repeat=2, min_time=1e-3),
        numpy_items_per_s=throughput(numpy_stress, items, repeat=3),
        target_items_per_s=TARGET_VALUATIONS_PER_S,
    ))
    return rows
