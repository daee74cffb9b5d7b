"""The cells of a study, run through any ``concurrent.futures.Executor`` and streamed to disk.

A cell is one scenario and one seed: the base run, its margin twin and the impulse twins
(``sim.twins.study_cell``). Each finished cell is appended to ``cells.jsonl`` as one line and
flushed, so a killed study loses at most the cells in flight; a rerun reads the file and skips
every cell already there (its key is a hash of the resolved scenario, the seed, the impulses,
t0, the horizons and the code). A cell that raises is recorded with its error and the study
goes on; the next run tries it again. The parent keeps only the cells (small dicts), never a
run's frames.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from sim import results_io as rio
from sim.executor import make_executor
from sim.preflight import Limits
from sim.run import code_fingerprint
from sim.scenario import Scenario

CellFn = Callable[..., dict]
"""``cell_fn(scenario, seed, *, impulses, at_day, horizons, out, limits) -> cell dict``."""

CELLS = "cells.jsonl"
OK, FAILED = "ok", "failed"


@dataclass(frozen=True)
class CellJob:
    """One cell to compute: which scenario, which replication, and the impulse design."""

    key: str
    scenario: Scenario
    replication: int
    seed: int
    impulses: tuple[float, ...]
    at_day: float
    horizons: tuple[float, ...]
    limits: Limits | None = None     # what each run may need (None: sim.preflight's defaults)

    @property
    def label(self) -> str:
        return f"{self.scenario.name} seed {self.seed}"


def cell_key(scenario_yaml: str, seed: int, impulses: Sequence[float], at_day: float,
             horizons: Sequence[float]) -> str:
    """16 hex digits of sha256 over everything a cell's numbers depend on: the resolved
    scenario (``sim.run.resolved_yaml``), the seed, the impulse design and the code."""
    digest = hashlib.sha256(scenario_yaml.encode("utf-8"))
    design = {"seed": int(seed), "impulses": [float(k) for k in impulses],
              "at_day": float(at_day), "horizons": [float(h) for h in horizons],
              "code": code_fingerprint()}
    digest.update(json.dumps(design, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def compute_cell(cell_fn: CellFn, job: CellJob, out: str | None) -> dict[str, Any]:
    """Run one cell (in a worker) and return its record; an exception becomes a failed record."""
    head = {"key": job.key, "scenario": job.scenario.name, "replication": job.replication,
            "seed": job.seed}
    try:
        cell = cell_fn(job.scenario, job.seed, impulses=job.impulses, at_day=job.at_day,
                       horizons=job.horizons, out=out, limits=job.limits)
    except Exception as exc:  # noqa: BLE001 (a failing cell is recorded, the study goes on)
        return {**head, "status": FAILED, "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()}
    return {**head, "status": OK, "cell": rio.to_jsonable(cell)}


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """The last record of each key in ``path`` (a finished cell beats a failure); a line that
    does not parse (the tail of a killed write) is ignored."""
    found: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            key = record["key"]
        except (ValueError, KeyError, TypeError):
            continue
        if found.get(key, {}).get("status") != OK:
            found[key] = record
    return found


def run_cells(jobs: Sequence[CellJob], folder: Path, cell_fn: CellFn, *,
              executor: Executor | None = None, workers: int = 1,
              runs_out: str | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Every job's record, in the order of ``jobs``: finished ones read from
    ``folder/cells.jsonl``, the others computed through ``executor`` (else a process pool of
    ``workers``; in this process when ``workers`` is 1) and appended there as they finish."""
    path = Path(folder) / CELLS
    path.parent.mkdir(parents=True, exist_ok=True)
    records = read_records(path)
    todo = [j for j in jobs if records.get(j.key, {}).get("status") != OK]
    with _appender(path) as fh, tqdm(total=len(jobs), initial=len(jobs) - len(todo),
                                     desc="cells", unit="cell", file=sys.stderr,
                                     disable=not progress) as bar:
        for record in _results(todo, cell_fn, executor, workers, runs_out):
            fh.write(json.dumps(record, allow_nan=False) + "\n")
            fh.flush()
            records[record["key"]] = record
            bar.update(1)
    return [records[j.key] for j in jobs]


def _results(todo: Sequence[CellJob], cell_fn: CellFn, executor: Executor | None,
             workers: int, out: str | None) -> Iterable[dict[str, Any]]:
    if not todo:
        return
    if executor is None and workers <= 1:
        for job in todo:
            yield compute_cell(cell_fn, job, out)
        return
    if executor is not None:
        yield from _through(executor, todo, cell_fn, out)
        return
    with make_executor("local", min(workers, len(todo))) as pool:
        yield from _through(pool, todo, cell_fn, out)


def _through(executor: Executor, todo: Sequence[CellJob], cell_fn: CellFn,
             out: str | None) -> Iterator[dict[str, Any]]:
    """The records of ``todo`` computed on ``executor``, as they finish; what is not yet
    started is cancelled if the caller stops early (an interrupt)."""
    futures: dict[Future, CellJob] = {}
    try:
        futures = {executor.submit(compute_cell, cell_fn, job, out): job for job in todo}
        for future in as_completed(futures):
            yield _record_of(future, futures[future])
    finally:
        for future in futures:
            future.cancel()


def _record_of(future: Future, job: CellJob) -> dict[str, Any]:
    """The worker's record, or a failed one when the executor itself failed (a dead worker)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001
        return {"key": job.key, "scenario": job.scenario.name, "replication": job.replication,
                "seed": job.seed, "status": FAILED, "error": f"{type(exc).__name__}: {exc}",
                "traceback": "".join(traceback.format_exception(exc))}


@contextmanager
def _appender(path: Path) -> Iterator[IO[str]]:
    """``path`` opened for appending, on a fresh line if a killed write left half a line."""
    torn = False
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
    with open(path, "a", encoding="utf-8") as fh:
        if torn:
            fh.write("\n")
        yield fh


def failures(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The failed records among ``records``."""
    return [r for r in records if r.get("status") != OK]


def default_workers(n_cells: int) -> int:
    """The cores, but no more processes than cells."""
    return max(1, min(os.cpu_count() or 1, n_cells))
