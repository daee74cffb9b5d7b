"""``flywheel sweep``: plan, execute, then write the sweep's folder (design 15).

``<out>/<sweep name>/`` holds ``manifest.json`` (versions, the sweep file's hash, timings and
counts; written when the sweep starts and again when it ends), ``journal.jsonl`` (the status log,
one line per run as it finished or failed), then, built from the journal: ``runs.parquet`` (one
row per run: scenario, point, the varied parameters, seed, status, error, every summary metric),
``aggregate.csv`` (``sim.sweep.aggregate``), ``report.md`` and ``charts/``. The runs themselves
are stored like any run, in ``<out>/<scenario name>/<run key>/``, without charts
(``flywheel charts`` draws a run's on demand).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim import results_io as rio
from sim.sweep.journal import JOURNAL, Journal
from sim.sweep.plan import Plan, make_plan
from sim.sweep.runner import Execution, RunFn, execute, run_task
from sim.sweep.spec import SweepSpec, file_sha256, load_sweep

if TYPE_CHECKING:
    from sim.preflight import Limits

MANIFEST = "manifest.json"
RUNS = "runs.parquet"
AGGREGATE = "aggregate.csv"
REPORT = "report.md"
CHARTS = "charts"
TIMING_COLUMNS = ("reused", "wall_time_s", "finished_at")   # differ between computations


@dataclass
class SweepResult:
    """A finished (or interrupted) sweep: where its files are and what happened."""

    folder: Path
    execution: Execution
    runs: pd.DataFrame
    aggregate: pd.DataFrame
    report: str

    @property
    def failed(self) -> int:
        return int((self.runs["status"] != "ok").sum()) if len(self.runs) else 0

    @property
    def complete(self) -> bool:
        return self.execution.broken is None and self.execution.counts.not_done == 0


def sweep_folder(out: str | Path, spec: SweepSpec) -> Path:
    return Path(out) / spec.name


def prepare(path: str | Path, cli_set: Mapping[str, Any] | None = None,
            limits: Limits | None = None) -> Plan:
    """Read the sweep file and check every scenario at every point against ``limits``
    (nothing runs yet)."""
    return make_plan(load_sweep(path), path, cli_set, limits)


def run_sweep(
    path: str | Path,
    executor: Executor,
    out: str | Path = "results",
    cli_set: Mapping[str, Any] | None = None,
    max_in_flight: int = 4,
    progress: bool = False,
    run_fn: RunFn = run_task,
    charts: bool = True,
    backend: str = "",
    plan: Plan | None = None,
    limits: Limits | None = None,
) -> SweepResult:
    """Run the sweep file ``path`` on ``executor`` and write its folder under ``out``
    (``plan``: from ``prepare``, when the caller checked the file before starting workers;
    else it is prepared here with ``cli_set`` and ``limits``)."""
    plan = plan if plan is not None else prepare(path, cli_set, limits)
    spec = plan.spec
    folder = sweep_folder(out, spec)
    started_at = datetime.now(UTC)
    with Journal(folder / JOURNAL) as journal:
        _write_manifest(folder, path, plan, "running", started_at, None, backend)
        file_index = {entry.file: s for s, entry in enumerate(spec.scenarios)}
        execution = execute(plan.tasks(), plan.n_runs, executor, out, journal, max_in_flight,
                            run_fn=run_fn, progress=progress,
                            scenario_index=lambda task: file_index[task.scenario_file])
        runs = runs_frame(plan, execution, journal)
    rio.write_parquet(folder / RUNS, runs)
    return finish(folder, path, plan, execution, runs, started_at, charts, backend)


def finish(folder: Path, path: str | Path, plan: Plan, execution: Execution, runs: pd.DataFrame,
           started_at: datetime, charts: bool, backend: str) -> SweepResult:
    """Aggregate, report, chart and close the manifest."""
    from sim.sweep.aggregate import aggregate
    from sim.sweep.report import report_text

    agg = aggregate(runs, plan.spec.varied)
    rio.write_text(folder / AGGREGATE, agg.to_csv(index=False, float_format="%.10g"))
    text = report_text(plan.spec, agg, runs, execution)
    rio.write_text(folder / REPORT, text)
    if charts and len(agg):
        from sim.sweep.charts import draw_sweep_charts

        draw_sweep_charts(agg, plan.spec, folder / CHARTS)
    status = "complete" if execution.broken is None and not execution.counts.not_done else "incomplete"
    _write_manifest(folder, path, plan, status, started_at, execution, backend)
    return SweepResult(folder, execution, runs, agg, text)


def runs_frame(plan: Plan, execution: Execution, journal: Journal) -> pd.DataFrame:
    """runs.parquet: the plan's runs in order, each with its journal record (ok wins over
    failed; a run not yet recorded is left out), sorted by scenario, point and replicate."""
    wanted = {key for *_, key in execution.order}
    latest: dict[str, dict[str, Any]] = {}
    for record in journal.records():
        key = record["key"]
        if key not in wanted:
            continue
        if record.get("status") == "ok" or latest.get(key, {}).get("status") != "ok":
            latest[key] = record
    varied = plan.spec.varied
    rows = []
    for s, p, r, key in sorted(execution.order):
        record = latest.get(key)
        if record is None:
            continue
        entry = plan.spec.scenarios[s]
        row = {"scenario": plan.scenario_names[s], "scenario_file": Path(entry.file).name,
               "point": p, **{v: plan.points[p][v] for v in varied}, "replicate": r,
               "seed": plan.seeds[r], "run_key": record.get("run_key", key),
               "status": record.get("status", "failed"),
               "error": record.get("error"),
               **{c: record.get(c) for c in TIMING_COLUMNS}}
        metrics = record.get("row") or {}
        row.update({k: v for k, v in metrics.items() if k not in ("scenario", "seed")})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.reset_index(drop=True)


def _write_manifest(folder: Path, path: str | Path, plan: Plan, status: str, started_at: datetime,
                    execution: Execution | None, backend: str) -> None:
    from sim.run import versions

    spec = plan.spec
    manifest: dict[str, Any] = {
        "sweep": spec.name,
        "status": status,
        "sweep_file": str(Path(path).resolve()),
        "sweep_file_sha256": file_sha256(path),
        "kind": spec.kind,
        "varied": spec.varied,
        "sample": spec.sample.model_dump() if spec.sample else None,
        "scenarios": [{"file": e.file, "name": n, "set": e.set}
                      for e, n in zip(spec.scenarios, plan.scenario_names)],
        "set": spec.set,
        "compare": spec.compare,
        "impulse": spec.impulse.model_dump() if "impulse" in spec.compare else None,
        "cli_set": plan.cli_set,
        "points": len(plan.points),
        "seeds": plan.seeds,
        "root_seed": spec.root_seed,
        "backend": backend,
        "versions": versions(),
        "started_at": started_at.isoformat(timespec="seconds"),
        "runs": {"planned": plan.n_runs},
    }
    if execution is not None:
        c = execution.counts
        manifest["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        manifest["wall_time_s"] = round(execution.wall_time_s, 3)
        manifest["runs"] = {"planned": c.planned, "computed": c.computed, "reused": c.reused,
                            "duplicates": c.duplicates, "failed": c.failed,
                            "not_done": c.not_done}
        manifest["timings"] = {
            "compute_s_per_run": round(c.compute_s / c.computed, 4) if c.computed else None,
            "runs_per_minute": round(60 * c.computed / execution.wall_time_s, 2)
            if c.computed and execution.wall_time_s > 0 else None,
            "max_in_flight": execution.max_in_flight_seen,
        }
        if execution.broken:
            manifest["broken"] = execution.broken
    rio.write_json(folder / MANIFEST, manifest)
