"""Stub of kernels.liquidation (margin, liquidation, deficit waterfall, ADL; design section 6)."""

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kernels.params import LiquidationResult, MarginParams

def margin_pass(
    collateral: ArrayLike,
    oracle_price: float,
    haircut: float,
    pos_account: ArrayLike,
    pos_series: ArrayLike,
    pos_size: ArrayLike,
    pos_entry: ArrayLike,
    series_mark: ArrayLike,
    series_delta: ArrayLike,
    series_spot: ArrayLike,
    series_is_perp: ArrayLike,
    stress_marks: ArrayLike,
    token_moves: ArrayLike,
    params: MarginParams = ...,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]: ...
def run_liquidations(
    collateral: NDArray[np.float64],
    oracle_price: float,
    haircut: float,
    pos_account: ArrayLike,
    pos_series: ArrayLike,
    pos_size: NDArray[np.float64],
    pos_entry: ArrayLike,
    series_mark: ArrayLike,
    series_delta: ArrayLike,
    series_spot: ArrayLike,
    series_is_perp: ArrayLike,
    stress_marks: ArrayLike,
    token_moves: ArrayLike,
    params: MarginParams = ...,
    insurance_balance: float = 0.0,
    pool_balance: float = 0.0,
    price_out: float | None = None,
) -> LiquidationResult: ...
def margin_table(
    series_mark: ArrayLike,
    series_delta: ArrayLike,
    series_spot: ArrayLike,
    series_is_perp: ArrayLike,
    stress_marks: ArrayLike,
    params: MarginParams = ...,
) -> NDArray[np.float64]: ...
def margin_from_table(
    collateral: NDArray[np.float64],
    oracle_price: float,
    haircut: float,
    pos_account: NDArray[np.int64],
    pos_series: NDArray[np.int64],
    pos_size: NDArray[np.float64],
    pos_entry: NDArray[np.float64],
    table: NDArray[np.float64],
    token_moves: NDArray[np.float64],
    stress_maint_mult: float,
    stress_initial_mult: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]: ...
