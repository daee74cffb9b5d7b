"""The pool's delta hedge (design 5 and 7, ``pool.hedge: delta``) against hand computations:
once a step the pool trades its net delta per underlying to zero on an external perpetual
venue, paying ``hedge_cost_bps`` of the notional traded; the hedge's PnL settles into the pool
in the margin token at the oracle price. ``hedge: none`` changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import FlywheelModel
from sim.protocol.hedge import DeltaHedge
from tests.markets import BTC, PRICE, TOKEN, btc_market, open_perp
from tests.tiny import tiny

ENGINES = ("cython", "reference")


def test_hedge_over_two_steps_by_hand() -> None:
    """Step 1: the pool is short 150k USD of BTC delta at 100k: the hedge buys 1.5 BTC, trading
    150k USD at 2 bps = 30 USD, no PnL yet. Step 2: BTC at 110k, the pool is short 110k of
    delta: the hedge made 1.5 x 10,000 = 15,000 USD and sells 0.5 BTC (55k USD at 2 bps = 11 USD)."""
    h = DeltaHedge(2, cost_bps=2.0)
    pnl, cost, traded = h.step(np.array([BTC, 2_500.0]), np.array([-150_000.0, 0.0]))
    assert (pnl, traded) == (0.0, 150_000.0) and cost == pytest.approx(30.0, rel=1e-15)
    np.testing.assert_array_equal(h.size, [1.5, 0.0])
    pnl, cost, traded = h.step(np.array([110_000.0, 2_600.0]), np.array([-110_000.0, 0.0]))
    assert pnl == pytest.approx(15_000.0, rel=1e-15)
    assert traded == pytest.approx(55_000.0, rel=1e-15) and cost == pytest.approx(11.0, rel=1e-14)
    np.testing.assert_allclose(h.size, [1.0, 0.0], rtol=1e-15)
    np.testing.assert_allclose(h.delta_usd(), [110_000.0, 0.0], rtol=1e-15)   # + pool's -110k = 0


def hedged_market(engine: str, hedge: str = "delta"):
    """A BTC market in TSLA.M at 300 USD, a pool of 10,000 tokens, no spreads, fees or perp
    funding; one trader long 1.5 BTC perpetual (the pool is short 150k USD of delta)."""
    ledger, world, market = btc_market(engine, 10_000.0, hedge=hedge, hedge_cost_bps=2.0)
    open_perp(ledger, world, market, 2, 1.5)
    return ledger, market


@pytest.mark.parametrize("engine", ENGINES)
def test_market_hedge_settles_pnl_and_cost_in_tokens(engine: str) -> None:
    """The same two steps through the market: the pool pays 30 USD = 0.1 token of cost, then
    receives 15,000 USD = 50 tokens of hedge PnL, which offsets the traders' 15,000 USD gain on
    the perp: the pool's NAV falls by the cost only. After each step its net delta is 0."""
    ledger, market = hedged_market(engine)
    nav0 = market.nav_usd()
    pool0 = ledger.balance(market.pool_holder, TOKEN)
    market.run_hedge()
    assert market.stats.hedge_cost_usd == pytest.approx(30.0, rel=1e-12) and market.stats.hedge_pnl_usd == 0.0
    assert ledger.balance(market.pool_holder, TOKEN) - pool0 == pytest.approx(-0.1, rel=1e-9)
    assert -market.book.delta_usd[0] + market.hedge.delta_usd()[0] == pytest.approx(0.0, abs=1e-9)
    market.series.update_marks(np.array([110_000.0]), np.array([0.55]))
    market.marks_changed()
    pool1 = ledger.balance(market.pool_holder, TOKEN)
    market.run_hedge()
    assert market.stats.hedge_pnl_usd == pytest.approx(15_000.0, rel=1e-12)
    assert market.stats.hedge_cost_usd == pytest.approx(30.0, rel=1e-12)     # nothing traded in step 2
    assert ledger.balance(market.pool_holder, TOKEN) - pool1 == pytest.approx(50.0, rel=1e-12)
    assert -market.book.delta_usd[0] + market.hedge.delta_usd()[0] == pytest.approx(0.0, abs=1e-9)
    assert market.nav_usd() - nav0 == pytest.approx(-30.0, rel=1e-9)
    assert ledger.audit() < 1e-12


@pytest.mark.parametrize("engine", ENGINES)
def test_a_hedge_loss_the_pool_cannot_pay_is_a_shortfall_not_pnl(engine: str) -> None:
    """The pool keeps 10 tokens (3,000 USD); BTC halves, so the hedge (long 1.5 BTC) loses
    75,000 USD. The pool pays its 10 tokens; the stats report the 3,000 USD it paid as PnL
    (less nothing: no trade cost in this step) and the other 72,000 USD as a shortfall."""
    ledger, market = hedged_market(engine)
    market.run_hedge()                                     # buys 1.5 BTC (cost 30 USD)
    keep = 10.0
    ledger.transfer(TOKEN, market.pool_holder, ledger.holder("world"),
                    ledger.balance(market.pool_holder, TOKEN) - keep)
    market.stats = type(market.stats)()
    market.series.update_marks(np.array([50_000.0]), np.array([0.55]))
    market.marks_changed()
    venue0 = ledger.balance(market.hedge_venue, TOKEN)
    market.run_hedge()
    paid_usd = (ledger.balance(market.hedge_venue, TOKEN) - venue0) * PRICE
    assert paid_usd == pytest.approx(keep * PRICE, rel=1e-12)
    assert ledger.balance(market.pool_holder, TOKEN) == 0.0
    st = market.stats
    assert st.hedge_pnl_usd - st.hedge_cost_usd == pytest.approx(-paid_usd, rel=1e-9)
    assert st.hedge_shortfall_usd == pytest.approx(75_000.0 + st.hedge_cost_usd - paid_usd, rel=1e-9)
    assert ledger.audit() < 1e-12


@pytest.mark.parametrize("engine", ENGINES)
def test_unhedged_market_moves_nothing(engine: str) -> None:
    ledger, market = hedged_market(engine, hedge="none")
    pool0 = ledger.balance(market.pool_holder, TOKEN)
    market.run_hedge()
    assert market.hedge is None
    assert ledger.balance(market.pool_holder, TOKEN) == pool0
    assert market.stats.hedge_pnl_usd == market.stats.hedge_cost_usd == 0.0
    with pytest.raises(KeyError):
        ledger.holder(f"hedge_venue:{TOKEN}")


def run(hedge: str, seed: int = 3) -> FlywheelModel:
    m = FlywheelModel(tiny({"pool.hedge": hedge}), rng=seed)
    return m


def test_model_hedged_pool_has_no_net_delta_after_phase_7_and_conserves() -> None:
    """A tiny run with ``hedge: delta``: after each step's phase 7 the pool's net delta plus the
    hedge's is 0 in every market (checked right after the hedge runs); the ledger audit holds;
    the LP split carries the hedge's PnL and cost, which are the columns' sums."""
    m = run("delta")
    checked = 0
    for name, market in m.markets.items():
        original = market.run_hedge

        def wrapped(market=market, original=original) -> None:
            nonlocal checked
            original()
            np.testing.assert_allclose(market.hedge.delta_usd(), market.book.delta_usd,
                                       rtol=1e-9, atol=1e-6)
            checked += 1

        market.run_hedge = wrapped
    m.run_for(m.n_steps)
    assert checked == m.n_steps * len(m.markets)
    df, s = m.timeseries(), m.summary()
    assert s["conservation_max_error"] < 1e-9
    post = df[~df["burn_in"]]
    traded_any = False
    for name in m.markets:
        split = s["markets"][name]["lp_pnl_split_usd"]
        assert split["hedge_pnl"] == pytest.approx(float(post[f"hedge_pnl_usd[{name}]"].sum()), abs=1e-9)
        assert split["hedge_cost"] == pytest.approx(-float(post[f"hedge_cost_usd[{name}]"].sum()), abs=1e-9)
        traded_any |= bool((df[f"hedge_cost_usd[{name}]"] > 0).any())
    assert traded_any


def test_hedge_none_is_the_unhedged_run() -> None:
    """``hedge: none`` (the default) runs no hedge: the hedge columns are 0 and the run is the
    default run to the bit; ``delta`` differs."""
    a, b, c = run("none"), FlywheelModel(tiny(), rng=3), run("delta")
    for m in (a, b, c):
        m.run_for(m.n_steps)
    ta, tb, tc = a.timeseries(), b.timeseries(), c.timeseries()
    hedge_cols = [col for col in ta.columns if col.startswith("hedge_")]
    assert hedge_cols and (ta[hedge_cols] == 0).all().all()
    assert ta.equals(tb)
    assert not ta.equals(tc)
