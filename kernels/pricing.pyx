# distutils: libraries = m
"""Black-Scholes and everlasting-option prices and deltas (design section 5).

Prices are in the currency of ``S`` and ``K`` (USD); ``T``, ``funding_period`` and ``sigma``
are in years (``sigma`` annualized). ``r`` is a continuously compounded annual rate.

The public functions validate their arguments (ValueError naming the argument), broadcast a
scalar against arrays and return a float (all scalars) or a new float64 array. The ``_into``
functions are the simulation's unchecked hot path: contiguous float64 arrays in, a
caller-allocated ``out``.

Everlasting option (Paradigm, "Everlasting Options", 2021), zero rate,
``u = sqrt(1 + 8 / (sigma^2 T))``: price = payoff + (K/u) (S/K)^a with a = (1-u)/2 for
S >= K and (1+u)/2 for S < K. This single form covers calls and puts (P = C - S + K shifts
only the payoff), and K = 0 gives the payoff itself (the perpetual future, price S).
"""

import numpy as np

from libc.math cimport erfc, exp, log, sqrt

# glibc declares its vector exp/log (libmvec) only when __FAST_MATH__ is defined, and our
# build keeps -fno-finite-math-only (which undefines it); declaring the SIMD clones here lets
# gcc vectorize the everlasting loops (4 prices per AVX2 call) without changing NaN semantics.
cdef extern from *:
    """
    #if defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) && defined(__x86_64__) \
        && !defined(__FAST_MATH__)
    __attribute__((__simd__("notinbranch"))) extern double exp(double);
    __attribute__((__simd__("notinbranch"))) extern double log(double);
    #endif
    """

from kernels._validate import (
    as_bool_array,
    as_float_array,
    broadcast,
    check_finite,
    check_non_negative,
    check_positive,
    is_scalar,
)

ctypedef unsigned char uint8

cdef double SQRT1_2 = 0.70710678118654752440  # 1/sqrt(2)


# ---------------------------------------------------------------- scalar cores (inline)

cdef inline double _payoff(double S, double K, uint8 is_call) noexcept nogil:
    cdef double call = S - K if S > K else 0.0
    cdef double put = K - S if K > S else 0.0
    return call if is_call else put


cdef inline double _step_delta(double S, double K, uint8 is_call) noexcept nogil:
    """Delta at expiry: 1 above the strike, 0 below, 0.5 at it (call; put = call - 1)."""
    cdef double call = 1.0 if S > K else (0.0 if S < K else 0.5)
    return call if is_call else call - 1.0


cdef inline double _ever_price(double S, double K, double inv_u, double a_hi, double a_lo,
                               uint8 is_call) noexcept nogil:
    """Everlasting price with u given as 1/u and a = (1-u)/2 (S >= K), (1+u)/2 (S < K).

    Branch-free so that the loop vectorizes; exp(a x) <= 1 always, so nothing overflows.
    """
    cdef double Ks = K if K > 0.0 else 1.0
    cdef double x = log(S / Ks)
    cdef double a = a_hi if x >= 0.0 else a_lo
    cdef double time_value = K * inv_u * exp(a * x)   # 0 when K == 0
    return _payoff(S, K, is_call) + time_value


cdef inline double _ever_delta(double S, double K, double inv_u, double c_hi, double c_lo,
                               double b_hi, double b_lo, uint8 is_call) noexcept nogil:
    """Everlasting call delta: 1 + c_hi (S/K)^b_hi (S >= K), c_lo (S/K)^b_lo (S < K).

    c_hi = (1-u)/(2u), b_hi = -(1+u)/2, c_lo = (1+u)/(2u), b_lo = (u-1)/2; put = call - 1.
    """
    cdef double Ks = K if K > 0.0 else 1.0
    cdef double x = log(S / Ks)
    cdef bint above = x >= 0.0
    cdef double call = (1.0 if above else 0.0) + (c_hi if above else c_lo) * exp(
        (b_hi if above else b_lo) * x)
    call = call if K > 0.0 else 1.0
    return call if is_call else call - 1.0


cdef inline double _u_of(double sigma, double T) noexcept nogil:
    return sqrt(1.0 + 8.0 / (sigma * sigma * T))


cdef inline double _norm_cdf(double x) noexcept nogil:
    return 0.5 * erfc(-x * SQRT1_2)


# ---------------------------------------------------------------- loops (nogil)

cdef void _ever_price_shared(const double[::1] S, const double[::1] K, double scale,
                             double sigma, double T, const uint8[::1] is_call,
                             double[::1] out) noexcept nogil:
    """Prices of series sharing sigma and T (u hoisted), underlying scaled by ``scale``."""
    cdef Py_ssize_t i, n = S.shape[0]
    cdef double u, inv_u, a_hi, a_lo
    if T <= 0.0:
        for i in range(n):
            out[i] = _payoff(S[i] * scale, K[i], is_call[i])
        return
    u = _u_of(sigma, T)
    inv_u = 1.0 / u
    a_hi = 0.5 * (1.0 - u)
    a_lo = 0.5 * (1.0 + u)
    for i in range(n):
        out[i] = _ever_price(S[i] * scale, K[i], inv_u, a_hi, a_lo, is_call[i])


cdef void _ever_price_each(const double[::1] S, const double[::1] K, double scale,
                           const double[::1] sigma, const double[::1] T,
                           const uint8[::1] is_call, double[::1] out) noexcept nogil:
    """Prices with per-series sigma and T (T == 0 gives the payoff)."""
    cdef Py_ssize_t i, n = S.shape[0]
    cdef double u, price
    for i in range(n):
        if T[i] > 0.0:
            u = _u_of(sigma[i], T[i])
            price = _ever_price(S[i] * scale, K[i], 1.0 / u, 0.5 * (1.0 - u), 0.5 * (1.0 + u),
                                is_call[i])
        else:
            price = _payoff(S[i] * scale, K[i], is_call[i])
        out[i] = price


cdef void _ever_delta_shared(const double[::1] S, const double[::1] K, double sigma, double T,
                             const uint8[::1] is_call, double[::1] out) noexcept nogil:
    cdef Py_ssize_t i, n = S.shape[0]
    cdef double u, c_hi, c_lo, b_hi, b_lo
    if T <= 0.0:
        for i in range(n):
            out[i] = _step_delta(S[i], K[i], is_call[i]) if K[i] > 0.0 else (
                1.0 if is_call[i] else 0.0)
        return
    u = _u_of(sigma, T)
    c_hi = (1.0 - u) / (2.0 * u)
    c_lo = (1.0 + u) / (2.0 * u)
    b_hi = -0.5 * (1.0 + u)
    b_lo = 0.5 * (u - 1.0)
    for i in range(n):
        out[i] = _ever_delta(S[i], K[i], 1.0 / u, c_hi, c_lo, b_hi, b_lo, is_call[i])


cdef void _ever_delta_each(const double[::1] S, const double[::1] K, const double[::1] sigma,
                           const double[::1] T, const uint8[::1] is_call,
                           double[::1] out) noexcept nogil:
    cdef Py_ssize_t i, n = S.shape[0]
    cdef double u
    for i in range(n):
        if T[i] > 0.0:
            u = _u_of(sigma[i], T[i])
            out[i] = _ever_delta(S[i], K[i], 1.0 / u, (1.0 - u) / (2.0 * u),
                                 (1.0 + u) / (2.0 * u), -0.5 * (1.0 + u), 0.5 * (u - 1.0),
                                 is_call[i])
        else:
            out[i] = _step_delta(S[i], K[i], is_call[i]) if K[i] > 0.0 else (
                1.0 if is_call[i] else 0.0)


cdef void _ever_price_sig(const double[::1] S, const double[::1] K, double scale,
                          const double[::1] sigma, double T, const uint8[::1] is_call,
                          double[::1] out) noexcept nogil:
    """Prices with per-series sigma and a shared T (the simulation's case: sigma per underlying)."""
    cdef Py_ssize_t i, n = S.shape[0]
    cdef double u
    if T <= 0.0:
        for i in range(n):
            out[i] = _payoff(S[i] * scale, K[i], is_call[i])
        return
    for i in range(n):
        u = _u_of(sigma[i], T)
        out[i] = _ever_price(S[i] * scale, K[i], 1.0 / u, 0.5 * (1.0 - u), 0.5 * (1.0 + u),
                             is_call[i])


cdef void _ever_delta_sig(const double[::1] S, const double[::1] K, const double[::1] sigma,
                          double T, const uint8[::1] is_call, double[::1] out) noexcept nogil:
    cdef Py_ssize_t i, n = S.shape[0]
    cdef double u
    if T <= 0.0:
        _ever_delta_shared(S, K, 1.0, 0.0, is_call, out)
        return
    for i in range(n):
        u = _u_of(sigma[i], T)
        out[i] = _ever_delta(S[i], K[i], 1.0 / u, (1.0 - u) / (2.0 * u), (1.0 + u) / (2.0 * u),
                             -0.5 * (1.0 + u), 0.5 * (u - 1.0), is_call[i])


cdef void _bs(const double[::1] S, const double[::1] K, const double[::1] sigma,
              const double[::1] T, const uint8[::1] is_call, const double[::1] r,
              bint want_delta, double[::1] out) noexcept nogil:
    """European price (or delta) under Black-Scholes; T == 0 gives the payoff (step delta)."""
    cdef Py_ssize_t i, n = S.shape[0]
    cdef double vol_sqrt_t, d1, d2, disc_k
    for i in range(n):
        if K[i] <= 0.0:
            # zero strike: the call is the underlying itself (delta 1), the put is worthless
            if want_delta:
                out[i] = 1.0 if is_call[i] else 0.0
            else:
                out[i] = S[i] if is_call[i] else 0.0
        elif T[i] <= 0.0:
            out[i] = _step_delta(S[i], K[i], is_call[i]) if want_delta else _payoff(
                S[i], K[i], is_call[i])
        else:
            vol_sqrt_t = sigma[i] * sqrt(T[i])
            d1 = (log(S[i] / K[i]) + (r[i] + 0.5 * sigma[i] * sigma[i]) * T[i]) / vol_sqrt_t
            d2 = d1 - vol_sqrt_t
            if want_delta:
                out[i] = _norm_cdf(d1) if is_call[i] else -_norm_cdf(-d1)
            else:
                disc_k = K[i] * exp(-r[i] * T[i])
                if is_call[i]:
                    out[i] = S[i] * _norm_cdf(d1) - disc_k * _norm_cdf(d2)
                else:
                    out[i] = disc_k * _norm_cdf(-d2) - S[i] * _norm_cdf(-d1)


# ---------------------------------------------------------------- argument handling

def _prepare(names, values, is_call):
    """Validated, broadcast float64 arrays (in ``names`` order) and uint8 flags.

    ``names`` pairs each argument with its check: "pos" (> 0), "nonneg" (>= 0), "finite".
    Returns (arrays, flags, scalar) where ``scalar`` says every input was a scalar.
    """
    arrays = []
    for (name, kind), value in zip(names, values):
        arr = as_float_array(name, value)
        if kind == "pos":
            check_positive(name, arr)
        elif kind == "nonneg":
            check_non_negative(name, arr)
        else:
            check_finite(name, arr)
        arrays.append(arr)
    scalar = all(is_scalar(v) for v in values) and is_scalar(is_call)
    n_flags = np.size(is_call)
    arrays = broadcast(tuple(n for n, _ in names) + ("is_call",), *arrays, np.empty(n_flags))
    n = arrays[0].shape[0]
    flags = as_bool_array("is_call", is_call, n)
    return arrays[: len(names)], flags, scalar


def _result(out, scalar):
    return float(out[0]) if scalar else out


cdef _bs_call(const double[::1] s, const double[::1] k, const double[::1] v,
              const double[::1] t, const uint8[::1] flags, const double[::1] r, bint delta):
    out = np.empty(s.shape[0])
    cdef double[::1] ov = out
    with nogil:
        _bs(s, k, v, t, flags, r, delta, ov)
    return out


cdef _ever_call(const double[::1] s, const double[::1] k, const double[::1] v,
                const double[::1] t, const uint8[::1] flags, bint delta):
    out = np.empty(s.shape[0])
    cdef double[::1] ov = out
    with nogil:
        if delta:
            _ever_delta_each(s, k, v, t, flags, ov)
        else:
            _ever_price_each(s, k, 1.0, v, t, flags, ov)
    return out


_BS_ARGS = (("S", "pos"), ("K", "nonneg"), ("sigma", "pos"), ("T", "nonneg"), ("r", "finite"))
_EVER_ARGS = (("S", "pos"), ("K", "nonneg"), ("sigma", "pos"), ("funding_period", "nonneg"))


# ---------------------------------------------------------------- public API

def payoff(S, K, is_call):
    """Intrinsic value max(S-K, 0) (call) or max(K-S, 0) (put), USD."""
    (s, k), flags, scalar = _prepare((("S", "pos"), ("K", "nonneg")), (S, K), is_call)
    cdef const double[::1] sv = s
    cdef const double[::1] kv = k
    cdef const uint8[::1] fv = flags
    out = np.empty(s.shape[0])
    cdef double[::1] ov = out
    cdef Py_ssize_t i
    with nogil:
        for i in range(sv.shape[0]):
            ov[i] = _payoff(sv[i], kv[i], fv[i])
    return _result(out, scalar)


def bs_price(S, K, sigma, T, is_call, r=0.0):
    """European option price under Black-Scholes, USD (T in years; T == 0 gives the payoff)."""
    (s, k, v, t, rr), flags, scalar = _prepare(_BS_ARGS, (S, K, sigma, T, r), is_call)
    return _result(_bs_call(s, k, v, t, flags, rr, False), scalar)


def bs_delta(S, K, sigma, T, is_call, r=0.0):
    """Black-Scholes delta dPrice/dS (T == 0: 1 above K, 0 below, 0.5 at K; put = call - 1)."""
    (s, k, v, t, rr), flags, scalar = _prepare(_BS_ARGS, (S, K, sigma, T, r), is_call)
    return _result(_bs_call(s, k, v, t, flags, rr, True), scalar)


def everlasting_price(S, K, sigma, funding_period, is_call):
    """Everlasting option mark, USD (funding_period in years: 0 gives the payoff; K = 0: S)."""
    (s, k, v, t), flags, scalar = _prepare(_EVER_ARGS, (S, K, sigma, funding_period), is_call)
    return _result(_ever_call(s, k, v, t, flags, False), scalar)


def everlasting_delta(S, K, sigma, funding_period, is_call):
    """Everlasting option delta dPrice/dS (continuous at S = K, where the call's is (1+u)/(2u))."""
    (s, k, v, t), flags, scalar = _prepare(_EVER_ARGS, (S, K, sigma, funding_period), is_call)
    return _result(_ever_call(s, k, v, t, flags, True), scalar)


def everlasting_price_into(const double[::1] S, const double[::1] K, sigma,
                           double funding_period, const uint8[::1] is_call, double[::1] out):
    """Unchecked: marks of n series into ``out`` (n,). ``sigma`` a float or a float64 (n,)."""
    cdef const double[::1] sig
    cdef double s0
    if is_scalar(sigma):
        s0 = sigma
        with nogil:
            _ever_price_shared(S, K, 1.0, s0, funding_period, is_call, out)
    else:
        sig = sigma
        with nogil:
            _ever_price_sig(S, K, 1.0, sig, funding_period, is_call, out)


def everlasting_delta_into(const double[::1] S, const double[::1] K, sigma,
                           double funding_period, const uint8[::1] is_call, double[::1] out):
    """Unchecked: deltas of n series into ``out`` (n,). ``sigma`` a float or a float64 (n,)."""
    cdef const double[::1] sig
    cdef double s0
    if is_scalar(sigma):
        s0 = sigma
        with nogil:
            _ever_delta_shared(S, K, s0, funding_period, is_call, out)
    else:
        sig = sigma
        with nogil:
            _ever_delta_sig(S, K, sig, funding_period, is_call, out)


def stress_marks_into(const double[::1] S, const double[::1] K, sigma, double funding_period,
                      const uint8[::1] is_call, const double[::1] moves, double[:, ::1] out):
    """Unchecked: out[g, i] = mark of series i with its underlying at S[i] * (1 + moves[g]).

    ``sigma`` a float or a float64 (n,) array; ``out`` is (n_moves, n).
    """
    cdef Py_ssize_t g
    cdef const double[::1] sig
    cdef double s0
    if is_scalar(sigma):
        s0 = sigma
        with nogil:
            for g in range(moves.shape[0]):
                _ever_price_shared(S, K, 1.0 + moves[g], s0, funding_period, is_call, out[g])
    else:
        sig = sigma
        with nogil:
            for g in range(moves.shape[0]):
                _ever_price_sig(S, K, 1.0 + moves[g], sig, funding_period, is_call, out[g])
