"""A stand-in for ``sim.twins.study_cell``: cells of its shape whose gains a test sets.

Each scenario name maps to a ``Gains``: per seed, G and G_frozen are drawn from normal
distributions with the given means and spread (keyed by the seed, so common to every run of
the double), A_base is drawn around ``users`` and A_impulse follows from G. A call writes a
marker file under ``out`` so a test can count the cells computed, across processes too.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Gains:
    g: float = 1.0                 # mean G
    g_frozen: float = 1.0          # mean G_frozen
    sd: float = 0.05               # spread of each over seeds
    users: float = 1000.0          # A_base around this
    margin_users: float = 0.0      # base - twin active users at the end, mean
    days: float = 90.0


@dataclass(frozen=True)
class CellDouble:
    gains: dict[str, Gains]
    fail_seeds: frozenset[int] = field(default_factory=frozenset)

    def __call__(self, scenario, seed: int, *, impulses, at_day, horizons, out=None,
                 limits=None) -> dict:
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / f"call-{scenario.name}-{seed}-{os.getpid()}-{uuid.uuid4().hex}").touch()
        if seed in self.fail_seeds:
            raise RuntimeError(f"cell {scenario.name} seed {seed} broke")
        spec = self.gains[scenario.name]
        rng = np.random.default_rng([seed, 7])
        impulse_rows = []
        for k in impulses:
            for h in horizons:
                g = spec.g + spec.sd * rng.standard_normal()
                gf = spec.g_frozen + spec.sd * rng.standard_normal()
                a_base = spec.users + 20.0 * rng.standard_normal()
                k_users = max(1, round(k * spec.users))
                inside = at_day + h <= spec.days
                impulse_rows.append({
                    "fraction": k, "k": k_users, "horizon_days": float(h), "inside_run": inside,
                    "A_base": a_base, "A_impulse": a_base + g * k_users,
                    "A_frozen": a_base + gf * k_users,
                    "G": g if inside else None, "G_frozen": gf if inside else None,
                    "gain": g - gf if inside else None,
                })
        base = _summary(rng, spec.users + spec.margin_users)
        twin = _summary(rng, spec.users)
        return {"scenario": scenario.name, "seed": seed, "at_day": at_day, "days": spec.days,
                "base": base, "margin_twin": twin, "impulses": impulse_rows}


def _summary(rng: np.random.Generator, users: float) -> dict:
    bad = float(max(0.0, 5e4 * rng.standard_normal()))
    return {
        "active_users_end": int(users + 10 * rng.standard_normal()),
        "option_volume_usd": 1e7 * (1 + 0.1 * rng.standard_normal()),
        "perp_volume_usd": 5e6 * (1 + 0.1 * rng.standard_normal()),
        "capacity_mean_usd": 3e6 * (1 + 0.05 * rng.standard_normal()),
        "margin_depth_mean_usd": 1e5 * (1 + 0.05 * rng.standard_normal()),
        "lp_return_mw_usd": 0.01 + 0.01 * rng.standard_normal(),
        "lp_return_mw_token": 0.01,
        "bad_debt_usd": bad,
        "insurance_depleted": bool(bad > 6e4),
    }


def calls(out: Path) -> int:
    """How many cells the double computed with ``out`` under ``out``."""
    return sum(1 for _ in Path(out).rglob("call-*"))
