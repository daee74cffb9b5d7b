"""The dashboard (Mesa's convention: a ``SolaraViz`` page in ``app.py``).

Started by ``flywheel dashboard [SCENARIO]`` (or ``solara run sim.app``), it serves two pages:

* **Live run** (``/``, Solara names it Home): a scenario file to load, then Mesa's controls
  (Reset, play/pause, Step) over a ``sim.live.LiveModel`` with its own controls: seed, the
  insurance seed and its denomination, the oracle mode, the margin token on/off (off: the margin
  twin of design 1) and each shock of the loaded scenario on/off. A changed control takes effect
  at Reset, as in every Mesa app. A model step is a simulated day (the wrapped run's steps in a
  batch); Step runs Mesa's "render interval" of them, one by default, and the four run charts
  and the headline table are redrawn after each batch.
* **Results** (``/results``): a finished run's charts and summary, or a sweep's charts and report.

A mistake in a control (a scenario file that cannot be read or run, a value out of range) or an
unreadable results folder is shown as one line on the page; the server goes on. The
environment passes the command's arguments: ``FLYWHEEL_DASHBOARD_SCENARIO`` (default
scenarios/baseline.yaml) and ``FLYWHEEL_DASHBOARD_RESULTS`` (default results).

Solara is an optional extra (``pip install -e .[dashboard]``): only this module imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import solara
import solara.lab
from mesa.visualization import SolaraViz

from sim import live
from sim import results_browser as rb
from sim.charts import CHART_FILES
from sim.errors import UserInputError
from sim.scenario import Scenario

SCENARIO = os.environ.get("FLYWHEEL_DASHBOARD_SCENARIO", "scenarios/baseline.yaml")
RESULTS = os.environ.get("FLYWHEEL_DASHBOARD_RESULTS", "results")
PLAY_INTERVAL_MS = 50
ERROR_CLASS = ["flywheel-error"]                 # the one-line messages, for tests to find


def _table(rows: list[tuple[str, str]]) -> str:
    lines = ["| headline | as it stands |", "|---|---:|"]
    lines += [f"| {label} | {value} |" for label, value in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------- the live run


def Headlines(model: live.LiveModel) -> None:
    """The error of the controls, or the headline numbers as they stand."""
    with solara.Column(style={"height": "100%", "overflow-y": "auto"}):   # scrolls in its cell
        if model.error:
            solara.Error(model.error, classes=ERROR_CLASS)
            return
        if model.steps_done == 0:
            solara.Info(f"{model.title}: Step runs a simulated day ({model.steps_per_day} steps), "
                        "▶ plays; change a control, then Reset to apply it.")
        solara.Markdown(_table(model.headline_rows()), style={"font-size": "0.85em"})


def _chart(name: str) -> Callable[[live.LiveModel], None]:
    """The component of one run chart: the PNG of the model's latest snapshot."""
    def chart(model: live.LiveModel) -> None:
        if model.error:
            return
        if model.steps_done == 0:
            solara.Text(f"{name}: drawn after the first step")
            return
        solara.Image(model.charts()[name], width="100%")
    chart.__name__ = name.removesuffix(".png").capitalize() + "Chart"
    return chart


COMPONENTS = [Headlines, *(_chart(name) for name in CHART_FILES)]


@solara.component
def LiveRun() -> None:
    """The scenario file to load, then SolaraViz over its ``LiveModel``; each Load rebuilds the
    controls from the file as it is then (its shocks may have changed)."""
    loaded = solara.use_reactive(SCENARIO)        # the file the controls below belong to
    loads = solara.use_reactive(0)                # a Load of the same path rebuilds too
    typed = solara.use_reactive(SCENARIO)
    error = solara.use_reactive(None)

    def load() -> None:
        try:
            live.check_runnable(live.Controls(typed.value))
        except UserInputError as exc:
            error.set(str(exc))
            return
        error.set(None)
        loaded.set(typed.value)
        loads.set(loads.value + 1)

    key = (loaded.value, loads.value)
    spec = solara.use_memo(lambda: _spec_or_none(loaded.value), [key])
    model = solara.use_memo(lambda: live.LiveModel(scenario_file=loaded.value), [key])
    with solara.Sidebar():
        with solara.Card("Scenario file"):
            solara.InputText("scenario YAML", value=typed)
            solara.Button("Load", on_click=load, color="primary")
            if error.value:
                solara.Error(error.value, classes=ERROR_CLASS)
    params = ({"scenario_file": loaded.value} if spec is None
              else live.control_specs(loaded.value, spec))
    SolaraViz(model, components=COMPONENTS, model_params=params, name="flywheel-sim",
              play_interval=PLAY_INTERVAL_MS).key(f"viz:{key}")


def _spec_or_none(path: str) -> Scenario | None:
    try:
        return live.scenario_of(live.Controls(path))[0]
    except UserInputError:
        return None


# ---------------------------------------------------------------------- the results browser


@solara.component
def RunBrowser() -> None:
    """Pick a scenario folder, then one of its runs: its charts beside its summary."""
    scenarios = solara.use_memo(lambda: rb.scenario_folders(RESULTS), [])
    scenario = solara.use_reactive(scenarios[0] if scenarios else None)
    run = solara.use_reactive(None)
    entries = solara.use_memo(lambda: rb.runs_in(RESULTS, scenario.value) if scenarios else [],
                              [scenario.value])
    if not scenarios:
        solara.Info(f"{RESULTS}: no finished runs yet (flywheel run SCENARIO writes one)")
        return
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
    except UserInputError as exc:
        solara.Error(str(exc), classes=ERROR_CLASS)
        return
    solara.Markdown(f"**{page.title}**")
    with solara.Columns([3, 1]):
        with solara.Column():
            for chart in page.charts:
                solara.Image(chart, width="100%")
        solara.Markdown(_table(page.rows), style={"font-size": "0.85em"})


@solara.component
def SweepBrowser() -> None:
    """Pick a sweep, then one of its charts (the overview first), above its report."""
    sweeps = solara.use_memo(lambda: rb.sweeps_in(RESULTS), [])
    sweep = solara.use_reactive(sweeps[0] if sweeps else None)
    metric = solara.use_reactive(None)
    if not sweeps:
        solara.Info(f"{RESULTS}: no sweep results yet (flywheel sweep FILE writes them)")
        return
    try:
        page = rb.sweep_page(os.path.join(RESULTS, sweep.value))
    except (UserInputError, OSError) as exc:
        solara.Error(f"{sweep.value}: {exc}", classes=ERROR_CLASS)
        return
    shown = metric.value if metric.value in page.charts else next(iter(page.charts), None)
    with solara.Row():
        solara.Select("sweep", values=sweeps, value=sweep, on_value=lambda _: metric.set(None))
        solara.Select("chart", values=list(page.charts), value=shown, on_value=metric.set)
    if shown is None:
        solara.Text(page.note)
    else:
        solara.Image(page.charts[shown], width="100%")
    solara.Markdown(page.report)


@solara.component
def Results() -> None:
    """Finished runs and sweeps of the results folder, on two tabs."""
    with solara.lab.Tabs():
        with solara.lab.Tab("Runs"):
            RunBrowser()
        with solara.lab.Tab("Sweeps"):
            SweepBrowser()


routes = [
    solara.Route(path="/", component=LiveRun, label="Live run"),
    solara.Route(path="results", component=Results, label="Results"),
]
