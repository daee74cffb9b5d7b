"""A scenario run a day at a time, built from the dashboard's controls.

``LiveModel`` is the Mesa model the dashboard (``sim/app.py``) drives: Mesa's ``SolaraViz``
builds it from its controls (keyword arguments), calls ``step()`` (a simulated day of the
wrapped run's steps) and reads ``running``. It wraps one ``FlywheelModel`` and never raises
while it is built: a scenario file that cannot be read, a control out of range or a scenario
that cannot run alone leaves a model with ``error`` set (one line) that does nothing, so the
page shows the line and the server keeps running.

The page reads the run from another thread than the one that steps it (Mesa's play loop runs in
a thread), so ``step()`` holds a lock for its whole batch and then publishes a snapshot (the
time series, events, summary and headline rows of that moment); everything the page shows is
read from the snapshot, never from the running model (``sim.charts.chart_style`` serializes the
drawing itself, whose matplotlib settings are global).

Nothing here imports Solara: the model, its controls and its tables are tested without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, get_args

import mesa
import pandas as pd

from sim.errors import UserInputError
from sim.scenario import Scenario, load_scenario, scenario_from_dict
from sim.scenario.markets import Insurance, MarketSpec
from sim.scenario.scenario import MAX_SEED

log = logging.getLogger(__name__)

AS_SCENARIO = "as in the scenario"              # a Select's choice that changes nothing
ORACLE_MODES: tuple[str, ...] = get_args(MarketSpec.model_fields["oracle"].annotation)
DENOMINATIONS: tuple[str, ...] = get_args(Insurance.model_fields["denomination"].annotation)
SHOCK_PREFIX = "shock_"                          # control names: shock_0, shock_1, ...
INSURANCE_MAX = 1.0                              # the control's range (the schema allows 10)
CHART_DPI = 60                                   # 840 x 480 px per chart: quick to redraw


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
    events_digest: str | None = None             # the events the shock controls were made for


_SHOCK_SIZES = (("size", "log move {:+g}"), ("backing", "backing {:g}"), ("move", "move {:+g}"),
                ("fraction", "fraction {:g}"), ("target_premium", "premium {:+g}"),
                ("size_usd", "{:,.0f} USD"), ("ratio", "ratio {:g}"))


def shock_label(event: Any) -> str:
    """A shock as a control's label: kind, what it hits, when, and its size, named."""
    fields = event.model_dump(mode="json")
    target = next((fields[k] for k in ("token", "asset", "market") if fields.get(k)), "")
    text = " ".join(part for part in (event.kind, str(target), f"at {event.at}") if part)
    size = next((form.format(fields[k]) for k, form in _SHOCK_SIZES
                 if fields.get(k) is not None), None)
    return text if size is None else f"{text} ({size})"


def events_digest(scenario: Scenario) -> str:
    """A short hash of a scenario's events: shock controls are by index, so Reset checks that
    the file still holds the events they were made for."""
    events = json.dumps([e.model_dump(mode="json") for e in scenario.events], sort_keys=True)
    return hashlib.sha256(events.encode()).hexdigest()[:12]


def _number(text: Any, field: str) -> float:
    try:
        value = float(text.strip()) if isinstance(text, str) else float(text)
    except (TypeError, ValueError):
        raise UserInputError(f"{field}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise UserInputError(f"{field}: must be a finite number, got {text!r}")
    return value


def _seed(text: Any) -> int | None:
    """The seed control: empty is the scenario's; otherwise a whole number, read exactly."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        value = int(text.strip()) if isinstance(text, str) else int(text)
        if isinstance(text, bool) or (not isinstance(text, str) and value != text):
            raise ValueError
    except (TypeError, ValueError):
        raise UserInputError(f"seed: must be a whole number, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise UserInputError(f"seed: must be from 0 to 2^63 - 1, got {value}")
    return value


def scenario_of(controls: Controls) -> tuple[Scenario, int]:
    """The scenario and seed the controls describe; a ``UserInputError`` names the control."""
    from sim.twins import margin_twin

    base = load_scenario(controls.scenario)
    if controls.events_digest is not None and events_digest(base) != controls.events_digest:
        raise UserInputError(f"{controls.scenario}: its shocks changed since it was loaded; "
                             "press Load to get its controls again")
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


def check_runnable(controls: Controls) -> tuple[Scenario, int]:
    """``scenario_of`` plus everything a run checks before its first step (sizes, price files,
    that it can run alone): what ``flywheel dashboard`` and every Reset check."""
    from sim.preflight import check_before_run

    scenario, seed = scenario_of(controls)
    check_before_run(scenario, None, controls.scenario)
    return scenario, seed


def shocks_off(flags: Mapping[str, Any]) -> tuple[int, ...]:
    """Indices of the shocks switched off among ``shock_<i>`` keyword controls."""
    off = []
    for name, on in flags.items():
        if not name.startswith(SHOCK_PREFIX) or not name[len(SHOCK_PREFIX):].isdigit():
            raise UserInputError(f"{name}: not a control of the dashboard")
        if not on:
            off.append(int(name[len(SHOCK_PREFIX):]))
    return tuple(sorted(off))


def control_specs(path: str, spec: Scenario) -> dict[str, Any]:
    """The controls of a loaded scenario in Mesa's ``model_params`` form (one checkbox per
    shock); their values as given are the file's own, exactly."""
    oracles = {m.oracle for m in spec.markets.values()}
    params: dict[str, Any] = {
        "scenario_file": path,
        "events_digest": events_digest(spec),
        "seed": {"type": "InputText", "value": str(spec.seed), "label": "seed"},
        "insurance_initial": {
            "type": "InputText", "value": repr(spec.insurance.initial),
            "label": f"insurance seed, fraction of the main pool (0 to {INSURANCE_MAX:g})",
        },
        "denomination": {"type": "Select", "value": spec.insurance.denomination,
                         "values": list(DENOMINATIONS), "label": "insurance held in"},
        "oracle": {"type": "Select",
                   "value": oracles.pop() if len(oracles) == 1 else AS_SCENARIO,
                   "values": [AS_SCENARIO, *ORACLE_MODES],
                   "label": "oracle of every market (design 4)"},
        "stock_margin": {"type": "Checkbox", "value": True,
                         "label": "margin as in the scenario (off: every market in USDC, "
                                  "the margin twin)"},
    }
    for i, event in enumerate(spec.events):
        params[f"{SHOCK_PREFIX}{i}"] = {"type": "Checkbox", "value": True,
                                        "label": f"shock: {shock_label(event)}"}
    return params


@dataclass(frozen=True)
class Snapshot:
    """The run as it stood at the end of a batch of steps."""

    steps_done: int
    rows: list[tuple[str, str]]                  # the headline table
    timeseries: pd.DataFrame | None = None       # None before the first step
    events: pd.DataFrame | None = None
    summary: dict | None = None
    charts: dict[str, bytes] | None = None       # the four run charts as PNG bytes


class LiveModel(mesa.Model):
    """One ``FlywheelModel`` built from the dashboard's controls, stepped by ``SolaraViz``.

    Keyword arguments are the controls (``shock_<i>=False`` switches event i off); a mistake in
    them leaves ``error`` set and ``running`` False instead of raising. ``scenario`` is Mesa's
    (``mesa.experimental.scenarios``, which SolaraViz passes on Reset), not a scenario file.
    """

    def __init__(self, scenario_file: str = "scenarios/baseline.yaml", seed: Any = None,
                 insurance_initial: Any = None, denomination: str = AS_SCENARIO,
                 oracle: str = AS_SCENARIO, stock_margin: bool = True,
                 events_digest: str | None = None, *, scenario: Any = None,
                 **shocks: Any) -> None:
        super().__init__(scenario=scenario)     # Mesa's own experiment Scenario (SolaraViz's)
        self.error: str | None = None
        self.run: Any = None                     # the FlywheelModel, once built
        self.spec: Scenario | None = None
        self.seed: int | None = None
        self._lock = threading.Lock()            # held by step() for its whole batch
        try:
            controls = Controls(str(scenario_file), seed, insurance_initial, denomination,
                                oracle, bool(stock_margin), shocks_off(shocks), events_digest)
            self.spec, self.seed = check_runnable(controls)
            from sim.model import FlywheelModel

            self.run = FlywheelModel(scenario=self.spec, rng=self.seed)
        except UserInputError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the page shows one line; the log the rest
            log.exception("the dashboard could not build %s", scenario_file)
            self.error = f"{scenario_file}: cannot run: {type(exc).__name__}: {exc}"
        self.running = self.run is not None
        self.snapshot = self._take_snapshot() if self.run is not None else Snapshot(0, [])

    @property
    def steps_done(self) -> int:
        """Steps of the wrapped run in the snapshot the page shows."""
        return self.snapshot.steps_done

    @property
    def steps_per_day(self) -> int:
        """Steps of the wrapped run in a simulated day: what one ``step()`` runs."""
        if self.spec is None:
            return 1
        return max(1, round(1440 / self.spec.clock.step_minutes))

    @property
    def title(self) -> str:
        return "" if self.spec is None else f"{self.spec.name}, seed {self.seed} (live)"

    def step(self) -> None:
        """A simulated day of the wrapped run (a batch, so that the page redraws once a day),
        less at its end, nothing once it has ended or failed to build; then a new snapshot."""
        if self.run is None:
            self.running = False
            return
        with self._lock:
            for _ in range(self.steps_per_day):
                if not self.run.running:
                    break
                self.run.step()
            self.running = self.run.running
            snapshot = self._take_snapshot()
            # drawn here, in the stepping thread, so a render only shows finished images (with
            # Mesa's "Use Threads" the renders would otherwise never keep up with the steps)
            self.snapshot = replace(snapshot, charts=self._draw(snapshot))

    def _take_snapshot(self) -> Snapshot:
        from sim.run import summary_rows

        run = self.run
        time = f"{run.world.time:%Y-%m-%d %H:%M} UTC, step {run.step_count} of {run.n_steps}"
        rows = [("simulated time", time)]
        rows += [(f"insurance [{name}]", f"{m.insurance_tokens() * m.price:,.0f} USD")
                 for name, m in run.markets.items()]
        if run.step_count == 0:
            return Snapshot(0, rows)
        summary = run.summary()
        return Snapshot(run.step_count, rows + summary_rows(summary), run.timeseries(),
                        run.events_frame(), summary)

    def view(self) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        """The run's time series, events and summary as of the snapshot."""
        snap = self.snapshot
        if snap.timeseries is None:
            raise ValueError("no step has run yet")
        return snap.timeseries, snap.events, snap.summary

    def headline_rows(self) -> list[tuple[str, str]]:
        """The table the page shows: the simulated time, each market's insurance balance, then
        the summary's headline rows (``sim.run.summary_rows``), as of the snapshot."""
        return self.snapshot.rows

    def charts(self) -> dict[str, bytes]:
        """The four run charts (design 12) as PNG bytes by file name, as of the snapshot (drawn
        by ``step()``; ``ValueError`` before the first step)."""
        charts = self.snapshot.charts
        if charts is None:
            raise ValueError("no step has run yet")
        return charts

    def _draw(self, snap: Snapshot) -> dict[str, bytes]:
        from sim.charts import build_figures, png_bytes

        return {name: png_bytes(fig, CHART_DPI)
                for name, fig in build_figures(snap.timeseries, snap.events, self.title).items()}
