"""Informed off-hours flow (design 8) and the shock shapes it meets: ``agents.offhours``, the
``offhours_informed`` switches, ``pin.move`` and ``premium.target_premium``."""

from __future__ import annotations

import numpy as np
import pytest

from agents import Arbitrageur, MarketMaker
from agents.offhours import InformedFlow
from sim.assets import USDC
from sim.errors import UserInputError
from sim.ledger import Ledger
from sim.market.amm import SpotAmm
from sim.model import FlywheelModel
from sim.rng import ScalarDraws
from tests.test_shocks import AT, quiet_model, run_to
from tests.tiny import tiny


class _View:
    """A latent-value view with a value and an open flag set by the test."""

    def __init__(self, value: float, market_open: bool = False) -> None:
        self.value, self.market_open = value, market_open


def _flow(view: _View, price: float = 100.0, reserve_usd: float = 1e6, noise: float = 0.0,
          max_trade_usd: float = 1e9, max_inventory_usd: float = 1e9, min_edge: float = 0.0):
    ledger = Ledger(["T.M", USDC])
    world = ledger.open_account("world", external=True)
    amm = SpotAmm(ledger, "T.M", ledger.open_account("amm"), 0.003)
    seed, me = ledger.open_account("seed"), ledger.open_account("me")
    ledger.transfer("T.M", world, seed, reserve_usd / price)
    ledger.transfer(USDC, world, seed, reserve_usd)
    amm.add_liquidity(seed, reserve_usd / price, reserve_usd)
    ledger.transfer("T.M", world, me, 1e5)
    ledger.transfer(USDC, world, me, 1e7)
    draws = ScalarDraws(np.random.default_rng(0))
    flow = InformedFlow(amm, view, ledger, me, draws, noise, min_edge, max_trade_usd,
                        max_inventory_usd)
    return flow, amm


def test_closed_market_buys_a_discount_up_to_where_the_fee_breaks_even():
    flow, amm = _flow(_View(110.0))
    bought = flow.act()
    assert bought > 0
    assert amm.price == pytest.approx(110.0 * (1 - 0.003), rel=1e-9)


def test_closed_market_sells_a_premium_down_to_where_the_fee_breaks_even():
    flow, amm = _flow(_View(90.0))
    assert flow.act() < 0
    assert amm.price == pytest.approx(90.0 * (1 + 0.003), rel=1e-9)


def test_open_market_leaves_the_amm_to_mint_and_redeem():
    flow, amm = _flow(_View(110.0, market_open=True))
    assert flow.act() == 0.0 and amm.price == pytest.approx(100.0)


def test_gap_inside_fee_and_min_edge_is_not_traded():
    flow, amm = _flow(_View(100.5), min_edge=0.003)   # 0.5% < 0.3% fee + 0.3% edge
    assert flow.act() == 0.0 and amm.price == pytest.approx(100.0)


def test_trade_size_and_session_inventory_are_capped():
    flow, amm = _flow(_View(150.0), max_trade_usd=1e4, max_inventory_usd=2.5e4)
    usd0 = amm.reserve_usd
    flow.act()
    assert amm.reserve_usd - usd0 == pytest.approx(1e4, rel=1e-12)
    flow.act(), flow.act(), flow.act()
    assert flow.session_tokens * 150.0 <= 2.5e4 * (1 + 1e-9)
    assert flow.act() == 0.0                     # the session's risk limit is used up
    flow.fair.market_open = True
    flow.act()                                   # the open resets the session
    assert flow.session_tokens == 0.0


def test_view_noise_scatters_where_it_stops():
    stops = []
    for _ in range(20):
        flow, amm = _flow(_View(110.0), noise=0.01)
        flow.draws = ScalarDraws(np.random.default_rng(len(stops)))
        flow.act()
        stops.append(amm.price)
    assert np.std(stops) > 0.002 * 110.0


def _closed_gap(informed: bool, seed: int = 3) -> float:
    """Median |AMM / fair value - 1| over closed hours of a tiny run with a weekend in it."""
    m = FlywheelModel(tiny({"clock.days": 5, "clock.start": "2025-07-11T00:00:00Z",
                            "agents.market_maker.offhours_informed": informed,
                            "agents.arbitrageur.offhours_informed": informed}), rng=seed)
    gaps = []
    while m.running:
        m.step()
        if not m.world.is_open:
            gaps += [abs(t.amm.price / m.world.fair_value(n) - 1)
                     for n, t in m.world.tokens.items()]
    return float(np.median(gaps))


def test_informed_flow_keeps_the_weekend_amm_closer_to_the_latent_value():
    informed, blind = _closed_gap(True), _closed_gap(False)
    assert informed < 0.5 * blind


def test_switches_off_leave_agents_without_informed_flow():
    m = FlywheelModel(tiny({"agents.market_maker.offhours_informed": False,
                            "agents.arbitrageur.offhours_informed": False}))
    assert all(mm.informed is None for mm in m.agents_by_type[MarketMaker])
    assert all(arb.informed == {} for arb in m.agents_by_type[Arbitrageur])


def test_fair_value_moves_with_the_latent_value_while_nav_is_frozen():
    gap = {"kind": "weekend_gap", "asset": "TSLA", "at": f"step {AT}", "size": -0.2}
    saturday = {"clock.start": "2025-07-11T00:00:00Z", "clock.days": 5}   # step 30: Sat 06:00
    base = run_to(quiet_model([], **saturday), AT + 1)
    shocked = run_to(quiet_model([gap], **saturday), AT + 1)
    assert not shocked.world.is_open
    assert shocked.world.fair_value("TSLA.M") == pytest.approx(
        base.world.fair_value("TSLA.M") * np.exp(-0.2), rel=1e-12)
    assert shocked.world.tokens["TSLA.M"].nav == base.world.tokens["TSLA.M"].nav   # frozen
    while base.world.is_open is False:                           # at the open, NAV = fair value
        base.step()
    assert base.world.fair_value("TSLA.M") == pytest.approx(base.world.tokens["TSLA.M"].nav,
                                                            rel=1e-12)


# -- shock shapes ------------------------------------------------------------------------------
def test_pin_move_takes_the_amm_price_by_that_much():
    m = run_to(quiet_model([{"kind": "pin", "token": "TSLA.M", "at": f"step {AT}", "side": "sell",
                             "move": -0.35}]), AT)
    tsla = m.world.tokens["TSLA.M"]
    price = tsla.amm.price
    m.step()
    assert tsla.amm.price == pytest.approx(0.65 * price, rel=1e-9)


def test_premium_target_holds_the_amm_at_that_premium_over_nav():
    m = run_to(quiet_model([{"kind": "premium", "token": "TSLA.M", "at": f"step {AT}",
                             "target_premium": 0.12, "duration": "6h"}]), AT + 1)
    tsla = m.world.tokens["TSLA.M"]
    for _ in range(3):
        m.step()
        assert tsla.amm.price == pytest.approx(tsla.nav * 1.12, rel=1e-9)


@pytest.mark.parametrize("event", [
    {"kind": "pin", "token": "TSLA.M", "at": "day 1"},
    {"kind": "pin", "token": "TSLA.M", "at": "day 1", "size_usd": 1e5, "move": -0.3},
    {"kind": "pin", "token": "TSLA.M", "at": "day 1", "side": "buy", "move": -0.3},
    {"kind": "premium", "token": "TSLA.M", "at": "day 1"},
    {"kind": "premium", "token": "TSLA.M", "at": "day 1", "size_usd": 1e5, "target_premium": 0.1},
])
def test_shock_size_is_given_exactly_one_way(event):
    with pytest.raises((UserInputError, ValueError)):
        tiny({"events": [event]})


def test_set_events_empty_list_is_the_no_shock_twin():
    from sim.scenario import load_scenario

    assert len(load_scenario("scenarios/pin.yaml").events) == 1
    assert len(load_scenario("scenarios/pin.yaml", ["events=[]"]).events) == 0


def test_switching_the_flow_off_leaves_the_agents_own_streams_untouched():
    runs = []
    for informed in (True, False):
        m = FlywheelModel(tiny({"clock.start": "2025-07-11T00:00:00Z",
                                "agents.market_maker.offhours_informed": informed,
                                "agents.arbitrageur.offhours_informed": informed}), rng=2)
        m.run_for(48)                            # a Friday night and a Saturday: closed hours
        runs.append([a.stream.bit_generator.state for a in
                     [*m.agents_by_type[MarketMaker], *m.agents_by_type[Arbitrageur]]])
    assert runs[0] == runs[1]


def test_tokens_an_arbitrageur_buys_off_hours_are_not_sold_as_keeper_rewards():
    m = FlywheelModel(tiny({"clock.start": "2025-07-12T00:00:00Z",        # a Saturday
                            "agents.arbitrageur.offhours_min_edge": 0.0,
                            "agents.arbitrageur.vol_edge": 100.0}), rng=1)  # no option trades
    m.step()
    arb = m.agents_by_type[Arbitrageur][0]
    tok = m.world.tokens["TSLA.M"]
    tok.amm.sell_tokens(m.world_holder, 0.2 * tok.amm.reserve_token)     # a wick to buy back
    before, rewards = arb.balance("TSLA.M"), arb.rewards_to_sell("TSLA.M")
    arb.act(m.step_count)
    assert arb.balance("TSLA.M") > before
    assert arb.rewards_to_sell("TSLA.M") == pytest.approx(rewards, abs=1e-9)
