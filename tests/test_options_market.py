"""The options market (sim.protocol.options_market) on a small real Ledger and ListedSeries, no
model: LP withdrawals (cooldown, partial payout from free liquidity, the fee staying in the pool)
and insurance held in USDC paying a deficit (design sections 6-7).

Only the market's public methods are used, and ``market.book.<array>`` for the book's state.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernels.params import MarginParams
from sim.ledger import Ledger
from sim.protocol.options_market import MarketConfig, OptionsMarket
from sim.protocol.series import ListedSeries
from tests.doubles import Holder, Owner

TOKEN, USDC = "TSLA.M", "USDC"
PRICE = 300.0           # USD per TSLA.M
BTC = 100_000.0         # USD
COOLDOWN = 72           # steps
FEE = 0.003             # withdrawal fee
MAX_UTIL = 0.8
DT_YEARS = 1.0 / 8766.0


class Venue:
    """A ledger with an outside world, one BTC series table and one market margined in TSLA.M."""

    def __init__(self) -> None:
        self.ledger = Ledger([TOKEN, USDC])
        self.world = self.ledger.open_account("world", external=True)
        self.series = ListedSeries(["BTC"], np.array([BTC]), [-0.1, 0.0, 0.1], True, 1 / 365.25,
                                   [-0.15, 0.0, 0.15], [-0.2, -0.1, -0.05, 0.05, 0.1, 0.2])
        self.series.relist(np.array([BTC]))
        self.series.update_marks(np.array([BTC]), np.array([0.55]))
        cfg = MarketConfig(
            name=TOKEN, haircut=0.25, funding_period_years=1 / 365.25, base_spread=0.005, skew=0.02,
            perp_spread=0.0005, notional_fee=0.0005, lp_share=0.7, max_utilization=MAX_UTIL,
            max_net_delta_fraction=100.0, oi_cap_usd=math.inf, cooldown_steps=COOLDOWN,
            withdrawal_fee=FEE, margin=MarginParams(), token_moves=(0.0, -0.1, -0.25),
        )
        self.market = OptionsMarket(cfg, self.ledger, self.series)
        self.market.set_prices(PRICE, PRICE, PRICE, False)
        self.market.marks_changed()
        self._ids = 0

    def wallet(self, tokens: float) -> int:
        self._ids += 1
        w = self.ledger.open_account(f"wallet{self._ids}")
        self.ledger.transfer(TOKEN, self.world, w, tokens)
        return w

    def lp(self, tokens: float) -> Holder:
        """A share holder that deposits ``tokens`` into the pool."""
        holder = Holder(self._ids + 1, self.wallet(tokens))
        self.market.lp_deposit(holder, holder.wallet, tokens)
        return holder

    def trader(self, collateral: float) -> int:
        """A margin account holding ``collateral`` tokens."""
        wallet = self.wallet(collateral)
        account = self.market.open_account(Owner(self._ids))
        self.market.deposit_collateral(account, wallet, collateral)
        return account

    def pay(self, step: int) -> list[tuple[object, float]]:
        return self.market.process_withdrawals(step, lambda holder: holder.wallet)

    def move_btc(self, spot: float) -> None:
        self.series.update_marks(np.array([spot]), np.array([0.55]))
        self.market.marks_changed()


@pytest.fixture
def venue() -> Venue:
    return Venue()


def test_a_withdrawal_is_not_paid_before_its_cooldown(venue):
    lp = venue.lp(1_000.0)
    venue.market.request_withdrawal(lp, 10)
    assert venue.pay(10) == [] and venue.pay(10 + COOLDOWN - 1) == []
    assert venue.ledger.balance(lp.wallet, TOKEN) == 0.0
    paid = venue.pay(10 + COOLDOWN)
    assert [holder for holder, _ in paid] == [lp]
    assert venue.ledger.balance(lp.wallet, TOKEN) == pytest.approx(1_000.0 * (1 - FEE), rel=1e-12)
    assert venue.market.queue == []


def test_a_withdrawal_is_paid_from_free_liquidity_and_the_rest_stays_queued(venue):
    """Utilization after the payout stays <= max_utilization; the unpaid shares stay queued
    (and keep their claim on the pool)."""
    a, b = venue.lp(1_000.0), venue.lp(1_000.0)
    account = venue.trader(3_000.0)
    call = venue.series.listed_near(0, 0.0, True)
    assert venue.market.open_position(account, call, 19.0) is not None     # the pool writes calls
    assert 0.5 < venue.market.utilization() < MAX_UTIL
    shares_a = venue.market.shares[a]
    venue.market.request_withdrawal(a, 0)
    paid = venue.pay(COOLDOWN)
    assert len(paid) == 1 and 0 < paid[0][1] < shares_a * venue.market.share_price()
    assert venue.market.utilization() <= MAX_UTIL + 1e-12
    assert venue.market.utilization() == pytest.approx(MAX_UTIL, rel=1e-2)   # all that was free
    left = venue.market.shares[a]
    assert 0 < left < shares_a
    queued = [(holder, shares) for holder, shares, _ in venue.market.queue]
    assert queued == [(a, pytest.approx(left))]
    assert venue.market.shares[b] == pytest.approx(1_000.0)
    # Until the risk shrinks, the only liquidity freed is the fee the first payout left behind.
    (_, again), = venue.pay(COOLDOWN + 1)
    assert again == pytest.approx(FEE * paid[0][1], rel=1e-9)
    assert venue.market.utilization() <= MAX_UTIL + 1e-12


def test_a_withdrawal_paid_in_full_leaves_no_dust_of_shares(venue):
    """Each LP that asks for all its shares and is paid in full holds none after (no ulp of
    shares left behind that would keep it counted as an active LP)."""
    first = venue.lp(1_000.0)
    venue.market.request_withdrawal(first, 0)
    venue.pay(COOLDOWN)                                      # the share price is no longer 1
    rng = np.random.default_rng(7)
    lps = [venue.lp(float(x)) for x in rng.uniform(1e4, 1e6, 200)]
    for lp in lps:
        venue.market.request_withdrawal(lp, COOLDOWN)
    venue.pay(2 * COOLDOWN)
    assert [venue.market.shares[lp] for lp in lps if lp in venue.market.shares] == []
    assert venue.market.lp_holders() == 0 and venue.market.queue == []
    assert venue.market.total_shares == pytest.approx(0.0, abs=1e-6)
    assert venue.ledger.audit() <= 1e-12


def test_the_withdrawal_fee_stays_in_the_pool_for_the_remaining_lps(venue):
    a, b = venue.lp(1_000.0), venue.lp(1_000.0)
    before = venue.market.share_price()
    venue.market.request_withdrawal(a, 0)
    (_, out), = venue.pay(COOLDOWN)
    assert out == pytest.approx(1_000.0 * before * (1 - FEE), rel=1e-12)
    assert venue.market.share_price() == pytest.approx(before * (1 + FEE), rel=1e-12)
    assert venue.market.nav_tokens() == pytest.approx(venue.market.shares[b] * before * (1 + FEE))
    assert venue.ledger.audit() <= 1e-12


def test_insurance_held_in_usdc_pays_a_deficit_and_the_pool_is_paid_in_usdc(venue):
    """A leveraged perp long, BTC falls 80%: the account's deficit is paid by the insurance
    pool's USDC at the oracle price, not by the LPs (their NAV in tokens does not move)."""
    venue.lp(1_000.0)
    ins = venue.market.insurance_holder
    pool = venue.market.pool_holder
    venue.ledger.transfer(USDC, venue.world, ins, 30_000.0)
    account = venue.trader(10.0)
    perp = venue.series.perp_of[0]
    slot = venue.market.open_position(account, perp, 0.06)
    assert slot is not None
    ins_tokens = venue.ledger.balance(ins, TOKEN)         # its share of the notional fee
    venue.move_btc(0.2 * BTC)
    q = float(venue.market.book.collateral[account])
    deficit = -(q + 0.06 * (venue.series.mark[perp] - venue.market.book.pos_entry[slot]) / PRICE)
    assert deficit > 1.0                                  # tokens the account cannot pay
    nav_before = venue.market.nav_tokens()
    pool_usdc, ins_usdc = venue.ledger.balance(pool, USDC), venue.ledger.balance(ins, USDC)
    venue.market.settle_step(DT_YEARS, [], lambda: np.random.default_rng(0), 1)
    assert venue.market.book.pos_size[slot] == 0.0 and venue.market.book.collateral[account] == 0.0
    paid_usdc = (deficit - ins_tokens) * PRICE
    assert venue.ledger.balance(ins, USDC) == pytest.approx(ins_usdc - paid_usdc, rel=1e-9)
    assert venue.ledger.balance(pool, USDC) == pytest.approx(pool_usdc + paid_usdc, rel=1e-9)
    assert venue.ledger.balance(ins, TOKEN) == pytest.approx(0.0, abs=1e-12)
    assert venue.market.nav_tokens() == pytest.approx(nav_before, rel=1e-9)
    assert venue.ledger.audit() <= 1e-12
