"""The price that margin uses for a stock token (design section 4).

Modes: ``nav`` (reference x backing as of the last open step, as the model passes it:
Chainlink-like, frozen off-hours), ``amm_spot`` (this step's AMM price: a one-step pin is
seen), ``amm_twap`` (mean of the last ``twap_steps`` AMM samples) and ``guarded`` (TWAP,
with a safe mode when TWAP and NAV disagree by more than ``safe_mode_deviation``: then
collateral and incoming tokens are valued at min(TWAP, NAV) and outgoing tokens at
max(TWAP, NAV), and the market takes no new positions).

``sample`` is called once a step, right after prices and shocks are applied. During an
outage the oracle is stale: samples are ignored and every reading keeps its last value.

A split of the token's stock (``split``, design 10) multiplies the backing per token; an
oracle with ``split_lag_steps`` > 0 keeps multiplying by the old backing for that many
samples, so the NAV it reads is divided by the ratio (a 3:1 split prints -66%).
"""

from __future__ import annotations

import math
from collections import deque

MODES = ("nav", "amm_spot", "amm_twap", "guarded")


class Oracle:
    """One token's oracle: sample once a step, then read ``price`` and friends."""

    def __init__(self, mode: str, twap_steps: int = 4, safe_mode_deviation: float = 0.10,
                 split_lag_steps: int = 0) -> None:
        if mode not in MODES:
            raise ValueError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
        if int(twap_steps) != twap_steps or twap_steps < 1:
            raise ValueError(f"twap_steps: must be an integer >= 1, got {twap_steps}")
        if not (math.isfinite(safe_mode_deviation) and safe_mode_deviation > 0):
            raise ValueError(f"safe_mode_deviation: must be > 0, got {safe_mode_deviation}")
        if int(split_lag_steps) != split_lag_steps or split_lag_steps < 0:
            raise ValueError(f"split_lag_steps: must be an integer >= 0, got {split_lag_steps}")
        self.split_lag_steps = int(split_lag_steps)
        self._split_factor = 1.0    # old backing / backing, while a split's lag lasts
        self._split_lag_left = 0
        self.mode = mode
        self.twap_steps = int(twap_steps)
        self.safe_mode_deviation = float(safe_mode_deviation)
        self._samples: deque[float] = deque(maxlen=self.twap_steps)
        self._nav = math.nan
        self._spot = math.nan
        self._twap = math.nan
        self._outage_left = 0
        self.stale = False          # True while an outage holds the last values
        self.safe_mode = False      # guarded mode only

    def set_outage(self, steps: int) -> None:
        """Ignore the next ``steps`` samples (the feed is down; readings keep their values)."""
        if int(steps) != steps or steps < 0:
            raise ValueError(f"steps: must be an integer >= 0, got {steps}")
        self._outage_left = int(steps)

    def split(self, ratio: float) -> None:
        """The token's backing per token was just multiplied by ``ratio`` (a split of its stock):
        the next ``split_lag_steps`` samples value it at the old backing (NAV / ratio)."""
        if not (math.isfinite(ratio) and ratio > 0):
            raise ValueError(f"ratio: must be finite and > 0, got {ratio}")
        if self.split_lag_steps > 0:
            self._split_factor = (self._split_factor if self._split_lag_left > 0 else 1.0) / ratio
            self._split_lag_left = self.split_lag_steps

    def _lagged_nav(self, nav: float) -> float:
        """``nav`` as this step's sample reads it: at the old backing while a split's lag lasts."""
        if self._split_lag_left == 0:
            return nav
        self._split_lag_left -= 1
        return nav * self._split_factor

    def sample(self, amm_price: float, nav: float) -> None:
        """Record this step's AMM price and NAV (once a step)."""
        nav = self._lagged_nav(nav)
        if self._outage_left > 0 and self._samples:
            self._outage_left -= 1
            self.stale = True
            return
        self._outage_left = max(self._outage_left - 1, 0)
        if not (math.isfinite(amm_price) and amm_price > 0):
            raise ValueError(f"amm_price: must be finite and > 0, got {amm_price}")
        if not (math.isfinite(nav) and nav > 0):
            raise ValueError(f"nav: must be finite and > 0, got {nav}")
        self.stale = False
        self._spot = float(amm_price)
        self._nav = float(nav)
        self._samples.append(self._spot)
        self._twap = math.fsum(self._samples) / len(self._samples)
        self.safe_mode = (
            self.mode == "guarded"
            and abs(self._twap / self._nav - 1.0) > self.safe_mode_deviation
        )

    @property
    def sampled(self) -> bool:
        """True once the oracle has a sample (before it, margin is valued at NAV)."""
        return bool(self._samples)

    def _check_sampled(self) -> None:
        if not self._samples:
            raise RuntimeError("oracle read before its first sample")

    @property
    def spot(self) -> float:
        """The last AMM price sampled (what ``amm_spot`` reads)."""
        self._check_sampled()
        return self._spot

    @property
    def nav(self) -> float:
        self._check_sampled()
        return self._nav

    @property
    def twap(self) -> float:
        self._check_sampled()
        return self._twap

    @property
    def price(self) -> float:
        """USD per token used to value margin in this mode."""
        self._check_sampled()
        if self.mode == "nav":
            return self._nav
        if self.mode == "amm_spot":
            return self._spot
        return self._twap

    @property
    def collateral_price(self) -> float:
        """Value of collateral and incoming tokens: the lower of TWAP and NAV in safe mode."""
        return min(self._twap, self._nav) if self.safe_mode else self.price

    @property
    def outgoing_price(self) -> float:
        """Value of tokens paid out: the higher of TWAP and NAV in safe mode."""
        return max(self._twap, self._nav) if self.safe_mode else self.price
