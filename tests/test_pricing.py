"""kernels.pricing: Black-Scholes and everlasting options against outside values (Hull,
Paradigm's closed form, a numerical integral, scipy), edge cases, and the plain-Python twin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import ndtr
from scipy.stats import norm

from kernels import pricing
from kernels.reference import pricing as ref

# ------------------------------------------------------------------ independent checks


def scipy_bs(S, K, sigma, T, is_call, r):
    """Black-Scholes written independently with scipy.stats.norm (Hull, eq. 15.20-15.21)."""
    d1 = (np.log(S / K) + (r + sigma**2 / 2) * T) / (sigma * np.sqrt(T))
    d2 = d1 - sigma * np.sqrt(T)
    call = S * norm.cdf(d1) - K * np.exp(-r * T) * norm.cdf(d2)
    put = K * np.exp(-r * T) * norm.cdf(-d2) - S * norm.cdf(-d1)
    return np.where(is_call, call, put)


def everlasting_by_integral(S, K, sigma, T, is_call):
    """integral_0^inf (1/T) e^(-t/T) BS(S, K, sigma, t) dt (design section 5), by quad.

    With t = T v^2 the integrand e^(-v^2) BS(T v^2) 2v is smooth at v = 0 even at the money
    (BS - payoff ~ sqrt(t) there); it is split where a far-from-the-money European price
    starts to matter, v ~ sqrt(|ln(S/K)| / sigma) scaled by T, so quad sees each bump.
    """

    payoff = max(S - K, 0.0) if is_call else max(K - S, 0.0)

    def european(t):  # scalar Black-Scholes, zero rate, with scipy's normal CDF
        d1 = (math.log(S / K) + sigma**2 / 2 * t) / (sigma * math.sqrt(t))
        d2 = d1 - sigma * math.sqrt(t)
        return S * ndtr(d1) - K * ndtr(d2) if is_call else K * ndtr(-d2) - S * ndtr(-d1)

    # the payoff integrates to itself (the weights sum to 1); quad handles the time value
    def time_value(v):
        t = T * v * v
        return 0.0 if t == 0.0 else math.exp(-v * v) * (european(t) - payoff) * 2.0 * v

    total = 0.0

    peak = math.sqrt(abs(math.log(S / K)) / (sigma * math.sqrt(T)) + 1.0)
    edges = [0.0, 0.25 * peak, 0.5 * peak, peak, 2.0 * peak, 4.0 * peak, 8.0 * peak]
    tol = dict(epsabs=1e-14 * S, epsrel=1e-10, limit=200)
    for a, b in zip(edges[:-1], edges[1:]):
        total += integrate.quad(time_value, a, b, **tol)[0]
    total += integrate.quad(time_value, edges[-1], np.inf, **tol)[0]
    return payoff + total


# ------------------------------------------------------------------ Black-Scholes


def test_black_scholes_matches_hull_textbook_example():
    # Hull, Options, Futures and Other Derivatives, Example 15.6: call 4.76, put 0.81
    assert pricing.bs_price(42.0, 40.0, 0.2, 0.5, True, r=0.1) == pytest.approx(4.76, abs=0.005)
    assert pricing.bs_price(42.0, 40.0, 0.2, 0.5, False, r=0.1) == pytest.approx(0.81, abs=0.005)


def test_black_scholes_matches_scipy_on_random_inputs():
    rng = np.random.default_rng(20240501)
    n = 1000
    S = rng.uniform(10, 200, n)
    K = S * np.exp(rng.uniform(-0.5, 0.5, n))
    sigma = rng.uniform(0.05, 1.5, n)
    T = rng.uniform(1 / 365, 3.0, n)
    r = rng.uniform(-0.02, 0.1, n)
    is_call = rng.random(n) < 0.5
    got = pricing.bs_price(S, K, sigma, T, is_call, r)
    want = scipy_bs(S, K, sigma, T, is_call, r)
    # relative 1e-10; deep out-of-the-money prices below 1e-12 S are compared absolutely
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * S.max())
    assert np.all(want > 0)


def test_black_scholes_delta_is_normal_cdf_of_d1():
    S, K, sigma, T, r = 105.0, 100.0, 0.3, 0.25, 0.02
    d1 = (math.log(S / K) + (r + sigma**2 / 2) * T) / (sigma * math.sqrt(T))
    assert pricing.bs_delta(S, K, sigma, T, True, r) == pytest.approx(norm.cdf(d1), rel=1e-12)
    assert pricing.bs_delta(S, K, sigma, T, False, r) == pytest.approx(norm.cdf(d1) - 1, rel=1e-12)


def test_black_scholes_at_expiry_is_the_payoff_with_step_delta():
    S = np.array([90.0, 100.0, 110.0])
    assert list(pricing.bs_price(S, 100.0, 0.5, 0.0, True)) == [0.0, 0.0, 10.0]
    assert list(pricing.bs_price(S, 100.0, 0.5, 0.0, False)) == [10.0, 0.0, 0.0]
    assert list(pricing.bs_delta(S, 100.0, 0.5, 0.0, True)) == [0.0, 0.5, 1.0]
    assert list(pricing.bs_delta(S, 100.0, 0.5, 0.0, False)) == [-1.0, -0.5, 0.0]
    # and T -> 0 approaches it
    assert pricing.bs_price(110.0, 100.0, 0.5, 1e-12, True) == pytest.approx(10.0, rel=1e-12)


def test_black_scholes_zero_strike_call_is_the_underlying():
    assert pricing.bs_price(123.0, 0.0, 0.5, 1.0, True, r=0.05) == 123.0
    assert pricing.bs_price(123.0, 0.0, 0.5, 1.0, False, r=0.05) == 0.0
    assert pricing.bs_delta(123.0, 0.0, 0.5, 1.0, True) == 1.0
    assert pricing.bs_delta(123.0, 0.0, 0.5, 1.0, False) == 0.0


# ------------------------------------------------------------------ everlasting options


def test_everlasting_matches_design_check_values():
    # design section 5: sigma 0.55, T = 1 day: u = 98.254, ATM call 1.0178 % of S, delta 0.5051
    sigma, T = 0.55, 1 / 365
    u = math.sqrt(1 + 8 / (sigma**2 * T))
    assert u == pytest.approx(98.254, abs=0.0005)
    S = 60_000.0
    assert pricing.everlasting_price(S, S, sigma, T, True) / S == pytest.approx(0.010178, abs=5e-7)
    assert pricing.everlasting_delta(S, S, sigma, T, True) == pytest.approx(0.5051, abs=5e-5)


def test_everlasting_equals_exponentially_weighted_european_prices():
    rng = np.random.default_rng(7)
    for _ in range(50):
        S = rng.uniform(50, 150)
        K = 100.0 * math.exp(rng.uniform(-0.3, 0.3))
        sigma = rng.uniform(0.2, 1.2)
        T = math.exp(rng.uniform(math.log(1 / 365), math.log(1.0)))
        is_call = bool(rng.random() < 0.5)
        want = everlasting_by_integral(S, K, sigma, T, is_call)
        got = pricing.everlasting_price(S, K, sigma, T, is_call)
        assert got == pytest.approx(want, rel=1e-7), (S, K, sigma, T, is_call)


def test_everlasting_put_call_parity():
    rng = np.random.default_rng(3)
    S, K = rng.uniform(50, 150, 200), rng.uniform(50, 150, 200)
    sigma, T = rng.uniform(0.1, 1.5, 200), rng.uniform(1 / 365, 1, 200)
    call = pricing.everlasting_price(S, K, sigma, T, True)
    put = pricing.everlasting_price(S, K, sigma, T, False)
    np.testing.assert_allclose(put, call - S + K, rtol=1e-12, atol=1e-12 * S.max())


@pytest.mark.parametrize("is_call", [True, False])
def test_everlasting_delta_matches_finite_differences(is_call):
    rng = np.random.default_rng(11)
    S = rng.uniform(50, 150, 100)
    S = S[np.abs(S - 100.0) > 1.0]  # gamma jumps at S = K; keep the stencil on one side
    sigma, T, h = 0.7, 7 / 365, 1e-4 * S
    up = pricing.everlasting_price(S + h, 100.0, sigma, T, is_call)
    down = pricing.everlasting_price(S - h, 100.0, sigma, T, is_call)
    np.testing.assert_allclose(
        pricing.everlasting_delta(S, 100.0, sigma, T, is_call), (up - down) / (2 * h),
        rtol=1e-6, atol=1e-8,
    )


@pytest.mark.parametrize("is_call", [True, False])
def test_black_scholes_delta_matches_finite_differences(is_call):
    rng = np.random.default_rng(12)
    S = rng.uniform(50, 150, 100)
    sigma, T, r, h = 0.4, 0.5, 0.03, 1e-4 * S
    up = pricing.bs_price(S + h, 100.0, sigma, T, is_call, r)
    down = pricing.bs_price(S - h, 100.0, sigma, T, is_call, r)
    np.testing.assert_allclose(
        pricing.bs_delta(S, 100.0, sigma, T, is_call, r), (up - down) / (2 * h),
        rtol=1e-6, atol=1e-8,
    )


def test_everlasting_delta_is_continuous_at_the_strike():
    sigma, T, K = 0.55, 1 / 365, 100.0
    u = math.sqrt(1 + 8 / (sigma**2 * T))
    eps = 1e-9
    below, at, above = pricing.everlasting_delta(
        np.array([K * (1 - eps), K, K * (1 + eps)]), K, sigma, T, True
    )
    assert at == pytest.approx((1 + u) / (2 * u), rel=1e-12)
    assert abs(above - below) < 1e-6


def test_everlasting_with_zero_funding_period_is_the_payoff():
    S = np.array([90.0, 100.0, 110.0])
    for is_call in (True, False):
        np.testing.assert_array_equal(
            pricing.everlasting_price(S, 100.0, 0.5, 0.0, is_call),
            pricing.payoff(S, 100.0, is_call),
        )
    assert list(pricing.everlasting_delta(S, 100.0, 0.5, 0.0, True)) == [0.0, 0.5, 1.0]
    assert list(pricing.everlasting_delta(S, 100.0, 0.5, 0.0, False)) == [-1.0, -0.5, 0.0]
    # and a short funding period approaches it
    assert pricing.everlasting_price(110.0, 100.0, 0.5, 1e-9, True) == pytest.approx(10.0, rel=1e-9)


def test_zero_strike_call_is_the_perpetual_future():
    assert pricing.everlasting_price(250.0, 0.0, 0.6, 1 / 365, True) == 250.0
    assert pricing.everlasting_price(250.0, 0.0, 0.6, 1 / 365, False) == 0.0
    assert pricing.everlasting_delta(250.0, 0.0, 0.6, 1 / 365, True) == 1.0
    assert pricing.everlasting_delta(250.0, 0.0, 0.6, 1 / 365, False) == 0.0


def test_everlasting_is_worth_more_than_its_payoff():
    rng = np.random.default_rng(5)
    S, K = rng.uniform(50, 150, 500), rng.uniform(50, 150, 500)
    is_call = rng.random(500) < 0.5
    price = pricing.everlasting_price(S, K, 0.5, 1 / 365, is_call)
    time_value = price - pricing.payoff(S, K, is_call)
    assert np.all(time_value >= 0)
    near = np.abs(np.log(S / K)) < 0.1  # far from the strike it underflows below one ulp of S
    assert near.sum() > 20 and np.all(time_value[near] > 0)


# ------------------------------------------------------------------ shapes and arguments


def test_scalars_give_a_float_and_arrays_broadcast():
    assert type(pricing.everlasting_price(100.0, 100.0, 0.5, 1 / 365, True)) is float
    out = pricing.everlasting_price(np.array([90.0, 110.0]), 100.0, 0.5, 1 / 365, [True, False])
    assert out.dtype == np.float64 and out.shape == (2,)
    assert out[0] == pricing.everlasting_price(90.0, 100.0, 0.5, 1 / 365, True)
    flags_only = pricing.payoff(100.0, 90.0, np.array([True, False]))
    assert list(flags_only) == [10.0, 0.0]


BAD_ARGUMENTS = [
    ("S", dict(S=0.0)),
    ("S", dict(S=-1.0)),
    ("S", dict(S=float("nan"))),
    ("K", dict(K=-1.0)),
    ("K", dict(K=float("nan"))),
    ("sigma", dict(sigma=0.0)),
    ("sigma", dict(sigma=-0.2)),
    ("sigma", dict(sigma=float("inf"))),
    ("funding_period", dict(funding_period=-1.0)),
    ("K", dict(S=np.ones(3), K=np.ones(2))),
    ("is_call", dict(S=np.ones(3), is_call=[True, False])),
    ("is_call", dict(is_call=0.5)),
]


@pytest.mark.parametrize("module", [pricing, ref], ids=["cython", "reference"])
@pytest.mark.parametrize("name,bad", BAD_ARGUMENTS)
def test_bad_everlasting_arguments_raise_naming_the_argument(module, name, bad):
    args = dict(S=100.0, K=100.0, sigma=0.5, funding_period=1 / 365, is_call=True) | bad
    for fn in (module.everlasting_price, module.everlasting_delta):
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            fn(**args)


@pytest.mark.parametrize("module", [pricing, ref], ids=["cython", "reference"])
@pytest.mark.parametrize(
    "name,bad",
    [("T", dict(T=-0.1)), ("r", dict(r=float("nan"))), ("sigma", dict(sigma=0.0)),
     ("S", dict(S=[1.0, -1.0]))],
)
def test_bad_black_scholes_arguments_raise_naming_the_argument(module, name, bad):
    args = dict(S=100.0, K=100.0, sigma=0.5, T=0.5, is_call=True, r=0.0) | bad
    for fn in (module.bs_price, module.bs_delta):
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            fn(**args)


# ------------------------------------------------------------------ hot path and twin

finite = dict(allow_nan=False, allow_infinity=False)
spots = st.floats(1e-2, 1e6, **finite)
strikes = st.one_of(st.just(0.0), st.floats(1e-2, 1e6, **finite))
sigmas = st.floats(0.01, 3.0, **finite)
periods = st.one_of(st.just(0.0), st.floats(1e-4, 5.0, **finite))


def option_batches(min_size=1, max_size=40):
    return st.integers(min_size, max_size).flatmap(
        lambda n: st.tuples(
            st.lists(spots, min_size=n, max_size=n),
            st.lists(strikes, min_size=n, max_size=n),
            st.lists(sigmas, min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
        )
    )


def assert_twin(name, got, want, S, K):
    """1e-12 relative; values near 0 (time values that underflow, deep out of the money, where
    exp(a log(S/K)) and (S/K)**a round differently) get a floor of 1e-12 of the price scale."""
    scale = 1.0 if "delta" in name else float(np.max(np.maximum(S, K)))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale, err_msg=name)


@settings(max_examples=200, deadline=None)
@given(option_batches(), periods, st.floats(-0.05, 0.2, **finite), st.floats(0, 5, **finite))
def test_public_functions_match_reference(batch, T, r, bs_T):
    S, K, sigma, is_call = (np.array(x) for x in batch)
    for name in ("everlasting_price", "everlasting_delta"):
        got = getattr(pricing, name)(S, K, sigma, T, is_call)
        want = getattr(ref, name)(S, K, sigma, T, is_call)
        assert_twin(name, got, want, S, K)
    for name in ("bs_price", "bs_delta"):
        got = getattr(pricing, name)(S, K, sigma, bs_T, is_call, r)
        want = getattr(ref, name)(S, K, sigma, bs_T, is_call, r)
        assert_twin(name, got, want, S, K)
    np.testing.assert_array_equal(pricing.payoff(S, K, is_call), ref.payoff(S, K, is_call))


@settings(max_examples=200, deadline=None)
@given(option_batches(), periods, st.booleans(),
       st.lists(st.floats(-0.9, 2.0, **finite), min_size=1, max_size=5))
def test_into_kernels_match_reference(batch, T, shared_sigma, moves):
    S, K, sigma, is_call = (np.array(x) for x in batch)
    flags = is_call.astype(np.uint8)
    sig = float(sigma[0]) if shared_sigma else sigma
    for name in ("everlasting_price_into", "everlasting_delta_into"):
        got, want = np.empty(len(S)), np.empty(len(S))
        getattr(pricing, name)(S, K, sig, T, flags, got)
        getattr(ref, name)(S, K, sig, T, flags, want)
        assert_twin(name, got, want, S, K)
    mv = np.array(moves)
    got, want = np.empty((len(mv), len(S))), np.empty((len(mv), len(S)))
    pricing.stress_marks_into(S, K, sig, T, flags, mv, got)
    ref.stress_marks_into(S, K, sig, T, flags, mv, want)
    assert_twin("stress_marks_into", got, want, S * 3.0, K)  # moves go up to +200%


def test_into_kernels_agree_with_public_functions():
    rng = np.random.default_rng(9)
    n = 1000
    S, K = rng.uniform(50, 150, n), rng.uniform(50, 150, n)
    sigma, flags = rng.uniform(0.3, 1.0, n), (rng.random(n) < 0.5).astype(np.uint8)
    out = np.empty(n)
    pricing.everlasting_price_into(S, K, sigma, 1 / 365, flags, out)
    want = pricing.everlasting_price(S, K, sigma, 1 / 365, flags)
    np.testing.assert_allclose(out, want, rtol=1e-13)
    pricing.everlasting_delta_into(S, K, 0.6, 1 / 365, flags, out)
    want = pricing.everlasting_delta(S, K, 0.6, 1 / 365, flags)
    np.testing.assert_allclose(out, want, rtol=1e-13)
    moves = np.array([-0.2, 0.0, 0.2])
    grid = np.empty((3, n))
    pricing.stress_marks_into(S, K, sigma, 1 / 365, flags, moves, grid)
    for g, m in enumerate(moves):
        np.testing.assert_allclose(
            grid[g], pricing.everlasting_price(S * (1 + m), K, sigma, 1 / 365, flags), rtol=1e-13
        )
