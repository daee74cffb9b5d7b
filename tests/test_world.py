"""The exogenous world (sim.market.world): prices advance along their paths, NAV is the
reference price times the backing, and a stock's reference price freezes while NYSE is closed
and jumps to the latent value at the open (design sections 3-4)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.assets import USDC
from sim.ledger import Ledger
from sim.market.world import World
from tests.tiny import tiny

FRIDAY = "2025-07-11T00:00:00Z"     # the run spans a weekend: Friday to Monday night


def make_world(days: float = 4.0, seed: int = 3) -> World:
    sc = tiny({"clock.start": FRIDAY, "clock.days": days})
    ledger = Ledger([*sc.tokens, USDC])
    world = World(sc, ledger, seed)
    outside = ledger.open_account("outside", external=True)
    for name, tok in world.tokens.items():      # an AMM with liquidity, for the oracle to read
        tok.amm.add_liquidity(outside, 1e6 / tok.nav, 1e6)
    return world


def walk(world: World) -> list[dict]:
    """Advance step by step (phases 1 and 2); what each step shows."""
    seen = []
    for _ in range(world.n_steps - 1):
        world.advance()
        world.update_issuers_and_oracles(new_day=False)
        i = world.asset_index
        seen.append({
            "open": world.is_open,
            "btc": world.price("BTC"), "tsla": world.price("TSLA"),
            "latent_tsla": float(world.latent[i["TSLA"]]),
            "nav": world.tokens["TSLA.M"].nav,
            "nav_last_open": world.tokens["TSLA.M"].nav_last_open,
        })
    return seen


def test_crypto_prices_follow_their_log_returns_every_step():
    world = make_world()
    start = world.price("BTC")
    seen = walk(world)
    j = world.asset_index["BTC"]
    want = start * np.exp(np.cumsum(world.log_returns[: len(seen), j]))
    np.testing.assert_allclose([s["btc"] for s in seen], want, rtol=1e-12)
    assert len({s["btc"] for s in seen}) == len(seen)        # it moves at every step


def test_nav_is_the_reference_price_times_the_backing():
    world = make_world()
    world.tokens["TSLA.M"].backing = 0.85
    for s in walk(world):
        assert s["nav"] == pytest.approx(s["tsla"] * 0.85, rel=1e-15)


def test_the_stock_reference_freezes_while_closed_and_jumps_to_the_latent_value_at_the_open():
    world = make_world()
    seen = walk(world)
    opens = [k for k in range(1, len(seen)) if seen[k]["open"] and not seen[k - 1]["open"]]
    closed = [k for k in range(1, len(seen)) if not seen[k]["open"]]
    assert opens and len(closed) > 48                          # a weekend and some nights
    for k in closed:                                           # frozen while closed ...
        assert seen[k]["tsla"] == seen[k - 1]["tsla"]
        assert seen[k]["nav_last_open"] == seen[k - 1]["nav_last_open"]
    assert len({seen[k]["latent_tsla"] for k in closed}) > 40  # ... while the latent value moves
    for k in opens:                                            # and at the open, the gap
        assert seen[k]["tsla"] == seen[k]["latent_tsla"]
        assert seen[k]["tsla"] != seen[k - 1]["tsla"]
    for s in seen:
        if s["open"]:
            assert s["tsla"] == s["latent_tsla"] and s["nav_last_open"] == s["nav"]


def test_a_scheduled_log_move_lands_on_its_step_and_persists():
    a, b = make_world(days=2), make_world(days=2)
    b.add_log_move(10, "BTC", -0.2)
    pa, pb = [], []
    for _ in range(20):
        a.advance()
        b.advance()
        pa.append(a.price("BTC"))
        pb.append(b.price("BTC"))
    ratio = np.array(pb) / np.array(pa)
    np.testing.assert_allclose(ratio[:10], 1.0, rtol=1e-15)
    np.testing.assert_allclose(ratio[10:], np.exp(-0.2), rtol=1e-12)
