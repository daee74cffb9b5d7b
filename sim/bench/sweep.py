"""Sweep benchmark (design 16, issue 11): how a sweep scales and what it costs the parent.

Three figures, each printed with its target:
- runs per minute of 2 local worker processes against 1, on runs of the shipped insurance
  sweep (the first seeds of each scenario at its first point; pools warmed up first, so
  process start-up is not counted): target >= 1.8x;
- the Dask backend's overhead per run: (wall time x workers - time inside the runs) / runs, on a
  LocalCluster of 2 workers and, for comparison, on the local pool, over many tiny runs:
  target < 50 ms;
- the parent's peak memory (maximum resident set) over a 1,000-run sweep of tiny scenarios,
  charts and aggregation included, measured in a fresh process: target < 300 MB.
Every run is computed (each measurement writes to a new temporary folder; nothing is reused).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from sim.bench.common import Row
from sim.sweep.runner import IN_FLIGHT_PER_WORKER

SWEEP_FILE = Path(__file__).resolve().parents[2] / "scenarios" / "sweeps" / "insurance_size.yaml"
MIN_SPEEDUP = 1.8
MAX_DASK_OVERHEAD_S = 0.050
MAX_PARENT_MB = 300.0
# A scenario of a day and a dozen agents (~0.05 s a run): what the parent's costs are measured on.
TINY = {"name": "bench_tiny", "clock": {"days": 1.0, "burn_in_days": 0.25},
        "pool": {"initial_usd": 2.0e5},
        "agents": {"liquidity_providers": 4, "traders": 8, "market_makers": 2, "arbitrageurs": 1},
        "arrivals": {"traders": {"potential": 40}, "liquidity_providers": {"potential": 10}}}


def run(n: int) -> list[Row]:
    quick = n <= 100_000
    return [speedup_row(seeds=2 if quick else 4),
            dask_overhead_row(runs=40 if quick else 120),
            parent_memory_row(runs=200 if quick else 1_000)]


# ---------------------------------------------------------------------------- helpers
def _warm(pool, workers: int) -> None:
    """Start every worker before timing (a short sleep each, so each worker takes one)."""
    for future in [pool.submit(time.sleep, 0.3) for _ in range(workers)]:
        future.result()


def _timed(tasks: list, backend: str, workers: int) -> tuple[float, float]:
    """(wall seconds, seconds inside the runs) of ``tasks`` on a warmed executor, each run
    computed into a new temporary folder."""
    from sim.executor import make_executor
    from sim.sweep.journal import Journal
    from sim.sweep.runner import execute

    with tempfile.TemporaryDirectory(prefix="flywheel-bench-") as tmp, \
            make_executor(backend, workers) as pool, Journal(Path(tmp) / "journal.jsonl") as journal:  # fmt: skip
        _warm(pool, workers)
        started = time.perf_counter()
        result = execute(iter(tasks), len(tasks), pool, tmp, journal,
                         max_in_flight=IN_FLIGHT_PER_WORKER * workers)
        wall = time.perf_counter() - started
        if result.counts.computed != len(tasks):
            raise RuntimeError(f"bench sweep: {len(tasks) - result.counts.computed} runs failed "
                               f"or were reused on {backend}")
    return wall, result.counts.compute_s


def _tiny_sweep(folder: Path, runs: int) -> Path:
    """A sweep file of ``runs`` tiny runs (points x 10 seeds) in ``folder``."""
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY), encoding="utf-8")
    points = max(1, runs // 10)
    sweep = {"name": "bench_tiny_sweep", "scenarios": ["tiny.yaml"],
             "grid": {"insurance.initial": [round(0.001 * i, 6) for i in range(points)]},
             "seeds": min(10, runs), "root_seed": 0}
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- figures
def speedup_row(seeds: int) -> Row:
    """Runs per minute of 2 local workers over 1 on the insurance sweep's runs."""
    from sim.sweep.driver import prepare

    plan = prepare(SWEEP_FILE)
    per_scenario = len(plan.points) * len(plan.seeds)
    tasks = [t for i, t in enumerate(plan.tasks()) if i % per_scenario < seeds]
    wall1, inside1 = _timed(tasks, "local", 1)
    wall2, _ = _timed(tasks, "local", 2)
    rate1, rate2 = len(tasks) / wall1, len(tasks) / wall2
    print(f"  sweep: {len(tasks)} runs of {SWEEP_FILE.name} ({seeds} seeds of each scenario): "
          f"1 worker {wall1:.1f} s ({60 * rate1:.1f} runs/min, {inside1 / len(tasks):.2f} s a "
          f"run), 2 workers {wall2:.1f} s ({60 * rate2:.1f} runs/min): {rate2 / rate1:.2f}x "
          f"(target >= {MIN_SPEEDUP}x; the 'vs Python' column is the ratio to 1 worker)")
    return Row("sweep: runs/s, 2 local workers vs 1", len(tasks), rate2, rate1, float("nan"),
               min_vs_python=MIN_SPEEDUP)


def dask_overhead_row(runs: int) -> Row:
    """Per-run overhead of the Dask backend (and of the local pool, for comparison)."""
    from sim.sweep.driver import prepare

    overhead = {}
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-") as tmp:
        tasks = list(prepare(_tiny_sweep(Path(tmp), runs)).tasks())
        for backend in ("local", "dask"):
            wall, inside = _timed(tasks, backend, 2)
            overhead[backend] = (wall * 2 - inside) / len(tasks)
    print(f"  sweep: overhead per run beyond the run itself, 2 workers, {len(tasks)} tiny runs: "
          f"dask {1e3 * overhead['dask']:.1f} ms, local pool {1e3 * overhead['local']:.1f} ms "
          f"(target dask < {1e3 * MAX_DASK_OVERHEAD_S:.0f} ms; the journal's fsync and the run "
          f"key are in both)")
    per_s = 1.0 / overhead["dask"] if overhead["dask"] > 0 else math.inf
    return Row("sweep: dask, runs/s of overhead alone", len(tasks), per_s, float("nan"),
               float("nan"), target_items_per_s=1.0 / MAX_DASK_OVERHEAD_S)


_MEMORY_SCRIPT = """
import json, resource, sys
from sim.executor import make_executor
from sim.sweep.driver import run_sweep
with make_executor("local", 2) as pool:
    result = run_sweep(sys.argv[1], pool, out=sys.argv[2], max_in_flight=8)
print(json.dumps({"runs": len(result.runs), "computed": result.execution.counts.computed,
                  "wall_s": result.execution.wall_time_s,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def parent_memory_row(runs: int) -> Row:
    """Peak RSS of a fresh parent process over a sweep of ``runs`` tiny runs."""
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-") as tmp:
        path = _tiny_sweep(Path(tmp), runs)
        done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(path), tmp],
                              capture_output=True, text=True, cwd=root, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench sweep: the memory sweep failed: {done.stderr.strip()[-500:]}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    verdict = "PASS" if got["peak_mb"] < MAX_PARENT_MB else "MISS"
    print(f"  sweep: parent's peak RSS over {got['runs']:,} tiny runs ({got['computed']:,} "
          f"computed in {got['wall_s']:.0f} s, charts included): {got['peak_mb']:.0f} MB "
          f"(target < {MAX_PARENT_MB:.0f} MB): {verdict}")
    return Row(f"sweep: {got['runs']:,} tiny runs, 2 workers (runs/s)", got["runs"],
               got["runs"] / got["wall_s"], float("nan"), float("nan"))
