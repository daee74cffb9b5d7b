"""Trailing realized volatility: the zero-mean EWMA estimator (RiskMetrics).

The pool quotes options at this vol times (1 + vol_premium) (design section 5). Each update
folds one step's log return into the per-step variance with weight 1 - lambda, where
lambda = 0.5 ** (1 / halflife_steps), so an observation's weight halves every halflife_steps.
Works on one asset (floats) or many at once (arrays). The caller decides what a step is: a
stock's reference price does not move while the market is closed, so skip those updates.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class EwmaVol:
    """Annualized EWMA volatility of log returns sampled every ``dt_years``."""

    def __init__(self, halflife_steps: float, dt_years: float, initial_sigma: Any) -> None:
        if not (np.isfinite(halflife_steps) and halflife_steps > 0):
            raise ValueError(f"halflife_steps: must be > 0, got {halflife_steps}")
        if not (np.isfinite(dt_years) and dt_years > 0):
            raise ValueError(f"dt_years: must be > 0, got {dt_years}")
        sigma0 = np.asarray(initial_sigma, dtype=np.float64)
        if not np.all(np.isfinite(sigma0)) or np.any(sigma0 < 0):
            raise ValueError("initial_sigma: must be finite and >= 0")
        self.decay = 0.5 ** (1.0 / halflife_steps)
        self.dt_years = float(dt_years)
        self._var_per_step = sigma0 * sigma0 * self.dt_years
        self.n_updates = 0

    def update(self, log_return: Any) -> None:
        """Fold in one step's log return (a float, or one per asset)."""
        r = np.asarray(log_return, dtype=np.float64)
        if not np.all(np.isfinite(r)):
            raise ValueError("log_return: must be finite")
        self._var_per_step = self.decay * self._var_per_step + (1.0 - self.decay) * r * r
        self.n_updates += 1

    @property
    def sigma(self) -> Any:
        """Annualized volatility: a float for one asset, an array for many."""
        s = np.sqrt(self._var_per_step / self.dt_years)
        return float(s) if s.ndim == 0 else s
