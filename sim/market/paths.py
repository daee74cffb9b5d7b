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

Mixed runs (some assets replayed, ``given``): the draws are the same, in the same order and
shape; the replayed assets' columns are their given log returns, and the simulated assets'
Brownian parts are drawn from the Gaussian conditional in the standardized-return space,

    z_rep = (r_rep - drift_rep) / (sigma_rep sqrt(dt))      (0 where sigma_rep = 0)
    z_sim | z_rep ~ N(S21 S11^-1 z_rep, S22 - S21 S11^-1 S12),

with S the correlation matrix split into replayed (1) and simulated (2) blocks, drift the
model's (mu - sigma^2/2 - lambda kappa) dt; the conditional noise is the simulated columns of
draw (1) times the Cholesky factor of the conditional covariance. The simulated assets' jumps
stay independent (draws (2) and (3)), so their correlation with a replayed asset is that of
the matrix for the Brownian parts.
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
    given: dict[int, Any] | None = None,
) -> np.ndarray:
    """Log returns of each asset over each step, shape (n_steps, n_assets).

    ``sigmas`` (annual) fixes the number of assets; ``mus``, ``jump_intensity`` (jumps per
    year), ``jump_mean`` and ``jump_sd`` (of the log jump) are per asset or one scalar for all.
    ``given`` (asset index -> its n_steps log returns) replays those assets and simulates the
    others conditionally on them (see the module).
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
    jumps = counts * jm + np.sqrt(counts) * js * z_jump
    if not given:
        diffusion = (z @ chol.T) * (sig * np.sqrt(dt_years))
        return drift + diffusion + jumps

    rep = sorted(int(i) for i in given)
    if rep[0] < 0 or rep[-1] >= n_assets:
        raise ValueError(f"given: asset indices must be in 0..{n_assets - 1}, got {rep}")
    sim = [i for i in range(n_assets) if i not in given]
    r_rep = np.empty((n_steps, len(rep)))
    for k, i in enumerate(rep):
        col = as_float_array(f"given[{i}]", given[i])
        check_finite(f"given[{i}]", col)
        if col.shape != (n_steps,):
            raise ValueError(f"given[{i}]: expected {n_steps} log returns, got {col.shape[0]}")
        r_rep[:, k] = col
    out = np.empty(shape)
    out[:, rep] = r_rep
    if not sim:
        return out
    scale = sig * np.sqrt(dt_years)
    s_rep = scale[rep]
    with np.errstate(divide="ignore", invalid="ignore"):
        z_rep = np.where(s_rep > 0, (r_rep - drift[rep]) / s_rep, 0.0)
    c = np.asarray(corr, dtype=np.float64)
    s11 = c[np.ix_(rep, rep)]
    s21 = c[np.ix_(sim, rep)]
    s22 = c[np.ix_(sim, sim)]
    a = np.linalg.solve(s11, s21.T).T                    # S21 S11^-1
    cond = s22 - a @ s21.T
    cond = 0.5 * (cond + cond.T)
    chol_c = np.linalg.cholesky(cond)                    # positive definite since corr is
    z_sim = z_rep @ a.T + z[:, sim] @ chol_c.T
    out[:, sim] = drift[sim] + z_sim * scale[sim] + jumps[:, sim]
    return out


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
