"""kernels.amm: the constant-product pool against Uniswap v2's published swap results, the
design's depth formula, liquidity accounting, argument checks, and the plain-Python twin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import amm
from kernels.reference import amm as ref

UNISWAP_FEE = 0.003
E18 = 10**18

# Uniswap/v2-core test/UniswapV2Pair.spec.ts, `swapTestCases` (getInputPrice):
# [swap amount, reserve in, reserve out] in whole tokens, expected output in 1e-18 units
# (the contract floors the result to an integer).
SWAP_TEST_CASES = [
    (1, 5, 10, 1662497915624478906),
    (1, 10, 5, 453305446940074565),
    (2, 5, 10, 2851015155847869602),
    (2, 10, 5, 831248957812239453),
    (1, 10, 10, 906610893880149131),
    (1, 100, 100, 987158034397061298),
    (1, 1000, 1000, 996006981039903216),
]


@pytest.mark.parametrize("amount_in,reserve_in,reserve_out,expected_wei", SWAP_TEST_CASES)
def test_get_amount_out_matches_uniswap_v2(amount_in, reserve_in, reserve_out, expected_wei):
    # in 1e18 units, as the contract computes it, and in token units
    got_wei = amm.get_amount_out(amount_in * E18, reserve_in * E18, reserve_out * E18, UNISWAP_FEE)
    assert got_wei == pytest.approx(expected_wei, rel=1e-12)
    got = amm.get_amount_out(float(amount_in), float(reserve_in), float(reserve_out), UNISWAP_FEE)
    assert abs(got - expected_wei / E18) <= 1e-18 + 4 * math.ulp(got)
    assert got >= expected_wei / E18 - 1e-18  # the contract floors; we do not round


def test_get_amount_out_on_arrays_matches_uniswap_v2():
    a, r_in, r_out, expected = (np.array(col, dtype=float) for col in zip(*SWAP_TEST_CASES))
    np.testing.assert_allclose(amm.get_amount_out(a, r_in, r_out, UNISWAP_FEE), expected / E18,
                               rtol=1e-12)


def test_get_amount_in_inverts_get_amount_out():
    rng = np.random.default_rng(1)
    r_in, r_out = rng.uniform(1, 1e6, 500), rng.uniform(1, 1e6, 500)
    a = r_in * rng.uniform(0, 10, 500)
    out = amm.get_amount_out(a, r_in, r_out, UNISWAP_FEE)
    np.testing.assert_allclose(amm.get_amount_in(out, r_in, r_out, UNISWAP_FEE), a, rtol=1e-12)


def test_swap_keeps_the_invariant_without_fee_and_grows_it_with_fee():
    x, y, a = 1000.0, 250_000.0, 37.0
    out = amm.get_amount_out(a, x, y, 0.0)
    assert (x + a) * (y - out) == pytest.approx(x * y, rel=1e-14)
    out_fee = amm.get_amount_out(a, x, y, UNISWAP_FEE)
    assert (x + a) * (y - out_fee) > x * y


def test_spot_price_is_usd_per_token():
    assert amm.spot_price(2_000.0, 500_000.0) == 250.0
    assert list(amm.spot_price(np.array([1.0, 4.0]), 8.0)) == [8.0, 2.0]


def test_depth_matches_the_design_formula():
    x, y = 4_000.0, 1_000_000.0
    p = y / x
    want = y * (math.sqrt(1.02) - 1) + p * x * (1 / math.sqrt(0.98) - 1)
    assert amm.depth_usd(x, y) == pytest.approx(want, rel=1e-14)
    np.testing.assert_allclose(amm.depth_usd(np.array([x, 2 * x]), y), [want, want], rtol=1e-14)


@pytest.mark.parametrize("frac", [0.005, 0.02, 0.1])
def test_depth_trades_move_the_price_by_the_fraction(frac):
    x, y = 4_000.0, 1_000_000.0
    p = amm.spot_price(x, y)
    usd = amm.usd_in_to_raise_price(x, y, frac)
    tokens_out = amm.get_amount_out(usd, y, x, 0.0)  # fees excluded
    assert amm.spot_price(x - tokens_out, y + usd) == pytest.approx(p * (1 + frac), rel=1e-12)
    tokens = amm.token_in_to_lower_price(x, y, frac)
    usd_out = amm.get_amount_out(tokens, x, y, 0.0)
    assert amm.spot_price(x + tokens, y - usd_out) == pytest.approx(p * (1 - frac), rel=1e-12)
    assert amm.depth_usd(x, y, frac) == pytest.approx(usd + p * tokens, rel=1e-12)


def test_first_deposit_mints_geometric_mean_shares():
    # Uniswap v2 `mint`: 1 and 4 tokens give sqrt(1 * 4) = 2 liquidity
    assert amm.add_liquidity(0.0, 0.0, 0.0, 1.0, 4.0) == (1.0, 4.0, 2.0)


@pytest.mark.parametrize("token_in,usd_in", [(10.0, 1e9), (1e9, 500.0), (4.0, 1000.0)])
def test_add_liquidity_keeps_proportion_and_value(token_in, usd_in):
    x, y, shares = 1_000.0, 250_000.0, 15_811.0
    token_used, usd_used, minted = amm.add_liquidity(x, y, shares, token_in, usd_in)
    assert token_used <= token_in and usd_used <= usd_in
    assert token_used == token_in or usd_used == usd_in  # one side binds
    assert (y + usd_used) / (x + token_used) == pytest.approx(y / x, rel=1e-14)  # price unchanged
    p = y / x
    value_in = token_used * p + usd_used
    value_after = (x + token_used) * p + (y + usd_used)
    assert minted / (shares + minted) == pytest.approx(value_in / value_after, rel=1e-14)


def test_remove_liquidity_returns_the_pro_rata_reserves_and_round_trips():
    x, y, shares = 1_000.0, 250_000.0, 15_811.0
    token_used, usd_used, minted = amm.add_liquidity(x, y, shares, 3.0, 1e6)
    token_out, usd_out = amm.remove_liquidity(x + token_used, y + usd_used, shares + minted, minted)
    assert token_out == pytest.approx(token_used, rel=1e-13)
    assert usd_out == pytest.approx(usd_used, rel=1e-13)
    assert amm.remove_liquidity(x, y, shares, shares) == (x, y)


# ------------------------------------------------------------------ arguments

SWAP_BAD = [
    ("amount_in", dict(amount_in=-1.0)),
    ("amount_in", dict(amount_in=float("nan"))),
    ("reserve_in", dict(reserve_in=0.0)),
    ("reserve_in", dict(reserve_in=-5.0)),
    ("reserve_out", dict(reserve_out=float("inf"))),
    ("fee", dict(fee=1.0)),
    ("fee", dict(fee=-0.01)),
    ("fee", dict(fee=float("nan"))),
    ("reserve_out", dict(amount_in=np.ones(3), reserve_out=np.ones(2))),
    ("amount_in", dict(amount_in=[1.0, -1.0])),
]


@pytest.mark.parametrize("module", [amm, ref], ids=["cython", "reference"])
@pytest.mark.parametrize("name,bad", SWAP_BAD)
def test_bad_swap_arguments_raise_naming_the_argument(module, name, bad):
    args = dict(amount_in=1.0, reserve_in=5.0, reserve_out=10.0, fee=UNISWAP_FEE) | bad
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        module.get_amount_out(**args)


@pytest.mark.parametrize("module", [amm, ref], ids=["cython", "reference"])
@pytest.mark.parametrize("amount_out", [10.0, 11.0, [1.0, 10.0]])
def test_buying_the_whole_reserve_is_an_error(module, amount_out):
    with pytest.raises(ValueError, match=r"^amount_out\b"):
        module.get_amount_in(amount_out, 5.0, 10.0, UNISWAP_FEE)


@pytest.mark.parametrize("module", [amm, ref], ids=["cython", "reference"])
def test_bad_pool_arguments_raise_naming_the_argument(module):
    with pytest.raises(ValueError, match=r"^reserve_token\b"):
        module.spot_price(-1.0, 10.0)
    with pytest.raises(ValueError, match=r"^reserve_usd\b"):
        module.depth_usd(1.0, float("nan"))
    with pytest.raises(ValueError, match=r"^frac\b"):
        module.depth_usd(1.0, 10.0, frac=1.0)
    with pytest.raises(ValueError, match=r"^frac\b"):
        module.usd_in_to_raise_price(1.0, 10.0, -0.02)
    with pytest.raises(ValueError, match=r"^frac\b"):
        module.token_in_to_lower_price(1.0, 10.0, 1.5)
    with pytest.raises(ValueError, match=r"^token_in\b"):
        module.add_liquidity(1.0, 10.0, 3.0, -1.0, 1.0)
    with pytest.raises(ValueError, match=r"^usd_in\b"):
        module.add_liquidity(0.0, 0.0, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"^total_shares\b"):
        module.remove_liquidity(1.0, 10.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"^shares\b"):
        module.remove_liquidity(1.0, 10.0, 3.0, 4.0)


def test_scalars_give_a_float_and_arrays_broadcast():
    assert type(amm.get_amount_out(1.0, 5.0, 10.0, UNISWAP_FEE)) is float
    assert type(amm.get_amount_out(np.float64(1.0), 5, 10, UNISWAP_FEE)) is float
    out = amm.get_amount_out(np.array([1.0, 2.0]), 5.0, 10.0, UNISWAP_FEE)
    assert out.dtype == np.float64 and out.shape == (2,)
    assert out[1] == amm.get_amount_out(2.0, 5.0, 10.0, UNISWAP_FEE)


# ------------------------------------------------------------------ twin

finite = dict(allow_nan=False, allow_infinity=False)
reserves = st.floats(1e-3, 1e12, **finite)
fees = st.floats(0.0, 0.1, **finite)


def pool_batches(max_size=30):
    return st.integers(1, max_size).flatmap(
        lambda n: st.tuples(
            st.lists(reserves, min_size=n, max_size=n),
            st.lists(reserves, min_size=n, max_size=n),
            st.lists(st.floats(0.0, 10.0, **finite), min_size=n, max_size=n),
        )
    )


@settings(max_examples=200, deadline=None)
@given(pool_batches(), fees, st.floats(0.0, 0.99, **finite), st.booleans())
def test_array_functions_match_reference(batch, fee, frac, as_scalars):
    x, y, rel = (np.array(c) for c in batch)
    if as_scalars:
        x, y, rel = float(x[0]), float(y[0]), float(rel[0])
    a = rel * x  # trade sizes up to 10x the reserve
    b = rel / 11.0 * y  # strictly below the output reserve
    pairs = [
        (amm.get_amount_out(a, x, y, fee), ref.get_amount_out(a, x, y, fee)),
        (amm.get_amount_in(b, x, y, fee), ref.get_amount_in(b, x, y, fee)),
        (amm.spot_price(x, y), ref.spot_price(x, y)),
        (amm.usd_in_to_raise_price(x, y, frac), ref.usd_in_to_raise_price(x, y, frac)),
        (amm.token_in_to_lower_price(x, y, frac), ref.token_in_to_lower_price(x, y, frac)),
        (amm.depth_usd(x, y, frac), ref.depth_usd(x, y, frac)),
    ]
    for got, want in pairs:
        assert type(got) is type(want)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0.0)


@settings(max_examples=200, deadline=None)
@given(reserves, reserves, reserves, st.floats(0, 1e9, **finite), st.floats(0, 1e9, **finite),
       st.floats(0.0, 1.0, **finite))
def test_liquidity_functions_match_reference(x, y, shares, token_in, usd_in, part):
    np.testing.assert_allclose(amm.add_liquidity(x, y, shares, token_in, usd_in),
                               ref.add_liquidity(x, y, shares, token_in, usd_in), rtol=1e-12)
    np.testing.assert_allclose(amm.remove_liquidity(x, y, shares, part * shares),
                               ref.remove_liquidity(x, y, shares, part * shares), rtol=1e-12)
