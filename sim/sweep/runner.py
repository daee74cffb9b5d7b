"""Run a sweep's tasks on any ``concurrent.futures.Executor``, streaming each result to disk.

The parent hands out at most ``max_in_flight`` tasks at a time and writes each run's record to
the journal (``sim.sweep.journal``) as it arrives, then forgets it: memory stays flat with the
number of runs. Each worker computes its run with ``sim.run.run`` (which writes the run's folder
itself, atomically, or reloads it when it is already stored) and returns one small record: the
run's flat row (``sim.sweep.rows``), or its error. A run that raises is recorded with its
parameters, seed and error, and the sweep goes on. Runs the journal holds as done are not handed
out again, so a sweep killed at any moment and started again computes each run exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim.sweep.journal import Journal
from sim.sweep.plan import Task

RunFn = Callable[[Task, str], dict[str, Any]]
# Runs handed out per worker at a time: enough queued that a worker never waits for the parent
# (Dask's round trip cost ~40 ms a run at 2 per worker, ~8 ms at 4, measured on 2 cores), few
# enough that the parent holds only a handful of summaries.
IN_FLIGHT_PER_WORKER = 4


def run_task(task: Task, out: str) -> dict[str, Any]:
    """Compute (or reload) one run in a worker; its record for the journal, never an exception."""
    started = time.perf_counter()
    record: dict[str, Any] = task_record(task)
    try:
        from sim.run import run
        from sim.scenario import load_scenario
        from sim.sweep.rows import run_row

        scenario = load_scenario(task.scenario_file, task.overrides)
        result = run(scenario, seed=task.seed, out=out, charts=False, limits=task.limits)
        got = result.info["run_key"]
        if got != task.key:          # e.g. a cluster's worker running other code than ours
            raise RuntimeError(f"the worker computed run {got}, not {task.key}: its code or "
                               "data differ from the sweep's")
        row = run_row(result.summary, result.events)
        reused = bool(result.reused)
        if task.compare:
            columns, twins_reused = twin_columns(scenario, task, out, result)
            row.update(columns)
            reused = reused and twins_reused
        record.update(status="ok", reused=reused, row=row)
    except Exception as exc:          # recorded; the sweep goes on
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    record["wall_time_s"] = round(time.perf_counter() - started, 4)
    return record


def twin_columns(scenario: Any, task: Task, out: str, result: Any) -> tuple[dict[str, Any], bool]:
    """Run the task's twins (``sim.twins``, stored under ``out`` like any run); (their columns:
    the margin twin's differences and the impulse gains (``sim.sweep.rows``), whether every
    twin was a stored run reloaded)."""
    from sim.sweep.rows import gain_columns, margin_columns
    from sim.twins import margin_differences, run_twins

    twins = run_twins(scenario, task.seed, task.compare, out, limits=task.limits,
                      base_result=result if scenario.impulse is None else None,
                      **(task.impulse or {}))         # ImpulseOptions: at, fractions, horizons_days
    columns: dict[str, Any] = {}
    if twins.margin is not None:
        columns.update(margin_columns(margin_differences(twins.base.summary, twins.margin.summary)))
    if twins.impulse is not None:
        columns.update(gain_columns(twins.impulse["gains"]))
    return columns, all(r.reused for r in twins.runs)


def task_record(task: Task) -> dict[str, Any]:
    """What identifies a run in the journal: key, scenario, point, parameters, seed."""
    return {"key": task.record_key, "run_key": task.key, "scenario": task.scenario,
            "point": task.point, "params": task.params, "replicate": task.replicate,
            "seed": task.seed}


@dataclass
class Counts:
    """What happened to the sweep's runs in this execution."""

    planned: int = 0
    computed: int = 0         # computed by a worker now
    reused: int = 0           # done before: in the journal, or a stored run a worker reloaded
    failed: int = 0           # raised (recorded)
    duplicates: int = 0       # the same run named twice by the plan (computed once)
    not_done: int = 0         # left when a worker pool broke (run the sweep again)
    compute_s: float = 0.0    # workers' wall time over the runs they computed

    @property
    def finished(self) -> int:
        return self.computed + self.reused + self.duplicates


@dataclass
class Execution:
    """The outcome of ``execute``: counts, the plan's (scenario, point, replicate, key) in
    order (for runs.parquet), whether the executor broke, and the wall time."""

    counts: Counts
    order: list[tuple[int, int, int, str]]
    broken: str | None
    wall_time_s: float
    max_in_flight_seen: int


def execute(
    tasks: Iterator[Task],
    n_tasks: int,
    executor: Executor,
    out: str | Path,
    journal: Journal,
    max_in_flight: int,
    run_fn: RunFn = run_task,
    progress: bool = False,
    scenario_index: Callable[[Task], int] | None = None,
) -> Execution:
    """Run every task not yet done in ``journal`` on ``executor``, ``max_in_flight`` at a time."""
    counts = Counts(planned=n_tasks)
    order: list[tuple[int, int, int, str]] = []
    in_flight: dict[Future, Task] = {}
    keys_in_flight: set[str] = set()
    broken: str | None = None
    most = 0
    started = time.perf_counter()
    bar = _bar(n_tasks, progress)

    def settle(future: Future) -> None:
        nonlocal broken
        task = in_flight.pop(future)
        keys_in_flight.discard(task.record_key)
        try:
            record = future.result()
        except BrokenExecutor as exc:
            broken = broken or f"{type(exc).__name__}: {exc}"
            counts.not_done += 1
            return
        except Exception as exc:      # the task never ran to its own handler (e.g. a lost worker)
            record = {**task_record(task), "status": "failed",
                      "error": f"{type(exc).__name__}: {exc}"}
        record["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        journal.append(record)
        if record["status"] != "ok":
            counts.failed += 1
        elif record.get("reused"):
            counts.reused += 1
        else:
            counts.computed += 1
            counts.compute_s += float(record.get("wall_time_s", 0.0))
        _advance(bar, counts)

    def settle_some() -> None:
        """Wait for at least one run and write it; its future and record die on return."""
        done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
        for future in done:
            settle(future)

    try:
        for task in tasks:
            s = scenario_index(task) if scenario_index else 0
            order.append((s, task.point, task.replicate, task.record_key))
            if broken:
                counts.not_done += 1
                continue
            if task.record_key in journal.done:
                counts.reused += 1
                _advance(bar, counts)
                continue
            if task.record_key in keys_in_flight:
                counts.duplicates += 1
                _advance(bar, counts)
                continue
            while len(in_flight) >= max_in_flight:
                settle_some()
            if broken:
                counts.not_done += 1
                continue
            in_flight[executor.submit(run_fn, task, str(out))] = task
            keys_in_flight.add(task.record_key)
            most = max(most, len(in_flight))
        while in_flight:
            settle_some()
    except BaseException:
        for future in in_flight:
            future.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
    return Execution(counts, order, broken, time.perf_counter() - started, most)


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc="runs", unit="run", file=sys.stderr, mininterval=0.5,
                smoothing=0.05)


def _advance(bar: Any, counts: Counts) -> None:
    if bar is None:
        return
    bar.set_postfix_str(f"computed {counts.computed}, reused {counts.reused}, "
                        f"failed {counts.failed}", refresh=False)
    bar.update(1)
