"""The dashboard (Mesa's convention: a ``SolaraViz`` page in ``app.py``).

Started by ``flywheel dashboard [SCENARIO]`` (or ``solara run sim.app``), it serves two pages:

* **Live run**: a scenario file to load, then Mesa's controls (Reset, play/pause, Step) over a
  ``sim.live.LiveModel`` with its own controls: seed, the insurance seed and its denomination,
  the oracle mode, the margin token on/off (off: the margin twin of design 1) and each shock of
  the loaded scenario on/off. A changed control takes effect at Reset, as in every Mesa app.
  A model step is a simulated day (the wrapped run's steps in a batch); Step runs Mesa's
  "render interval" of them, one by default, and the four run charts and the headline table are
  redrawn after each batch.
* **Results**: a finished run's charts and summary, or a sweep's charts and report.

A mistake in a control (a scenario file that cannot be read, a value out of range) is shown as
the CLI's one line on the page; the server goes on. The environment passes the command's
arguments: ``FLYWHEEL_DASHBOARD_SCENARIO`` (default scenarios/baseline.yaml) and
``FLYWHEEL_DASHBOARD_RESULTS`` (default results).

Solara is an optional extra (``pip install -e .[dashboard]``): only this module imports it.
"""

from __future__ import annotations

import os
from typing import Any

import solara
import solara.lab
from mesa.visualization import SolaraViz

from sim import live
from sim import results_browser as rb
from sim.charts import CHART_FILES
from sim.errors import UserInputError
from sim.scenario import Scenario, load_scenario

SCENARIO = os.environ.get("FLYWHEEL_DASHBOARD_SCENARIO", "scenarios/baseline.yaml")
RESULTS = os.environ.get("FLYWHEEL_DASHBOARD_RESULTS", "results")
CHART_DPI = 60                    # 840 x 480 px per chart: readable, and quick to redraw
PLAY_INTERVAL_MS = 50


# ---------------------------------------------------------------------- the live run


def model_params(path: str, spec: Scenario) -> dict[str, Any]:
    """SolaraViz's controls for a loaded scenario (one checkbox per shock it schedules)."""
    oracles = {m.oracle for m in spec.markets.values()}
    params: dict[str, Any] = {
        "scenario_file": path,
        "seed": {"type": "InputText", "value": str(spec.seed), "label": "seed"},
        "insurance_initial": {
            "type": "InputText", "value": f"{spec.insurance.initial:g}",
            "label": f"insurance seed, fraction of the main pool (0 to {live.INSURANCE_MAX:g})",
        },
        "denomination": {"type": "Select", "value": spec.insurance.denomination,
                         "values": list(live.DENOMINATIONS), "label": "insurance held in"},
        "oracle": {"type": "Select",
                   "value": oracles.pop() if len(oracles) == 1 else live.AS_SCENARIO,
                   "values": [live.AS_SCENARIO, *live.ORACLE_MODES],
                   "label": "oracle of every market (design 4)"},
        "stock_margin": {"type": "Checkbox", "value": True,
                         "label": "margin as in the scenario (off: every market in USDC, "
                                  "the margin twin)"},
    }
    for i, event in enumerate(spec.events):
        params[f"{live.SHOCK_PREFIX}{i}"] = {"type": "Checkbox", "value": True,
                                             "label": f"shock: {live.shock_label(event)}"}
    return params


def _table(rows: list[tuple[str, str]]) -> str:
    lines = ["| | |", "|---|---:|"]
    lines += [f"| {label} | {value} |" for label, value in rows]
    return "\n".join(lines)


def Headlines(model: live.LiveModel) -> None:
    """The error of the controls, or the headline numbers as they stand."""
    with solara.Column(style={"height": "100%", "overflow-y": "auto"}):   # scrolls in its cell
        if model.error:
            solara.Error(model.error, classes=["flywheel-error"])
            return
        if model.steps_done == 0:
            solara.Info(f"{model.title}: Step runs a simulated day ({model.steps_per_day} steps), "
                        "▶ plays; change a control, then Reset to apply it.")
        solara.Markdown(_table(model.headline_rows()), style={"font-size": "0.85em"})


def _chart(name: str):
    def chart(model: live.LiveModel) -> None:
        if model.error or model.steps_done == 0:
            solara.Text(f"{name}: drawn after the first step")
            return
        solara.FigureMatplotlib(model.figures()[name], format="png", dpi=CHART_DPI,
                                dependencies=[id(model), model.steps_done])
    chart.__name__ = name.removesuffix(".png").capitalize() + "Chart"
    return chart


COMPONENTS = [Headlines, *(_chart(name) for name in CHART_FILES)]


@solara.component
def LiveRun() -> None:
    """The scenario file to load, then SolaraViz over its ``LiveModel``."""
    loaded = solara.use_reactive(SCENARIO)        # the file the controls below belong to
    typed = solara.use_reactive(SCENARIO)
    error = solara.use_reactive(None)

    def load() -> None:
        try:
            load_scenario(typed.value)
        except UserInputError as exc:
            error.set(str(exc))
            return
        error.set(None)
        loaded.set(typed.value)

    spec = solara.use_memo(lambda: _spec_or_none(loaded.value), [loaded.value])
    model = solara.use_memo(lambda: live.LiveModel(scenario_file=loaded.value), [loaded.value])
    with solara.Sidebar():
        with solara.Card("Scenario file"):
            solara.InputText("scenario YAML", value=typed, continuous_update=True)
            solara.Button("Load", on_click=load, color="primary")
            if error.value:
                solara.Error(error.value, classes=["flywheel-error"])
    params = {"scenario_file": loaded.value} if spec is None else model_params(loaded.value, spec)
    SolaraViz(model, components=COMPONENTS, model_params=params, name="flywheel-sim",
              play_interval=PLAY_INTERVAL_MS).key(f"viz:{loaded.value}")


def _spec_or_none(path: str) -> Scenario | None:
    try:
        return load_scenario(path)
    except UserInputError:
        return None


# ---------------------------------------------------------------------- the results browser


@solara.component
def RunBrowser() -> None:
    scenarios = rb.scenario_folders(RESULTS)
    scenario = solara.use_reactive(scenarios[0] if scenarios else None)
    run = solara.use_reactive(None)
    if not scenarios:
        solara.Info(f"{RESULTS}: no finished runs yet (flywheel run SCENARIO writes one)")
        return
    entries = rb.runs_in(RESULTS, scenario.value) if scenario.value else []
    by_label = {e.label: e for e in entries}
    with solara.Row():
        solara.Select("scenario", values=scenarios, value=scenario,
                      on_value=lambda _: run.set(None))
        solara.Select("run", values=list(by_label), value=run)
    if run.value not in by_label:
        solara.Text(f"{len(entries)} finished runs of {scenario.value}: pick one")
        return
    try:
        page = rb.run_page(by_label[run.value].path)
    except (UserInputError, OSError, ValueError) as exc:
        solara.Error(f"{by_label[run.value].path}: {exc}", classes=["flywheel-error"])
        return
    solara.Markdown(f"**{page.title}**")
    with solara.Columns([3, 1]):
        with solara.Column():
            for chart in page.charts:
                solara.Image(chart, width="100%")
        solara.Markdown(_table(page.rows), style={"font-size": "0.85em"})


@solara.component
def SweepBrowser() -> None:
    sweeps = rb.sweeps_in(RESULTS)
    sweep = solara.use_reactive(sweeps[0] if sweeps else None)
    metric = solara.use_reactive(None)
    if not sweeps:
        solara.Info(f"{RESULTS}: no sweep results yet (flywheel sweep FILE writes them)")
        return
    page = rb.sweep_page(os.path.join(RESULTS, sweep.value))
    shown = metric.value if metric.value in page.charts else next(iter(page.charts), None)
    with solara.Row():
        solara.Select("sweep", values=sweeps, value=sweep, on_value=lambda _: metric.set(None))
        solara.Select("chart", values=list(page.charts), value=shown, on_value=metric.set)
    if shown is None:
        solara.Text("this sweep was run with --no-charts: its report follows")
    else:
        solara.Image(page.charts[shown], width="100%")
    solara.Markdown(page.report)


@solara.component
def Results() -> None:
    with solara.lab.Tabs():
        with solara.lab.Tab("Runs"):
            RunBrowser()
        with solara.lab.Tab("Sweeps"):
            SweepBrowser()


routes = [
    solara.Route(path="/", component=LiveRun, label="Live run"),
    solara.Route(path="results", component=Results, label="Results"),
]
