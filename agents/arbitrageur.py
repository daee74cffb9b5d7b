"""Arbitrageur: closes token-vs-NAV gaps through the issuer and the AMM, and acts as keeper."""

from __future__ import annotations

import numpy as np

from agents.base import FlywheelAgent
from sim.assets import USDC


class Arbitrageur(FlywheelAgent):
    """While NYSE is open: mints and sells when the AMM trades above NAV plus costs, buys and
    redeems when below (bounded by capital and the issuer's capacity). Trades the pool's ATM
    call against the external implied vol (the asset's own sigma) when the pool's vol differs
    by more than ``vol_edge``. Sells keeper rewards (phase 8). Design section 8."""

    kind = "arbitrageur"

    def __init__(self, model, rng: np.random.Generator) -> None:
        p = model.spec.agents.arbitrageur
        super().__init__(model, rng, p.act_rate_per_day)
        self.params = p
        model.fund_wallet(self.wallet, USDC, 0.0, p.capital_usd)
        for name, tok in model.world.tokens.items():
            model.fund_wallet(self.wallet, name, p.capital_usd / max(len(model.world.tokens), 1), 0.0, price=tok.nav)
        self.accounts: dict[str, int] = {}            # market -> its margin account there
        self.option_position: dict[str, tuple[int, int]] = {}  # market -> (slot, opened step)
        self.inventory = {name: self.balance(name) for name in model.world.tokens}
        self.is_keeper = p.keeper

    def act(self, step: int) -> None:
        for name, tok in self.model.world.tokens.items():
            self._arbitrage(tok)
        for name in self.model.markets:
            self._option_arbitrage(name, step)

    def _option_arbitrage(self, name: str, step: int) -> None:
        """Buy the pool's ATM call when the pool prices vol below the external vol, sell it
        when above; close when the gap has closed or after ``option_holding_days``."""
        m, p, model = self.model.markets[name], self.params, self.model
        sb = m.series
        u = 0
        external = model.spec.assets[sb.underlyings[u]].sigma
        gap = model.pool_sigma(name, u) / external - 1.0
        held = self.option_position.get(name)
        if held is not None:
            slot, opened = held
            if m.book.pos_size[slot] == 0.0 or abs(gap) < p.vol_edge / 2 or \
                    (step - opened) * model.step_days >= p.option_holding_days:
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

    def remap_positions(self, market, remap: dict[int, int]) -> None:
        """The market compacted its positions: follow the option position to its new slot."""
        for name, (slot, opened) in list(self.option_position.items()):
            if self.model.markets[name] is market:
                new = remap.get(slot)
                if new is None:
                    del self.option_position[name]      # closed meanwhile (liquidation or ADL)
                else:
                    self.option_position[name] = (new, opened)

    def _account(self, name: str) -> int:
        """Its margin account in market ``name``, funded once with half of its inventory there."""
        if name not in self.accounts:
            m = self.model.markets[name]
            self.accounts[name] = m.open_account(self)
            m.deposit_collateral(self.accounts[name], self.wallet, 0.5 * self.balance(name))
            if name in self.inventory:
                self.inventory[name] = self.balance(name)
        return self.accounts[name]

    def _arbitrage(self, tok) -> None:
        amm, iss, edge = tok.amm, tok.issuer, self.params.min_edge
        nav, fee = tok.nav, amm.fee
        rich = nav * (1.0 + iss.mint_fee) / (1.0 - fee)     # above: mint at NAV, sell on the AMM
        cheap = nav * (1.0 - iss.redeem_fee) * (1.0 - fee)  # below: buy on the AMM, redeem at NAV
        if amm.price > rich * (1.0 + edge) and iss.can_mint:
            tokens = amm.tokens_to_reach_price(rich)
            usd = min(tokens * nav * (1.0 + iss.mint_fee), self.balance(USDC), iss.capacity_left_usd)
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
