"""Plain-Python twin of ``kernels.pricing``: same signatures, results and edge cases.

Prices in USD, ``T``/``funding_period``/``sigma`` in years. One loop per call, ``math`` only,
written to be read next to design section 5.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from kernels._validate import (
    as_bool_array,
    as_float_array,
    broadcast,
    check_finite,
    check_non_negative,
    check_positive,
    is_scalar,
)

FloatOrArray = float | np.ndarray

_CHECKS = {"pos": check_positive, "nonneg": check_non_negative, "finite": check_finite}


def _prepare(
    names: Sequence[tuple[str, str]], values: Sequence[Any], is_call: Any
) -> tuple[list[np.ndarray], np.ndarray, bool]:
    """Validate and broadcast the arguments; the same rules as the Cython layer."""
    arrays = []
    for (name, kind), value in zip(names, values):
        arr = as_float_array(name, value)
        _CHECKS[kind](name, arr)
        arrays.append(arr)
    scalar = all(is_scalar(v) for v in values) and is_scalar(is_call)
    names_all = tuple(n for n, _ in names) + ("is_call",)
    arrays = broadcast(names_all, *arrays, np.empty(np.size(is_call)))
    flags = as_bool_array("is_call", is_call, arrays[0].shape[0])
    return arrays[: len(names)], flags, scalar


def _result(values: list[float], scalar: bool) -> FloatOrArray:
    return float(values[0]) if scalar else np.array(values, dtype=np.float64)


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# ------------------------------------------------------------------ one option


def _payoff_one(S: float, K: float, is_call: bool) -> float:
    return max(S - K, 0.0) if is_call else max(K - S, 0.0)


def _step_delta_one(S: float, K: float, is_call: bool) -> float:
    """Delta at expiry: 1 above the strike, 0 below, 0.5 at it (put = call - 1)."""
    call = 1.0 if S > K else (0.0 if S < K else 0.5)
    return call if is_call else call - 1.0


def _bs_price_one(S: float, K: float, sigma: float, T: float, is_call: bool, r: float) -> float:
    if K == 0.0:
        return S if is_call else 0.0
    if T == 0.0:
        return _payoff_one(S, K, is_call)
    d1 = (math.log(S / K) + (r + 0.5 * sigma * sigma) * T) / (sigma * math.sqrt(T))
    d2 = d1 - sigma * math.sqrt(T)
    disc_k = K * math.exp(-r * T)
    if is_call:
        return S * _norm_cdf(d1) - disc_k * _norm_cdf(d2)
    return disc_k * _norm_cdf(-d2) - S * _norm_cdf(-d1)


def _bs_delta_one(S: float, K: float, sigma: float, T: float, is_call: bool, r: float) -> float:
    if K == 0.0:
        return 1.0 if is_call else 0.0
    if T == 0.0:
        return _step_delta_one(S, K, is_call)
    d1 = (math.log(S / K) + (r + 0.5 * sigma * sigma) * T) / (sigma * math.sqrt(T))
    return _norm_cdf(d1) if is_call else _norm_cdf(d1) - 1.0


def _everlasting_u(sigma: float, T: float) -> float:
    """Paradigm's u = sqrt(1 + 8 / (sigma^2 T)) (design section 5)."""
    return math.sqrt(1.0 + 8.0 / (sigma * sigma * T))


def _everlasting_price_one(S: float, K: float, sigma: float, T: float, is_call: bool) -> float:
    if T == 0.0 or K == 0.0:
        return _payoff_one(S, K, is_call)  # K = 0: the perpetual future, worth S
    u = _everlasting_u(sigma, T)
    if S >= K:
        call = S - K + (K / u) * (S / K) ** ((1.0 - u) / 2.0)
    else:
        call = (K / u) * (S / K) ** ((1.0 + u) / 2.0)
    return call if is_call else call - S + K  # put-call parity


def _everlasting_delta_one(S: float, K: float, sigma: float, T: float, is_call: bool) -> float:
    if K == 0.0:
        return 1.0 if is_call else 0.0
    if T == 0.0:
        return _step_delta_one(S, K, is_call)
    u = _everlasting_u(sigma, T)
    if S >= K:
        call = 1.0 + ((1.0 - u) / (2.0 * u)) * (S / K) ** (-(1.0 + u) / 2.0)
    else:
        call = ((1.0 + u) / (2.0 * u)) * (S / K) ** ((u - 1.0) / 2.0)
    return call if is_call else call - 1.0


# ------------------------------------------------------------------ public API

_BS_ARGS = (("S", "pos"), ("K", "nonneg"), ("sigma", "pos"), ("T", "nonneg"), ("r", "finite"))
_EVER_ARGS = (("S", "pos"), ("K", "nonneg"), ("sigma", "pos"), ("funding_period", "nonneg"))


def payoff(S: Any, K: Any, is_call: Any) -> FloatOrArray:
    """Intrinsic value max(S-K, 0) (call) or max(K-S, 0) (put), USD."""
    (s, k), flags, scalar = _prepare((("S", "pos"), ("K", "nonneg")), (S, K), is_call)
    return _result([_payoff_one(s[i], k[i], bool(flags[i])) for i in range(len(s))], scalar)


def bs_price(S: Any, K: Any, sigma: Any, T: Any, is_call: Any, r: Any = 0.0) -> FloatOrArray:
    """European option price under Black-Scholes, USD (T in years; T == 0 gives the payoff)."""
    (s, k, v, t, rr), flags, scalar = _prepare(_BS_ARGS, (S, K, sigma, T, r), is_call)
    values = [
        _bs_price_one(s[i], k[i], v[i], t[i], bool(flags[i]), rr[i]) for i in range(len(s))
    ]
    return _result(values, scalar)


def bs_delta(S: Any, K: Any, sigma: Any, T: Any, is_call: Any, r: Any = 0.0) -> FloatOrArray:
    """Black-Scholes delta dPrice/dS (T == 0: 1 above K, 0 below, 0.5 at K; put = call - 1)."""
    (s, k, v, t, rr), flags, scalar = _prepare(_BS_ARGS, (S, K, sigma, T, r), is_call)
    values = [
        _bs_delta_one(s[i], k[i], v[i], t[i], bool(flags[i]), rr[i]) for i in range(len(s))
    ]
    return _result(values, scalar)


def everlasting_price(
    S: Any, K: Any, sigma: Any, funding_period: Any, is_call: Any
) -> FloatOrArray:
    """Everlasting option mark, USD (funding_period in years: 0 gives the payoff; K = 0: S)."""
    (s, k, v, t), flags, scalar = _prepare(_EVER_ARGS, (S, K, sigma, funding_period), is_call)
    values = [
        _everlasting_price_one(s[i], k[i], v[i], t[i], bool(flags[i])) for i in range(len(s))
    ]
    return _result(values, scalar)


def everlasting_delta(
    S: Any, K: Any, sigma: Any, funding_period: Any, is_call: Any
) -> FloatOrArray:
    """Everlasting option delta dPrice/dS (continuous at S = K, where the call's is (1+u)/(2u))."""
    (s, k, v, t), flags, scalar = _prepare(_EVER_ARGS, (S, K, sigma, funding_period), is_call)
    values = [
        _everlasting_delta_one(s[i], k[i], v[i], t[i], bool(flags[i])) for i in range(len(s))
    ]
    return _result(values, scalar)


def _sigma_at(sigma: Any, i: int) -> float:
    return float(sigma) if np.ndim(sigma) == 0 else float(sigma[i])


def everlasting_price_into(
    S: np.ndarray, K: np.ndarray, sigma: Any, funding_period: float, is_call: np.ndarray,
    out: np.ndarray,
) -> None:
    """Unchecked: marks of n series into ``out`` (n,). ``sigma`` a float or an (n,) array."""
    _series_into(_everlasting_price_one, S, K, sigma, funding_period, is_call, out)


def everlasting_delta_into(
    S: np.ndarray, K: np.ndarray, sigma: Any, funding_period: float, is_call: np.ndarray,
    out: np.ndarray,
) -> None:
    """Unchecked: deltas of n series into ``out`` (n,). ``sigma`` a float or an (n,) array."""
    _series_into(_everlasting_delta_one, S, K, sigma, funding_period, is_call, out)


def _series_into(one, S, K, sigma, funding_period, is_call, out) -> None:
    """out[i] = one(S[i], K[i], sigma_i, T, is_call[i]) for every series i."""
    for i in range(len(S)):
        out[i] = one(S[i], K[i], _sigma_at(sigma, i), funding_period, bool(is_call[i]))


def stress_marks_into(
    S: np.ndarray, K: np.ndarray, sigma: Any, funding_period: float, is_call: np.ndarray,
    moves: np.ndarray, out: np.ndarray,
) -> None:
    """Unchecked: out[g, i] = mark of series i with its underlying at S[i] * (1 + moves[g])."""
    for g in range(len(moves)):
        for i in range(len(S)):
            out[g, i] = _everlasting_price_one(
                S[i] * (1.0 + moves[g]), K[i], _sigma_at(sigma, i), funding_period,
                bool(is_call[i]),
            )
