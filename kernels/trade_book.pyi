"""Stub of kernels.trade_book (one market's trade book; design sections 5-7)."""

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kernels.params import BookConfig, Refusal

class TradeBook:
    cfg: BookConfig
    n_accounts: int
    n_positions: int
    collateral: NDArray[np.float64]          # tokens per account
    acct_head: NDArray[np.int64]
    pos_account: NDArray[np.int64]
    pos_series: NDArray[np.int64]
    pos_size: NDArray[np.float64]            # signed units of the underlying
    pos_entry: NDArray[np.float64]           # USD mark at entry
    pos_take_profit: NDArray[np.float64]     # USD of PnL
    pos_stop_loss: NDArray[np.float64]       # USD of loss
    pos_next: NDArray[np.int64]
    net_size: NDArray[np.float64]
    abs_size: NDArray[np.float64]
    losses: NDArray[np.float64]              # USD per pool stress point
    delta_usd: NDArray[np.float64]
    oi_usd: NDArray[np.float64]
    entry_notional: float                    # USD
    price: float
    price_in: float
    price_out: float
    last_pool_tokens: float
    last_insurance_tokens: float
    last_spread_usd: float
    last_fee_usd: float
    last_notional_usd: float
    last_perp_rate: float
    last_perp_funding_tokens: float
    step_volume_usd: float
    step_spread_usd: float
    step_fees_usd: float
    step_trader_pnl_usd: float
    step_trades: int
    def __init__(self, cfg: BookConfig, n_pool_points: int) -> None: ...
    @property
    def position_capacity(self) -> int: ...
    def add_account(self) -> int: ...
    def grow_positions(self) -> None: ...
    def compact(self) -> NDArray[np.int64]: ...
    def bind_series(
        self, mark: ArrayLike, delta: ArrayLike, spot: ArrayLike, underlying: ArrayLike, is_perp: ArrayLike,
        stress_pool: ArrayLike, table: ArrayLike, token_moves: ArrayLike, n_underlyings: int,
    ) -> None: ...
    def set_prices(self, price: float, price_in: float, price_out: float) -> None: ...
    def resync(self) -> None: ...
    def upnl_usd(self) -> float: ...
    def nav_usd(self, pool_tokens: float) -> float: ...
    def utilization(self, pool_tokens: float) -> float: ...
    def needs_liquidation(self, tol: float = 1e-9) -> bool: ...
    def accrue_funding(
        self, payoff: ArrayLike, dt_over_period: float, tol: float = 1e-9, dt_years: float = 0.0,
        pool_tokens: float = 0.0,
    ) -> tuple[float, float, bool]: ...
    def positions_of(self, a: int) -> list[int]: ...
    def margin(
        self, a: int, extra_series: int = -1, extra_size: float = 0.0, extra_entry: float = 0.0,
        collateral_change: float = 0.0,
    ) -> tuple[float, float, float]: ...
    def quote(self, s: int, dn: float, pool_tokens: float) -> tuple[float, float, Refusal]: ...
    def open(
        self, a: int, s: int, dn: float, margin_buffer: float, pool_tokens: float,
        take_profit_usd: float = ..., stop_loss_usd: float = ...,
    ) -> int: ...
    def close(self, p: int, fraction: float, pool_tokens: float) -> float: ...
    def take_step_log(self) -> tuple[
        NDArray[np.uint8], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64],
        NDArray[np.float64],
    ]: ...
    def set_triggers(self, p: int, take_profit_usd: float, stop_loss_usd: float) -> None: ...
    def position_pnl_usd(self, p: int) -> float: ...
    def triggered_accounts(self) -> NDArray[np.int64]: ...
    def holding_flags(self) -> NDArray[np.uint8]: ...
