"""``flywheel bench``: time each kernel module against its Python twin and NumPy (design 16).

Each ``sim/bench/<module>.py`` exposes ``run(n) -> list[Row]``; this prints one table row per
figure. A row passes when it meets the design's throughput target (if it has one), is >= 100x
the pure-Python twin (a kernel; the whole model against the reference engine has its own floor,
``Row.min_vs_python``) and >= 1.5x the NumPy vectorization (where those were timed).
"""

from __future__ import annotations

import importlib
import math
import time

from sim.bench.common import Row

KERNEL_MODULES = ("pricing", "amm", "pool", "liquidation", "trade_book")
DEFAULT_MODULES = KERNEL_MODULES + ("preflight",)   # preflight: refusing 1e9 agents (ms)
ALL_MODULES = DEFAULT_MODULES + ("model", "sweep")
MIN_VS_PYTHON = Row.min_vs_python   # a kernel's floor (design 16)
MIN_VS_NUMPY = 1.5

_HEADER = (f"{'figure':<44} {'items':>9} {'items/s':>10} {'vs Python':>10} {'vs NumPy':>9} "
           f"{'target/s':>9}  result")


def verdict(row: Row) -> str:
    """PASS or MISS against the design's target and ratios; a figure not timed is not judged
    ("-" when nothing is, e.g. a single scalar call, which Python's call overhead dominates).
    Each row carries the least ratio to its twin that passes (``Row.min_vs_python``: 100x for a
    kernel, less for the whole model against the reference engine)."""
    checks = [
        (row.target_items_per_s, row.items_per_s),
        (row.min_vs_python, row.vs_python if row.python_items_per_s > 0 else math.nan),
        (MIN_VS_NUMPY, row.vs_numpy if row.numpy_items_per_s > 0 else math.nan),
    ]
    judged = [(need, got) for need, got in checks if not math.isnan(need) and not math.isnan(got)]
    if not judged:
        return "-"
    return "PASS" if all(got >= need for need, got in judged) else "MISS"


def _si(x: float) -> str:
    if math.isnan(x):
        return "-"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.1f}{suffix}"
    return f"{x:.3g}"


def _ratio(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.1f}x"


def format_row(row: Row) -> str:
    vs_py = row.vs_python if row.python_items_per_s > 0 else math.nan
    vs_np = row.vs_numpy if row.numpy_items_per_s > 0 else math.nan
    return (f"{row.name:<44} {_si(row.items):>9} {_si(row.items_per_s):>10} {_ratio(vs_py):>10} "
            f"{_ratio(vs_np):>9} {_si(row.target_items_per_s):>9}  {verdict(row)}")


def print_benchmarks(names: list[str], n: int, model_days: float | None = None) -> int:
    """Print the benchmark table of the modules ``names``; n items per kernel call; the model
    run lasts ``model_days`` (None: its default)."""
    print(f"flywheel bench: n = {n:,} items per call, one core; twins timed on <= 10^4 items")
    print(_HEADER)
    passed = judged = 0
    t_start = time.perf_counter()
    for name in names:
        try:
            module = importlib.import_module(f"sim.bench.{name}")
        except ImportError as exc:
            missing = getattr(exc, "name", None)
            own = missing == f"sim.bench.{name}"
            what = f"sim/bench/{name}.py is not there yet" if own else str(exc)
            print(f"{name}: skipped ({what})", flush=True)
            continue
        t0 = time.perf_counter()
        rows = module.run(n, days=model_days) if name == "model" else module.run(n)
        for row in rows:
            print(format_row(row), flush=True)
            judged += verdict(row) != "-"
            passed += verdict(row) == "PASS"
        print(f"{'':<44} ({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    print(f"{passed} of {judged} judged figures PASS in {time.perf_counter() - t_start:.1f} s "
          f"(targets: design section 16; >= {MIN_VS_PYTHON:.0f}x Python, >= {MIN_VS_NUMPY}x NumPy)")
    return 0
