"""The oracle's modes, safe mode and outages; the EWMA volatility estimator."""

import math

import numpy as np
import pytest

from sim.market.oracle import Oracle
from sim.market.vol import EwmaVol


def _feed(oracle, amm_prices, nav=100.0):
    for p in amm_prices:
        oracle.sample(p, nav)


def test_nav_mode_ignores_the_amm_and_follows_the_given_nav():
    o = Oracle("nav")
    o.sample(60.0, 100.0)           # a pin on the AMM
    assert o.price == 100.0
    o.sample(100.0, 90.0)           # the caller's NAV moved (e.g. at the open after a depeg)
    assert o.price == 90.0 and not o.safe_mode


def test_amm_spot_sees_a_one_step_pin():
    o = Oracle("amm_spot")
    _feed(o, [100.0, 100.0, 60.0])
    assert o.price == 60.0
    o.sample(100.0, 100.0)
    assert o.price == 100.0


def test_twap_averages_the_last_samples_and_dilutes_a_pin():
    o = Oracle("amm_twap", twap_steps=4)
    o.sample(100.0, 100.0)
    assert o.price == 100.0          # fewer samples than the window: mean of what there is
    _feed(o, [100.0, 100.0, 60.0])
    assert o.price == pytest.approx(90.0)
    _feed(o, [100.0, 100.0, 100.0, 100.0])
    assert o.price == pytest.approx(100.0)   # the pin has left the window
    _feed(o, [104.0, 108.0, 112.0, 116.0, 120.0])
    assert o.price == pytest.approx((108 + 112 + 116 + 120) / 4)


def test_guarded_enters_safe_mode_beyond_the_deviation_and_uses_min_max():
    o = Oracle("guarded", twap_steps=1, safe_mode_deviation=0.10)
    o.sample(109.0, 100.0)
    assert not o.safe_mode and o.price == 109.0
    assert o.collateral_price == o.outgoing_price == 109.0
    o.sample(111.0, 100.0)
    assert o.safe_mode
    assert o.price == 111.0 and o.collateral_price == 100.0 and o.outgoing_price == 111.0
    o.sample(85.0, 100.0)            # a depeg seen on the AMM
    assert o.safe_mode and o.collateral_price == 85.0 and o.outgoing_price == 100.0
    o.sample(95.0, 100.0)
    assert not o.safe_mode and o.collateral_price == 95.0


def test_guarded_uses_the_twap_not_the_spot_for_safe_mode():
    o = Oracle("guarded", twap_steps=4)
    _feed(o, [100.0, 100.0, 100.0, 70.0])   # spot -30%, TWAP -7.5%
    assert not o.safe_mode and o.price == pytest.approx(92.5)


def test_other_modes_never_enter_safe_mode():
    for mode in ("nav", "amm_spot", "amm_twap"):
        o = Oracle(mode)
        o.sample(50.0, 100.0)
        assert not o.safe_mode and o.collateral_price == o.outgoing_price == o.price


def test_outage_keeps_the_last_values_and_marks_the_oracle_stale():
    o = Oracle("amm_spot")
    o.sample(100.0, 100.0)
    o.set_outage(2)
    o.sample(50.0, 100.0)
    assert o.stale and o.price == 100.0
    o.sample(40.0, 100.0)
    assert o.stale and o.price == 100.0
    o.sample(45.0, 100.0)
    assert not o.stale and o.price == 45.0


def test_reading_before_the_first_sample_and_bad_arguments_raise():
    with pytest.raises(RuntimeError):
        _ = Oracle("nav").price
    with pytest.raises(ValueError, match="mode"):
        Oracle("chainlink")
    with pytest.raises(ValueError, match="twap_steps"):
        Oracle("amm_twap", twap_steps=0)
    with pytest.raises(ValueError, match="amm_price"):
        Oracle("nav").sample(math.nan, 100.0)


def test_ewma_vol_converges_to_the_true_sigma():
    dt = 1 / 8766
    v = EwmaVol(halflife_steps=24 * 7, dt_years=dt, initial_sigma=0.2)
    rng = np.random.default_rng(0)
    for r in rng.standard_normal(24 * 7 * 30) * 0.8 * math.sqrt(dt):
        v.update(r)
    assert v.sigma == pytest.approx(0.8, rel=0.1)


def test_ewma_vol_weights_halve_every_halflife():
    v = EwmaVol(halflife_steps=10, dt_years=1.0, initial_sigma=0.0)
    v.update(1.0)                    # variance (1 - lam) after one return
    lam = 0.5 ** (1 / 10)
    assert v.sigma**2 == pytest.approx(1 - lam)
    for _ in range(10):
        v.update(0.0)
    assert v.sigma**2 == pytest.approx((1 - lam) / 2)


def test_ewma_vol_of_many_assets_at_once():
    v = EwmaVol(halflife_steps=5, dt_years=0.5, initial_sigma=[0.1, 0.4])
    np.testing.assert_allclose(v.sigma, [0.1, 0.4])
    v.update([0.0, 0.0])
    assert v.sigma.shape == (2,)
    assert np.all(v.sigma < [0.1, 0.4])
