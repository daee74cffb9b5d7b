"""Benchmarks of kernels.pool: funding accrual (positions per second) and utilization
(series x stress points per second), each against its plain-Python twin (timed on fewer items,
per-item rate) and a straightforward NumPy vectorization.
"""

from __future__ import annotations

import numpy as np

from kernels import pool
from kernels.reference import pool as reference
from sim.bench.common import Row, throughput

N_SERIES = 8
N_POINTS = 12          # 2 underlyings x 6 moves (design section 5)
TWIN_MAX_ITEMS = 20_000
DT_YEARS, PERIOD_YEARS, PRICE = 1 / 8766, 1 / 365.25, 300.0


def numpy_accrue_funding(pos_account, pos_series, pos_size, series_mark, series_payoff,
                         dt_years, funding_period_years, oracle_price, n_accounts):
    """Funding per account (tokens) as a NumPy user would write it."""
    usd = pos_size * (series_mark - series_payoff)[pos_series] * dt_years / funding_period_years
    return np.bincount(pos_account, weights=usd / oracle_price, minlength=n_accounts)


def numpy_utilization(net_size, marks, stress_marks, nav_usd):
    return max(0.0, float(((stress_marks - marks) @ net_size).max())) / nav_usd


def funding_book(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    mark = rng.uniform(500.0, 5000.0, N_SERIES)
    n_accounts = max(n // 4, 1)
    return dict(pos_account=rng.integers(0, n_accounts, n),
                pos_series=rng.integers(0, N_SERIES, n), pos_size=rng.normal(0.0, 0.05, n),
                series_mark=mark, series_payoff=mark * rng.uniform(0.0, 1.0, N_SERIES),
                dt_years=DT_YEARS, funding_period_years=PERIOD_YEARS, oracle_price=PRICE,
                n_accounts=n_accounts)


def grid(n_series: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    marks = rng.uniform(10.0, 5000.0, n_series)
    stress = marks * (1.0 + rng.uniform(-0.3, 0.3, (N_POINTS, n_series)))
    return rng.normal(0.0, 5.0, n_series), marks, stress


def run(n: int) -> list[Row]:
    """accrue_funding on n positions; utilization on n // N_POINTS series x N_POINTS points."""
    book = funding_book(n)
    small = funding_book(min(n, TWIN_MAX_ITEMS))
    rows = [Row("accrue_funding", n,
                throughput(lambda: pool.accrue_funding(**book), n),
                throughput(lambda: reference.accrue_funding(**small), small["pos_size"].shape[0],
                           repeat=1, min_time=1e-9),
                throughput(lambda: numpy_accrue_funding(**book), n))]
    n_series = max(n // N_POINTS, 1)
    net, marks, stress = grid(n_series)
    s_net, s_marks, s_stress = grid(min(n_series, TWIN_MAX_ITEMS // N_POINTS))
    items = n_series * N_POINTS
    rows.append(Row("utilization", items,
                    throughput(lambda: pool.utilization(net, marks, stress, 1e7), items),
                    throughput(lambda: reference.utilization(s_net, s_marks, s_stress, 1e7),
                               s_stress.size, repeat=1, min_time=1e-9),
                    throughput(lambda: numpy_utilization(net, marks, stress, 1e7), items)))
    return rows


if __name__ == "__main__":
    import sys

    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000):
        print(f"{row.name:34s} n={row.items:>10,d} {row.items_per_s / 1e6:8.1f} M/s  "
              f"vs twin {row.vs_python:8.0f}x  vs NumPy {row.vs_numpy:5.2f}x")
