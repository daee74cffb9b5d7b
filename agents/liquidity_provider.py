"""LiquidityProvider: deposits stock tokens into a main pool when its yield beats a hurdle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agents.base import FlywheelAgent
from agents.trader import truncated_pareto
from sim.assets import USDC

if TYPE_CHECKING:
    from agents.views import PoolView
    from sim.model import FlywheelModel
    from sim.outside import OutsideWorld, SaleQueue
    from sim.scenario.agents import LPBehaviour


@dataclass(frozen=True)
class LpInputs:
    """What an LP decides from and acts through, built once per market by the model and
    handed in at construction (design 2)."""

    params: LPBehaviour
    pool: PoolView
    outside: OutsideWorld
    sales: SaleQueue


class LiquidityProvider(FlywheelAgent):
    """Deposits when trailing APY minus a risk charge beats its hurdle; requests withdrawal on a
    drawdown beyond its tolerance, when APY falls below the hurdle, or in a depeg panic (with
    herding: the chance rises with the share of LPs already leaving). Design section 8.
    """

    kind = "liquidity_provider"

    def __init__(self, model: FlywheelModel, rng: np.random.Generator, inputs: LpInputs,
                 initial_deposit_tokens: float = 0.0) -> None:
        p = inputs.params
        super().__init__(model, rng, p.act_rate_per_day)
        self.params = p
        self.pool = inputs.pool
        self.market = inputs.pool.market
        self.market_name = self.market.name
        self.margin_asset = self.market.token    # what it deposits: its market's margin asset
        self.sales = inputs.sales
        self.hurdle_apy = max(0.0, float(rng.normal(p.hurdle_apy_mean, p.hurdle_apy_sd)))
        self.drawdown_tolerance = max(
            0.005, float(rng.normal(p.drawdown_tolerance_mean, p.drawdown_tolerance_sd)))
        self.leaving = False          # a withdrawal request is pending
        self.exit_reason = ""         # why it asked: "panic", "drawdown" or "yield"
        wealth_usd = truncated_pareto(float(rng.random()), p.wealth_min_usd, p.wealth_max_usd,
                                      p.wealth_pareto_alpha)
        inputs.outside.fund(self.wallet, self.margin_asset, wealth_usd, 0.0)
        inputs.pool.roster.add(self)
        if initial_deposit_tokens > 0:
            price = inputs.outside.token_price(self.margin_asset)
            inputs.outside.fund(self.wallet, self.margin_asset, initial_deposit_tokens * price, 0.0)
            self.market.lp_deposit(self, self.wallet, initial_deposit_tokens)

    def act(self, step: int) -> None:
        m, p, pool = self.market, self.params, self.pool
        shares = m.shares.get(self, 0.0)
        apy = pool.trailing_apy(p.apy_window_days)
        drawdown = pool.drawdown(p.apy_window_days)
        if shares <= 0:
            if self.leaving:
                self._finish_exit()
                return
            cover = pool.insurance_cover()
            risk = p.risk_charge * (drawdown + max(0.0, p.target_cover - cover))
            if apy - risk > self.hurdle_apy and not pool.in_panic():
                tokens = self.balance(self.margin_asset) * p.deposit_fraction
                if tokens > 0:
                    m.lp_deposit(self, self.wallet, tokens)
            return
        if self.leaving:
            return
        panic = False
        if pool.in_panic():
            herd = pool.leaving_share()
            panic = self.draws.random() < min(1.0, p.panic_prob * (1.0 + p.herding * herd))
        # Yield is judged only over a full window: before that the APY is 0 by construction and
        # every LP whose hurdle exceeds the gap would leave on the first day.
        poor_yield = pool.has_window(p.apy_window_days) and apy < self.hurdle_apy - p.exit_yield_gap
        if poor_yield and p.yield_review_days > 0:
            # It reviews its yield about once per yield_review_days, not at every decision:
            # LPs are not all watching on the day the month's figure turns (no stampede).
            reviews_now = 1.0 / max(p.act_rate_per_day * p.yield_review_days, 1.0)
            poor_yield = self.draws.random() < reviews_now
        if panic or drawdown > self.drawdown_tolerance or poor_yield:
            too_deep = drawdown > self.drawdown_tolerance
            self._request_exit("panic" if panic else ("drawdown" if too_deep else "yield"), step)

    def join_run(self, step: int) -> bool:
        """A run on its pool (shock ``lp_run``): ask for all its shares back in a panic, unless
        it holds none or is already leaving. Returns whether it asked."""
        if self.leaving or self.market.shares.get(self, 0.0) <= 0:
            return False
        self._request_exit("panic", step)
        return True

    def _request_exit(self, reason: str, step: int) -> None:
        """Queue the withdrawal of all its shares (paid after the cooldown, design 7)."""
        self.exit_reason = reason
        self.leaving = True
        self.market.request_withdrawal(self, step)

    def on_withdrawal_paid(self, tokens: float) -> None:
        """Phase 6: after a drawdown or a panic, sell part of what came back (phase 8)."""
        if self.exit_reason in ("panic", "drawdown") and self.margin_asset != USDC:
            self.sales.queue(self.wallet, self.margin_asset, tokens * self.params.exit_sell_fraction,
                             self.params.exit_sale_max_reserve_share, self.kind)
        if self.market.shares.get(self, 0.0) <= 0:
            self._finish_exit()

    def _finish_exit(self) -> None:
        self.leaving = False
        if self.exit_reason in ("panic", "drawdown"):
            self.leave()
        self.exit_reason = ""
