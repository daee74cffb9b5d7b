"""``flywheel study STUDY.yaml``: scenarios x seeds of base, margin twin and impulse twins,
reduced to a verdict per scenario and a generated answer in ``results/<study>/REPORT.md``.

Modules: ``spec`` (the study file), ``runner`` (cells through an Executor, streamed to
``cells.jsonl``, resumable), ``aggregate`` (intervals, verdict, margin twin, LP risk), ``answer``
(the answer in words, by rules), ``report`` (REPORT.md), ``charts`` (its PNGs), ``text``
(how numbers are written).

Layout of ``<out>/<study name>/``: ``cells.jsonl`` (one line per finished or failed cell),
``runs/`` (the cells' runs, as ``sim.run`` stores them, without charts), ``REPORT.md`` and
``charts/*.png``.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim import results_io as rio
from sim.run import data_fingerprint, resolved_yaml
from sim.study.aggregate import ScenarioResult, scenario_result
from sim.study.charts import draw_study_charts
from sim.study.report import report_markdown, verdict_rows
from sim.study.runner import CellFn, CellJob, cell_key, default_workers, failures, run_cells
from sim.study.spec import Study, load_study
from sim.study.text import table

REPORT = "REPORT.md"
RUNS_DIR = "runs"


@dataclass(frozen=True)
class StudyOutcome:
    """What a study produced: its folder, the report, each scenario's result, the failures."""

    folder: Path
    report: Path
    results: list[ScenarioResult]
    failures: list[Mapping[str, Any]]

    def verdict_table(self) -> str:
        return "\n".join(table(*verdict_rows(self.results)))


def plan(study: Study) -> list[CellJob]:
    """Every cell of ``study``: each scenario with each replication's seed."""
    spec = study.spec
    impulses, horizons = tuple(spec.impulses), tuple(spec.horizons_days)
    jobs = []
    for s in study.scenarios:
        text = resolved_yaml(s.scenario) + data_fingerprint(s.scenario)   # data files too
        jobs += [CellJob(cell_key(text, seed, impulses, s.at_day, horizons), s.scenario, i, seed,
                         impulses, s.at_day, horizons, study.limits)
                 for i, seed in enumerate(study.seeds)]
    return jobs


def _study_cell() -> CellFn:
    from sim.twins import study_cell

    return study_cell


def run_study(study: Study, out: str | Path = "results", *, cell_fn: CellFn | None = None,
              executor: Executor | None = None, workers: int | None = None,
              progress: bool = True, charts: bool = True,
              command: str | None = None) -> StudyOutcome:
    """Compute the cells ``study`` still lacks (through ``executor``, else a process pool of
    ``workers``, else the study's ``workers``, else the cores), then write REPORT.md and the
    charts (unless ``charts`` is False) from every finished cell. ``cell_fn`` defaults to
    ``sim.twins.study_cell``."""
    folder = Path(out) / study.name
    jobs = plan(study)
    n_workers = workers or study.spec.workers or default_workers(len(jobs))
    records = run_cells(jobs, folder, cell_fn or _study_cell(), executor=executor,
                        workers=n_workers, runs_out=str(folder / RUNS_DIR), progress=progress)
    results = [scenario_result(s.name, [r for r in records if r["scenario"] == s.name])
               for s in study.scenarios]
    failed = failures(records)
    drawn = draw_study_charts(results, study.name, folder / rio.CHARTS_DIR) if charts else []
    text = report_markdown(study, results, failed, drawn,
                           command or f"flywheel study {study.source}")
    report = rio.write_text(folder / REPORT, text)
    return StudyOutcome(folder, report, results, failed)


__all__ = ["REPORT", "Study", "StudyOutcome", "load_study", "plan", "run_study"]
