"""The spot AMM: Uniswap v2 arithmetic on ledger balances, depth, LP shares, arbitrage band."""

import math

import numpy as np
import pytest

from sim.ledger import Ledger
from sim.market.amm import SpotAmm
from sim.market.issuer import Issuer

TOKEN = "TSLA.M"


def _world(fee=0.003, x=10_000.0, y=3_000_000.0, agents=3, wallet_usd=1e7, wallet_tokens=1e5):
    """A ledger with the outside world, one AMM seeded by an LP, and funded agents."""
    ledger = Ledger([TOKEN, "USDC"])
    world = ledger.open_account("world", external=True)
    amm = SpotAmm(ledger, TOKEN, ledger.open_account("amm"), fee)
    ids = []
    for i in range(agents):
        a = ledger.open_account(f"agent{i}")
        ledger.transfer("USDC", world, a, wallet_usd)
        ledger.transfer(TOKEN, world, a, wallet_tokens)
        ids.append(a)
    if x > 0:
        amm.add_liquidity(ids[0], x, y)
    return ledger, world, amm, ids


def test_uniswap_v2_published_swap_result():
    # 1 in, reserves 5 (in) / 10 (out), fee 0.3%: 1.662497915624478906 out
    ledger, _, amm, (lp, trader, _) = _world(x=10.0, y=5.0)
    assert amm.quote_usd_for_tokens(1.0) == pytest.approx(1.662497915624478906, rel=1e-15)
    assert amm.buy_tokens(trader, 1.0) == pytest.approx(1.662497915624478906, rel=1e-15)
    assert amm.reserve_usd == pytest.approx(6.0) and amm.reserve_token == pytest.approx(10 - 1.662497915624478906)


def test_price_and_depth_follow_the_design_formula():
    ledger, _, amm, _ = _world(x=10_000.0, y=3_000_000.0)
    assert amm.price == pytest.approx(300.0)
    x, y, p = 10_000.0, 3_000_000.0, 300.0
    expected = y * (math.sqrt(1.02) - 1) + p * x * (1 / math.sqrt(0.98) - 1)
    assert amm.depth_usd() == pytest.approx(expected, rel=1e-12)
    assert amm.depth_usd(0.05) == pytest.approx(
        y * (math.sqrt(1.05) - 1) + p * x * (1 / math.sqrt(0.95) - 1), rel=1e-12)


def test_the_usd_side_of_depth_raises_the_price_two_percent_and_the_token_side_lowers_it():
    ledger, _, amm, (_, trader, _) = _world(fee=0.0)
    p0, x0, y0 = amm.price, amm.reserve_token, amm.reserve_usd
    amm.buy_tokens(trader, y0 * (math.sqrt(1.02) - 1))
    assert amm.price / p0 == pytest.approx(1.02, rel=1e-12)
    ledger2, _, amm2, (_, trader2, _) = _world(fee=0.0)
    amm2.sell_tokens(trader2, x0 * (1 / math.sqrt(0.98) - 1))
    assert amm2.price / p0 == pytest.approx(0.98, rel=1e-12)


@pytest.mark.parametrize("fee", [0.0, 0.003, 0.01])
def test_input_to_reach_a_price_includes_fees(fee):
    ledger, _, amm, (_, trader, _) = _world(fee=fee)
    p0 = amm.price
    usd = amm.usd_to_reach_price(p0 * 1.07)
    amm.buy_tokens(trader, usd)
    assert amm.price == pytest.approx(p0 * 1.07, rel=1e-12)
    tokens = amm.tokens_to_reach_price(p0 * 0.9)
    amm.sell_tokens(trader, tokens)
    assert amm.price == pytest.approx(p0 * 0.9, rel=1e-12)
    assert amm.usd_to_reach_price(p0 * 0.5) == 0.0 and amm.tokens_to_reach_price(p0 * 2) == 0.0


def test_buy_then_sell_round_trip_loses_only_the_fees():
    # No fee: the round trip gives back exactly what went in.
    ledger, _, amm, (_, trader, _) = _world(fee=0.0)
    usd_before = ledger.balance(trader, "USDC")
    amm.sell_tokens(trader, amm.buy_tokens(trader, 50_000.0))
    assert ledger.balance(trader, "USDC") == pytest.approx(usd_before, rel=1e-15)
    # With a fee: the loss is exactly what the pool kept (its token reserve is back where it
    # was), exactly the closed form of section 4's swap formula applied twice, and equals the
    # fees charged up to the price impact of the fee itself (~ fee x trade size / reserves).
    f = 0.003
    ledger, _, amm, (_, trader, _) = _world(fee=f)
    x0, y0 = amm.reserve_token, amm.reserve_usd
    usd_in = 30_000.0
    tokens = amm.buy_tokens(trader, usd_in)
    usd_out = amm.sell_tokens(trader, tokens)
    loss = usd_in - usd_out
    t_expected = usd_in * (1 - f) * x0 / (y0 + usd_in * (1 - f))
    out_expected = tokens * (1 - f) * (y0 + usd_in) / (x0 - tokens + tokens * (1 - f))
    assert tokens == pytest.approx(t_expected, rel=1e-14)
    assert usd_out == pytest.approx(out_expected, rel=1e-14)
    assert amm.reserve_token == pytest.approx(x0, rel=1e-15)
    assert amm.reserve_usd - y0 == pytest.approx(loss, rel=1e-9)
    assert amm.fees_usd == pytest.approx(usd_in * f + usd_out * f / (1 - f), rel=1e-14)
    assert loss > 0 and loss == pytest.approx(amm.fees_usd, rel=2 * usd_in / y0)
    assert amm.volume_usd == pytest.approx(usd_in + usd_out)
    # a small round trip: fees and loss agree to ~1e-6
    ledger, _, amm, (_, trader, _) = _world(fee=f)
    loss = 30.0 - amm.sell_tokens(trader, amm.buy_tokens(trader, 30.0))
    assert loss == pytest.approx(amm.fees_usd, rel=1e-5)


def test_liquidity_shares_are_pro_rata_and_earn_the_fees():
    ledger, _, amm, (lp1, trader, lp2) = _world()
    s1 = amm.shares_of(lp1)
    assert s1 == pytest.approx(math.sqrt(10_000.0 * 3_000_000.0)) == amm.total_shares
    # a second LP offering too much USDC deposits at the pool's ratio and keeps the rest
    usd_before = ledger.balance(lp2, "USDC")
    s2 = amm.add_liquidity(lp2, 5_000.0, 5_000_000.0)
    assert s2 == pytest.approx(s1 / 2)
    assert usd_before - ledger.balance(lp2, "USDC") == pytest.approx(1_500_000.0)
    assert amm.price == pytest.approx(300.0)
    for _ in range(20):   # round trips leave fees in the pool
        amm.sell_tokens(trader, amm.buy_tokens(trader, 100_000.0))
    tokens, usd = amm.remove_liquidity(lp2, s2)
    assert tokens == pytest.approx(amm.reserve_token / 2) and usd == pytest.approx(amm.reserve_usd / 2)
    assert tokens * amm.price + usd > 5_000.0 * 300.0 * 2   # more than put in, valued at the new price
    assert amm.shares_of(lp2) == 0.0
    with pytest.raises(ValueError, match="shares"):
        amm.remove_liquidity(lp2, 1.0)
    amm.remove_liquidity(lp1, s1)          # the last LP takes everything
    assert amm.reserve_token == 0.0 and amm.reserve_usd == 0.0 and amm.total_shares == 0.0
    assert math.isnan(amm.price) and amm.depth_usd() == 0.0
    assert amm.buy_tokens(trader, 100.0) == 0.0
    assert ledger.audit() <= 1e-12


def test_ledger_is_conserved_through_random_swaps_liquidity_mints_and_redeems():
    ledger, _, amm, agents = _world(agents=5)
    issuer = Issuer(ledger, TOKEN, ledger.open_account("issuer", external=True), 0.005, 0.005, 5e6)
    issuer.open, issuer.nav = True, 300.0
    rng = np.random.default_rng(42)
    for i in range(3_000):
        a = agents[int(rng.integers(len(agents)))]
        usd, tok = ledger.balance(a, "USDC"), ledger.balance(a, TOKEN)
        op = rng.integers(6)
        if op == 0:
            amm.buy_tokens(a, usd * rng.uniform(0, 0.05))
        elif op == 1:
            amm.sell_tokens(a, tok * rng.uniform(0, 0.05))
        elif op == 2:
            amm.add_liquidity(a, tok * rng.uniform(0, 0.1), usd * rng.uniform(0, 0.1))
        elif op == 3 and amm.shares_of(a) > 0:
            amm.remove_liquidity(a, amm.shares_of(a) * rng.uniform(0, 1))
        elif op == 4:
            issuer.mint(a, usd * rng.uniform(0, 0.02))
        elif op == 5:
            issuer.redeem(a, tok * rng.uniform(0, 0.02))
        if i % 200 == 0:
            issuer.new_day()
            issuer.nav *= float(np.exp(rng.normal(0, 0.02)))
        assert ledger.audit() <= 1e-12
    # the reserves are the ledger balances, and the shares add up
    assert amm.total_shares == pytest.approx(sum(amm.shares_of(a) for a in agents))
    assert amm.reserve_token > 0 and amm.reserve_usd > 0


def _arbitrage(amm, issuer, arb):
    """Mint and sell while the AMM is rich, buy and redeem while it is cheap."""
    nav, f = issuer.nav, amm.fee
    upper = nav * (1 + issuer.mint_fee) / (1 - f)
    lower = nav * (1 - issuer.redeem_fee) * (1 - f)
    if amm.price > upper and issuer.can_mint:
        need = amm.tokens_to_reach_price(upper)
        amm.sell_tokens(arb, issuer.mint(arb, need * nav * (1 + issuer.mint_fee)))
    elif amm.price < lower and issuer.can_redeem:
        issuer.redeem(arb, amm.buy_tokens(arb, amm.usd_to_reach_price(lower)))


@pytest.mark.parametrize("with_arbitrage", [True, False])
def test_arbitrage_keeps_the_premium_inside_the_band_while_open(with_arbitrage):
    mint_fee, redeem_fee, amm_fee = 0.005, 0.003, 0.003
    ledger, _, amm, (lp, noise, arb) = _world(fee=amm_fee, wallet_usd=1e9, wallet_tokens=1e6)
    issuer = Issuer(ledger, TOKEN, ledger.open_account("issuer", external=True),
                    mint_fee, redeem_fee, math.inf)
    issuer.open, issuer.nav = True, 300.0
    low = (1 - redeem_fee) * (1 - amm_fee) - 1
    high = (1 + mint_fee) / (1 - amm_fee) - 1
    rng = np.random.default_rng(5)
    premiums = []
    for _ in range(2_000):
        issuer.nav *= float(np.exp(rng.normal(0, 0.005)))
        flow = rng.normal(0, 0.3) * amm.depth_usd()
        if flow > 0:
            amm.buy_tokens(noise, flow)
        else:
            amm.sell_tokens(noise, -flow / amm.price)
        if with_arbitrage:
            _arbitrage(amm, issuer, arb)
        premiums.append(amm.price / issuer.nav - 1)
    premiums = np.array(premiums)
    inside = (premiums >= low - 1e-9) & (premiums <= high + 1e-9)
    if with_arbitrage:
        assert inside.all(), (premiums.min(), premiums.max(), low, high)
        assert premiums.max() > high - 1e-6 and premiums.min() < low + 1e-6   # the bounds bind
        assert ledger.audit() <= 1e-12
    else:
        assert not inside.all()      # without arbitrage the price wanders out of the band


def test_no_band_while_the_market_is_closed():
    ledger, _, amm, (lp, noise, arb) = _world()
    issuer = Issuer(ledger, TOKEN, ledger.open_account("issuer", external=True), 0.005, 0.005, 1e9)
    issuer.open, issuer.nav = False, 300.0
    amm.buy_tokens(noise, 500_000.0)
    _arbitrage(amm, issuer, arb)
    assert amm.price / issuer.nav - 1 > 0.1       # the token floats off-hours


def test_premium_escapes_the_band_once_mint_capacity_is_used_up():
    ledger, _, amm, (lp, buyer, arb) = _world(wallet_usd=1e9)
    issuer = Issuer(ledger, TOKEN, ledger.open_account("issuer", external=True), 0.005, 0.005, 200_000.0)
    issuer.open, issuer.nav = True, 300.0
    high = (1 + 0.005) / (1 - amm.fee) - 1
    amm.buy_tokens(buyer, 200_000.0)
    _arbitrage(amm, issuer, arb)
    assert amm.price / issuer.nav - 1 <= high + 1e-12       # capacity sufficed
    amm.buy_tokens(buyer, 400_000.0)
    _arbitrage(amm, issuer, arb)
    assert issuer.capacity_left_usd == 0.0
    assert amm.price / issuer.nav - 1 > high                # capacity ran out: the premium holds
