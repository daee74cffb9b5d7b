"""One constant-product token/USDC AMM whose reserves are ledger balances (design section 4).

The pool's reserves are the balances of its ledger account ``holder`` in the token and in
USDC, so every swap and every deposit is a pair of ledger transfers and the conservation
audit covers the AMM. Swaps follow Uniswap v2: the fee is taken from the input and stays in
the reserves (``kernels.amm.get_amount_out``). LP shares are bookkeeping inside this object
(shares are claims, not money; the reserves are the money).
"""

from __future__ import annotations

import math

from kernels import KernelSet, kernel_set
from sim.assets import USDC
from sim.ledger import Ledger


class SpotAmm:
    """A token/USDC constant-product pool held by ledger account ``holder``; ``kernels`` gives
    the ``amm`` kernel it swaps with (default: the Cython one)."""

    def __init__(self, ledger: Ledger, token: str, holder: int, fee: float,
                 kernels: KernelSet | None = None) -> None:
        if not (math.isfinite(fee) and 0.0 <= fee < 1.0):
            raise ValueError(f"fee: must be in [0, 1), got {fee}")
        self._kernel = (kernels or kernel_set()).amm
        self.ledger = ledger
        self.token = token
        self.holder = holder
        self.fee = float(fee)
        self._shares: dict[int, float] = {}
        self.total_shares = 0.0
        # cumulative fee part of swap inputs in USD: a buy's fee is USDC already; a sell's fee
        # tokens are valued at the swap's own average price, usd_out / (tokens_in (1 - fee))
        self.fees_usd = 0.0
        self.volume_usd = 0.0    # cumulative USD value of swaps (USDC side)

    # -- state -----------------------------------------------------------------------------
    @property
    def reserve_token(self) -> float:
        return self.ledger.balance(self.holder, self.token)

    @property
    def reserve_usd(self) -> float:
        return self.ledger.balance(self.holder, USDC)

    def _reserves(self) -> tuple[float, float]:
        return self.reserve_token, self.reserve_usd

    @property
    def has_liquidity(self) -> bool:
        x, y = self._reserves()
        return x > 0.0 and y > 0.0

    @property
    def price(self) -> float:
        """USD per token (y / x); NaN while the pool is empty."""
        x, y = self._reserves()
        return y / x if x > 0.0 and y > 0.0 else math.nan

    def depth_usd(self, frac: float = 0.02) -> float:
        """USD to move the price by +-frac, fees excluded: y(sqrt(1+f)-1) + p x(1/sqrt(1-f)-1)."""
        x, y = self._reserves()
        if not (x > 0.0 and y > 0.0):
            return 0.0
        return float(self._kernel.depth_usd(x, y, frac))

    def shares_of(self, provider: int) -> float:
        return self._shares.get(provider, 0.0)

    # -- quotes ----------------------------------------------------------------------------
    def quote_usd_for_tokens(self, usd_in: float) -> float:
        """Tokens out for ``usd_in`` USDC in (a buy), without trading."""
        x, y = self._reserves()
        if not (usd_in > 0.0 and x > 0.0 and y > 0.0):
            return 0.0
        return float(self._kernel.get_amount_out(usd_in, y, x, self.fee))

    def quote_tokens_for_usd(self, tokens_in: float) -> float:
        """USDC out for ``tokens_in`` tokens in (a sell), without trading."""
        x, y = self._reserves()
        if not (tokens_in > 0.0 and x > 0.0 and y > 0.0):
            return 0.0
        return float(self._kernel.get_amount_out(tokens_in, x, y, self.fee))

    def usd_to_reach_price(self, target: float) -> float:
        """USDC input (fees included) whose buy leaves the price at ``target``; 0 if the
        price is already at or above it.

        After a buy of a: x' = k / (y + a(1-f)), y' = y + a, so
        p' = (y + a)(y + a(1-f)) / k; solve (1-f) a^2 + (2-f) y a + y^2 - k target = 0.
        """
        x, y = self._reserves()
        if not (x > 0.0 and y > 0.0) or not target > y / x:
            return 0.0
        return _positive_root(1.0 - self.fee, y, x * y * target - y * y)

    def tokens_to_reach_price(self, target: float) -> float:
        """Token input (fees included) whose sell leaves the price at ``target``; 0 if the
        price is already at or below it.

        After a sell of b: x' = x + b, y' = k / (x + b(1-f)), so
        p' = k / ((x + b)(x + b(1-f))); solve (1-f) b^2 + (2-f) x b + x^2 - k / target = 0.
        """
        x, y = self._reserves()
        if not (x > 0.0 and y > 0.0) or not (0.0 < target < y / x):
            return 0.0
        return _positive_root(1.0 - self.fee, x, x * y / target - x * x)

    # -- trading ---------------------------------------------------------------------------
    def buy_tokens(self, trader: int, usd_in: float) -> float:
        """Swap ``usd_in`` USDC of ``trader`` for tokens; return the tokens received."""
        tokens_out = self.quote_usd_for_tokens(usd_in)
        if tokens_out <= 0.0:
            return 0.0
        self.ledger.transfer(USDC, trader, self.holder, usd_in)
        tokens_out = self.ledger.transfer(self.token, self.holder, trader, tokens_out)
        self.fees_usd += usd_in * self.fee
        self.volume_usd += usd_in
        return tokens_out

    def sell_tokens(self, trader: int, tokens_in: float) -> float:
        """Swap ``tokens_in`` tokens of ``trader`` for USDC; return the USDC received."""
        usd_out = self.quote_tokens_for_usd(tokens_in)
        if usd_out <= 0.0:
            return 0.0
        self.ledger.transfer(self.token, trader, self.holder, tokens_in)
        usd_out = self.ledger.transfer(USDC, self.holder, trader, usd_out)
        self.fees_usd += usd_out * self.fee / (1.0 - self.fee)
        self.volume_usd += usd_out
        return usd_out

    # -- liquidity -------------------------------------------------------------------------
    def add_liquidity(self, provider: int, token_in: float, usd_in: float) -> float:
        """Deposit up to ``token_in`` tokens and ``usd_in`` USDC at the pool's ratio (the
        excess of one side stays with the provider); return the shares minted."""
        if not (token_in > 0.0 and usd_in > 0.0):
            return 0.0
        x, y = self._reserves()
        token_used, usd_used, shares = self._kernel.add_liquidity(x, y, self.total_shares,
                                                                  token_in, usd_in)
        token_used, usd_used, shares = float(token_used), float(usd_used), float(shares)
        if shares <= 0.0:
            return 0.0
        self.ledger.transfer(self.token, provider, self.holder, token_used)
        self.ledger.transfer(USDC, provider, self.holder, usd_used)
        self._shares[provider] = self.shares_of(provider) + shares
        self.total_shares += shares
        return shares

    def remove_liquidity(self, provider: int, shares: float) -> tuple[float, float]:
        """Burn ``shares`` of ``provider`` for its pro-rata part of both reserves."""
        held = self.shares_of(provider)
        if not (math.isfinite(shares) and 0.0 <= shares):
            raise ValueError(f"shares: must be finite and >= 0, got {shares}")
        if shares > held * (1.0 + 1e-12):
            raise ValueError(f"shares: provider {provider} holds {held}, cannot remove {shares}")
        shares = min(shares, held)
        if shares == 0.0:
            return 0.0, 0.0
        x, y = self._reserves()
        if shares >= self.total_shares:
            # the last shares take everything, so no dust is stranded in the pool
            token_out, usd_out = x, y
        else:
            token_out, usd_out = self._kernel.remove_liquidity(x, y, self.total_shares, shares)
            token_out, usd_out = float(token_out), float(usd_out)
        token_out = self.ledger.transfer(self.token, self.holder, provider, token_out)
        usd_out = self.ledger.transfer(USDC, self.holder, provider, usd_out)
        left = held - shares
        if left > 0.0:
            self._shares[provider] = left
        else:
            del self._shares[provider]
        self.total_shares = max(self.total_shares - shares, 0.0)
        if self.total_shares == 0.0:
            self._shares.clear()
        return token_out, usd_out


def _positive_root(g: float, r: float, c: float) -> float:
    """Positive root of g a^2 + (1 + g) r a - c = 0 for c > 0, without cancellation."""
    b = (1.0 + g) * r
    return 2.0 * c / (b + math.sqrt(b * b + 4.0 * g * c))
