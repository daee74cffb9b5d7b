"""Arbitrageur: closes token-vs-NAV gaps through the issuer and the AMM, and acts as keeper."""

from __future__ import annotations

import numpy as np

from agents.base import FlywheelAgent


class Arbitrageur(FlywheelAgent):
    """While NYSE is open: mints and sells when the AMM trades above NAV plus costs, buys and
    redeems when below (bounded by capital and the issuer's capacity). Sells keeper rewards
    (phase 8). Design section 8."""

    kind = "arbitrageur"

    def __init__(self, model, rng: np.random.Generator) -> None:
        p = model.spec.agents.arbitrageur
        super().__init__(model, rng, p.act_rate_per_day)
        self.params = p
        model.fund_wallet(self.wallet, "USDC", 0.0, p.capital_usd)
        for name, tok in model.world.tokens.items():
            model.fund_wallet(self.wallet, name, p.capital_usd / max(len(model.world.tokens), 1), 0.0, price=tok.nav)
        self.inventory = {name: self.balance(name) for name in model.world.tokens}
        self.is_keeper = p.keeper

    def act(self, step: int) -> None:
        for name, tok in self.model.world.tokens.items():
            self._arbitrage(tok)

    def _arbitrage(self, tok) -> None:
        amm, iss, edge = tok.amm, tok.issuer, self.params.min_edge
        nav, fee = tok.nav, amm.fee
        rich = nav * (1.0 + iss.mint_fee) / (1.0 - fee)     # above: mint at NAV, sell on the AMM
        cheap = nav * (1.0 - iss.redeem_fee) * (1.0 - fee)  # below: buy on the AMM, redeem at NAV
        if amm.price > rich * (1.0 + edge) and iss.can_mint:
            tokens = amm.tokens_to_reach_price(rich)
            usd = min(tokens * nav * (1.0 + iss.mint_fee), self.balance("USDC"), iss.capacity_left_usd)
            got = iss.mint(self.wallet, usd)
            if got > 0:
                amm.sell_tokens(self.wallet, got)
        elif amm.price < cheap * (1.0 - edge) and iss.can_redeem:
            usd = min(amm.usd_to_reach_price(cheap), self.balance("USDC"), iss.capacity_left_usd)
            if usd > 0:
                got = amm.buy_tokens(self.wallet, usd)
                iss.redeem(self.wallet, got)

    def rewards_to_sell(self, token: str) -> float:
        """Tokens above its starting inventory: keeper rewards, sold in phase 8."""
        return max(self.balance(token) - self.inventory.get(token, 0.0), 0.0)
