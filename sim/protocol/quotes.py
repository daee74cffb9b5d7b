"""What a trader sees of one options market before it trades: the quote of a series, with the
implied vol of the bid and the ask (design 5 and 8).

The implied vol of a quote is the pool's pricing vol moved by the spread through vega,
``bid iv = sigma - spread x mark / vega`` and ``ask iv = sigma + spread x mark / vega``: first
order in the spread, no root finding per decision. Vega comes from the everlasting formula of
design 5 (Paradigm, "Everlasting Options", 2021), differentiated through ``u``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.protocol.options_market import OptionsMarket


def everlasting_vega(S: np.ndarray, K: np.ndarray, sigma: np.ndarray,
                     funding_period: float) -> np.ndarray:
    """dC/dsigma of everlasting options (USD per unit of annual vol), element-wise; the put's
    equals the call's (put = call - S + K). ``u = sqrt(1 + 8 / (sigma^2 T))``,
    ``du/dsigma = -8 / (u sigma^3 T)``; S >= K: ``C = S - K + (K/u) x^((1-u)/2)``, S < K:
    ``C = (K/u) x^((1+u)/2)``, ``x = S/K``. Zero where K <= 0 (the zero-strike perpetual: its
    mark is S whatever the vol)."""
    S, K, sigma = np.asarray(S, float), np.asarray(K, float), np.asarray(sigma, float)
    K_safe = np.where(K > 0, K, 1.0)
    u = np.sqrt(1.0 + 8.0 / (sigma * sigma * funding_period))
    du_dsigma = -8.0 / (u * sigma ** 3 * funding_period)
    lx = np.log(S / K_safe)
    above = S >= K_safe
    expo = np.where(above, 0.5 * (1.0 - u), 0.5 * (1.0 + u)) * lx
    dc_du = (K_safe / u) * np.exp(expo) * (-1.0 / u + np.where(above, -0.5, 0.5) * lx)
    return np.where(K > 0, dc_du * du_dsigma, 0.0)


@dataclass(frozen=True, slots=True)
class Quote:
    """The pool's quote of one series for one trade, USD per unit of underlying."""

    spread: float           # fraction of mark (perp: of notional)
    mark: float             # USD
    payoff: float           # USD, intrinsic value now
    spot: float             # USD
    sigma: float            # the pool's pricing vol (annual)
    vega: float             # USD per unit of vol
    delta: float
    fee: float              # notional fee, USD per unit (paid at open and at close)
    allowed: bool           # the pool would take it (utilization, caps)

    @property
    def bid_iv(self) -> float:
        """Implied vol of the pool's bid (what a seller receives)."""
        return self.sigma - self.spread * self.mark / self.vega if self.vega > 0 else self.sigma

    @property
    def ask_iv(self) -> float:
        """Implied vol of the pool's ask (what a buyer pays)."""
        return self.sigma + self.spread * self.mark / self.vega if self.vega > 0 else self.sigma

    @property
    def spread_usd(self) -> float:
        """Spread paid per unit at one crossing (USD)."""
        return self.spread * self.mark


class MarketQuotes:
    """A trader's window on one options market: quotes of its series and the rules' numbers.

    Handed to traders at construction (design 2: collaborators are handed in, never looked up
    through the model). Reads the market's listed series and asks its book for the spread.
    """

    def __init__(self, market: OptionsMarket, stamp: Callable[[], int]) -> None:
        """``stamp``: a number that changes whenever the marks may have changed (the step)."""
        self.market = market
        self.series = market.series
        self.funding_period_years = market.series.funding_period_years
        self.notional_fee = market.cfg.notional_fee
        self.margin = market.cfg.margin
        self._stamp = stamp
        self._seen = -1
        self._vega = np.zeros(0)

    def vega(self, s: int) -> float:
        """Vega of series ``s`` now (USD per unit of vol), all series priced once per step."""
        t = self._stamp()
        sb = self.series
        if t != self._seen or self._vega.shape[0] != sb.n:
            self._seen = t
            n = sb.n
            self._vega = everlasting_vega(sb.spot[:n], sb.strike[:n] * (1 - sb.is_perp[:n]),
                                                sb.sigma[:n], self.funding_period_years)
        return float(self._vega[s])

    def quote(self, s: int, dn: float) -> Quote:
        """The quote of a trade of signed size ``dn`` in series ``s`` now."""
        sb = self.series
        spread, _, allowed, _ = self.market.quote(s, dn)
        S = float(sb.spot[s])
        return Quote(spread=float(spread), mark=float(sb.mark[s]), payoff=float(sb.payoff[s]),
                     spot=S, sigma=float(sb.sigma[s]), vega=self.vega(s),
                     delta=float(sb.delta[s]), fee=self.notional_fee * S, allowed=allowed)

    def perp_funding_rate(self) -> float:
        """The perp funding rate the market charged in the last step, per year (design 5:
        longs pay it when > 0, shorts when < 0); a trader expects it to last."""
        return float(self.market.book.last_perp_rate)

    def initial_margin_per_unit(self, q: Quote, short: bool, perp: bool) -> float:
        """Rule (a) of design 6 per unit of size, USD: S (ratio x |delta| + floor)."""
        mg = self.margin
        ratio = mg.short_initial if (short or perp) else mg.long_initial
        return q.spot * (ratio * abs(q.delta) + mg.floor)
