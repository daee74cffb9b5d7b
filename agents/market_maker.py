"""MarketMaker: supplies AMM liquidity when fees pay for capital and risk (volume -> depth)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from agents.base import FlywheelAgent
from agents.offhours import InformedFlow
from sim.assets import USDC
from sim.rng import ScalarDraws

if TYPE_CHECKING:
    from sim.market.world import FairValueView, TokenState
    from sim.model import FlywheelModel
    from sim.outside import OutsideWorld
    from sim.scenario.agents import MMBehaviour


class MarketMaker(FlywheelAgent):
    """Adds liquidity when trailing fee APR beats cost of capital plus a charge for volatility
    and depeg risk; withdraws a fraction under stress (design section 8). Low fees alone do not
    make it leave: it stops adding. With ``offhours_informed`` it also trades its AMM toward its
    noisy view of the latent value while NYSE is closed (``agents.offhours``).

    Collaborators are handed in: its behaviour (``params``), the outside world that funds it,
    its token (AMM, NAV, oracle), the token's latent-value view,
    the AMM's trailing fee APR (``fee_apr(window_days)``), the underlying's realized vol
    (``sigma()``) and the noise stream of its off-hours view."""

    kind = "market_maker"

    def __init__(self, model: FlywheelModel, rng: np.random.Generator, params: MMBehaviour,
                 outside: OutsideWorld, token: TokenState, fair: FairValueView,
                 fee_apr: Callable[[float], float], sigma: Callable[[], float],
                 offhours_rng: np.random.Generator, initial_reserve_usd: float) -> None:
        p = params
        super().__init__(model, rng, p.act_rate_per_day)
        self.params = p
        self.tok = tok = token
        self.token = tok.name
        self.fair = fair
        self.fee_apr = fee_apr
        self.sigma = sigma
        self.amm = tok.amm
        self.last_stress_day = -1.0
        self.pulled_usd = 0.0       # USDC side it took out under stress, to put back when calm
        price = tok.nav
        # Seed the AMM with ``initial_reserve_usd`` of USDC and as much in tokens at NAV; keep
        # capital_usd idle, half tokens and half USDC.
        side_usd = initial_reserve_usd + p.capital_usd / 2
        outside.fund(self.wallet, self.token, side_usd, side_usd, price=price)
        if initial_reserve_usd > 0:
            self.amm.add_liquidity(self.wallet, initial_reserve_usd / price, initial_reserve_usd)
        self.informed = InformedFlow(
            self.amm, fair, outside.ledger, self.wallet, ScalarDraws(offhours_rng), p.offhours_noise,
            p.offhours_min_edge, p.offhours_trade_fraction * p.capital_usd,
            p.offhours_max_inventory_fraction * p.capital_usd,
        ) if p.offhours_informed else None

    def act(self, step: int) -> None:
        p, tok = self.params, self.tok
        if self.informed is not None:
            self.informed.act()
        premium = abs(tok.premium)
        if self.informed is not None and not self.fair.market_open and self.fair.value > 0:
            # Off-hours an informed maker judges the token against the latent value it sees,
            # not against the NAV frozen at the last close.
            premium = abs(self.amm.price / self.fair.value - 1.0)
        shares = self.amm.shares_of(self.wallet)
        day = step * self.model.step_days
        if premium > p.stress_premium or tok.oracle.safe_mode or tok.backing < 1.0:
            if shares > 0 and day - self.last_stress_day >= 1.0:   # pull once per stressed day
                before = shares * self.amm.reserve_usd / self.amm.total_shares
                self.amm.remove_liquidity(self.wallet, shares * p.stress_withdraw_fraction)
                self.pulled_usd += before * p.stress_withdraw_fraction
                self.last_stress_day = day
            return
        if self.pulled_usd > 0 and day - self.last_stress_day >= 1.0:
            # A calm day after the stress: put back what it pulled (it is still in the business).
            self.pulled_usd -= self._add(min(self.pulled_usd, self.balance(USDC)))
            return
        if day < p.fee_window_days:          # no fee history yet to judge by
            return
        fee_apr = self.fee_apr(p.fee_window_days)
        sigma = self.sigma()
        charge = p.cost_of_capital + p.vol_charge * sigma + p.depeg_charge * premium
        if fee_apr > charge:
            self._add(p.add_fraction * self.balance(USDC))

    def withdraw_fraction(self, fraction: float) -> None:
        """Take ``fraction`` of its AMM shares out (shock ``mm_withdrawal``)."""
        shares = self.amm.shares_of(self.wallet)
        if shares > 0:
            self.amm.remove_liquidity(self.wallet, shares * fraction)

    def _add(self, usd: float) -> float:
        """Add up to ``usd`` of USDC and as much in tokens at the pool price; returns the USDC
        used."""
        price = self.amm.price
        pair_usd = min(self.balance(self.token) * price, usd)
        if pair_usd <= 1.0:
            return 0.0
        self.amm.add_liquidity(self.wallet, pair_usd / price, pair_usd)
        return pair_usd
