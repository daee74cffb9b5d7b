"""Each agent kind (agents/) against a small real market: tiny.yaml, stepped for a day, then
the agent's own ``act`` or the protocol's callbacks. Nothing of the model is replaced; where a
test needs a state (a depeg, a rich pool vol), the scenario or the world is put in it.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents import Arbitrageur, DirectionalTrader, LiquidityProvider, MarketMaker
from sim.model import FlywheelModel
from sim.protocol.owners import AccountOwner, ShareHolder, Treasury
from tests.tiny import tiny

DAY = 24    # steps
# The pool quotes vol 50% above the external vol (an arbitrageur sells it).
RICH_VOL = {"markets.TSLA.M.vol_premium": 0.5, "markets.NVDA.M.vol_premium": 0.5}


def model_after(steps: int = DAY, seed: int = 11, **overrides) -> FlywheelModel:
    m = FlywheelModel(tiny(overrides), rng=seed)
    m.run_for(steps)
    return m


# -- what the protocol calls on them ----------------------------------------------------------
MEMBERS = {AccountOwner: ("unique_id", "kind", "style", "on_liquidated", "remap_positions"),
           ShareHolder: ("unique_id", "kind", "wallet", "on_withdrawal_paid")}


@pytest.mark.parametrize("protocol", list(MEMBERS))
def test_every_agent_is_an_account_owner_and_a_share_holder(protocol):
    """The model calls the protocol's callbacks on any agent without asking what it can do."""
    declared = {*protocol.__annotations__, *(k for k in vars(protocol) if not k.startswith("_"))}
    assert declared == set(MEMBERS[protocol])
    m = model_after(1)
    for kind in (LiquidityProvider, DirectionalTrader, MarketMaker, Arbitrageur):
        agent = m.agents_by_type[kind][0]
        assert all(name in dir(agent) for name in MEMBERS[protocol]), kind.__name__
        agent.on_liquidated()
        agent.remap_positions(m.markets["TSLA.M"], {})
        agent.on_withdrawal_paid(0.0)
    assert m.ledger.audit() <= 1e-12
    treasury = Treasury(wallet=0)             # the share holder that is not an agent
    assert all(name in dir(treasury) for name in MEMBERS[ShareHolder]) and treasury.unique_id == -1


# -- liquidity providers ----------------------------------------------------------------------
def test_lp_deposits_when_the_risk_adjusted_apy_beats_its_hurdle_and_not_otherwise():
    m = model_after(2 * DAY)
    p = m.spec.agents.lp
    inputs = m._lp_inputs["TSLA.M"]
    view = inputs.pool
    apy = view.trailing_apy(p.apy_window_days)
    risk = p.risk_charge * (view.drawdown(p.apy_window_days)
                            + max(0.0, p.target_cover - view.insurance_cover()))
    pool = m.markets["TSLA.M"]
    picky, keen = (LiquidityProvider(m, np.random.default_rng(k), inputs) for k in (1, 2))
    picky.hurdle_apy, keen.hurdle_apy = apy - risk + 0.01, apy - risk - 0.01
    wallet = keen.balance("TSLA.M")
    picky.act(m.step_count)
    keen.act(m.step_count)
    assert pool.shares.get(picky, 0.0) == 0.0
    assert pool.shares.get(keen, 0.0) > 0.0
    assert keen.balance("TSLA.M") == pytest.approx(wallet * (1 - p.deposit_fraction), rel=1e-12)


def test_lp_panics_in_a_depeg_and_leaves_selling_part_of_what_comes_back():
    m = model_after(DAY, **{"agents.lp.panic_prob": 1.0, "pool.cooldown_days": 0.25})
    lp = next(a for a in m.agents_by_type[LiquidityProvider]
              if a.market_name == "TSLA.M" and m.markets["TSLA.M"].shares.get(a, 0.0) > 0)
    m.world.tokens["TSLA.M"].backing = 0.9          # a depeg: the LPs of TSLA.M panic
    assert lp.pool.in_panic()
    lp.act(m.step_count)
    assert lp.leaving and lp.exit_reason == "panic"
    assert [e[0] for e in m.markets["TSLA.M"].queue].count(lp) == 1
    m.run_for(8)                                     # past the 6-step cooldown: paid, sold, gone
    assert m.markets["TSLA.M"].shares.get(lp, 0.0) == 0.0
    assert lp.has_left
    ev = m.events_frame()
    assert ((ev["kind"] == "withdrawal") & (ev["agent"] == lp.unique_id)).sum() >= 1


# -- market makers ----------------------------------------------------------------------------
def test_market_maker_pulls_liquidity_once_a_stressed_day_and_puts_it_back_when_calm():
    m = model_after(DAY)
    mm = next(a for a in m.agents_by_type[MarketMaker] if a.token == "TSLA.M")
    tok = m.world.tokens["TSLA.M"]
    shares = mm.amm.shares_of(mm.wallet)
    kept = shares * (1 - mm.params.stress_withdraw_fraction)
    tok.backing = 0.9                                # depeg risk: stress
    mm.act(m.step_count)
    assert mm.amm.shares_of(mm.wallet) == pytest.approx(kept)
    assert mm.pulled_usd > 0
    mm.act(m.step_count + 1)                         # the same stressed day: no second pull
    assert mm.amm.shares_of(mm.wallet) == pytest.approx(kept)
    tok.backing = 1.0
    mm.act(m.step_count + DAY)                       # a calm day later: it puts the USDC back
    assert mm.pulled_usd == pytest.approx(0.0, abs=1e-6)
    assert mm.amm.shares_of(mm.wallet) > kept


def test_market_maker_adds_liquidity_when_fees_beat_its_charge():
    free = {"agents.market_maker.cost_of_capital": 0.0, "agents.market_maker.vol_charge": 0.0,
            "agents.market_maker.depeg_charge": 0.0, "agents.market_maker.fee_window_days": 1.0,
            "agents.market_maker.offhours_informed": False}   # only its liquidity decision here
    m = model_after(2 * DAY, **free)
    mm = next(a for a in m.agents_by_type[MarketMaker] if a.token == "TSLA.M")
    assert m.history.amm_fee_apr("TSLA.M", 1.0) > 0
    shares, usdc = mm.amm.shares_of(mm.wallet), mm.balance("USDC")
    mm.act(m.step_count)
    assert mm.amm.shares_of(mm.wallet) > shares
    assert mm.balance("USDC") == pytest.approx(usdc * (1 - mm.params.add_fraction), rel=1e-9)


# -- arbitrageurs -----------------------------------------------------------------------------
@pytest.mark.parametrize("vol_premium, sign", [(0.5, -1.0), (-0.5, 1.0)])
def test_arbitrageur_sells_rich_pool_vol_and_buys_cheap_pool_vol(vol_premium, sign):
    m = model_after(DAY, **{"markets.TSLA.M.vol_premium": vol_premium,
                            "markets.NVDA.M.vol_premium": vol_premium})
    arb = m.agents_by_type[Arbitrageur][0]
    slot, _ = arb.option_position["TSLA.M"]
    assert sign * m.markets["TSLA.M"].book.pos_size[slot] > 0


def test_arbitrageur_closes_its_option_after_its_holding_time():
    m = model_after(DAY // 2, **RICH_VOL)
    arb = m.agents_by_type[Arbitrageur][0]
    first, opened = arb.option_position["TSLA.M"]
    m.run_for(int(arb.params.option_holding_days * DAY) + 2)
    assert m.markets["TSLA.M"].book.pos_size[first] == 0.0      # closed (and maybe reopened)
    assert arb.option_position["TSLA.M"][1] > opened


def test_owners_follow_their_positions_through_a_compaction():
    """When a market drops closed positions and renumbers slots, every owner that keeps a slot
    (traders and the arbitrageur's option position) still points at its own position."""
    m = model_after(26, **RICH_VOL)
    mk = m.markets["TSLA.M"]
    book = mk.book
    arb = m.agents_by_type[Arbitrageur][0]

    def position(slot):
        return book.pos_account[slot], book.pos_series[slot], book.pos_size[slot]

    owners = {tr: position(tr.position) for tr in m.agents_by_type[DirectionalTrader]
              if tr.market is mk and tr.position is not None}
    arb_pos = position(arb.option_position["TSLA.M"][0])
    assert owners and book.n_positions > len(owners) + 1          # some closed slots to drop
    live = book.compact()
    mk._on_compact({int(old): new for new, old in enumerate(live)})
    for tr, want in owners.items():
        assert position(tr.position) == want
    assert position(arb.option_position["TSLA.M"][0]) == arb_pos


# -- directional traders ----------------------------------------------------------------------
def flat_trader(m: FlywheelModel) -> DirectionalTrader:
    return next(t for t in m.agents_by_type[DirectionalTrader]
                if t.position is None and not t.has_left and not t.parked)


def test_trader_opens_a_position_its_initial_margin_allows():
    m = model_after(DAY)
    opened = 0
    flat = [t for t in m.agents_by_type[DirectionalTrader] if t.position is None and not t.has_left]
    for tr in flat:
        tr.act(m.step_count)
        if tr.position is not None:
            opened += 1
            eq, _, initial = tr.market.account_margin(tr.account)
            assert eq >= initial
            assert tr.market.book.pos_account[tr.position] == tr.account
    assert opened >= 5


def test_a_liquidated_trader_is_woken_next_step_and_may_leave():
    m = model_after(DAY, **{"agents.trader.leave_prob_after_liquidation": 1.0})
    tr = next(t for t in m.agents_by_type[DirectionalTrader] if t.position is not None)
    tr.on_liquidated()              # as the model does in phase 7: it acts in the next step
    assert tr in m.clocks["trader"].due(m.step_count + 2)
    m.run_for(2)
    assert tr.has_left and tr.position is None
    assert tr.market.book.collateral[tr.account] == 0.0
    assert tr.market.positions_of(tr.account) == []


def test_a_flat_trader_sleeps_through_safe_mode_and_wakes_when_it_ends():
    m = model_after(DAY)
    tr = flat_trader(m)
    mk = tr.market
    mk.set_prices(mk.price, mk.price_in, mk.price_out, True)     # the market enters safe mode
    tr.act(m.step_count)
    assert tr.parked and tr.position is None
    assert tr.next_ring(m.step_count) == float("inf")
    m.step()                                          # the oracle is not guarded: safe mode ends
    assert not tr.parked
