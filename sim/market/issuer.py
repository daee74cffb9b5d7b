"""The issuer of one stock token: mint and redeem at NAV (design section 4).

Mint: USDC in, tokens out at NAV (1 + mint_fee); redeem: tokens in, USDC out at
NAV (1 - redeem_fee). Both only while the stock market is open, the direction is not halted
and the day's capacity lasts; that is what bounds the premium in market hours, while
off-hours the token floats. The issuer's ledger account must be external: a mint creates
tokens (its token balance goes negative), a redeem burns them and pays USDC it takes from
the stock it sells (its USDC balance may go negative).

The daily capacity is one budget in USD of USDC flow (paid in by minters plus paid out to
redeemers), reset by ``new_day``. The model sets ``open`` and ``nav`` every step.
"""

from __future__ import annotations

import math

from sim.assets import USDC
from sim.ledger import Ledger


class Issuer:
    """Mints and redeems one token against USDC for any agent, within limits."""

    def __init__(
        self,
        ledger: Ledger,
        token: str,
        holder: int,
        mint_fee: float,
        redeem_fee: float,
        daily_capacity_usd: float,
    ) -> None:
        for name, fee in (("mint_fee", mint_fee), ("redeem_fee", redeem_fee)):
            if not (math.isfinite(fee) and 0.0 <= fee < 1.0):
                raise ValueError(f"{name}: must be in [0, 1), got {fee}")
        if not (daily_capacity_usd >= 0):  # inf allowed: no limit
            raise ValueError(f"daily_capacity_usd: must be >= 0, got {daily_capacity_usd}")
        self.ledger = ledger
        self.token = token
        self.holder = holder
        self.mint_fee = float(mint_fee)
        self.redeem_fee = float(redeem_fee)
        self.daily_capacity_usd = float(daily_capacity_usd)
        self.capacity_left_usd = self.daily_capacity_usd
        self.open = False
        self.halted_mint = False
        self.halted_redeem = False
        self.nav = math.nan
        self.minted_tokens = 0.0     # cumulative, for the conservation story and metrics
        self.redeemed_tokens = 0.0
        self.fees_usd = 0.0

    @property
    def halted(self) -> bool:
        """Both directions halted; setting it halts (or resumes) both."""
        return self.halted_mint and self.halted_redeem

    @halted.setter
    def halted(self, value: bool) -> None:
        self.halted_mint = self.halted_redeem = bool(value)

    def new_day(self) -> None:
        """Restore the daily capacity (the model calls it at each new trading day)."""
        self.capacity_left_usd = self.daily_capacity_usd

    def _working(self) -> bool:
        return self.open and self.capacity_left_usd > 0.0 and math.isfinite(self.nav) and self.nav > 0

    @property
    def can_mint(self) -> bool:
        return self._working() and not self.halted_mint

    @property
    def can_redeem(self) -> bool:
        return self._working() and not self.halted_redeem

    def mint(self, agent: int, usd_in: float) -> float:
        """Take up to ``usd_in`` USDC from ``agent`` and give it tokens; return the tokens
        (0 when closed, halted or out of capacity; less when capacity binds)."""
        if not self.can_mint or not usd_in > 0:
            return 0.0
        usd = min(float(usd_in), self.capacity_left_usd)
        tokens = usd / (self.nav * (1.0 + self.mint_fee))
        self.ledger.transfer(USDC, agent, self.holder, usd)
        self.ledger.transfer(self.token, self.holder, agent, tokens)
        self.capacity_left_usd -= usd
        self.minted_tokens += tokens
        self.fees_usd += usd - tokens * self.nav
        return tokens

    def redeem(self, agent: int, tokens_in: float) -> float:
        """Take up to ``tokens_in`` tokens from ``agent`` and pay it USDC; return the USDC
        (0 when closed, halted or out of capacity; fewer tokens taken when capacity binds)."""
        if not self.can_redeem or not tokens_in > 0:
            return 0.0
        price = self.nav * (1.0 - self.redeem_fee)
        tokens = min(float(tokens_in), self.capacity_left_usd / price)
        tokens = self.ledger.transfer(self.token, agent, self.holder, tokens)
        usd = tokens * price
        self.ledger.transfer(USDC, self.holder, agent, usd)
        self.capacity_left_usd = max(self.capacity_left_usd - usd, 0.0)
        self.redeemed_tokens += tokens
        self.fees_usd += tokens * self.nav - usd
        return usd
