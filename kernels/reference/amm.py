"""Plain-Python twin of ``kernels.amm``: same signatures, results and edge cases.

Pool of x tokens and y USDC, price p = y/x USD per token; swaps as Uniswap v2's
``getAmountOut``/``getAmountIn`` in float64 (no integer rounding); design section 4.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from kernels._validate import (
    as_float_array,
    broadcast,
    check_fraction,
    check_non_negative,
    check_positive,
    is_scalar,
)

FloatOrArray = float | np.ndarray

_CHECKS = {"pos": check_positive, "nonneg": check_non_negative}


def _prepare(names: Sequence[tuple[str, str]], values: Sequence[Any]) -> tuple[list, bool]:
    """Validate and broadcast the arguments; the same rules as the Cython layer."""
    arrays = []
    for (name, kind), value in zip(names, values):
        arr = as_float_array(name, value)
        _CHECKS[kind](name, arr)
        arrays.append(arr)
    scalar = all(is_scalar(v) for v in values)
    return broadcast(tuple(n for n, _ in names), *arrays), scalar


def _result(values: list[float], scalar: bool) -> FloatOrArray:
    return float(values[0]) if scalar else np.array(values, dtype=np.float64)


def _check_number(name: str, value: Any, positive: bool = False) -> float:
    arr = as_float_array(name, value)
    if arr.shape[0] != 1:
        raise ValueError(f"{name}: expected a number")
    (check_positive if positive else check_non_negative)(name, arr)
    return float(arr[0])


_SWAP_IN = (("amount_in", "nonneg"), ("reserve_in", "pos"), ("reserve_out", "pos"))
_SWAP_OUT = (("amount_out", "nonneg"), ("reserve_in", "pos"), ("reserve_out", "pos"))
_RESERVES = (("reserve_token", "pos"), ("reserve_usd", "pos"))


def get_amount_out(amount_in: Any, reserve_in: Any, reserve_out: Any, fee: float) -> FloatOrArray:
    """Output for ``amount_in`` after the fee (fraction in [0, 1)), in reserve_out's units."""
    check_fraction("fee", fee)
    (a, r_in, r_out), scalar = _prepare(_SWAP_IN, (amount_in, reserve_in, reserve_out))
    values = []
    for i in range(len(a)):
        a_net = a[i] * (1.0 - fee)
        values.append(a_net * r_out[i] / (r_in[i] + a_net))
    return _result(values, scalar)


def get_amount_in(amount_out: Any, reserve_in: Any, reserve_out: Any, fee: float) -> FloatOrArray:
    """Input (fee included) that buys ``amount_out``; amount_out >= reserve_out is a ValueError."""
    check_fraction("fee", fee)
    (b, r_in, r_out), scalar = _prepare(_SWAP_OUT, (amount_out, reserve_in, reserve_out))
    values = []
    for i in range(len(b)):
        if b[i] >= r_out[i]:
            raise ValueError("amount_out: must be < reserve_out (a pool cannot be emptied)")
        values.append(r_in[i] * b[i] / ((r_out[i] - b[i]) * (1.0 - fee)))
    return _result(values, scalar)


def spot_price(reserve_token: Any, reserve_usd: Any) -> FloatOrArray:
    """Marginal price y/x, USD per token (fees excluded)."""
    (x, y), scalar = _prepare(_RESERVES, (reserve_token, reserve_usd))
    return _result([y[i] / x[i] for i in range(len(x))], scalar)


def usd_in_to_raise_price(reserve_token: Any, reserve_usd: Any, frac: float) -> FloatOrArray:
    """USDC input (fees excluded) that raises the price by ``frac``: y(sqrt(1+frac) - 1)."""
    check_fraction("frac", frac, 0.0, math.inf)
    (x, y), scalar = _prepare(_RESERVES, (reserve_token, reserve_usd))
    return _result([y[i] * (math.sqrt(1.0 + frac) - 1.0) for i in range(len(x))], scalar)


def token_in_to_lower_price(reserve_token: Any, reserve_usd: Any, frac: float) -> FloatOrArray:
    """Tokens in (fees excluded) that lower the price by ``frac`` in [0, 1): x(1/sqrt(1-frac)-1)."""
    check_fraction("frac", frac, 0.0, 1.0)
    (x, y), scalar = _prepare(_RESERVES, (reserve_token, reserve_usd))
    return _result([x[i] * (1.0 / math.sqrt(1.0 - frac) - 1.0) for i in range(len(x))], scalar)


def depth_usd(reserve_token: Any, reserve_usd: Any, frac: float = 0.02) -> FloatOrArray:
    """Depth at +-frac, USD: y(sqrt(1+f) - 1) + p x (1/sqrt(1-f) - 1), fees excluded."""
    check_fraction("frac", frac, 0.0, 1.0)
    (x, y), scalar = _prepare(_RESERVES, (reserve_token, reserve_usd))
    values = []
    for i in range(len(x)):
        price = y[i] / x[i]
        usd_up = y[i] * (math.sqrt(1.0 + frac) - 1.0)
        tokens_down = x[i] * (1.0 / math.sqrt(1.0 - frac) - 1.0)
        values.append(usd_up + price * tokens_down)
    return _result(values, scalar)


def add_liquidity(
    reserve_token: float, reserve_usd: float, total_shares: float, token_in: float, usd_in: float
) -> tuple[float, float, float]:
    """Deposit up to ``token_in`` and ``usd_in`` -> (token_used, usd_used, shares_minted).

    First deposit: all of both, shares = sqrt(token_in * usd_in). Later: in proportion.
    """
    x = _check_number("reserve_token", reserve_token)
    y = _check_number("reserve_usd", reserve_usd)
    s = _check_number("total_shares", total_shares)
    a = _check_number("token_in", token_in)
    b = _check_number("usd_in", usd_in)
    if s == 0.0:
        _check_number("token_in", a, positive=True)
        _check_number("usd_in", b, positive=True)
        return a, b, math.sqrt(a * b)
    _check_number("reserve_token", x, positive=True)
    _check_number("reserve_usd", y, positive=True)
    if a / x <= b / y:  # tokens bind
        return a, a * y / x, s * a / x
    return b * x / y, b, s * b / y


def remove_liquidity(
    reserve_token: float, reserve_usd: float, total_shares: float, shares: float
) -> tuple[float, float]:
    """Burn ``shares`` of ``total_shares`` -> (token_out, usd_out), their pro-rata reserves."""
    x = _check_number("reserve_token", reserve_token)
    y = _check_number("reserve_usd", reserve_usd)
    sh = _check_number("shares", shares)
    total = _check_number("total_shares", total_shares, positive=True)
    if sh > total:
        raise ValueError(f"shares: {sh} exceeds total_shares {total}")
    return sh / total * x, sh / total * y
