"""The issuer: mint and redeem at NAV, in market hours, unhalted, within a daily capacity."""

import pytest

from sim.ledger import Ledger
from sim.market.issuer import Issuer

TOKEN = "TSLA.M"


def _setup(capacity=1e6, mint_fee=0.005, redeem_fee=0.004):
    ledger = Ledger([TOKEN, "USDC"])
    world = ledger.open_account("world", external=True)
    iss_id = ledger.open_account("issuer", external=True)
    agent = ledger.open_account("arb")
    ledger.transfer("USDC", world, agent, 1e6)
    issuer = Issuer(ledger, TOKEN, iss_id, mint_fee, redeem_fee, capacity)
    issuer.open, issuer.nav = True, 300.0
    return ledger, issuer, agent


def test_mint_and_redeem_at_nav_with_fees():
    ledger, issuer, agent = _setup()
    tokens = issuer.mint(agent, 3015.0)
    assert tokens == pytest.approx(3015.0 / (300.0 * 1.005))
    assert tokens == pytest.approx(10.0)
    assert ledger.balance(agent, TOKEN) == pytest.approx(10.0)
    assert ledger.balance(agent, "USDC") == pytest.approx(1e6 - 3015.0)
    usd = issuer.redeem(agent, 10.0)
    assert usd == pytest.approx(10.0 * 300.0 * 0.996)
    assert ledger.balance(agent, TOKEN) == pytest.approx(0.0, abs=1e-12)
    assert issuer.fees_usd == pytest.approx(15.0 + 12.0)
    assert issuer.minted_tokens == pytest.approx(10.0) == issuer.redeemed_tokens
    assert ledger.audit() <= 1e-12


def test_no_mint_or_redeem_while_the_market_is_closed():
    ledger, issuer, agent = _setup()
    issuer.mint(agent, 3000.0)
    issuer.open = False
    assert not issuer.can_mint and not issuer.can_redeem
    before = ledger.balance(agent, "USDC"), ledger.balance(agent, TOKEN)
    assert issuer.mint(agent, 1000.0) == 0.0
    assert issuer.redeem(agent, 1.0) == 0.0
    assert (ledger.balance(agent, "USDC"), ledger.balance(agent, TOKEN)) == before


def test_halts_stop_each_direction_separately():
    ledger, issuer, agent = _setup()
    issuer.mint(agent, 3000.0)
    issuer.halted_redeem = True
    assert issuer.redeem(agent, 1.0) == 0.0 and not issuer.can_redeem
    assert issuer.mint(agent, 300.0) > 0.0
    issuer.halted_redeem, issuer.halted_mint = False, True
    assert issuer.mint(agent, 300.0) == 0.0 and not issuer.can_mint
    assert issuer.redeem(agent, 1.0) > 0.0
    issuer.halted = True
    assert issuer.halted_mint and issuer.halted_redeem and issuer.halted
    assert issuer.mint(agent, 300.0) == 0.0 and issuer.redeem(agent, 1.0) == 0.0
    issuer.halted = False
    assert issuer.can_mint and issuer.can_redeem


def test_daily_capacity_binds_and_new_day_restores_it():
    ledger, issuer, agent = _setup(capacity=10_000.0, mint_fee=0.0, redeem_fee=0.0)
    tokens = issuer.mint(agent, 25_000.0)
    assert tokens == pytest.approx(10_000.0 / 300.0)       # only the capacity was used
    assert ledger.balance(agent, "USDC") == pytest.approx(1e6 - 10_000.0)
    assert issuer.capacity_left_usd == 0.0 and not issuer.can_mint
    assert issuer.mint(agent, 1.0) == 0.0
    assert issuer.redeem(agent, 1.0) == 0.0                # one budget for both directions
    issuer.new_day()
    assert issuer.capacity_left_usd == 10_000.0
    usd = issuer.redeem(agent, tokens)
    assert usd == pytest.approx(10_000.0)
    issuer.new_day()
    issuer.mint(agent, 6_000.0)
    usd = issuer.redeem(agent, tokens)                     # only 4,000 USD of capacity left
    assert usd == pytest.approx(4_000.0)
    assert ledger.balance(agent, TOKEN) == pytest.approx(20.0 - 4_000.0 / 300.0)
    assert ledger.audit() <= 1e-12


def test_nothing_happens_without_a_nav_or_for_non_positive_amounts():
    ledger = Ledger([TOKEN, "USDC"])
    iss = Issuer(ledger, TOKEN, ledger.open_account("issuer", external=True), 0.0, 0.0, 1e6)
    agent = ledger.open_account("a", external=True)
    iss.open = True
    assert iss.mint(agent, 100.0) == 0.0          # NAV not set yet
    iss.nav = 10.0
    assert iss.mint(agent, 0.0) == 0.0 and iss.mint(agent, -5.0) == 0.0
    assert iss.mint(agent, 100.0) == pytest.approx(10.0)


def test_bad_parameters_raise():
    ledger = Ledger([TOKEN, "USDC"])
    h = ledger.open_account("issuer", external=True)
    with pytest.raises(ValueError, match="mint_fee"):
        Issuer(ledger, TOKEN, h, 1.5, 0.0, 1e6)
    with pytest.raises(ValueError, match="daily_capacity_usd"):
        Issuer(ledger, TOKEN, h, 0.0, 0.0, -1.0)
