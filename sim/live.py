"""A scenario run a day at a time, built from the dashboard's controls.

``LiveModel`` is the Mesa model the dashboard (``sim/app.py``) drives: Mesa's ``SolaraViz``
builds it from its controls (keyword arguments), calls ``step()`` (a simulated day of the
wrapped run's steps) and reads ``running``. It
wraps one ``FlywheelModel`` and never raises for a user's mistake: a scenario file that cannot
be read or a control out of range leaves a model with ``error`` set (the one line the CLI would
print) that does nothing, so the page shows the line and the server keeps running.

Nothing here imports Solara: the model, its controls and its tables are tested without it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mesa
import pandas as pd

from sim.errors import UserInputError
from sim.scenario import Scenario, load_scenario, scenario_from_dict

AS_SCENARIO = "as in the scenario"              # a Select's choice that changes nothing
ORACLE_MODES = ("nav", "amm_spot", "amm_twap", "guarded")   # design 4
DENOMINATIONS = ("token", "usdc")
SHOCK_PREFIX = "shock_"                          # control names: shock_0, shock_1, ...
INSURANCE_MAX = 1.0                              # the control's range (the schema allows 10)


@dataclass(frozen=True)
class Controls:
    """What the dashboard's controls hold; ``scenario_of`` turns them into a Scenario."""

    scenario: str                                # path of the scenario YAML
    seed: Any = None                             # text or int; None or "": the scenario's
    insurance_initial: Any = None                # fraction of the initial main pool; None: as is
    denomination: str = AS_SCENARIO              # insurance held in "token" or "usdc"
    oracle: str = AS_SCENARIO                    # oracle mode of every market (design 4)
    stock_margin: bool = True                    # False: the margin twin (USDC margin, design 1)
    shocks_off: tuple[int, ...] = ()             # indices into the scenario's events


def shock_label(event: Any) -> str:
    """A shock as a control's label: kind, what it hits, when, and its size."""
    fields = event.model_dump(mode="json")
    target = next((fields[k] for k in ("token", "asset", "market") if fields.get(k)), "")
    size = next((fields[k] for k in ("size", "backing", "move", "fraction", "target_premium")
                 if fields.get(k) is not None), None)
    text = f"{event.kind} {target} at {event.at}".replace("  ", " ")
    return text if size is None else f"{text} ({size:+g})"


def _number(text: Any, field: str) -> float:
    try:
        value = float(str(text).strip()) if isinstance(text, str) else float(text)
    except (TypeError, ValueError):
        raise UserInputError(f"{field}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise UserInputError(f"{field}: must be a finite number, got {text!r}")
    return value


def _seed(text: Any) -> int | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    value = _number(text, "seed")
    if value != int(value) or not 0 <= value < 2**63:
        raise UserInputError(f"seed: must be a whole number from 0 to 2^63 - 1, got {text!r}")
    return int(value)


def scenario_of(controls: Controls) -> tuple[Scenario, int]:
    """The scenario and seed the controls describe; a ``UserInputError`` names the control."""
    from sim.twins import margin_twin

    base = load_scenario(controls.scenario)
    seed = _seed(controls.seed)
    data = base.model_dump(mode="json")
    overrides: dict[str, Any] = {}
    if controls.insurance_initial not in (None, ""):
        value = _number(controls.insurance_initial, "insurance.initial")
        if not 0 <= value <= INSURANCE_MAX:
            raise UserInputError(f"insurance.initial: must be from 0 to {INSURANCE_MAX:g} "
                                 f"(a fraction of the initial main pool), got {value:g}")
        overrides["insurance.initial"] = value
    if controls.denomination != AS_SCENARIO:
        overrides["insurance.denomination"] = controls.denomination
    if controls.oracle != AS_SCENARIO:
        for market in data["markets"].values():
            market["oracle"] = controls.oracle
    unknown = [i for i in controls.shocks_off if not 0 <= i < len(base.events)]
    if unknown:
        raise UserInputError(f"shocks: no shock {unknown[0]} in {controls.scenario} "
                             f"({len(base.events)} shocks)")
    data["events"] = [e for i, e in enumerate(data["events"]) if i not in controls.shocks_off]
    scenario = scenario_from_dict(data, source=controls.scenario, overrides=overrides)
    if not controls.stock_margin:
        scenario = margin_twin(scenario)
    return scenario, (scenario.seed if seed is None else seed)


def shocks_off(flags: Mapping[str, Any]) -> tuple[int, ...]:
    """Indices of the shocks switched off among ``shock_<i>`` keyword controls."""
    off = []
    for name, on in flags.items():
        if not name.startswith(SHOCK_PREFIX) or not name[len(SHOCK_PREFIX):].isdigit():
            raise UserInputError(f"{name}: not a control of the dashboard")
        if not on:
            off.append(int(name[len(SHOCK_PREFIX):]))
    return tuple(sorted(off))


class LiveModel(mesa.Model):
    """One ``FlywheelModel`` built from the dashboard's controls, stepped by ``SolaraViz``.

    Keyword arguments are the controls (``shock_<i>=False`` switches event i off); a mistake in
    them leaves ``error`` set and ``running`` False instead of raising. ``scenario`` is Mesa's
    (``mesa.experimental.scenarios``, which SolaraViz passes on Reset), not a scenario file.
    """

    def __init__(self, scenario_file: str = "scenarios/baseline.yaml", seed: Any = None,
                 insurance_initial: Any = None, denomination: str = AS_SCENARIO,
                 oracle: str = AS_SCENARIO, stock_margin: bool = True, *,
                 scenario: Any = None, **shocks: Any) -> None:
        super().__init__(scenario=scenario)     # Mesa's own experiment Scenario (SolaraViz's)
        self.error: str | None = None
        self.run: Any = None                     # the FlywheelModel, once built
        self.spec: Scenario | None = None
        self._view: tuple[int, pd.DataFrame, pd.DataFrame, dict] | None = None
        self._figures: tuple[int, dict[str, Any]] | None = None
        try:
            controls = Controls(str(scenario_file), seed, insurance_initial, denomination, oracle,
                                bool(stock_margin), shocks_off(shocks))
            self.spec, self.seed = scenario_of(controls)
            from sim.model import FlywheelModel
            from sim.preflight import check_fits

            check_fits(self.spec, None, str(scenario_file))
            self.run = FlywheelModel(scenario=self.spec, rng=self.seed)
        except UserInputError as exc:
            self.error = str(exc)
        self.running = self.run is not None

    @property
    def steps_done(self) -> int:
        return 0 if self.run is None else self.run.step_count

    @property
    def steps_per_day(self) -> int:
        """Steps of the wrapped run in a simulated day: what one ``step()`` runs."""
        if self.spec is None:
            return 1
        return max(1, round(1440 / self.spec.clock.step_minutes))

    def step(self) -> None:
        """A simulated day of the wrapped run (a batch, so that the page redraws once a day);
        less at its end, nothing once it has ended or failed to build."""
        if self.run is None:
            self.running = False
            return
        for _ in range(self.steps_per_day):
            if not self.run.running:
                break
            self.run.step()
        self.running = self.run.running

    def view(self) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        """The run's time series, events and summary as they stand, computed once per step."""
        if self.run is None or self.steps_done == 0:
            raise ValueError("no step has run yet")
        if self._view is None or self._view[0] != self.steps_done:
            run = self.run
            self._view = (self.steps_done, run.timeseries(), run.events_frame(), run.summary())
        return self._view[1], self._view[2], self._view[3]

    def figures(self) -> dict[str, Any]:
        """The four run charts (design 12) as they stand, by file name, built once per step."""
        from sim.charts import build_figures

        if self._figures is None or self._figures[0] != self.steps_done:
            timeseries, events, _ = self.view()
            self._figures = (self.steps_done, build_figures(timeseries, events, self.title))
        return self._figures[1]

    @property
    def title(self) -> str:
        return "" if self.spec is None else f"{self.spec.name}, seed {self.seed} (live)"

    def headline_rows(self) -> list[tuple[str, str]]:
        """The summary's headline numbers as they stand, after the time and each market's
        insurance balance (what the dashboard's table shows)."""
        if self.run is None:
            return []
        from sim.run import summary_rows

        rows = [("simulated time", f"{self.run.world.time:%Y-%m-%d %H:%M} UTC, "
                                   f"step {self.steps_done} of {self.run.n_steps}")]
        rows += [(f"insurance [{name}]", f"{m.insurance_tokens() * m.price:,.0f} USD")
                 for name, m in self.run.markets.items()]
        if self.steps_done == 0:
            return rows
        return rows + summary_rows(self.view()[2])
