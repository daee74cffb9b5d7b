"""Exogenous price paths: correlated GBM with compensated Merton jumps (design section 3).

    d ln S = (mu - sigma^2/2 - lambda kappa) dt + sigma dW + sum J,
    kappa = exp(jump_mean + jump_sd^2/2) - 1,

jump counts per step ~ Poisson(lambda dt), sizes J ~ Normal(jump_mean, jump_sd), independent
across assets; dW correlated by the Cholesky factor of ``corr``. The compensator makes
E[S_t] = S_0 exp(mu t) whatever the jumps.

Draw order (fixed, so a seed always gives the same paths, and so changing a jump parameter
never shifts the diffusion draws): (1) standard normals, shape (n_steps, n_assets), for the
diffusion; (2) Poisson counts, same shape; (3) standard normals, same shape, for the jump
sizes. The sum of N independent Normal(m, s) jumps is Normal(N m, sqrt(N) s), so one normal
per step and asset gives the exact jump total without a loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels._validate import as_float_array, check_finite, check_non_negative


def _per_asset(name: str, x: Any, n_assets: int) -> np.ndarray:
    arr = as_float_array(name, x)
    check_finite(name, arr)
    if arr.shape[0] == 1:
        return np.full(n_assets, arr[0])
    if arr.shape[0] != n_assets:
        raise ValueError(f"{name}: length {arr.shape[0]} does not match {n_assets} assets")
    return arr


def cholesky_of(corr: Any, n_assets: int) -> np.ndarray:
    """Lower Cholesky factor of a correlation matrix; ValueError unless symmetric, unit
    diagonal and positive definite."""
    c = np.asarray(corr, dtype=np.float64)
    if c.shape != (n_assets, n_assets):
        raise ValueError(f"corr: expected shape ({n_assets}, {n_assets}), got {c.shape}")
    check_finite("corr", c)
    if not np.allclose(c, c.T, atol=1e-12):
        raise ValueError("corr: must be symmetric")
    if not np.allclose(np.diag(c), 1.0, atol=1e-12):
        raise ValueError("corr: diagonal must be 1")
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise ValueError("corr: not positive definite") from None


def generate_log_returns(
    sigmas: Any,
    mus: Any,
    corr: Any,
    jump_intensity: Any,
    jump_mean: Any,
    jump_sd: Any,
    n_steps: int,
    dt_years: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Log returns of each asset over each step, shape (n_steps, n_assets).

    ``sigmas`` (annual) fixes the number of assets; ``mus``, ``jump_intensity`` (jumps per
    year), ``jump_mean`` and ``jump_sd`` (of the log jump) are per asset or one scalar for all.
    """
    sig = as_float_array("sigmas", sigmas)
    check_non_negative("sigmas", sig)
    n_assets = sig.shape[0]
    mu = _per_asset("mus", mus, n_assets)
    lam = _per_asset("jump_intensity", jump_intensity, n_assets)
    check_non_negative("jump_intensity", lam)
    jm = _per_asset("jump_mean", jump_mean, n_assets)
    js = _per_asset("jump_sd", jump_sd, n_assets)
    check_non_negative("jump_sd", js)
    if int(n_steps) != n_steps or n_steps < 0:
        raise ValueError(f"n_steps: must be an integer >= 0, got {n_steps}")
    n_steps = int(n_steps)
    if not (np.isfinite(dt_years) and dt_years > 0):
        raise ValueError(f"dt_years: must be > 0, got {dt_years}")
    chol = cholesky_of(corr, n_assets)

    shape = (n_steps, n_assets)
    z = rng.standard_normal(shape)                       # (1) diffusion
    counts = rng.poisson(lam * dt_years, size=shape)     # (2) jump counts
    z_jump = rng.standard_normal(shape)                  # (3) jump sizes

    kappa = np.expm1(jm + 0.5 * js * js)
    drift = (mu - 0.5 * sig * sig - lam * kappa) * dt_years
    diffusion = (z @ chol.T) * (sig * np.sqrt(dt_years))
    jumps = counts * jm + np.sqrt(counts) * js * z_jump
    return drift + diffusion + jumps


def prices_from_returns(initial_prices: Any, log_returns: np.ndarray) -> np.ndarray:
    """Prices at the n_steps + 1 step boundaries: row 0 is ``initial_prices``."""
    p0 = as_float_array("initial_prices", initial_prices)
    r = np.asarray(log_returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != p0.shape[0]:
        raise ValueError(
            f"log_returns: expected shape (n_steps, {p0.shape[0]}), got {r.shape}"
        )
    if np.any(~np.isfinite(p0)) or np.any(p0 <= 0.0):
        raise ValueError("initial_prices: must be finite and > 0")
    cum = np.vstack([np.zeros((1, r.shape[1])), np.cumsum(r, axis=0)])
    return p0 * np.exp(cum)
