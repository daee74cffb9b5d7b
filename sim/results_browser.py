"""What the dashboard's results page lists and shows: finished runs and sweeps under a results
folder (design 15's layout), without Solara.

A run is a folder ``<root>/<scenario>/<run key>`` that ``sim.run.is_complete`` accepts; its page
is its four charts (any missing one drawn first, as ``flywheel charts`` would) and the headline
rows of its summary. A sweep is a folder ``<root>/<sweep>`` with ``manifest.json`` and
``aggregate.csv``; its page is its charts (each headline metric against the swept parameter with
its interval band, the heatmap for two parameters) and its ``report.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sim import results_io as rio
from sim.errors import UserInputError
from sim.sweep.driver import AGGREGATE, CHARTS, MANIFEST, REPORT

SWEEP_FILES = (MANIFEST, AGGREGATE)
OVERVIEW = "headlines"              # sim.sweep.charts' chart of every headline metric


@dataclass(frozen=True)
class RunEntry:
    path: Path
    label: str                      # "seed 3 · 0a1b2c3d4e5f · 2026-12-03 07:10 UTC"


@dataclass(frozen=True)
class RunPage:
    charts: list[Path]              # the four run charts, in design 12's order
    rows: list[tuple[str, str]]     # the summary's headline rows
    title: str


@dataclass(frozen=True)
class SweepPage:
    charts: dict[str, Path]         # chart label (the metric's file stem) -> PNG, overview first
    report: str                     # report.md's text ("" if it has none)
    note: str = ""                  # why there are no charts, when there are none


def _finished(run_dir: Path) -> float:
    """When a run was stored: its summary.json is written last and never touched again
    (drawing a missing chart later does not move the run)."""
    return (run_dir / rio.SUMMARY).stat().st_mtime


def _label(run_dir: Path) -> str:
    stamp = datetime.fromtimestamp(_finished(run_dir), UTC).strftime("%Y-%m-%d %H:%M")
    try:
        seed = rio.read_json(run_dir / rio.SUMMARY).get("seed", "?")
    except (UserInputError, OSError, ValueError):
        return f"unreadable summary · {run_dir.name} · {stamp} UTC"
    return f"seed {seed} · {run_dir.name} · {stamp} UTC"


def _is_sweep(folder: Path) -> bool:
    return all((folder / name).is_file() for name in SWEEP_FILES)


def scenario_folders(root: str | Path) -> list[str]:
    """Names of the folders under ``root`` that hold at least one finished run."""
    from sim.run import is_complete

    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not _is_sweep(p)):
        if any(is_complete(run) for run in folder.iterdir() if run.is_dir()):
            found.append(folder.name)
    return found


def runs_in(root: str | Path, scenario: str) -> list[RunEntry]:
    """The finished runs of one scenario folder, newest first (one whose summary cannot be
    read is listed as such; opening it says why)."""
    from sim.run import is_complete

    folder = Path(root) / scenario
    if not folder.is_dir():
        return []
    runs = [p for p in folder.iterdir() if p.is_dir() and is_complete(p)]
    runs.sort(key=_finished, reverse=True)
    return [RunEntry(path, _label(path)) for path in runs]


def sweeps_in(root: str | Path) -> list[str]:
    """Names of the sweep folders under ``root``."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _is_sweep(p))


def run_page(run_dir: str | Path) -> RunPage:
    """A finished run's charts (drawing any that is missing, as a reused run does) and headline
    rows; a run that cannot be read is a ``UserInputError``."""
    from sim.charts import CHART_FILES, stored_run_title
    from sim.run import draw_missing_charts, is_complete, load_run, summary_rows

    run_dir = Path(run_dir)
    if not is_complete(run_dir):
        raise UserInputError(f"{run_dir}: not a finished run's results folder")
    charts_dir = run_dir / rio.CHARTS_DIR
    complete = all((charts_dir / name).is_file() for name in CHART_FILES)
    try:           # the time series and events are read only when a chart must be drawn
        summary, info = rio.read_json(run_dir / rio.SUMMARY), rio.read_json(run_dir / rio.RUN_INFO)
        rows = summary_rows(summary)
        title = stored_run_title(run_dir, summary, info)
        if not complete:
            draw_missing_charts(load_run(run_dir), run_dir, title)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"{run_dir}: cannot be read ({type(exc).__name__}: {exc})") from None
    return RunPage([charts_dir / name for name in CHART_FILES if (charts_dir / name).is_file()],
                   rows, title)


def sweep_page(sweep_dir: str | Path) -> SweepPage:
    """A sweep's charts by metric and its report."""
    sweep_dir = Path(sweep_dir)
    if not _is_sweep(sweep_dir):
        raise UserInputError(f"{sweep_dir}: not a sweep's results folder (no manifest.json "
                             "and aggregate.csv)")
    charts_dir = sweep_dir / CHARTS
    found = sorted(charts_dir.glob("*.png")) if charts_dir.is_dir() else []
    found.sort(key=lambda p: p.stem != OVERVIEW)            # the overview of all headlines first
    report = sweep_dir / REPORT
    note = "" if found else ("no charts: the sweep ran with --no-charts, or it varies what a "
                             "chart cannot show (a sample: sweep, three or more grid parameters)")
    return SweepPage({p.stem: p for p in found},
                     report.read_text() if report.is_file() else "", note)
