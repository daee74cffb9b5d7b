"""Real tiny runs for the run and chart tests, in place of a fake model.

``tests/data/tiny.yaml`` is three days of a few dozen agents: the real ``FlywheelModel`` runs it
in a fraction of a second, so the tests see the real columns, events and summary schema and
cannot drift from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from sim.model import FlywheelModel
from sim.scenario import Scenario, load_scenario

TINY = Path(__file__).parent / "data" / "tiny.yaml"

USDC_ONLY = {   # the control layout: one USDC market, crypto underlyings only, no stock tokens
    "markets": {"USDC": {}},
    "tokens": {},
    "assets": {"BTC": {"kind": "crypto", "price": 108_000.0, "sigma": 0.55},
               "ETH": {"kind": "crypto", "price": 2_500.0, "sigma": 0.75}},
    "correlations": {},
}


def tiny(overrides: dict[str, Any] | None = None) -> Scenario:
    """tiny.yaml with ``overrides`` (dotted paths to values, as ``--set`` takes them)."""
    return load_scenario(TINY, overrides or {})


def jump(asset: str, day: float, size: float = -0.1) -> dict[str, Any]:
    """A ``crypto_jump`` event of ``asset`` at ``day`` (log move ``size``)."""
    return {"kind": "crypto_jump", "asset": asset, "at": f"day {day}", "size": size}


def run_frames(scenario: Scenario, seed: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(time series, events) of the whole run of ``scenario``."""
    model = FlywheelModel(scenario, rng=seed)
    model.run_for(model.n_steps)
    return model.timeseries(), model.events_frame()


class FailingModel(FlywheelModel):
    """The real model, whose ``step()`` raises at step ``fail_at_step`` (a run that fails)."""

    def __init__(self, scenario: Scenario, rng: int | None = None, *, fail_at_step: int) -> None:
        super().__init__(scenario, rng=rng)
        self.fail_at_step = fail_at_step

    def step(self) -> None:
        if self.step_count == self.fail_at_step:
            raise RuntimeError(f"failure at step {self.step_count}")
        super().step()
