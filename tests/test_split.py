"""The ``split`` event (design 10): a stock's price divides by the ratio, the tokens it backs
hold ratio x the stock per token, so NAV is continuous; an oracle with ``split_lag_steps``
keeps the old backing for that many steps (a 3:1 split prints -66%), with the liquidations
that causes under the normal margin rules.

The models are tiny.yaml with quiet agents (nobody acts or arrives), so what changes at the
split's step is the split's doing.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from sim.errors import UserInputError
from sim.market.oracle import Oracle
from sim.model import FlywheelModel
from sim.scenario.events import SplitEvent
from tests.doubles import Owner
from tests.test_shocks import QUIET, run_to, shock_rows
from tests.tiny import tiny

CLOSED, OPEN = 30, 38   # tiny starts Mon 2025-07-07 00:00 UTC: step 30 is 02:00 ET, 38 is 10:00 ET


def split(at: int, ratio: float = 3.0, asset: str = "TSLA") -> dict:
    return {"kind": "split", "asset": asset, "at": f"step {at}", "ratio": ratio}


def model(events: list[dict], **overrides) -> FlywheelModel:
    return FlywheelModel(tiny({**QUIET, "events": events, **overrides}))


@pytest.mark.parametrize("at", [CLOSED, OPEN])
def test_simulated_split_divides_prices_and_multiplies_backing_nav_continuous(at):
    m = run_to(model([split(at)]), at)
    w = m.world
    i = w.asset_index["TSLA"]
    tsla, nvda = w.tokens["TSLA.M"], w.tokens["NVDA.M"]
    reserves = (tsla.amm.reserve_token, tsla.amm.reserve_usd)
    nav_before, nvda_nav = tsla.nav, nvda.nav
    # The step's own price move, drawn before the run: the split must add exactly /3 to it.
    r = float(w.log_returns[at, i])
    latent, reference = w.latent[i], w.reference[i]
    m.step()
    assert w.is_open == (at == OPEN)
    assert w.latent[i] == pytest.approx(latent * math.exp(r) / 3.0, rel=1e-12)
    expected_ref = latent * math.exp(r) / 3.0 if w.is_open else reference / 3.0
    assert w.reference[i] == pytest.approx(expected_ref, rel=1e-12)
    assert tsla.split_multiplier == 3.0 and tsla.backing_per_token == 3.0 and tsla.backing == 1.0
    assert nvda.split_multiplier == 1.0
    if not w.is_open:   # the reference stands still while closed: NAV exactly unchanged
        assert tsla.nav == pytest.approx(nav_before, rel=1e-12)
        assert nvda.nav == nvda_nav
    else:               # open: NAV moves only by the step's own return
        assert tsla.nav == pytest.approx(nav_before * math.exp(r), rel=1e-12)
    assert tsla.nav == pytest.approx(w.price("TSLA") * 3.0, rel=1e-12)
    assert (tsla.amm.reserve_token, tsla.amm.reserve_usd) == reserves  # the AMM holds token units
    assert shock_rows(m) == [[at, "", "split TSLA"]]


def test_split_at_a_closed_hour_then_the_open_nav_follows_the_latent_value_times_three():
    m = run_to(model([split(CLOSED)]), CLOSED + 1)
    w, tok = m.world, m.world.tokens["TSLA.M"]
    run_to(m, OPEN + 1)
    assert w.is_open
    assert tok.nav == pytest.approx(3.0 * w.latent[w.asset_index["TSLA"]], rel=1e-12)


def _replay_file(tmp_path, sc, split_step: int) -> str:
    """Hourly prices of every asset, flat, TSLA dropping to a third at the split step's time."""
    start = sc.clock.start
    lines = ["time," + ",".join(sc.assets)]
    for k in range(sc.n_steps + 1):
        t = start + timedelta(hours=k)
        px = [a.price / (3.0 if name == "TSLA" and k >= split_step else 1.0)
              for name, a in sc.assets.items()]
        lines.append(t.isoformat().replace("+00:00", "Z") + "," + ",".join(map(repr, px)))
    path = tmp_path / "unadjusted.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("at", [CLOSED, OPEN])
def test_replayed_unadjusted_feed_keeps_nav_continuous(tmp_path, at):
    path = _replay_file(tmp_path, tiny(), at)
    m = model([split(at)], price_file={"path": path})
    w, tok = m.world, m.world.tokens["TSLA.M"]
    tsla = m.spec.assets["TSLA"].price
    navs, prices = [], []
    for _ in range(OPEN + 3):
        m.step()
        navs.append(tok.nav)
        prices.append(w.latent[w.asset_index["TSLA"]])
    assert prices[at - 2] == tsla and prices[at - 1] == pytest.approx(tsla / 3.0, rel=1e-12)
    assert tok.split_multiplier == 3.0
    # The feed is used as it is (no second division) and NAV never moves.
    assert np.allclose(navs, tsla, rtol=1e-12, atol=0.0), navs
    assert w.price("TSLA") == pytest.approx(tsla / 3.0, rel=1e-12)


def test_oracle_with_split_lag_prints_nav_over_three_for_exactly_lag_steps():
    m = model([split(OPEN)], **{"markets.TSLA.M.oracle": "nav", "markets.TSLA.M.split_lag_steps": 2})
    tok = m.world.tokens["TSLA.M"]
    printed, navs = [], []
    for _ in range(OPEN + 4):
        m.step()
        printed.append(tok.oracle.price)
        navs.append(tok.nav_last_open)
    ratio = np.array(printed) / np.array(navs)
    assert np.allclose(ratio[:OPEN], 1.0, rtol=1e-15)
    assert ratio[OPEN:OPEN + 2] == pytest.approx([1 / 3, 1 / 3], rel=1e-12)   # -66% for two steps
    assert np.allclose(ratio[OPEN + 2:], 1.0, rtol=1e-15)                       # then recovered
    # Without lag the oracle follows the continuous NAV.
    m0 = model([split(OPEN)], **{"markets.TSLA.M.oracle": "nav"})
    run_to(m0, OPEN + 1)
    assert m0.world.tokens["TSLA.M"].oracle.price == m0.world.tokens["TSLA.M"].nav_last_open


def _liquidated_after_split(lag: int) -> tuple[bool, float]:
    """An account margined in TSLA.M at 1.5x maintenance, a 3:1 split; (liquidated, eq/maint
    just before the split)."""
    m = model([split(OPEN)], **{"markets.TSLA.M.oracle": "nav",
                                "markets.TSLA.M.split_lag_steps": lag})
    run_to(m, OPEN - 2)
    mk = m.markets["TSLA.M"]
    wallet = m.ledger.open_account("test:split-victim")
    m.fund_wallet(wallet, "TSLA.M", 50_000.0, 0.0)
    a = mk.open_account(Owner())
    mk.deposit_collateral(a, wallet, m.ledger.balance(wallet, "TSLA.M"))
    perp = int(np.flatnonzero(mk.series.is_perp)[0])
    assert mk.open_position(a, perp, 0.1) is not None           # a long perpetual
    lo, hi = 0.0, float(mk.book.collateral[a])     # take out collateral until eq = 1.5 x maint
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        eq, maint, _ = mk.account_margin(a, collateral_change=-mid)
        lo, hi = (mid, hi) if eq > 1.5 * maint else (lo, mid)
    m.ledger.from_vector("TSLA.M", mk.book.collateral, a, wallet, lo)
    run_to(m, OPEN)
    eq, maint, _ = mk.account_margin(a)
    for _ in range(4):
        m.step()
    ev = m.events_frame()
    hit = ev[(ev["kind"] == "liquidation") & (ev["account"] == a) & (ev["market"] == "TSLA.M")]
    return len(hit) > 0, eq / maint


def test_split_lag_liquidates_an_account_near_maintenance_and_no_lag_does_not():
    hit, headroom = _liquidated_after_split(lag=2)
    assert 1.3 < headroom < 1.7
    assert hit
    hit, headroom = _liquidated_after_split(lag=0)
    assert 1.3 < headroom < 1.7
    assert not hit


def test_split_validation():
    assert SplitEvent(kind="split", asset="TSLA", at="day 1", ratio=0.1).ratio == 0.1
    for bad in (0.0, -3.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="ratio"):
            SplitEvent(kind="split", asset="TSLA", at="day 1", ratio=bad)
    with pytest.raises(UserInputError, match="split needs a stock asset; 'BTC' is crypto"):
        tiny({"events": [split(OPEN, asset="BTC")]})
    with pytest.raises(UserInputError, match="no asset named 'AAPL'"):
        tiny({"events": [split(OPEN, asset="AAPL")]})
    with pytest.raises(UserInputError, match="markets.TSLA.M.split_lag_steps"):
        tiny({"markets.TSLA.M.split_lag_steps": -1})


def test_oracle_split_lag_alone():
    o = Oracle("nav", split_lag_steps=2)
    o.sample(10.0, 30.0)
    o.split(3.0)
    o.sample(10.0, 30.0)
    assert o.price == pytest.approx(10.0)
    o.sample(10.0, 30.0)
    assert o.price == pytest.approx(10.0)
    o.sample(10.0, 30.0)
    assert o.price == 30.0
    o0 = Oracle("nav")
    o0.split(3.0)
    o0.sample(10.0, 30.0)
    assert o0.price == 30.0
    for bad in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="ratio"):
            o.split(bad)
    with pytest.raises(ValueError, match="split_lag_steps"):
        Oracle("nav", split_lag_steps=-1)


def test_a_depeg_across_a_split_restores_the_backing_and_keeps_the_split():
    depeg = {"kind": "depeg", "token": "TSLA.M", "at": f"step {CLOSED}", "backing": 0.8,
             "duration": "12h"}
    m = run_to(model([depeg, split(CLOSED + 4)]), CLOSED + 5)
    tok, w = m.world.tokens["TSLA.M"], m.world
    assert (tok.backing, tok.split_multiplier) == (0.8, 3.0)
    assert tok.nav == pytest.approx(0.8 * 3.0 * w.price("TSLA"), rel=1e-12)
    run_to(m, CLOSED + 13)
    assert (tok.backing, tok.split_multiplier, tok.backing_per_token) == (1.0, 3.0, 3.0)
    assert tok.nav == pytest.approx(3.0 * w.price("TSLA"), rel=1e-12)
