"""kernels.pool against its plain-Python twin and against design sections 5 and 7."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import pool
from kernels.reference import pool as ref

RTOL = 1e-9
SETTINGS = settings(max_examples=60, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def close(a, b, scale: float = 1.0) -> None:
    """Equal to 1e-9 relative; ``scale`` (sum of |terms|) sets the floor for cancelling sums."""
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale)


def grid(rng: np.random.Generator, n_series: int, n_points: int = 6):
    net = rng.normal(0.0, 10.0, n_series)
    marks = rng.uniform(1.0, 500.0, n_series)
    stress = marks * (1.0 + rng.uniform(-0.5, 0.5, (n_points, n_series)))
    return net, marks, stress


def positions(rng: np.random.Generator, n: int, n_accounts: int, n_series: int):
    acct = rng.integers(0, n_accounts, n)
    ser = rng.integers(0, n_series, n)
    size = rng.normal(0.0, 2.0, n)
    mark = rng.uniform(0.0, 2000.0, n_series)
    payoff = mark * rng.uniform(0.0, 1.0, n_series)
    entry = mark[ser] * rng.uniform(0.7, 1.3, n)
    return acct, ser, size, mark, payoff, entry


# ---------------------------------------------------------------- kernel == twin

@SETTINGS
@given(seed=seeds, n=st.integers(1, 20))
def test_spread_and_grid_functions_match_twin(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 1, n)
    close(pool.spread_for(0.002, 0.01, u), ref.spread_for(0.002, 0.01, u))
    assert pool.spread_for(0.002, 0.01, 0.5) == pytest.approx(0.007, rel=1e-15)
    net, marks, stress = grid(rng, n)
    scale = float(np.sum(np.abs(net) * marks) * 2)
    close(pool.stress_losses(net, marks, stress), ref.stress_losses(net, marks, stress), scale)
    nav = float(rng.uniform(1e3, 1e5))
    close(pool.utilization(net, marks, stress, nav), ref.utilization(net, marks, stress, nav),
          scale / nav)
    s, dn = int(rng.integers(0, n)), float(rng.normal(0, 5))
    close(pool.utilization_after_trade(net, marks, stress, nav, s, dn),
          ref.utilization_after_trade(net, marks, stress, nav, s, dn), scale / nav)
    deltas, spots = rng.uniform(-1, 1, n), rng.uniform(100, 1e5, n)
    und = rng.integers(0, 3, n)
    close(pool.net_delta_usd(net, deltas, spots, und, 3),
          ref.net_delta_usd(net, deltas, spots, und, 3), float(np.sum(np.abs(net) * spots)))


@SETTINGS
@given(seed=seeds, n=st.integers(0, 200), n_accounts=st.integers(1, 30), n_series=st.integers(1, 8))
def test_funding_and_pnl_match_twin(seed: int, n: int, n_accounts: int, n_series: int) -> None:
    rng = np.random.default_rng(seed)
    acct, ser, size, mark, payoff, entry = positions(rng, n, n_accounts, n_series)
    dt, period, price = 1 / 8766, 1 / 365.25, float(rng.uniform(0.5, 500))
    got = pool.accrue_funding(acct, ser, size, mark, payoff, dt, period, price, n_accounts)
    want = ref.accrue_funding(acct, ser, size, mark, payoff, dt, period, price, n_accounts)
    close(got, want, float(np.sum(np.abs(size)) * mark.max() * dt / period / price))
    close(pool.unrealized_pnl_usd(ser, size, entry, mark),
          ref.unrealized_pnl_usd(ser, size, entry, mark), float(np.sum(np.abs(size) * entry)))


@SETTINGS
@given(assets=st.floats(0, 1e9), total_shares=st.floats(0, 1e9), total_assets=st.floats(1e-3, 1e9),
       lp_share=st.floats(0, 1), trial=st.floats(0, 1))
def test_share_and_fee_arithmetic_match_twin(assets, total_shares, total_assets, lp_share,
                                             trial) -> None:
    assert pool.shares_for_deposit(assets, total_shares, total_assets) == \
        ref.shares_for_deposit(assets, total_shares, total_assets)
    shares = trial * total_shares
    assert pool.assets_for_shares(shares, total_shares, total_assets) == \
        ref.assets_for_shares(shares, total_shares, total_assets)
    assert pool.split_fee(assets, lp_share) == ref.split_fee(assets, lp_share)
    assert pool.trade_allowed(trial, lp_share, 0.8) == ref.trade_allowed(trial, lp_share, 0.8)


# ---------------------------------------------------------------- utilization and the refusal rule

def test_utilization_is_largest_pool_loss_over_nav() -> None:
    # Traders long 2 of series 0; it is worth 10 -> 30 at the worst point: pool loses 40 USD.
    net, marks = np.array([2.0, -1.0]), np.array([10.0, 5.0])
    stress = np.array([[30.0, 5.0], [2.0, 9.0]])
    np.testing.assert_allclose(pool.stress_losses(net, marks, stress), [40.0, -20.0])
    assert pool.utilization(net, marks, stress, 100.0) == pytest.approx(0.4)
    assert pool.utilization(net, marks, stress, 0.0) == math.inf
    # Traders buying 2 more of series 0 doubles the loss; the net array is not touched.
    before = net.copy()
    assert pool.utilization_after_trade(net, marks, stress, 100.0, 0, 2.0) == pytest.approx(0.8)
    np.testing.assert_array_equal(net, before)


def test_trade_refused_only_if_it_raises_utilization_above_the_cap() -> None:
    assert pool.trade_allowed(0.5, 0.7, 0.8)          # raises, stays below the cap
    assert not pool.trade_allowed(0.5, 0.85, 0.8)     # raises above the cap
    assert pool.trade_allowed(0.95, 0.9, 0.8)         # above the cap but reduces risk
    assert pool.trade_allowed(math.inf, math.inf, 0.8)  # a close while NAV <= 0


def test_net_delta_notional_per_underlying() -> None:
    got = pool.net_delta_usd([1.0, -2.0, 3.0], [0.5, 0.25, 1.0], [100.0, 100.0, 10.0],
                             np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(got, [0.0, 30.0])


# ---------------------------------------------------------------- funding (design section 5)

def test_funding_is_zero_for_the_perpetual_future() -> None:
    spot = 65000.0  # zero-strike call: mark = payoff = S
    got = pool.accrue_funding(np.array([0, 1]), np.array([0, 0]), np.array([1.5, -1.5]),
                              [spot], [spot], 1 / 8766, 1 / 365.25, 300.0, 2)
    np.testing.assert_array_equal(got, [0.0, 0.0])


def test_long_option_pays_n_mark_minus_payoff_dt_over_T_in_tokens() -> None:
    dt, period, price = 1 / 24, 1.0, 250.0
    got = pool.accrue_funding(np.array([0]), np.array([0]), np.array([2.0]), [1300.0], [1000.0],
                              dt, period, price, 1)
    assert got[0] == pytest.approx(2.0 * 300.0 * dt / period / price, rel=1e-14)
    assert got[0] > 0


@SETTINGS
@given(seed=seeds, n_series=st.integers(1, 6))
def test_funding_sums_to_zero_between_longs_and_shorts(seed: int, n_series: int) -> None:
    rng = np.random.default_rng(seed)
    mark = rng.uniform(1, 5000, n_series)
    payoff = mark * rng.uniform(0, 1, n_series)
    sizes = rng.uniform(0.1, 5, n_series)
    ser = np.concatenate([np.arange(n_series), np.arange(n_series)])
    size = np.concatenate([sizes, -sizes])
    acct = np.concatenate([np.zeros(n_series, np.int64), np.ones(n_series, np.int64)])
    got = pool.accrue_funding(acct, ser, size, mark, payoff, 1 / 8766, 1 / 365.25, 2.0, 2)
    assert got[0] >= 0 and got[1] <= 0
    assert got[0] + got[1] == pytest.approx(0.0, abs=1e-12 * got[0] + 1e-300)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 100))
def test_funding_conserves_collateral_plus_pool(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    acct, ser, size, mark, payoff, _ = positions(rng, n, 10, 4)
    q = rng.uniform(0, 100, 10)
    pool_balance = 1000.0
    before = q.sum() + pool_balance
    paid = pool.accrue_funding(acct, ser, size, mark, payoff, 1 / 8766, 1 / 365.25, 3.0, 10)
    q -= paid
    pool_balance += paid.sum()
    assert q.sum() + pool_balance == pytest.approx(before, rel=1e-9)


# ---------------------------------------------------------------- ERC-4626 shares (design section 7)

def test_first_deposit_is_one_to_one_and_round_trip_returns_the_deposit() -> None:
    assert pool.shares_for_deposit(1234.5, 0.0, 0.0) == 1234.5
    shares = pool.shares_for_deposit(500.0, 1000.0, 1250.0)
    assert shares == pytest.approx(400.0, rel=1e-14)
    back = pool.assets_for_shares(shares, 1400.0, 1750.0)
    assert back == pytest.approx(500.0, rel=1e-14) and back <= 500.0


@settings(max_examples=200, deadline=None)
@given(total_shares=st.floats(1e-3, 1e9), total_assets=st.floats(1e-3, 1e9),
       deposit=st.floats(0, 1e9, allow_subnormal=False))  # subnormal dust has no relative precision
def test_no_share_mints_value_out_of_nothing(total_shares, total_assets, deposit) -> None:
    price_before = total_assets / total_shares
    minted = pool.shares_for_deposit(deposit, total_shares, total_assets)
    ts, ta = total_shares + minted, total_assets + deposit
    # Existing holders: assets per share never falls, and rises by rounding at most.
    assert ta / ts >= price_before * (1 - 1e-15)
    assert ta / ts <= price_before * (1 + 1e-12)
    # The new depositor cannot take out more than they put in.
    assert pool.assets_for_shares(minted, ts, ta) <= deposit
    # LP mint/burn conserves tokens: pool assets + LP wallet.
    out = pool.assets_for_shares(minted, ts, ta)
    assert (ta - out) + out == pytest.approx(total_assets + deposit, rel=1e-15)


def test_deposits_refused_while_nav_is_not_positive() -> None:
    with pytest.raises(ValueError, match="total_assets"):
        pool.shares_for_deposit(10.0, 100.0, 0.0)
    with pytest.raises(ValueError, match="total_assets"):
        pool.shares_for_deposit(10.0, 100.0, -5.0)
    assert pool.assets_for_shares(10.0, 100.0, -5.0) == 0.0


def test_fee_split_adds_up_exactly() -> None:
    to_main, to_insurance = pool.split_fee(0.1, 0.7)
    assert to_main == pytest.approx(0.07) and to_main + to_insurance == 0.1


# ---------------------------------------------------------------- bad arguments

def test_bad_arguments_raise_value_error_naming_them() -> None:
    acct, ser, size = np.array([0, 1]), np.array([0, 0]), np.array([1.0, -1.0])
    args = dict(pos_account=acct, pos_series=ser, pos_size=size, series_mark=[10.0],
                series_payoff=[5.0], dt_years=0.01, funding_period_years=0.1, oracle_price=2.0,
                n_accounts=2)
    cases = [
        ("pos_size", dict(pos_size=np.array([np.nan, 1.0]))),
        ("pos_account: length", dict(pos_size=np.array([1.0]))),
        ("pos_account", dict(pos_account=np.array([0, 2]))),
        ("pos_account", dict(pos_account=np.array([-1, 0]))),
        ("pos_account", dict(pos_account=np.array([0.0, 1.0]))),
        ("pos_series", dict(pos_series=np.array([0, 1]))),
        ("series_payoff", dict(series_payoff=[5.0, 1.0])),
        ("series_mark", dict(series_mark=[-1.0])),
        ("dt_years", dict(dt_years=-0.01)),
        ("funding_period_years", dict(funding_period_years=0.0)),
        ("oracle_price", dict(oracle_price=math.nan)),
        ("n_accounts", dict(n_accounts=-1)),
    ]
    for name, change in cases:
        with pytest.raises(ValueError, match=name):
            pool.accrue_funding(**{**args, **change})
    net, marks, stress = np.ones(2), np.ones(2), np.ones((3, 2))
    with pytest.raises(ValueError, match="stress_marks"):
        pool.utilization(net, marks, np.ones((3, 3)), 1.0)
    with pytest.raises(ValueError, match="marks"):
        pool.stress_losses(net, np.ones(3), stress)
    with pytest.raises(ValueError, match="series"):
        pool.utilization_after_trade(net, marks, stress, 1.0, 2, 1.0)
    with pytest.raises(ValueError, match="nav_usd"):
        pool.utilization(net, marks, stress, math.nan)
    with pytest.raises(ValueError, match="underlying_of_series"):
        pool.net_delta_usd(net, net, net, np.array([0, 3]), 2)
    with pytest.raises(ValueError, match="assets"):
        pool.shares_for_deposit(-1.0, 10.0, 10.0)
    with pytest.raises(ValueError, match="shares"):
        pool.assets_for_shares(11.0, 10.0, 10.0)
    with pytest.raises(ValueError, match="lp_share"):
        pool.split_fee(1.0, 1.5)
    with pytest.raises(ValueError, match="pos_entry"):
        pool.unrealized_pnl_usd(ser, size, np.array([1.0, -1.0]), [10.0])
    with pytest.raises(ValueError, match="util_after"):
        pool.trade_allowed(0.1, math.nan, 0.8)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_series=st.integers(1, 10), n_points=st.integers(1, 8),
       dn=st.floats(-50, 50), nav=st.one_of(st.floats(-1e3, 0.0), st.floats(1.0, 1e7)))
def test_utilization_from_losses_equals_utilization_after_trade(seed, n_series, n_points, dn, nav):
    from kernels import pool as fast
    from kernels.reference import pool as ref

    rng = np.random.default_rng(seed)
    net = rng.normal(0.0, 5.0, n_series)
    marks = rng.uniform(1.0, 100.0, n_series)
    grid = np.ascontiguousarray(rng.uniform(1.0, 150.0, (n_points, n_series)))
    s = int(rng.integers(n_series))
    losses = fast.stress_losses(net, marks, grid)
    want = ref.utilization_after_trade(net, marks, grid, nav, s, dn)
    got = fast.utilization_from_losses(losses, grid, marks, s, dn, nav)
    twin = ref.utilization_from_losses(losses, grid, marks, s, dn, nav)
    if math.isinf(want):
        assert math.isinf(got) and math.isinf(twin)
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert twin == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("module", [pool, ref], ids=["cython", "twin"])
def test_dust_deposit_whose_shares_would_be_subnormal_mints_nothing(module) -> None:
    """4.6e-302 tokens into a pool of 1e-3 shares and 1e9 tokens would mint 4.6e-314 shares,
    a subnormal with no relative precision left: the pool keeps the dust (0 shares) rather
    than risk paying out more than was put in (found by hypothesis)."""
    deposit, ts, ta = 4.5902740676035215e-302, 1e-3, 1e9
    minted = module.shares_for_deposit(deposit, ts, ta)
    assert minted == 0.0
    assert module.assets_for_shares(minted, ts + minted, ta + deposit) <= deposit


@pytest.mark.parametrize("module", [pool, ref], ids=["cython", "twin"])
def test_spread_caps_utilization_at_the_named_cap(module) -> None:
    """base + skew x min(utilization, SPREAD_UTILIZATION_CAP): linear below the cap, flat above
    it and at inf (NAV <= 0), as the trade book quotes (design 5, kernels.params)."""
    from kernels.params import SPREAD_UTILIZATION_CAP as CAP

    top = 0.002 + 0.01 * CAP
    half = module.spread_for(0.002, 0.01, 0.5 * CAP)
    assert half == pytest.approx(0.002 + 0.005 * CAP, rel=1e-15)
    for u in (CAP, 2.0 * CAP, 1e300, math.inf):
        assert module.spread_for(0.002, 0.01, u) == pytest.approx(top, rel=1e-15)
    got = module.spread_for(0.002, 0.01, np.array([0.0, CAP, 3.0 * CAP, math.inf]))
    np.testing.assert_allclose(got, [0.002, top, top, top], rtol=1e-15)


def test_spread_for_rejects_a_utilization_that_is_not_a_number_or_negative() -> None:
    for bad in (math.nan, -0.5, -math.inf):
        with pytest.raises(ValueError, match="utilization_after"):
            pool.spread_for(0.002, 0.01, bad)
        with pytest.raises(ValueError, match="utilization_after"):
            pool.spread_for(0.002, 0.01, np.array([0.1, bad]))
