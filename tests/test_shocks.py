"""Each shock kind (sim.shocks, design section 10) on a small real model: its effect at its
step and, for the temporary ones, its undoing when its duration ends.

The models are tiny.yaml with quiet agents (no agent's clock ever rings, nobody arrives), so
what changes at the shock's step is the shock's doing.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents import LiquidityProvider, MarketMaker
from sim.model import FlywheelModel
from sim.scenario.events import EVENT_TYPES
from sim.shocks import HANDLERS
from tests.tiny import tiny

AT = 30            # the shocks' step (tiny: 72 hourly steps, burn-in 12)
QUIET = {
    "agents.lp.act_rate_per_day": 0.0, "agents.trader.act_rate_per_day": 0.0,
    "agents.market_maker.act_rate_per_day": 0.0, "agents.arbitrageur.act_rate_per_day": 0.0,
    "arrivals.traders.potential": 0, "arrivals.liquidity_providers.potential": 0,
}


def quiet_model(events: list[dict], **overrides) -> FlywheelModel:
    return FlywheelModel(tiny({**QUIET, "events": events, **overrides}))


def run_to(model: FlywheelModel, step: int) -> FlywheelModel:
    """Step until ``step`` is the next step to run (its shocks have not fired yet)."""
    while model.step_count < step:
        model.step()
    return model


def shock_rows(model: FlywheelModel):
    ev = model.events_frame()
    return ev[ev["kind"] == "shock"][["step", "market", "detail"]].values.tolist()


def test_every_event_type_has_a_handler():
    assert set(HANDLERS) == set(EVENT_TYPES)


def test_depeg_lowers_backing_halts_redemptions_and_holders_panic_sell_until_it_ends():
    m = run_to(quiet_model([{"kind": "depeg", "token": "TSLA.M", "at": f"step {AT}", "backing": 0.8,
                             "halt_redemptions": True, "panic_sell_fraction": 0.5,
                             "duration": "6h"}]), AT)
    tok = m.world.tokens["TSLA.M"]
    held = {a: a.balance("TSLA.M") for a in m.agents}
    reserve = tok.amm.reserve_token
    m.step()
    assert tok.backing == 0.8 and tok.issuer.halted_redeem and not tok.issuer.can_redeem
    assert tok.nav == pytest.approx(0.8 * m.world.price("TSLA"), rel=1e-15)
    for agent, before in held.items():
        assert agent.balance("TSLA.M") == pytest.approx(0.5 * before, rel=1e-12)
    assert tok.amm.reserve_token == pytest.approx(reserve + 0.5 * sum(held.values()), rel=1e-12)
    assert shock_rows(m) == [[AT, "TSLA.M", "depeg TSLA.M"]]
    run_to(m, AT + 6)                           # still depegged during its 6 hours ...
    assert tok.backing == 0.8 and tok.issuer.halted_redeem
    m.step()                                    # ... restored at their end
    assert tok.backing == 1.0 and not tok.issuer.halted_redeem
    assert tok.nav == pytest.approx(m.world.price("TSLA"), rel=1e-15)


def test_premium_buys_its_size_into_the_amm_with_minting_capped_until_the_flow_ends():
    m = run_to(quiet_model([{"kind": "premium", "token": "TSLA.M", "at": f"step {AT}",
                             "size_usd": 60_000.0, "cap_mint": True, "duration": "6h"}]), AT)
    tsla, nvda = m.world.tokens["TSLA.M"], m.world.tokens["NVDA.M"]
    usd, price, other = tsla.amm.reserve_usd, tsla.amm.price, nvda.amm.reserve_usd
    m.step()
    assert tsla.issuer.halted_mint and not tsla.issuer.can_mint
    run_to(m, AT + 6)
    assert tsla.issuer.halted_mint
    m.step()                                    # the sixth and last step of the flow
    assert tsla.amm.reserve_usd == pytest.approx(usd + 60_000.0, rel=1e-12)
    assert tsla.amm.price > price * 1.05
    assert not tsla.issuer.halted_mint
    assert nvda.amm.reserve_usd == other
    m.step()                                    # the flow has ended
    assert tsla.amm.reserve_usd == pytest.approx(usd + 60_000.0, rel=1e-12)


def test_pin_is_one_market_order_into_the_amm():
    m = run_to(quiet_model([{"kind": "pin", "token": "TSLA.M", "at": f"step {AT}", "side": "sell",
                             "size_usd": 2e5}]), AT)
    tsla, nvda = m.world.tokens["TSLA.M"], m.world.tokens["NVDA.M"]
    tokens, price, other = tsla.amm.reserve_token, tsla.amm.price, nvda.amm.price
    m.step()
    assert tsla.amm.reserve_token == pytest.approx(tokens + 2e5 / price, rel=1e-12)
    assert tsla.amm.price < 0.9 * price
    assert nvda.amm.price == other
    assert shock_rows(m) == [[AT, "TSLA.M", "pin TSLA.M"]]


def test_crypto_jump_moves_the_price_at_its_step_for_good():
    event = {"kind": "crypto_jump", "asset": "BTC", "at": f"step {AT}", "size": -0.15}
    base, shocked = quiet_model([]), quiet_model([event])
    ratio, eth = [], []
    for _ in range(base.n_steps):
        base.step()
        shocked.step()
        ratio.append(shocked.world.price("BTC") / base.world.price("BTC"))
        eth.append(shocked.world.price("ETH") / base.world.price("ETH"))
    np.testing.assert_allclose(ratio[:AT], 1.0, rtol=1e-15)
    np.testing.assert_allclose(ratio[AT:], np.exp(-0.15), rtol=1e-12)
    np.testing.assert_allclose(eth, 1.0, rtol=1e-15)
    assert shock_rows(shocked) == [[AT, "", "crypto_jump BTC"]]


def test_weekend_gap_moves_the_latent_value_and_the_reference_follows_at_the_open():
    friday = {"clock.start": "2025-07-11T00:00:00Z", "clock.days": 4}
    event = {"kind": "weekend_gap", "asset": "TSLA", "at": "2025-07-12T12:00:00Z", "size": -0.12}
    base, shocked = quiet_model([], **friday), quiet_model([event], **friday)
    j = base.world.asset_index["TSLA"]
    rows = []
    for _ in range(base.n_steps):
        base.step()
        shocked.step()
        rows.append((shocked.step_count - 1, shocked.world.is_open,
                     shocked.world.latent[j] / base.world.latent[j],
                     shocked.world.price("TSLA") / base.world.price("TSLA")))
    at = shocked.spec.event_step(shocked.spec.events[0])
    first_open = next(t for t, is_open, *_ in rows if t > at and is_open)
    for t, _, latent, reference in rows:
        assert latent == pytest.approx(1.0 if t < at else np.exp(-0.12), rel=1e-12)
        assert reference == pytest.approx(1.0 if t < first_open else np.exp(-0.12), rel=1e-12)
    assert first_open - at > 24                 # Saturday noon to Monday's open


def test_oracle_outage_holds_the_last_reading_until_it_ends():
    m = run_to(quiet_model(
        [{"kind": "oracle_outage", "token": "TSLA.M", "at": f"step {AT}", "duration": "6h"},
         {"kind": "pin", "token": "TSLA.M", "at": f"step {AT + 2}", "size_usd": 2e5}],
        **{"markets.TSLA.M.oracle": "amm_spot"}), AT)
    oracle, amm = m.world.tokens["TSLA.M"].oracle, m.world.tokens["TSLA.M"].amm
    reading = oracle.price
    assert reading == amm.price                         # amm_spot reads the AMM ...
    run_to(m, AT + 6)
    assert oracle.stale and oracle.price == reading     # ... not while the feed is down
    assert amm.price < 0.9 * reading
    assert m.markets["TSLA.M"].price == reading         # and margin is valued at the stale price
    m.step()
    assert not oracle.stale and oracle.price == amm.price


def test_lp_run_queues_the_withdrawal_of_every_running_lp_of_the_market():
    m = run_to(quiet_model([{"kind": "lp_run", "market": "TSLA.M", "at": f"step {AT}",
                             "fraction": 1.0}]), AT)
    lps = m.agents_by_type[LiquidityProvider]
    tsla = [lp for lp in lps if lp.market_name == "TSLA.M"]
    assert tsla and all(m.markets["TSLA.M"].shares.get(lp, 0.0) > 0 for lp in tsla)
    m.step()
    queue = m.markets["TSLA.M"].queue
    assert {id(lp) for lp, *_ in queue} == {id(lp) for lp in tsla}
    cooldown = m.markets["TSLA.M"].cfg.cooldown_steps
    for lp, shares, ready in queue:
        assert lp.leaving and lp.exit_reason == "panic"
        assert shares == m.markets["TSLA.M"].shares[lp] and ready == AT + cooldown
    assert m.markets["NVDA.M"].queue == []
    assert not any(lp.leaving for lp in lps if lp.market_name == "NVDA.M")


def test_mm_withdrawal_takes_a_fraction_of_the_tokens_market_makers_liquidity():
    m = run_to(quiet_model([{"kind": "mm_withdrawal", "token": "TSLA.M", "at": f"step {AT}",
                             "fraction": 0.4}]), AT)
    mms = m.agents_by_type[MarketMaker]
    shares = {mm: mm.amm.shares_of(mm.wallet) for mm in mms}
    reserve = m.world.tokens["TSLA.M"].amm.reserve_usd
    m.step()
    assert {mm.token for mm in mms} == {"TSLA.M", "NVDA.M"}
    for mm, before in shares.items():
        want = 0.6 * before if mm.token == "TSLA.M" else before
        assert mm.amm.shares_of(mm.wallet) == pytest.approx(want, rel=1e-12)
    assert m.world.tokens["TSLA.M"].amm.reserve_usd == pytest.approx(0.6 * reserve, rel=1e-9)
