"""Constant-product AMM (x*y = k) with a fee, in float64 without integer rounding (design 4).

A pool holds ``reserve_token`` tokens (x) and ``reserve_usd`` USDC (y); its price is p = y/x
USD per token. Swaps follow Uniswap v2's ``getAmountOut``/``getAmountIn``:
out = a(1-f) R_out / (R_in + a(1-f)) and in = R_in out / ((R_out - out)(1-f)).

Swap, price and depth functions take floats (return a float) or 1-D arrays (return a new
float64 array; a scalar is broadcast); ``fee`` and ``frac`` are floats. Bad arguments raise a
ValueError naming the argument. Liquidity functions take and return floats.
"""

import math

import numpy as np

from libc.math cimport sqrt

from kernels._validate import (
    as_float_array,
    broadcast,
    check_fraction,
    check_non_negative,
    check_positive,
    is_scalar,
)


# ---------------------------------------------------------------- loops (nogil)

cdef void _amount_out(const double[::1] a, const double[::1] r_in, const double[::1] r_out,
                      double fee, double[::1] out) noexcept nogil:
    cdef Py_ssize_t i
    cdef double a_net
    for i in range(a.shape[0]):
        a_net = a[i] * (1.0 - fee)
        out[i] = a_net * r_out[i] / (r_in[i] + a_net)


cdef void _amount_in(const double[::1] b, const double[::1] r_in, const double[::1] r_out,
                     double fee, double[::1] out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(b.shape[0]):
        out[i] = r_in[i] * b[i] / ((r_out[i] - b[i]) * (1.0 - fee))


cdef void _ratio(const double[::1] num, const double[::1] den, double[::1] out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(num.shape[0]):
        out[i] = num[i] / den[i]


cdef void _scale(const double[::1] x, double c, double[::1] out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        out[i] = x[i] * c


cdef void _depth(const double[::1] x, const double[::1] y, double up, double down,
                 double[::1] out) noexcept nogil:
    """y(sqrt(1+f)-1) + p x (1/sqrt(1-f)-1) with p = y/x, written as the design states it."""
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        out[i] = y[i] * up + (y[i] / x[i]) * x[i] * down


# ---------------------------------------------------------------- argument handling

def _prepare(names, values):
    """Validated, broadcast float64 arrays; ``names`` pairs each with "pos" or "nonneg"."""
    arrays = []
    for (name, kind), value in zip(names, values):
        arr = as_float_array(name, value)
        if kind == "pos":
            check_positive(name, arr)
        else:
            check_non_negative(name, arr)
        arrays.append(arr)
    scalar = all(is_scalar(v) for v in values)
    return broadcast(tuple(n for n, _ in names), *arrays), scalar


def _result(out, scalar):
    return float(out[0]) if scalar else out


def _check_frac(frac, high):
    check_fraction("frac", frac, 0.0, high)


def _check_scalar(name, value, positive):
    """The checks of ``kernels._validate`` for one plain number (the per-trade fast path)."""
    if not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name}: not a number")
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite (got NaN or inf)")
    if positive and value <= 0.0:
        raise ValueError(f"{name}: must be > 0")
    if value < 0.0:
        raise ValueError(f"{name}: must be >= 0")


cdef inline bint _plain(x):
    """A Python or NumPy float or a Python int: such calls (one trade) skip the array machinery."""
    return type(x) is float or type(x) is int or type(x) is np.float64


_SWAP_IN = (("amount_in", "nonneg"), ("reserve_in", "pos"), ("reserve_out", "pos"))
_SWAP_OUT = (("amount_out", "nonneg"), ("reserve_in", "pos"), ("reserve_out", "pos"))
_RESERVES = (("reserve_token", "pos"), ("reserve_usd", "pos"))


# ---------------------------------------------------------------- public API

def get_amount_out(amount_in, reserve_in, reserve_out, fee):
    """Output for ``amount_in`` after the fee (fraction in [0, 1)), in reserve_out's units."""
    check_fraction("fee", fee)
    cdef double a_net
    if _plain(amount_in) and _plain(reserve_in) and _plain(reserve_out):
        _check_scalar("amount_in", amount_in, False)
        _check_scalar("reserve_in", reserve_in, True)
        _check_scalar("reserve_out", reserve_out, True)
        a_net = <double>amount_in * (1.0 - <double>fee)
        return a_net * <double>reserve_out / (<double>reserve_in + a_net)
    (a, r_in, r_out), scalar = _prepare(_SWAP_IN, (amount_in, reserve_in, reserve_out))
    out = np.empty(a.shape[0])
    cdef const double[::1] av = a, riv = r_in, rov = r_out
    cdef double[::1] ov = out
    cdef double f = fee
    with nogil:
        _amount_out(av, riv, rov, f, ov)
    return _result(out, scalar)


def get_amount_in(amount_out, reserve_in, reserve_out, fee):
    """Input (fee included) that buys ``amount_out``; amount_out >= reserve_out is a ValueError."""
    check_fraction("fee", fee)
    if _plain(amount_out) and _plain(reserve_in) and _plain(reserve_out):
        _check_scalar("amount_out", amount_out, False)
        _check_scalar("reserve_in", reserve_in, True)
        _check_scalar("reserve_out", reserve_out, True)
        if amount_out >= reserve_out:
            raise ValueError("amount_out: must be < reserve_out (a pool cannot be emptied)")
        return (<double>reserve_in * <double>amount_out
                / ((<double>reserve_out - <double>amount_out) * (1.0 - <double>fee)))
    (b, r_in, r_out), scalar = _prepare(_SWAP_OUT, (amount_out, reserve_in, reserve_out))
    if np.any(b >= r_out):
        raise ValueError("amount_out: must be < reserve_out (a pool cannot be emptied)")
    out = np.empty(b.shape[0])
    cdef const double[::1] bv = b, riv = r_in, rov = r_out
    cdef double[::1] ov = out
    cdef double f = fee
    with nogil:
        _amount_in(bv, riv, rov, f, ov)
    return _result(out, scalar)


def spot_price(reserve_token, reserve_usd):
    """Marginal price y/x, USD per token (fees excluded)."""
    if _plain(reserve_token) and _plain(reserve_usd):
        _check_scalar("reserve_token", reserve_token, True)
        _check_scalar("reserve_usd", reserve_usd, True)
        return <double>reserve_usd / <double>reserve_token
    (x, y), scalar = _prepare(_RESERVES, (reserve_token, reserve_usd))
    out = np.empty(x.shape[0])
    cdef const double[::1] xv = x, yv = y
    cdef double[::1] ov = out
    with nogil:
        _ratio(yv, xv, ov)
    return _result(out, scalar)


def usd_in_to_raise_price(reserve_token, reserve_usd, frac):
    """USDC input (fees excluded) that raises the price by ``frac``: y(sqrt(1+frac) - 1)."""
    _check_frac(frac, math.inf)
    (x, y), scalar = _prepare(_RESERVES, (reserve_token, reserve_usd))
    out = np.empty(x.shape[0])
    cdef const double[::1] yv = y
    cdef double[::1] ov = out
    cdef double c = sqrt(1.0 + <double>frac) - 1.0
    with nogil:
        _scale(yv, c, ov)
    return _result(out, scalar)


def token_in_to_lower_price(reserve_token, reserve_usd, frac):
    """Tokens in (fees excluded) that lower the price by ``frac`` in [0, 1): x(1/sqrt(1-frac)-1)."""
    _check_frac(frac, 1.0)
    (x, y), scalar = _prepare(_RESERVES, (reserve_token, reserve_usd))
    out = np.empty(x.shape[0])
    cdef const double[::1] xv = x
    cdef double[::1] ov = out
    cdef double c = 1.0 / sqrt(1.0 - <double>frac) - 1.0
    with nogil:
        _scale(xv, c, ov)
    return _result(out, scalar)


def depth_usd(reserve_token, reserve_usd, frac=0.02):
    """Depth at +-frac, USD: USDC to raise the price by frac plus the pre-trade USD value of the
    tokens that lower it by frac, fees excluded (design section 4)."""
    _check_frac(frac, 1.0)
    cdef double up = sqrt(1.0 + <double>frac) - 1.0
    cdef double down = 1.0 / sqrt(1.0 - <double>frac) - 1.0
    cdef double xs, ys
    if _plain(reserve_token) and _plain(reserve_usd):      # one pool's depth: no arrays
        _check_scalar("reserve_token", reserve_token, True)
        _check_scalar("reserve_usd", reserve_usd, True)
        xs, ys = reserve_token, reserve_usd
        return ys * up + (ys / xs) * xs * down
    (x, y), scalar = _prepare(_RESERVES, (reserve_token, reserve_usd))
    out = np.empty(x.shape[0])
    cdef const double[::1] xv = x, yv = y
    cdef double[::1] ov = out
    with nogil:
        _depth(xv, yv, up, down, ov)
    return _result(out, scalar)


def add_liquidity(reserve_token, reserve_usd, total_shares, token_in, usd_in):
    """Deposit up to ``token_in`` and ``usd_in`` -> (token_used, usd_used, shares_minted).

    First deposit (total_shares == 0): all of both is used, shares = sqrt(token_in * usd_in),
    and both must be > 0. Later: in proportion to the reserves; the excess of one side stays
    with the depositor.
    """
    for name, value in (("reserve_token", reserve_token), ("reserve_usd", reserve_usd),
                        ("total_shares", total_shares), ("token_in", token_in),
                        ("usd_in", usd_in)):
        _check_scalar(name, value, False)
    cdef double x = reserve_token, y = reserve_usd, s = total_shares
    cdef double a = token_in, b = usd_in
    if s == 0.0:
        _check_scalar("token_in", a, True)
        _check_scalar("usd_in", b, True)
        return a, b, sqrt(a * b)
    _check_scalar("reserve_token", x, True)
    _check_scalar("reserve_usd", y, True)
    if a / x <= b / y:  # tokens bind: all of them go in, USDC at the pool's ratio
        return a, a * y / x, s * a / x
    return b * x / y, b, s * b / y


def remove_liquidity(reserve_token, reserve_usd, total_shares, shares):
    """Burn ``shares`` of ``total_shares`` -> (token_out, usd_out), their pro-rata reserves."""
    for name, value in (("reserve_token", reserve_token), ("reserve_usd", reserve_usd),
                        ("shares", shares)):
        _check_scalar(name, value, False)
    _check_scalar("total_shares", total_shares, True)
    if shares > total_shares:
        raise ValueError(f"shares: {shares} exceeds total_shares {total_shares}")
    cdef double part = <double>shares / <double>total_shares
    return part * <double>reserve_token, part * <double>reserve_usd
