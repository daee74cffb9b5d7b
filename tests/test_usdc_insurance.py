"""``insurance.denomination: usdc`` (design 7): the insurance pool is held in USDC at every
step. Its shares of notional fees and liquidation penalties arrive in the margin token and are
sold at once to an external OTC desk at the price they were charged at; money is conserved.
"""

from __future__ import annotations

import pytest

from sim.assets import USDC
from sim.model import FlywheelModel
from tests.tiny import jump, tiny

# BTC up 49% on day 1 liquidates short option sellers (seed 3: four liquidations) and leaves bad
# debt that the TSLA.M insurance pays (short calls 10% out of the money are margined for a 15%
# move): the insurance both receives and pays, in USDC only.
USDC_COVER = {"insurance.denomination": "usdc", "events": [jump("BTC", 1.0, 0.4)]}


@pytest.mark.parametrize("kernels", ["cython", "reference"])
def test_a_usdc_insurance_holds_only_usdc_at_every_step_and_the_audit_passes(kernels):
    m = FlywheelModel(tiny(USDC_COVER), rng=3, kernels=kernels)
    tokens = [name for name in m.markets if name != USDC]
    seed_usdc = {name: m.ledger.balance(m.markets[name].insurance_holder, USDC) for name in tokens}
    fees = liquidations = 0
    received = dict.fromkeys(tokens, 0.0)            # USDC in, step by step
    before = dict(seed_usdc)
    while m.running:
        m.step()
        for name in tokens:
            mk = m.markets[name]
            assert m.ledger.balance(mk.insurance_holder, name) == 0.0, (m.step_count, name)
            now = m.ledger.balance(mk.insurance_holder, USDC)
            received[name] += max(now - before[name], 0.0)
            before[name] = now
        assert m.ledger.audit() <= 1e-12
        fees += sum(m.row[f"fees_usd[{name}]"] for name in tokens)
        liquidations += sum(m.row[f"liquidations[{name}]"] for name in tokens)
    assert fees > 0 and liquidations > 0             # both kinds of income arrived ...
    assert all(received[name] > 0.0 for name in tokens), received   # ... received in USDC
    assert m.summary()["bad_debt_usd"] > 0.0         # and the insurance paid bad debt in USDC


def test_the_insurance_receives_the_usd_of_its_fee_share_exactly():
    """An order's insurance share is fee_usd x (1 - lp_share); the OTC desk pays it in USDC at
    the price the trader was charged at (tokens = USD / price_in), so the USD is exact."""
    m = FlywheelModel(tiny({"insurance.denomination": "usdc"}), rng=3)
    m.run_for(30)
    mk = m.markets["TSLA.M"]
    before = m.ledger.balance(mk.insurance_holder, USDC)
    a = next(a for a in range(mk.book.n_accounts) if mk.book.collateral[a] > 0)
    s = int(mk.series.view("is_perp").argmax())      # the perpetual future: cheap, never refused
    p = mk.open_position(a, s, 1e-4, margin_buffer=0.0)
    assert p is not None
    got = m.ledger.balance(mk.insurance_holder, USDC) - before
    want = mk.book.last_fee_usd * (1.0 - mk.cfg.lp_share)
    assert got == pytest.approx(want, rel=1e-12)
    assert m.ledger.balance(mk.insurance_holder, "TSLA.M") == 0.0
    assert m.ledger.audit() <= 1e-12
