"""Safe mode of the guarded oracle (design 4): collateral and incoming tokens are valued at
min(TWAP, NAV), outgoing tokens at max(TWAP, NAV). The market passes those prices to the book
and to the liquidation kernel; these tests hold the margin check, funding and the
liquidation pass to them, on both engines.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import FlywheelModel
from tests.tiny import tiny

DAY = 24    # steps
LOW = 0.85  # NAV / TWAP in the tests' safe mode: collateral is worth 15% less


@pytest.fixture(scope="module", params=["cython", "reference"])
def model(request):
    m = FlywheelModel(tiny(), rng=11, kernels=request.param)
    m.run_for(2 * DAY)          # long and short option positions both open by then
    return m


def _enter_safe_mode(mk, p, low=LOW):
    """The market's TWAP is ``p`` and its NAV low x p: safe mode's prices (min in, max out)."""
    mk.set_prices(p, low * p, p, True)


def _accounts_with_positions(mk):
    return [a for a in range(mk.book.n_accounts) if mk.positions_of(a)]


def _set_collateral(m, mk, a, q):
    """Move collateral of account ``a`` to ``q`` tokens through the ledger (the outside world
    pays or takes the difference), so the audit still holds."""
    dq = q - float(mk.book.collateral[a])
    if dq > 0:
        m.ledger.into_vector(mk.token, m.world_holder, mk.book.collateral, a, dq)
    elif dq < 0:
        m.ledger.from_vector(mk.token, mk.book.collateral, a, m.world_holder, -dq)


def _collateral_for_ratio(mk, a, ratio):
    """Collateral (tokens) at which account ``a``'s equity is ``ratio`` x its maintenance
    requirement at the market's current prices (bisection; both sides move with q)."""
    q0 = float(mk.book.collateral[a])
    lo, hi = 0.0, max(q0, 1.0)

    def gap(q):
        eq, mr, _ = mk.account_margin(a, collateral_change=q - q0)
        return eq - ratio * mr
    while gap(hi) < 0:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gap(mid) < 0 else (lo, mid)
    return hi


def test_margin_values_collateral_at_the_lower_price_in_safe_mode(model):
    mk = model.markets["TSLA.M"]
    a = _accounts_with_positions(mk)[0]
    p = mk.price
    try:
        mk.set_prices(LOW * p, LOW * p, LOW * p, False)
        at_low = mk.account_margin(a)
        _enter_safe_mode(mk, p)
        assert mk.account_margin(a) == pytest.approx(at_low, rel=1e-12)
        mk.set_prices(p, p, p, False)
        assert mk.account_margin(a)[0] > at_low[0]     # the TWAP would value it higher
    finally:
        mk.set_prices(p, p, p, False)


def test_an_account_solvent_at_twap_but_not_at_min_twap_nav_is_liquidated_in_safe_mode(model):
    """At the TWAP its equity is 1.05x maintenance; at min(TWAP, NAV) = 0.85 TWAP it is below:
    the design liquidates it (before this fix the pass valued it at the TWAP: it survived)."""
    m = model
    mk = m.markets["TSLA.M"]
    p = mk.price
    a = next(a for a in _accounts_with_positions(mk) if mk.book.collateral[a] > 0)
    _set_collateral(m, mk, a, _collateral_for_ratio(mk, a, 1.05))
    eq, mr, _ = mk.account_margin(a)
    assert eq == pytest.approx(1.05 * mr, rel=1e-6)
    _enter_safe_mode(mk, p)
    eq, mr, _ = mk.account_margin(a)
    assert eq < mr                                    # below maintenance at the lower price
    mk.settle_step(m.dt_years, [], lambda: np.random.default_rng(0), m.step_count)
    res = mk.last_margin
    assert res is not None and a in set(res.liq_account.tolist())
    assert m.ledger.audit() <= 1e-12
    mk.set_prices(p, p, p, False)


def test_funding_in_safe_mode_takes_tokens_at_the_lower_price_and_pays_at_the_higher(model):
    """An account that pays funding pays its USD in tokens at min(TWAP, NAV) (tokens coming
    in); one that receives is paid at max(TWAP, NAV) (tokens going out)."""
    m = model
    mk = m.markets["TSLA.M"]
    p = mk.price
    nav = 1.2 * p                                     # a premium this time: max = NAV
    mk.set_prices(p, p, nav, True)
    book, sb = mk.book, mk.series
    k, na = book.n_positions, book.n_accounts
    mark, payoff = sb.view("mark"), sb.view("payoff")
    k_dt = m.dt_years / mk.cfg.funding_period_years
    usd = np.zeros(na)
    for i in range(k):
        s = book.pos_series[i]
        usd[book.pos_account[i]] += book.pos_size[i] * (mark[s] - payoff[s]) * k_dt
    expected = np.where(usd > 0, usd / p, usd / nav)
    assert (usd > 0).any() and (usd < 0).any()        # both sides pay and receive
    before = book.collateral[:na].copy()
    to_pool, paid_usd, _ = book.accrue_funding(payoff, k_dt)
    np.testing.assert_allclose(before - book.collateral[:na], expected, rtol=1e-9, atol=1e-15)
    assert to_pool == pytest.approx(expected.sum(), rel=1e-9, abs=1e-12)
    assert paid_usd == pytest.approx(usd[usd > 0].sum(), rel=1e-9)
    book.collateral[:na] = before                     # undo: the ledger never saw it
    mk.set_prices(p, p, p, False)


def test_a_liquidation_in_safe_mode_pays_gains_at_the_higher_price(model):
    """Realized PnL of a liquidation: a gain leaves the pool as tokens at max(TWAP, NAV), a
    loss comes in at min(TWAP, NAV)."""
    kern = model.markets["TSLA.M"].liq_kernel
    # One account, one long perp (K = 0, mark = spot = 100) bought at 90: a gain of 10 USD;
    # no collateral, so it is under maintenance and closed in full.
    args = dict(pos_account=np.array([0]), pos_series=np.array([0]), pos_entry=np.array([90.0]),
                series_mark=np.array([100.0]), series_delta=np.array([1.0]),
                series_spot=np.array([100.0]), series_is_perp=np.array([1], dtype=np.uint8),
                stress_marks=np.array([[85.0], [100.0], [115.0]]), token_moves=np.array([0.0]),
                insurance_balance=0.0, pool_balance=1e6)
    res = kern.run_liquidations(np.array([0.0]), 2.0, 0.25, pos_size=np.array([1.0]),
                                price_out=4.0, **args)
    assert res.liq_realized_tokens[0] == pytest.approx(10.0 / 4.0)
    args["pos_entry"] = np.array([110.0])             # a loss of 10 USD, from 20 tokens
    res = kern.run_liquidations(np.array([20.0]), 2.0, 0.25, pos_size=np.array([1.0]),
                                price_out=4.0, **args)
    assert res.liq_realized_tokens[0] == pytest.approx(-10.0 / 2.0)
