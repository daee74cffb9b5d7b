"""One scenario, one seed, end to end: build the model, step it, collect and store the results.

A run is stored in ``<out>/<scenario name>/<run key>/`` (design section 15). The run key is a
hash of the resolved scenario, the seed and the code (``code_fingerprint``), so the same run is
never computed twice: when that folder already holds a complete run (``summary.json``, written
last, is present) it is loaded instead; after a code change the run is computed afresh. Every file is written under a temporary name and renamed, and a run that fails leaves
no file under a final name.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import platform
import re
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kernels import kernel_set
from sim import __version__
from sim import results_io as rio
from sim.errors import UserInputError

log = logging.getLogger(__name__)

from sim.results_io import CHARTS_DIR, EVENTS, RESOLVED_YAML, SUMMARY, TIMESERIES, run_title  # noqa: F401

VOLATILE_SUMMARY_KEYS = ("wall_time_s", "versions")
"""Summary keys that differ between two computations of the same run: leave them out of any
comparison of runs."""


@dataclass
class RunResult:
    """What one run produced; ``path`` is its results folder (None when not stored).

    ``reused`` is True when the run was loaded from a folder rather than computed.
    """

    timeseries: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, Any]
    path: Path | None = None
    reused: bool = False


def resolved_yaml(scenario: Any) -> str:
    """Every resolved value of ``scenario`` as YAML (``sim.scenario.dump_scenario``)."""
    from sim.scenario import dump_scenario

    return dump_scenario(scenario)


def run_key(scenario: Any, seed: int, kernels: str = "cython") -> str:
    """Short (12 hex digits) sha256 of the resolved scenario, the seed and the kernel engine: a
    run's identity. The engines agree to about 1e-9, not bit for bit, so each has its own runs."""
    return _run_key_of(resolved_yaml(scenario), seed, kernels)


def _run_key_of(yaml_text: str, seed: int, kernels: str = "cython") -> str:
    digest = hashlib.sha256(yaml_text.encode("utf-8"))
    digest.update(f"\n--- seed: {int(seed)}\n--- code: {code_fingerprint()}\n".encode())
    if kernels != "cython":      # the default engine keeps the keys it had before engines existed
        digest.update(f"--- kernels: {kernels}\n".encode())
    return digest.hexdigest()[:12]


# The code that shapes a run's numbers: a change to any of it is a new run (not a stored one).
_CODE_DIRS = ("agents", "kernels", "sim")


@functools.cache
def code_fingerprint() -> str:
    """sha256 (16 hex digits) of the package version and every .py / .pyx source under
    agents/, kernels/ and sim/, so a stored run is reused only by the code that made it."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(__version__.encode())
    for folder in _CODE_DIRS:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in (".py", ".pyx") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def run_dir_for(out: str | Path, scenario_name: str, key: str) -> Path:
    """``<out>/<scenario name>/<run key>``, the name made safe for a file system."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(scenario_name)).strip("._") or "scenario"
    return Path(out) / safe / key


def is_complete(run_dir: str | Path) -> bool:
    """A folder holds a complete run when summary.json (written last) and the data are there."""
    run_dir = Path(run_dir)
    return all((run_dir / name).is_file() for name in (SUMMARY, TIMESERIES, EVENTS))


def versions() -> dict[str, str]:
    """Versions of what shapes a run's numbers, recorded in summary.json."""
    found = {"flywheel-sim": __version__, "code": code_fingerprint(), "python": platform.python_version()}
    for dist in ("mesa", "numpy", "pandas", "pyarrow"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def run(
    scenario: Any,
    seed: int | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    charts: bool = True,
    model_factory: Callable[..., Any] | None = None,
    kernels: str = "cython",
) -> RunResult:
    """Run ``scenario`` with ``seed`` (default: the scenario's) and, if ``out`` is given, store it.

    ``kernels``: the engine, "cython" or "reference" (the plain-Python twins, much slower); it
    is part of the run key and recorded in summary.json's ``versions``.
    ``model_factory(scenario=..., rng=...)`` builds the model (default ``FlywheelModel``); it is
    also given ``kernels=`` when the engine is not the default.
    A run already stored under ``out`` is loaded, not recomputed.
    """
    kernel_set(kernels)                      # a bad name fails before anything is computed
    seed = int(scenario.seed if seed is None else seed)
    yaml_text = resolved_yaml(scenario)
    key = _run_key_of(yaml_text, seed, kernels)
    title = run_title(scenario.name, seed, key)
    run_dir = run_dir_for(out, scenario.name, key) if out is not None else None

    if run_dir is not None and is_complete(run_dir):
        result = load_run(run_dir)
        message = f"{run_dir}: this run is already stored; loaded it instead of recomputing"
        log.info(message)
        if progress:
            print(message, file=sys.stderr)
        if charts and not (run_dir / CHARTS_DIR).is_dir():
            _draw_charts_safely(result.timeseries, result.events, run_dir / CHARTS_DIR, title)
        return result

    if model_factory is None:
        from sim.model import FlywheelModel

        model_factory = FlywheelModel
    started = time.perf_counter()
    engine = {} if kernels == "cython" else {"kernels": kernels}
    model = model_factory(scenario=scenario, rng=seed, **engine)
    _step_all(model, scenario, progress)
    timeseries = model.timeseries()
    events = model.events_frame()
    summary = {
        **model.summary(),
        "scenario": scenario.name,
        "seed": seed,
        "run_key": key,
        "wall_time_s": round(time.perf_counter() - started, 3),
        "versions": {**versions(), "kernels": kernels},
    }
    summary = rio.to_jsonable(summary)  # what summary.json holds, so a reloaded run is equal
    if run_dir is not None:
        header = f"# flywheel-sim {__version__}: run {key} used seed {seed}\n"
        _write_run(run_dir, header + yaml_text, timeseries, events, summary, charts, title)
    return RunResult(timeseries, events, summary, run_dir)


def _step_all(model: Any, scenario: Any, progress: bool) -> None:
    """Step ``model`` ``model.n_steps`` times, with a bar counting simulated days."""
    n_steps = int(model.n_steps)
    if not progress:
        for _ in range(n_steps):
            model.step()
        return
    from tqdm import tqdm

    days_per_step = float(getattr(scenario, "dt_years", 1 / (365.25 * 24))) * 365.25
    bar_format = "{desc}: {percentage:3.0f}%|{bar}| day {n:.1f}/{total:.1f} [{elapsed}<{remaining}]"
    with tqdm(total=n_steps * days_per_step, desc=str(scenario.name), bar_format=bar_format,
              file=sys.stderr, mininterval=0.25) as bar:  # fmt: skip
        for i in range(n_steps):
            model.step()
            bar.update((i + 1) * days_per_step - bar.n)


def _write_run(
    run_dir: Path,
    yaml_text: str,
    timeseries: pd.DataFrame,
    events: pd.DataFrame,
    summary: Mapping[str, Any],
    charts: bool,
    title: str,
) -> None:
    """Write a run's files, summary.json last; on failure remove what this attempt wrote."""
    created = [p for p in (run_dir.parent, run_dir) if not p.exists()]
    try:
        rio.write_text(run_dir / RESOLVED_YAML, yaml_text)
        rio.write_parquet(run_dir / TIMESERIES, timeseries)
        rio.write_parquet(run_dir / EVENTS, events)
        if charts:
            _draw_charts_safely(timeseries, events, run_dir / CHARTS_DIR, title)
        rio.write_json(run_dir / SUMMARY, summary)
    except BaseException:
        _remove_run_files(run_dir)
        for folder in reversed(created):
            _rmdir_if_empty(folder)
        raise


def _draw_charts_safely(timeseries, events, charts_dir: Path, title: str) -> None:
    """Draw the charts; a chart that fails is a warning, not a lost run (redraw them later)."""
    from sim.charts import draw_run_charts

    try:
        draw_run_charts(timeseries, events, charts_dir, title=title)
    except Exception as exc:  # the data is safe; only a picture is missing
        warnings.warn(
            f"charts not drawn ({type(exc).__name__}: {exc}); "
            f"redraw them with `flywheel charts {charts_dir.parent}`",
            stacklevel=2,
        )


def _remove_run_files(run_dir: Path) -> None:
    from sim.charts import CHART_FILES

    for name in (SUMMARY, RESOLVED_YAML, TIMESERIES, EVENTS):
        (run_dir / name).unlink(missing_ok=True)
    for name in CHART_FILES:
        (run_dir / CHARTS_DIR / name).unlink(missing_ok=True)
    _rmdir_if_empty(run_dir / CHARTS_DIR)


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def load_run(run_dir: str | Path) -> RunResult:
    """Read a stored run back (UserInputError naming what is missing)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserInputError(f"{run_dir}: no such results folder")
    if not (run_dir / SUMMARY).is_file():
        raise UserInputError(f"{run_dir}: not a complete run (no {SUMMARY})")
    return RunResult(
        timeseries=rio.read_parquet(run_dir / TIMESERIES),
        events=rio.read_parquet(run_dir / EVENTS),
        summary=rio.read_json(run_dir / SUMMARY),
        path=run_dir,
        reused=True,
    )


# label, summary keys it may have (first found wins), how to show the value, and whether to
# also show it per market when the summary has it per market
SUMMARY_ROWS: tuple[tuple[str, tuple[str, ...], str, bool], ...] = (
    ("days simulated", ("days_simulated", "days"), "days", False),
    ("steps", ("steps", "n_steps"), "count", False),
    ("active users at start", ("active_users_start",), "count", False),
    ("active users at end", ("active_users_end",), "count", False),
    ("option volume", ("option_volume_usd", "volume_usd"), "usd", False),
    ("LP return in token", ("lp_return_token", "lp_return_tokens"), "pct", True),
    ("LP return in USD", ("lp_return_usd",), "pct", True),
    ("LP max drawdown", ("lp_max_drawdown", "max_drawdown"), "pct_abs", True),
    ("liquidations", ("liquidations", "n_liquidations"), "count", False),
    ("liquidated", ("liquidations_usd",), "usd", False),
    ("bad debt", ("bad_debt_usd",), "usd", True),
    ("ADL", ("adl_usd",), "usd", False),
    ("insurance depleted", ("insurance_depleted",), "bool", False),
    ("insurance depleted on", ("insurance_depleted_day",), "day", True),
    ("insurance depleted at", ("insurance_depleted_at",), "text", True),
    ("peak premium", ("peak_premium", "max_premium"), "pct", True),
    ("peak discount", ("peak_discount", "max_discount"), "pct", True),
    ("conservation error", ("conservation_error", "conservation_max_error"), "sci", False),
)


def _format_value(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "bool" or isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    match kind:
        case "days":
            return f"{value:,.1f} days"
        case "count":
            return f"{value:,.0f}"
        case "usd":
            return f"{value:,.0f} USD"
        case "pct":
            return f"{100 * value:+.2f} %"
        case "pct_abs":
            return f"{100 * value:.2f} %"
        case "day":
            return f"day {value:,.1f}"
        case "sci":
            return f"{value:.2e}"
    return f"{value:g}"


def summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, formatted value) for the headline values ``summary`` has.

    A value may be stored under its key, per market or token as ``key[TSLA.M]``, as a
    mapping ``{"TSLA.M": value}`` under its key, or under ``summary["markets"][m][key]``
    (or ``"tokens"``); per-entity values follow the overall one.
    """
    nested = {
        str(entity): values
        for group in ("markets", "tokens")
        if isinstance(summary.get(group), Mapping)
        for entity, values in summary[group].items()
        if isinstance(values, Mapping)
    }
    rows: list[tuple[str, str]] = []
    for label, keys, kind, detail in SUMMARY_ROWS:
        for key in keys:
            per_entity = {k[len(key) + 1 : -1]: v for k, v in summary.items()
                          if k.startswith(f"{key}[") and k.endswith("]")}  # fmt: skip
            per_entity |= {e: values[key] for e, values in nested.items() if key in values}
            value = summary.get(key)
            overall = key in summary and not isinstance(value, Mapping)
            if isinstance(value, Mapping):
                per_entity |= {str(k): v for k, v in value.items()}
            if overall:
                rows.append((label, _format_value(value, kind)))
            shown = {e: v for e, v in per_entity.items() if v is not None and v is not False}
            # per market: when there is no overall value, or it hides differences between markets
            if not overall or (detail and len(shown) > 1 and any(shown.values())):
                rows += [(f"{label} [{e}]", _format_value(v, kind)) for e, v in shown.items()]
            if overall or per_entity:
                break
    return rows


def format_summary_table(summary: Mapping[str, Any]) -> str:
    """The headline values of a run, one a line, aligned."""
    rows = summary_rows(summary)
    if not rows:
        return "(the summary has none of the headline values)"
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)
