"""The same sweep on 1 and 2 local worker processes and on a Dask LocalCluster gives the same
rows; a sweep whose parent is killed with kill -9, or whose worker dies, finishes when started
again, each run recorded exactly once and no half-written file left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from sim.executor import make_executor
from sim.sweep.driver import TIMING_COLUMNS, run_sweep
from sim.sweep.runner import run_task
from tests.sweeps import write_sweep

ROOT = Path(__file__).resolve().parent.parent


def _rows(result) -> pd.DataFrame:
    return result.runs.drop(columns=list(TIMING_COLUMNS)).sort_values(
        ["scenario", "point", "replicate"]).reset_index(drop=True)


def test_one_and_two_local_workers_and_dask_give_the_same_runs(tmp_path):
    path = write_sweep(tmp_path)
    results = {}
    for name, backend, workers in (("local1", "local", 1), ("local2", "local", 2),
                                   ("dask", "dask", 2)):
        with make_executor(backend, workers) as pool:
            results[name] = run_sweep(path, pool, out=tmp_path / name, max_in_flight=2 * workers,
                                      charts=False)
        assert results[name].execution.counts.computed == 4      # nothing shared between them
    base = _rows(results["local1"])
    assert (base["status"] == "ok").all() and len(base) == 4
    pd.testing.assert_frame_equal(base, _rows(results["local2"]))
    pd.testing.assert_frame_equal(base, _rows(results["dask"]))


def _journal_keys(folder: Path) -> list[str]:
    path = folder / "journal.jsonl"
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    return [json.loads(line)["key"] for line in lines[:-1] if line]


def test_kill_9_of_the_parent_then_a_restart_records_every_run_exactly_once(tmp_path):
    path = write_sweep(tmp_path, seeds=6, set={"clock.days": 1.5})         # 12 runs
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sim", "sweep", str(path), "--workers", "1", "--quiet",
               "--no-charts", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    folder = out / "tiny_sweep"
    deadline = time.monotonic() + 120
    while len(_journal_keys(folder)) < 3 and parent.poll() is None:
        assert time.monotonic() < deadline, "the sweep recorded no run in time"
        time.sleep(0.02)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert parent.returncode == -signal.SIGKILL
    before = _journal_keys(folder)
    assert 3 <= len(before) < 12, "killed too late to test a restart"
    assert not (folder / "runs.parquet").exists()

    with make_executor("local", 1) as pool:                 # started again
        again = run_sweep(path, pool, out=out, max_in_flight=2, charts=False)
    assert again.complete and again.execution.counts.computed <= 12 - len(before)
    keys = _journal_keys(folder)
    assert keys[:len(before)] == before
    assert len(keys) == len(set(keys)) == 12             # every run recorded exactly once
    runs = pd.read_parquet(folder / "runs.parquet")
    assert len(runs) == 12 and (runs["status"] == "ok").all()
    assert not runs.duplicated(["point", "replicate"]).any()
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]


def dies_once(task, out):
    """A worker that dies as under kill -9 at its first run (the marker file says it did)."""
    marker = Path(out) / "died"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return run_task(task, out)


def test_a_worker_killed_mid_sweep_stops_it_cleanly_and_a_restart_finishes(tmp_path):
    path = write_sweep(tmp_path)
    out = tmp_path / "out"
    with make_executor("local", 1) as pool:
        first = run_sweep(path, pool, out=out, max_in_flight=2, run_fn=dies_once, charts=False)
    assert not first.complete and first.execution.counts.not_done >= 1
    assert first.failed == 0                     # a lost worker is not the run's failure
    manifest = json.loads((first.folder / "manifest.json").read_text())
    assert manifest["status"] == "incomplete" and "BrokenProcessPool" in manifest["broken"]
    with make_executor("local", 1) as pool:
        second = run_sweep(path, pool, out=out, max_in_flight=2, run_fn=dies_once, charts=False)
    assert second.complete and len(second.runs) == 4 and (second.runs["status"] == "ok").all()
    keys = _journal_keys(second.folder)
    assert len(keys) == len(set(keys)) == 4
