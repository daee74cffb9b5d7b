"""Arbitrageur: closes token-vs-NAV gaps through the issuer and the AMM, and acts as keeper."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    from sim.protocol.options_market import OptionsMarket
    from sim.scenario.agents import ArbBehaviour


class Arbitrageur(FlywheelAgent):
    """While NYSE is open: mints and sells when the AMM trades above NAV plus costs, buys and
    redeems when below (bounded by capital and the issuer's capacity). Trades the pool's ATM
    call against the external implied vol (the asset's own sigma) when the pool's vol differs
    by more than ``vol_edge``. Sells keeper rewards (phase 8). With ``offhours_informed`` it
    trades each AMM toward its noisy view of the latent value while NYSE is closed
    (``agents.offhours``). Design section 8.

    Collaborators are handed in: its behaviour (``params``), the outside world that funds it,
    the tokens (AMM, issuer, NAV), their latent-value views, the
    options markets (quotes, book), ``pool_sigma(market, underlying index)`` (the vol the pool
    prices with), ``external_sigma`` per underlying, and one off-hours noise stream per token.
    """

    kind = "arbitrageur"

    def __init__(self, model: FlywheelModel, rng: np.random.Generator, params: ArbBehaviour,
                 outside: OutsideWorld, tokens: Mapping[str, TokenState],
                 fair: Mapping[str, FairValueView],
                 markets: Mapping[str, OptionsMarket], pool_sigma: Callable[[str, int], float],
                 external_sigma: Mapping[str, float],
                 offhours_rngs: Mapping[str, np.random.Generator]) -> None:
        p = params
        super().__init__(model, rng, p.act_rate_per_day)
        self.params = p
        self.tokens = tokens
        self.markets = markets
        self.pool_sigma = pool_sigma
        self.external_sigma = external_sigma
        outside.fund(self.wallet, USDC, 0.0, p.capital_usd)
        per_token_usd = p.capital_usd / max(len(tokens), 1)
        for name, tok in tokens.items():
            outside.fund(self.wallet, name, per_token_usd, 0.0, price=tok.nav)
        self.accounts: dict[str, int] = {}            # market -> its margin account there
        self.option_position: dict[str, tuple[int, int]] = {}  # market -> (slot, opened step)
        self.inventory = {name: self.balance(name) for name in tokens}
        self.is_keeper = p.keeper
        self.informed: dict[str, InformedFlow] = {} if not p.offhours_informed else {
            name: InformedFlow(
                tok.amm, fair[name], outside.ledger, self.wallet, ScalarDraws(offhours_rngs[name]),
                p.offhours_noise, p.offhours_min_edge, p.offhours_trade_fraction * p.capital_usd,
                p.offhours_max_inventory_fraction * p.capital_usd,
            ) for name, tok in tokens.items()
        }

    def act(self, step: int) -> None:
        for name, tok in self.tokens.items():
            self._arbitrage(tok)
            flow = self.informed.get(name)
            if flow is not None:
                # Tokens it bought off-hours are a position it keeps, not keeper rewards to
                # sell in phase 8 (and tokens it sold come out of that position).
                bought = flow.act()
                if bought != 0.0:
                    self.inventory[name] = max(self.inventory[name] + bought, 0.0)
        for name in self.markets:
            self._option_arbitrage(name, step)

    def _option_arbitrage(self, name: str, step: int) -> None:
        """Buy the pool's ATM call when the pool prices vol below the external vol, sell it
        when above; close when the gap has closed or after ``option_holding_days``."""
        m, p = self.markets[name], self.params
        sb = m.series
        u = 0
        external = self.external_sigma[sb.underlyings[u]]
        gap = self.pool_sigma(name, u) / external - 1.0
        held = self.option_position.get(name)
        if held is not None:
            slot, opened = held
            if m.book.pos_size[slot] == 0.0 or abs(gap) < p.vol_edge / 2 or \
                    (step - opened) * self.model.step_days >= p.option_holding_days:
                m.close_position(slot, 1.0)
                del self.option_position[name]
            return
        if abs(gap) <= p.vol_edge or m.safe_mode:
            return
        account = self._account(name)
        s = sb.listed_near(u, 0.0, True)
        size = p.option_notional_fraction * p.capital_usd / float(sb.spot[s])
        slot = m.open_position(account, s, -size if gap > 0 else size, 1.0)
        if slot is not None:
            self.option_position[name] = (slot, step)

    def remap_positions(self, market: OptionsMarket, remap: dict[int, int]) -> None:
        """The market compacted its positions: follow the option position to its new slot."""
        for name, (slot, opened) in list(self.option_position.items()):
            if self.markets[name] is market:
                new = remap.get(slot)
                if new is None:
                    del self.option_position[name]      # closed meanwhile (liquidation or ADL)
                else:
                    self.option_position[name] = (new, opened)

    def _account(self, name: str) -> int:
        """Its margin account in market ``name``, funded once with half of its inventory of the
        token the market is named after: in that token, or (a USDC-margined market, the margin
        twin) in USDC worth as much at NAV, so the twin's arbitrageur posts the same USD."""
        if name not in self.accounts:
            m = self.markets[name]
            self.accounts[name] = m.open_account(self)
            if m.token == USDC:
                inventory_usd = self.balance(name) * self.tokens[name].nav if name in self.tokens else 0.0
                amount = min(0.5 * inventory_usd, self.balance(USDC))
            else:
                amount = 0.5 * self.balance(m.token)
            m.deposit_collateral(self.accounts[name], self.wallet, amount)
            if m.token in self.inventory:
                self.inventory[m.token] = self.balance(m.token)
        return self.accounts[name]

    def _arbitrage(self, tok) -> None:
        amm, iss, edge = tok.amm, tok.issuer, self.params.min_edge
        nav, fee = tok.nav, amm.fee
        rich = nav * (1.0 + iss.mint_fee) / (1.0 - fee)     # above: mint at NAV, sell on the AMM
        cheap = nav * (1.0 - iss.redeem_fee) * (1.0 - fee)  # below: buy on the AMM, redeem at NAV
        if amm.price > rich * (1.0 + edge) and iss.can_mint:
            tokens = amm.tokens_to_reach_price(rich)
            usd = min(tokens * nav * (1.0 + iss.mint_fee), self.balance(USDC),
                      iss.capacity_left_usd)
            got = iss.mint(self.wallet, usd)
            if got > 0:
                amm.sell_tokens(self.wallet, got)
        elif amm.price < cheap * (1.0 - edge) and iss.can_redeem:
            usd = min(amm.usd_to_reach_price(cheap), self.balance(USDC), iss.capacity_left_usd)
            if usd > 0:
                got = amm.buy_tokens(self.wallet, usd)
                iss.redeem(self.wallet, got)

    def rewards_to_sell(self, token: str) -> float:
        """Tokens above its starting inventory: keeper rewards, sold in phase 8."""
        return max(self.balance(token) - self.inventory.get(token, 0.0), 0.0)
