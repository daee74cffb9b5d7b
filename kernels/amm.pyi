"""Stub of kernels.amm (constant-product token/USDC pool: x tokens, y USDC, price y/x USD)."""

import numpy as np
import numpy.typing as npt

FloatOrArray = float | npt.NDArray[np.float64]
ArrayLike = float | npt.ArrayLike

def get_amount_out(
    amount_in: ArrayLike, reserve_in: ArrayLike, reserve_out: ArrayLike, fee: float
) -> FloatOrArray: ...
def get_amount_in(
    amount_out: ArrayLike, reserve_in: ArrayLike, reserve_out: ArrayLike, fee: float
) -> FloatOrArray: ...
def spot_price(reserve_token: ArrayLike, reserve_usd: ArrayLike) -> FloatOrArray: ...
def usd_in_to_raise_price(
    reserve_token: ArrayLike, reserve_usd: ArrayLike, frac: float
) -> FloatOrArray: ...
def token_in_to_lower_price(
    reserve_token: ArrayLike, reserve_usd: ArrayLike, frac: float
) -> FloatOrArray: ...
def depth_usd(
    reserve_token: ArrayLike, reserve_usd: ArrayLike, frac: float = 0.02
) -> FloatOrArray: ...
def add_liquidity(
    reserve_token: float, reserve_usd: float, total_shares: float, token_in: float, usd_in: float
) -> tuple[float, float, float]: ...
def remove_liquidity(
    reserve_token: float, reserve_usd: float, total_shares: float, shares: float
) -> tuple[float, float]: ...
