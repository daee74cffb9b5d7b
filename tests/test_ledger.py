"""The ledger's conservation audit: transfers keep it at rounding, a leak shows at its size."""

import math

import numpy as np
import pytest

from sim.ledger import InsufficientBalance, Ledger


def _ledger_with_money(seed: int = 0):
    rng = np.random.default_rng(seed)
    led = Ledger(["TSLA.M", "USDC"])
    world = led.open_account("world", external=True)
    holders = [led.open_account(f"h{i}") for i in range(50)]
    vec = np.zeros(20)
    led.register_vector("collateral", "TSLA.M", lambda: vec)
    for h in holders:
        led.transfer("TSLA.M", world, h, float(rng.uniform(1, 100)))
        led.transfer("USDC", world, h, float(rng.uniform(1, 1e4)))
    return rng, led, world, holders, vec


def test_random_transfers_keep_every_asset_conserved():
    rng, led, world, holders, vec = _ledger_with_money()
    for _ in range(2000):
        a, b = rng.choice(holders, 2, replace=False)
        asset = "TSLA.M" if rng.random() < 0.5 else "USDC"
        led.transfer(asset, int(a), int(b), 0.3 * led.balance(int(a), asset))
        if asset == "TSLA.M":
            i = int(rng.integers(vec.size))
            led.into_vector("TSLA.M", int(b), vec, i, 0.1 * led.balance(int(b), "TSLA.M"))
            led.from_vector("TSLA.M", vec, i, int(a), 0.5 * vec[i])
    assert led.audit() <= 1e-14


@pytest.mark.parametrize("where", ["holder", "vector", "kernel"])
def test_a_leak_shows_in_the_audit_at_its_relative_size(where):
    """Money created outside a transfer is caught: the error equals leak / sum of |balances|."""
    _, led, world, holders, vec = _ledger_with_money(1)
    led.into_vector("TSLA.M", holders[0], vec, 3, 10.0)
    gross = sum(abs(led.balance(h, "TSLA.M")) for h in [world, *holders]) + np.abs(vec).sum()
    leak = 1e-3
    if where == "holder":
        led._balances[holders[1], led.asset_id("TSLA.M")] += leak
    elif where == "vector":
        vec[3] += leak
    else:
        led.settle_kernel("TSLA.M", {holders[2]: leak})   # one-sided
    assert led.audit() == pytest.approx(leak / (gross + leak), rel=1e-6)


def test_an_overdraft_is_refused():
    _, led, _, holders, _ = _ledger_with_money(2)
    with pytest.raises(InsufficientBalance):
        led.transfer("USDC", holders[0], holders[1], led.balance(holders[0], "USDC") * 1.01)


def test_an_order_is_settled_through_the_checked_api():
    """A trade book's order moves collateral in a registered vector; ``settle_order`` books
    the pool's and insurance's sides (pool first), and only then does the audit balance."""
    led = Ledger(["TSLA.M"])
    world = led.open_account("world", external=True)
    pool, ins = led.open_account("pool"), led.open_account("insurance")
    collateral = np.zeros(2)
    led.register_vector("collateral", "TSLA.M", lambda: collateral)
    led.transfer("TSLA.M", world, pool, 100.0)
    led.into_vector("TSLA.M", world, collateral, 1, 10.0)
    collateral[1] -= 0.75                       # the book charged spread + fee ...
    assert led.audit() > 1e-3                   # ... which the audit sees until the other side moves
    led.settle_order("TSLA.M", pool, ins, 0.5, 0.25)
    assert led.balance(pool, "TSLA.M") == 100.5 and led.balance(ins, "TSLA.M") == 0.25
    assert led.audit() < 1e-15


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_settlement_raises_and_moves_nothing(bad):
    led = Ledger(["TSLA.M"])
    pool, ins = led.open_account("pool"), led.open_account("insurance")
    with pytest.raises(ValueError, match="settlement"):
        led.settle_order("TSLA.M", pool, ins, bad, 0.0)
    with pytest.raises(ValueError, match="settlement"):
        led.settle_order("TSLA.M", pool, ins, 0.0, bad)
    with pytest.raises(ValueError, match="settlement"):
        led.settle_kernel("TSLA.M", {pool: bad})
    assert led.balance(pool, "TSLA.M") == 0.0 and led.balance(ins, "TSLA.M") == 0.0
    assert not hasattr(led, "share_table")      # the ledger is the only writer of its table
