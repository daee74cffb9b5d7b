"""Benchmarks of kernels.liquidation (design section 16: >= 50 M positions/s on one core,
>= 100x the plain-Python twin, >= 1.5x a straightforward NumPy vectorization).

Book: n positions over about n/4 accounts (random order, as trades append them), 8 series,
3 crypto x 3 margin-token stress points. The twin is timed on fewer positions (per-item rate).
"""

from __future__ import annotations

import numpy as np

from kernels import liquidation
from kernels.params import MarginParams
from kernels.reference import liquidation as reference
from sim.bench.common import Row, throughput

TARGET_POSITIONS_PER_S = 50e6
N_SERIES = 8
TWIN_MAX_POSITIONS = 20_000


def make_book(n: int, seed: int = 0, unhealthy: float = 0.0) -> dict:
    """Random market of n positions; ``unhealthy`` is the share of accounts left short of margin."""
    rng = np.random.default_rng(seed)
    n_accounts = max(n // 4, 1)
    mark = rng.uniform(500.0, 5000.0, N_SERIES)
    is_perp = np.zeros(N_SERIES, np.uint8)
    is_perp[0] = 1
    spot = np.full(N_SERIES, 60000.0)
    mark[0] = spot[0]
    ser = rng.integers(0, N_SERIES, n)
    acct = rng.integers(0, n_accounts, n)
    size = rng.normal(0.0, 0.05, n)
    entry = mark[ser] * rng.uniform(0.95, 1.05, n)
    # Enough collateral (tokens at 300 USD, haircut 25%) for all but the chosen accounts.
    collateral = np.full(n_accounts, 400.0)
    collateral[rng.uniform(size=n_accounts) < unhealthy] = 2.0
    stress = mark * (1.0 + np.array([[-0.15], [0.0], [0.15]]) * rng.uniform(0.5, 1.5, N_SERIES))
    return dict(collateral=collateral, oracle_price=300.0, haircut=0.25, pos_account=acct,
                pos_series=ser, pos_size=size, pos_entry=entry, series_mark=mark,
                series_delta=rng.uniform(-1.0, 1.0, N_SERIES), series_spot=spot,
                series_is_perp=is_perp, stress_marks=stress,
                token_moves=np.array([0.0, -0.10, -0.25]))


def numpy_margin_pass(collateral, oracle_price, haircut, pos_account, pos_series, pos_size,
                      pos_entry, series_mark, series_delta, series_spot, series_is_perp,
                      stress_marks, token_moves, params=MarginParams()):
    """The same formula as a NumPy user would write it: gathers, then np.bincount per sum."""
    na = collateral.shape[0]
    upnl = np.bincount(pos_account, weights=pos_size * (series_mark[pos_series] - pos_entry),
                       minlength=na)
    long = (pos_size > 0) & (series_is_perp[pos_series] == 0)
    abs_delta = np.abs(series_delta)[pos_series]
    notional = np.abs(pos_size) * series_spot[pos_series]
    m_ratio = np.where(long, params.long_maint, params.short_maint)
    i_ratio = np.where(long, params.long_initial, params.short_initial)
    d_maint = np.bincount(pos_account, weights=notional * (m_ratio * abs_delta + params.floor),
                          minlength=na)
    d_init = np.bincount(pos_account, weights=notional * (i_ratio * abs_delta + params.floor),
                         minlength=na)
    crypto = np.stack([
        np.bincount(pos_account, weights=pos_size * (series_mark - row)[pos_series], minlength=na)
        for row in stress_marks])
    cv = oracle_price * (np.maximum(collateral, 0.0) * (1.0 - haircut)
                         + np.minimum(collateral, 0.0))
    worst = np.maximum(crypto.max(axis=0) + (-token_moves[:, None] * cv).max(axis=0), 0.0)
    return (cv + upnl, np.maximum(d_maint, params.stress_maint_mult * worst),
            np.maximum(d_init, params.stress_initial_mult * worst))


def run(n: int) -> list[Row]:
    """Margin pass and liquidation pass on n positions; figures are positions per second."""
    book = make_book(n)
    small = make_book(min(n, TWIN_MAX_POSITIONS))
    n_small = small["pos_size"].shape[0]
    margin = throughput(lambda: liquidation.margin_pass(**book), n)
    twin = throughput(lambda: reference.margin_pass(**small), n_small, repeat=1, min_time=1e-9)
    vectorized = throughput(lambda: numpy_margin_pass(**book), n)
    rows = [Row("margin_pass", n, margin, twin, vectorized, TARGET_POSITIONS_PER_S)]

    # A few per cent of accounts unhealthy; fresh copies of the in/out arrays every call.
    sick = make_book(n, unhealthy=0.03)
    collateral0, size0 = sick["collateral"].copy(), sick["pos_size"].copy()
    sick_small = make_book(min(n, TWIN_MAX_POSITIONS), unhealthy=0.03)
    small_q, small_size = sick_small["collateral"].copy(), sick_small["pos_size"].copy()

    def kernel_pass() -> None:
        np.copyto(sick["collateral"], collateral0)
        np.copyto(sick["pos_size"], size0)
        liquidation.run_liquidations(**sick, insurance_balance=1e3, pool_balance=1e6)

    def twin_pass() -> None:
        np.copyto(sick_small["collateral"], small_q)
        np.copyto(sick_small["pos_size"], small_size)
        reference.run_liquidations(**sick_small, insurance_balance=1e3, pool_balance=1e6)

    rows.append(Row("run_liquidations (3% unhealthy)", n, throughput(kernel_pass, n),
                    throughput(twin_pass, n_small, repeat=1, min_time=1e-9), float("nan"),
                    TARGET_POSITIONS_PER_S))
    return rows


if __name__ == "__main__":
    import sys

    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000):
        print(f"{row.name:34s} n={row.items:>10,d} {row.items_per_s / 1e6:8.1f} M/s  "
              f"vs twin {row.vs_python:8.0f}x  vs NumPy {row.vs_numpy:5.2f}x  "
              f"(target {row.target_items_per_s / 1e6:.0f} M/s)")
