"""The model as a whole: conservation, reproducibility, stylized facts, agent behaviour, Mesa."""

from __future__ import annotations

import mesa
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import Arbitrageur, DirectionalTrader
from sim.model import FlywheelModel
from sim.scenario import load_scenario, scenario_from_dict
from tests.doubles import Owner

TOL = 1e-9


def small(days: float = 2.0, **over) -> object:
    data = {
        "name": "small", "clock": {"days": days, "burn_in_days": 0.5},
        "agents": {"liquidity_providers": 10, "traders": 60, "market_makers": 2, "arbitrageurs": 2},
    }
    for k, v in over.items():
        data[k] = v
    return scenario_from_dict(data)


def run_model(scenario, seed: int = 1, steps: int | None = None) -> FlywheelModel:
    m = FlywheelModel(scenario, rng=seed)
    for _ in range(m.n_steps if steps is None else steps):
        m.step()
    return m


@pytest.fixture(scope="module")
def baseline() -> FlywheelModel:
    return run_model(load_scenario("scenarios/baseline.yaml"))


# -- conservation ---------------------------------------------------------------------------
def test_baseline_conserves_every_token_and_usdc_on_every_step(baseline):
    ts = baseline.timeseries()
    assert ts["conservation_error"].max() <= TOL
    assert baseline.summary()["conservation_max_error"] <= TOL
    assert ts["volume_usd"].sum() > 0          # something actually moved


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    traders=st.integers(0, 80), lps=st.integers(0, 15), mms=st.integers(0, 3),
    arbs=st.integers(0, 3),
    oracle=st.sampled_from(["nav", "amm_spot", "amm_twap", "guarded"]),
    insurance=st.floats(0.0, 0.2), denomination=st.sampled_from(["token", "usdc"]),
    seed=st.integers(0, 2**31 - 1), shock=st.sampled_from(["none", "depeg", "pin", "crash"]),
)
def test_random_small_scenarios_conserve_money(traders, lps, mms, arbs, oracle, insurance,
                                               denomination, seed, shock):
    events = {
        "none": [],
        "depeg": [{"kind": "depeg", "token": "TSLA.M", "at": "day 1", "backing": 0.8,
                   "halt_redemptions": True, "panic_sell_fraction": 0.3, "duration": "12h"}],
        "pin": [{"kind": "pin", "token": "TSLA.M", "at": "day 1", "size_usd": 1.5e6}],
        "crash": [{"kind": "crypto_jump", "asset": "BTC", "at": "day 1", "size": -0.3},
                  {"kind": "crypto_jump", "asset": "ETH", "at": "day 1", "size": -0.35}],
    }[shock]
    sc = scenario_from_dict({
        "name": "rand", "seed": seed, "clock": {"days": 2.0, "burn_in_days": 0.25},
        "agents": {"liquidity_providers": lps, "traders": traders, "market_makers": mms,
                   "arbitrageurs": arbs,
                   "trader": {"leverage_fraction_median": 0.97, "leverage_fraction_sd": 0.0}},
        "markets": {"TSLA.M": {"oracle": oracle}, "NVDA.M": {"oracle": oracle}},
        "insurance": {"initial": insurance, "denomination": denomination},
        "events": events,
    })
    m = run_model(sc, seed=seed)
    assert m.ledger.max_relative_error <= TOL
    assert m.timeseries()["conservation_error"].max() <= TOL


# -- reproducibility ------------------------------------------------------------------------
def test_same_scenario_and_seed_give_identical_timeseries():
    a = run_model(small(), seed=5).timeseries()
    b = run_model(small(), seed=5).timeseries()
    c = run_model(small(), seed=6).timeseries()
    assert a.equals(b)
    assert not a["volume_usd"].equals(c["volume_usd"])


def test_twin_runs_see_identical_exogenous_paths():
    a = run_model(small(), seed=3)
    b = run_model(small(**{"agents": {"traders": 200, "liquidity_providers": 10, "market_makers": 2,
                                       "arbitrageurs": 2}}), seed=3)
    ta, tb = a.timeseries(), b.timeseries()
    for col in ("price[BTC]", "price[ETH]", "price[TSLA]", "market_open"):
        assert ta[col].equals(tb[col])


# -- stylized facts ---------------------------------------------------------------------------
def test_premium_stays_inside_the_arbitrage_band_during_market_hours(baseline):
    """Design 4: while NYSE is open and the issuer has capacity, arbitrage keeps the premium in
    [(1-rf)(1-f)-1, (1+mf)/(1-f)-1] (widened by the arbitrageurs' minimum edge). Checked right
    after the arbitrageurs act; the end-of-step premium may drift by one step of flows."""
    sc = baseline.spec
    ts = baseline.timeseries()
    edge = sc.agents.arbitrageur.min_edge
    mask = (ts["market_open"].astype(bool) & ~ts["burn_in"].astype(bool)
            & (ts["arbitrageurs_acted"] > 0))
    assert mask.sum() > 100
    for name, tok in sc.tokens.items():
        f, mf, rf = tok.amm.fee, tok.issuer.mint_fee, tok.issuer.redeem_fee
        low = (1 - rf) * (1 - f) * (1 - edge) - 1 - 1e-9
        high = (1 + mf) / (1 - f) * (1 + edge) - 1 + 1e-9
        prem = ts.loc[mask, f"premium_after_arb[{name}]"]
        assert prem.min() >= low, (name, prem.min(), low)
        assert prem.max() <= high, (name, prem.max(), high)
        # and the end-of-step premium is back near NAV: its median sits inside the band
        assert low <= ts.loc[mask, f"premium[{name}]"].median() <= high


def test_no_insurance_first_bad_debt_lowers_lp_share_price_by_its_amount():
    """Design 17: with no insurance, the pool (the LPs) pays a deficit token for token."""
    m = run_model(small(insurance={"initial": 0.0},
                        agents={"traders": 0, "liquidity_providers": 10, "market_makers": 2,
                                "arbitrageurs": 0},
                        arrivals={"traders": {"potential": 0},
                                  "liquidity_providers": {"potential": 0}}),
                  seed=2, steps=30)
    mk = m.markets["TSLA.M"]
    assert mk.book.n_positions == 0 and mk.insurance_tokens() == 0.0
    before = mk.nav_tokens()
    a = mk.open_account(Owner())
    mk.book.collateral[a] -= 1000.0                  # an account in deficit with no position
    m.ledger.settle_kernel("TSLA.M", {mk.pool_holder: 1000.0})   # its loss was booked by the pool
    after_loss = mk.nav_tokens()
    mk.settle_step(m.dt_years, [], lambda: np.random.default_rng(0), m.step_count)
    assert mk.book.collateral[a] == pytest.approx(0.0, abs=1e-9)
    assert mk.nav_tokens() == pytest.approx(after_loss - 1000.0, rel=1e-12)
    assert after_loss - before == pytest.approx(1000.0, rel=1e-9)
    assert mk.share_price() == pytest.approx((after_loss - 1000.0) / mk.total_shares, rel=1e-12)
    assert list(mk.last_margin.wf_from_pool) == pytest.approx([1000.0])


def test_a_pool_with_no_initial_lp_is_seeded_by_the_treasury_which_is_no_active_lp():
    # No combination holders either: their LP part would be shares held by traders.
    m = run_model(small(agents={"liquidity_providers": 0, "traders": 10, "market_makers": 2,
                                "arbitrageurs": 1, "holders": {"combination_share": 0.0}},
                        arrivals={"liquidity_providers": {"potential": 0}}), seed=3, steps=5)
    for mk in m.markets.values():
        assert list(mk.shares) == [m.treasury]
        assert mk.nav_tokens() * mk.price == pytest.approx(m.spec.pool.initial_usd, rel=0.05)
    assert m.active_count("liquidity_provider") == 0
    assert (m.timeseries()["active_lps"] == 0).all()


# -- agent behaviour (each kind against a small real market: tests/test_agents.py) ---------------
def _model_for_agents(**over) -> FlywheelModel:
    m = FlywheelModel(small(**over), rng=11)
    for _ in range(26):
        m.step()
    return m


def test_keeper_sells_what_it_receives():
    m = _model_for_agents()
    keeper = next(a for a in m.agents_by_type[Arbitrageur] if a.is_keeper)
    start = keeper.balance("TSLA.M")
    m.ledger.transfer("TSLA.M", m.world_holder, keeper.wallet, 50.0)   # a keeper reward
    reserve = m.world.tokens["TSLA.M"].amm.reserve_token
    m._sell(m.step_count)
    assert keeper.balance("TSLA.M") == pytest.approx(min(start, keeper.inventory["TSLA.M"]),
                                                     rel=1e-9)
    assert m.world.tokens["TSLA.M"].amm.reserve_token > reserve


def test_arbitrageur_does_not_mint_while_the_market_is_closed():
    m = _model_for_agents()
    arb = m.agents_by_type[Arbitrageur][0]
    tok = m.world.tokens["TSLA.M"]
    tok.amm.buy_tokens(m.world_holder, 400_000.0)            # push the AMM 40%+ above NAV
    tok.issuer.open = False
    minted = tok.issuer.minted_tokens
    arb.act(m.step_count)
    assert tok.issuer.minted_tokens == minted
    tok.issuer.open = True
    tok.issuer.new_day()
    arb.act(m.step_count)
    assert tok.issuer.minted_tokens > minted


def test_trader_cannot_open_without_initial_margin():
    m = _model_for_agents()
    mk = m.markets["TSLA.M"]
    a = mk.open_account(Owner())
    s = mk.series.perp_of[0]
    assert mk.open_position(a, s, 1.0) is None                      # no collateral at all
    mk.deposit_collateral(a, m.world_holder, 10.0)                  # ~USD 3k of TSLA.M
    big = 100_000.0 / mk.series.spot[s]                              # USD 100k of BTC perp
    assert mk.open_position(a, s, big) is None
    small_size = 1_000.0 / mk.series.spot[s]
    assert mk.open_position(a, s, small_size) is not None


def test_traders_trade_and_get_liquidated_in_a_crash():
    crash = [{"kind": "crypto_jump", "asset": "BTC", "at": "day 1.5", "size": -0.4},
             {"kind": "crypto_jump", "asset": "ETH", "at": "day 1.5", "size": -0.45}]
    leveraged = {"leverage_fraction_median": 0.97, "leverage_fraction_sd": 0.0, "perp_share": 1.0, "styles": {"momentum": 1.0}}
    sc = small(days=3.0, events=crash,
               agents={"liquidity_providers": 10, "traders": 150, "market_makers": 2,
                       "arbitrageurs": 2, "trader": leveraged})
    m = run_model(sc, seed=4)
    s = m.summary()
    assert s["liquidations"] > 0
    assert s["conservation_max_error"] <= TOL
    assert any(isinstance(a, DirectionalTrader) for a in m.agents)


# -- Mesa ---------------------------------------------------------------------------------------
def test_mesa_batch_run_with_two_values_and_two_seeds():
    sc = small(days=1.0)
    rows = mesa.batch_run(
        FlywheelModel, parameters={"scenario": [sc], "insurance__initial": [0.0, 0.05]},
        rng=[1, 2], max_steps=6, number_processes=1, display_progress=False,
    )
    assert len(rows) == 4
    assert {r["insurance__initial"] for r in rows} == {0.0, 0.05}
    assert all("active_traders" in r and "insurance_usd" in r for r in rows)
    by = {(r["insurance__initial"], r["iteration"]): r["insurance_usd"] for r in rows}
    for it in (0, 1):      # the seeded insurance fund shows up (fees add a little to both)
        assert by[(0.05, it)] > by[(0.0, it)] + 0.04 * 2e6 * 0.9


def test_model_run_for_advances_mesa_time():
    m = FlywheelModel(small(days=1.0), rng=1)
    m.run_for(5)
    assert m.step_count == 5 and m.steps == 5


def test_trader_closes_in_the_step_its_holding_time_ends():
    """Without a take-profit or stop-loss hit, a position closes during the step in which its
    holding time ends, at the first act after opening (no extra wake-up a step later)."""
    far = {"trader": {"take_profit": 1e9, "stop_loss": 1e9, "holding_days_mean": 0.5}}
    m = FlywheelModel(small(days=4.0, agents={"liquidity_providers": 10, "traders": 60,
                                               "market_makers": 2, "arbitrageurs": 2, **far}),
                      rng=3)
    acts: dict = {}
    opened: dict = {}
    closed: dict = {}
    for t in range(m.n_steps):
        for tr in m.agents_by_type[DirectionalTrader]:
            if tr.position is not None and tr not in opened:
                opened[tr] = (tr.opened_step, tr.holding_steps, acts.get(tr, 0))
        before = {tr: tr.position for tr in m.agents_by_type[DirectionalTrader]}
        due = {id(a) for a in m.clocks["trader"].due(t + 1)}
        m.step()
        for tr in m.agents_by_type[DirectionalTrader]:
            if id(tr) in due:
                acts[tr] = acts.get(tr, 0) + 1
            if tr in opened and tr not in closed and before[tr] is not None \
                    and tr.position is None \
                    and not tr.has_left:
                closed[tr] = (t, acts[tr])
    checked = 0
    for tr, (t_close, n_acts) in closed.items():
        t_open, hold, acts_at_open = opened[tr]
        if t_open + hold < m.n_steps - 1:
            assert t_close == int(np.floor(t_open + hold)), (t_open, hold, t_close)
            assert n_acts == acts_at_open + 1
            checked += 1
    assert checked >= 10
