"""Perpetual-future funding (design 5, skew-based): the rate, the payments of each account and
what the pool keeps, against hand computations; the Cython cores against their twins; the
model's columns and LP split.

rate = clamp(coeff x skew, -cap, +cap) per year, skew = (long - short perp notional) / NAV_USD;
a perp of signed size n pays n x spot x rate x dt USD (longs pay when rate > 0).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import pool as kpool
from kernels import trade_book as kbook
from kernels.reference import pool as rpool
from kernels.reference import trade_book as rbook
from sim.protocol.options_market import OptionsMarket
from tests.markets import PRICE, TOKEN, btc_market, open_perp
from tests.test_trade_book import make_book, scenario, trade_randomly
from tests.tiny import tiny

DT = 1.0 / 8766.0        # one hour, in years
POOL_TOKENS = 10_000.0   # NAV 3,000,000 USD
ENGINES = ("cython", "reference")


# ---------------------------------------------------------------- the rate

def test_rate_is_coeff_times_skew_by_hand() -> None:
    """Net 150k USD long against a 3M NAV: skew 0.05; coeff 2 gives 10% a year."""
    for f in (kpool.perp_funding_rate, rpool.perp_funding_rate):
        assert f(2.0, 1.0, 150_000.0, 3_000_000.0) == pytest.approx(0.10, rel=1e-15)
        assert f(2.0, 1.0, -150_000.0, 3_000_000.0) == pytest.approx(-0.10, rel=1e-15)   # sign of skew
        assert f(2.0, 1.0, 0.0, 3_000_000.0) == 0.0
        assert f(50.0, 1.0, 150_000.0, 3_000_000.0) == 1.0        # 2.5 a year: the cap binds
        assert f(50.0, 1.0, -150_000.0, 3_000_000.0) == -1.0
        assert f(2.0, 0.3, 150_000.0, 0.0) == 0.3                # no NAV: the cap, signed as the net
        assert f(2.0, 0.3, -1.0, -5.0) == -0.3
        assert f(2.0, 0.3, 0.0, -5.0) == 0.0


def test_rate_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="coeff"):
        kpool.perp_funding_rate(-1.0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="cap"):
        kpool.perp_funding_rate(1.0, math.nan, 0.0, 1.0)
    with pytest.raises(ValueError, match="nav_usd"):
        kpool.perp_funding_rate(1.0, 1.0, 0.0, math.inf)


@settings(max_examples=200, deadline=None)
@given(coeff=st.floats(0, 100), cap=st.floats(0, 10), net=st.floats(-1e9, 1e9), nav=st.floats(-1e9, 1e9))
def test_rate_core_is_its_twin(coeff: float, cap: float, net: float, nav: float) -> None:
    got = kpool.perp_funding_rate(coeff, cap, net, nav)
    assert got == rpool.perp_funding_rate(coeff, cap, net, nav)
    assert abs(got) <= cap
    assert got * net >= 0.0          # the rate has the sign of the skew: the pool never pays net


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_pool_accrue_funding_with_perps_is_its_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_series, n_pos, na = 8, 40, 6
    mark = rng.uniform(1.0, 1e4, n_series)
    payoff = mark * rng.uniform(0.0, 1.0, n_series)
    is_perp = (rng.uniform(size=n_series) < 0.4).astype(np.uint8)
    spot = rng.uniform(10.0, 1e5, n_series)
    payoff[is_perp == 1] = mark[is_perp == 1]
    args = (rng.integers(0, na, n_pos), rng.integers(0, n_series, n_pos), rng.normal(0, 3, n_pos),
            mark, payoff, 1e-4, 1 / 365.25, 250.0, na)
    rate = float(rng.uniform(-1, 1))
    got = kpool.accrue_funding(*args, series_spot=spot, series_is_perp=is_perp, perp_rate=rate)
    want = rpool.accrue_funding(*args, spot, is_perp, rate)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).sum())
    # The perp part alone is n x spot x rate x dt / price per position.
    alone = kpool.accrue_funding(*args[:4], args[3], *args[5:], series_spot=spot, series_is_perp=is_perp,
                                 perp_rate=rate)
    acct, ser, size = args[:3]
    hand = np.bincount(acct, size * spot[ser] * rate * 1e-4 / 250.0 * is_perp[ser], minlength=na)
    np.testing.assert_allclose(alone, hand, rtol=1e-12, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), dt=st.floats(1e-5, 0.05))
def test_book_perp_funding_is_its_twin_and_the_pool_kernel(seed: int, dt: float) -> None:
    """Random books with perps: the Cython walk, its twin and ``kernels.pool.accrue_funding``
    (at the rate of ``perp_funding_rate`` of the book's net perp notional and NAV) agree; the
    pool's net take is never negative."""
    rng = np.random.default_rng(seed)
    sc = scenario(rng, max_utilization=1e6, perp_funding_coeff=float(rng.uniform(0, 5)),
                  perp_funding_cap=float(rng.uniform(0, 2)))
    cy, py = make_book(kbook.TradeBook, sc), make_book(rbook.TradeBook, sc)
    w = sc.world
    trade_randomly(rng, (cy, py), sc)
    payoff = w.mark * rng.uniform(0.0, 1.0, w.n)
    k, na = cy.n_positions, cy.n_accounts
    net_perp = float(np.sum(cy.net_size[: w.n] * w.spot * w.is_perp))
    rate = kpool.perp_funding_rate(sc.cfg.perp_funding_coeff, sc.cfg.perp_funding_cap, net_perp,
                                   cy.nav_usd(sc.pool_tokens))
    # Each rule's net payment per account comes in at price_in, a net receipt goes out at
    # price_out (design 4's safe mode; the book's prices may differ here). T = 1: dt / T = dt.
    option = kpool.accrue_funding(cy.pos_account[:k], cy.pos_series[:k], cy.pos_size[:k], w.mark, payoff,
                                  dt, 1.0, cy.price_in, na)
    perp = kpool.accrue_funding(cy.pos_account[:k], cy.pos_series[:k], cy.pos_size[:k], w.mark, w.mark,
                                dt, 1.0, cy.price_in, na, series_spot=w.spot, series_is_perp=w.is_perp,
                                perp_rate=rate)
    for part in (option, perp):
        part[part < 0.0] *= cy.price_in / cy.price_out
    want = option + perp
    q0 = cy.collateral[:na].copy()
    got_c = cy.accrue_funding(payoff, dt, 1e-9, dt, sc.pool_tokens)
    got_p = py.accrue_funding(payoff, dt, 1e-9, dt, sc.pool_tokens)
    scale = float(np.abs(want).sum()) + 1e-300
    ulp_q = 4 * np.finfo(float).eps * float(np.abs(q0).max(initial=0.0))
    assert cy.last_perp_rate == pytest.approx(rate, rel=1e-12, abs=1e-15)
    assert py.last_perp_rate == pytest.approx(rate, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(q0 - cy.collateral[:na], want, rtol=1e-12, atol=1e-12 * scale + ulp_q)
    np.testing.assert_allclose(cy.collateral[:na], py.collateral[:na], rtol=1e-12, atol=1e-12 * scale + ulp_q)
    assert got_c[0] == pytest.approx(want.sum(), rel=1e-10, abs=1e-12 * scale)
    assert got_p[0] == pytest.approx(got_c[0], rel=1e-10, abs=1e-12 * scale)
    assert cy.last_perp_funding_tokens >= -1e-12 * scale
    assert py.last_perp_funding_tokens == pytest.approx(cy.last_perp_funding_tokens, rel=1e-10, abs=1e-12 * scale)


# ---------------------------------------------------------------- one market, by hand

def perp_market(engine: str, coeff: float, cap: float):
    """A BTC market margined in TSLA.M at 300 USD, a pool of 10,000 tokens (NAV 3M USD), no
    spreads and no fees (so the NAV stays 3M after the opens); returns (ledger, market, perp)."""
    ledger, world, market = btc_market(engine, POOL_TOKENS, perp_funding_coeff=coeff,
                                       perp_funding_cap=cap)
    perp = int(np.flatnonzero(market.series.view("is_perp"))[0])

    def trader(uid: int, size: float) -> int:
        return open_perp(ledger, world, market, uid, size)

    return ledger, market, perp, trader


def settle(market: OptionsMarket) -> None:
    market.settle_step(DT, [], lambda: np.random.default_rng(0), 0)


@pytest.mark.parametrize("engine", ENGINES)
def test_two_accounts_pay_and_receive_by_hand(engine: str) -> None:
    """A long 2 BTC (200k USD), B short 0.5 BTC (50k USD): net 150k over a NAV of 3M is a skew of
    0.05; coeff 2 gives a rate of 10% a year. Over one hour A pays 200,000 x 0.10 / 8766 =
    2.28154 USD, B receives 50,000 x 0.10 / 8766 = 0.57039 USD, the pool keeps the difference,
    150,000 x 0.10 / 8766 = 1.71116 USD; in tokens at 300 USD."""
    ledger, market, perp, trader = perp_market(engine, coeff=2.0, cap=1.0)
    a, b = trader(1, 2.0), trader(2, -0.5)
    assert market.nav_usd() == pytest.approx(3_000_000.0, rel=1e-15)
    assert market.series.view("mark")[perp] == market.series.view("payoff")[perp]   # no option funding
    q0 = market.book.collateral[:2].copy()
    pool0 = ledger.balance(market.pool_holder, TOKEN)
    settle(market)
    paid_a = 200_000.0 * 0.10 / 8766.0
    recv_b = 50_000.0 * 0.10 / 8766.0
    assert paid_a == pytest.approx(2.28154232261, rel=1e-11)
    assert q0[a] - market.book.collateral[a] == pytest.approx(paid_a / PRICE, rel=1e-12)
    assert market.book.collateral[b] - q0[b] == pytest.approx(recv_b / PRICE, rel=1e-12)
    kept = (paid_a - recv_b) / PRICE
    assert ledger.balance(market.pool_holder, TOKEN) - pool0 == pytest.approx(kept, rel=1e-10)
    assert market.stats.perp_funding_rate == pytest.approx(0.10, rel=1e-14)
    assert market.stats.perp_funding_usd == pytest.approx(150_000.0 * 0.10 / 8766.0, rel=1e-12)
    assert market.stats.funding_usd == 0.0          # option funding: none
    assert ledger.audit() < 1e-12                  # conservation


@pytest.mark.parametrize("engine", ENGINES)
def test_sign_follows_the_skew(engine: str) -> None:
    """Shorts heavier (A long 0.5, B short 2): rate -10% a year; A receives, B pays, the pool
    still keeps the difference (never negative)."""
    ledger, market, perp, trader = perp_market(engine, coeff=2.0, cap=1.0)
    a, b = trader(1, 0.5), trader(2, -2.0)
    q0 = market.book.collateral[:2].copy()
    pool0 = ledger.balance(market.pool_holder, TOKEN)
    settle(market)
    assert market.stats.perp_funding_rate == pytest.approx(-0.10, rel=1e-14)
    assert market.book.collateral[a] - q0[a] == pytest.approx(50_000.0 * 0.10 / 8766.0 / PRICE, rel=1e-12)
    assert q0[b] - market.book.collateral[b] == pytest.approx(200_000.0 * 0.10 / 8766.0 / PRICE, rel=1e-12)
    kept = ledger.balance(market.pool_holder, TOKEN) - pool0
    assert kept == pytest.approx(150_000.0 * 0.10 / 8766.0 / PRICE, rel=1e-10) and kept > 0
    assert ledger.audit() < 1e-12


@pytest.mark.parametrize("engine", ENGINES)
def test_the_cap_binds(engine: str) -> None:
    """coeff 50 x skew 0.05 = 2.5 a year, capped at 0.5: A pays 200,000 x 0.5 / 8766."""
    ledger, market, perp, trader = perp_market(engine, coeff=50.0, cap=0.5)
    a, b = trader(1, 2.0), trader(2, -0.5)
    q0 = market.book.collateral[:2].copy()
    settle(market)
    assert market.stats.perp_funding_rate == 0.5
    assert q0[a] - market.book.collateral[a] == pytest.approx(200_000.0 * 0.5 / 8766.0 / PRICE, rel=1e-12)
    assert market.book.collateral[b] - q0[b] == pytest.approx(50_000.0 * 0.5 / 8766.0 / PRICE, rel=1e-12)
    assert ledger.audit() < 1e-12


@pytest.mark.parametrize("engine", ENGINES)
def test_balanced_perps_pay_nothing(engine: str) -> None:
    ledger, market, perp, trader = perp_market(engine, coeff=2.0, cap=1.0)
    trader(1, 1.0), trader(2, -1.0)
    q0 = market.book.collateral[:2].copy()
    settle(market)
    assert market.stats.perp_funding_rate == 0.0 and market.stats.perp_funding_usd == 0.0
    np.testing.assert_array_equal(market.book.collateral[:2], q0)


# ---------------------------------------------------------------- the model

def test_model_reports_perp_funding_and_splits_it() -> None:
    """A tiny run: the rate column stays within the cap, the LP split's perp_funding is the
    column's sum after the burn-in, and the ledger audit holds."""
    from sim.model import FlywheelModel
    sc = tiny()
    m = FlywheelModel(sc, rng=1)
    m.run_for(m.n_steps)
    df = m.timeseries()
    s = m.summary()
    post = df[~df["burn_in"]]
    for name, spec in sc.markets.items():
        assert (df[f"perp_funding_rate[{name}]"].abs() <= spec.perp_funding_cap + 1e-15).all()
        assert (df[f"perp_funding_usd[{name}]"] >= -1e-9).all()       # the pool never pays net
        assert s["markets"][name]["lp_pnl_split_usd"]["perp_funding"] == pytest.approx(
            float(post[f"perp_funding_usd[{name}]"].sum()), rel=1e-12, abs=1e-12)
    assert s["conservation_max_error"] < 1e-9
