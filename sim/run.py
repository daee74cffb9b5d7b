"""One scenario, one seed, end to end: build the model, step it, collect and store the results.

A run is stored in ``<out>/<scenario name>/<run key>/`` (design section 15). The run key is a
hash of everything a run reads: the resolved scenario, the seed, the content of every data file
it replays (``data_fingerprint``) and the code that shapes its numbers (``code_fingerprint``;
not the charts, the CLI or reports). So the same run is never computed twice: when that folder
already holds a complete run it is loaded instead (and any chart it lacks is drawn); a changed
price file or a code change is a new run.

Before anything is built, ``sim.preflight`` refuses a run too large for the machine and
``results_io.check_out_dir`` an output folder that cannot be written. A run is written into a
temporary folder beside its final one and renamed into place as the last step, so a final
folder is always complete, a run that fails or is interrupted leaves nothing but what it removes
itself (its own temporary folder), and two processes computing the same run both succeed (the
first to finish is kept; the data are identical).

``summary.json`` holds ``sim.metrics.summary`` as it is (one schema, ``metrics.RunSummary``),
so two computations of a run give the same bytes; what differs between computations (wall time,
versions) is the ``RunInfo`` in ``run_info.json`` beside it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import pandas as pd

from kernels import kernel_set
from sim import __version__
from sim import results_io as rio
from sim.errors import UserInputError
from sim.flywheel_stats import table_rows as flywheel_rows
from sim.preflight import Limits, check_fits, check_runs_alone
from sim.results_io import (
    CHARTS_DIR,
    EVENTS,
    RESOLVED_YAML,
    RUN_INFO,
    SUMMARY,
    TIMESERIES,
    run_title,
)
from sim.scenario.scenario import MAX_SEED

if TYPE_CHECKING:
    from sim.scenario import Scenario

log = logging.getLogger(__name__)


class RunInfo(TypedDict):
    """How a run was computed: what may differ between two computations of the same run."""

    run_key: str                # the run's identity (its folder's name)
    wall_time_s: float          # seconds to build, step and summarize the model
    versions: dict[str, str]    # package, code fingerprint, Python and library versions


@dataclass
class RunResult:
    """What one run produced; ``path`` is its results folder (None when not stored).

    ``summary`` is ``sim.metrics.summary`` of the run (a ``metrics.RunSummary`` as JSON gives it
    back); ``info`` how it was computed. ``reused`` is True when the run was loaded from a
    folder rather than computed.
    """

    timeseries: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, Any]
    info: RunInfo
    path: Path | None = None
    reused: bool = False


def resolved_yaml(scenario: Scenario) -> str:
    """Every resolved value of ``scenario`` as YAML (``sim.scenario.dump_scenario``)."""
    from sim.scenario import dump_scenario

    return dump_scenario(scenario)


def run_key(scenario: Scenario, seed: int, kernels: str = "cython") -> str:
    """Short (12 hex digits) sha256 of the resolved scenario, the seed, the kernel engine and
    the content of the data files it reads: a run's identity. The engines agree to about
    1e-9, not bit for bit, so each has its own runs."""
    return _run_key_of(resolved_yaml(scenario), seed, kernels, data_fingerprint(scenario))


def _run_key_of(yaml_text: str, seed: int, kernels: str = "cython", data: str = "") -> str:
    digest = hashlib.sha256(yaml_text.encode("utf-8"))
    digest.update(f"\n--- seed: {int(seed)}\n--- code: {code_fingerprint()}\n".encode())
    if kernels != "cython":      # the default engine keeps the keys it had before engines existed
        digest.update(f"--- kernels: {kernels}\n".encode())
    if data:                     # so does a scenario that reads no file
        digest.update(f"--- data: {data}\n".encode())
    return digest.hexdigest()[:12]


def data_fingerprint(scenario: Scenario) -> str:
    """sha256 (16 hex digits) of the content of every data file ``scenario`` reads (its price
    files), by field; "" when it reads none. A file rewritten with other prices is a new run."""
    files = {"price_file": scenario.price_file.path} if scenario.price_file is not None else {}
    files |= {f"price_files.{a}": spec.path for a, spec in sorted(scenario.price_files.items())}
    if not files:
        return ""
    digest = hashlib.sha256()
    for field, path in files.items():
        digest.update(f"{field}\0".encode())
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
        except OSError as exc:
            raise UserInputError(f"{path}: {field}.path: cannot read the file "
                                 f"({exc.strerror or exc})") from None
        digest.update(b"\0")
    return digest.hexdigest()[:16]


# The code that shapes a run's numbers: a change to any of it is a new run (not a stored one).
_CODE_DIRS = ("agents", "kernels", "sim")
# ... except what only draws, reports, checks or drives runs: editing a chart, the CLI, a report,
# the pre-flight check, a sweep or a study reuses the stored runs (each run's key covers its own
# resolved scenario and seed). Paths relative to the repository; a folder ends with "/".
_NOT_RUN_CODE = (
    "sim/__main__.py", "sim/cli.py", "sim/charts.py", "sim/compare_charts.py",
    "sim/calibration.py", "sim/preflight.py", "sim/executor.py", "sim/bench/", "sim/sweep/",
    "sim/study/", "sim/scenario/__main__.py", "sim/scenario/schema.py",
    "sim/dashboard.py", "sim/app.py", "sim/live.py", "sim/results_browser.py",   # issue 12
)


def shapes_numbers(relative_path: str) -> bool:
    """Whether the source file at ``relative_path`` (from the repository root, with "/") is part
    of the code fingerprint: a .py, .pyx or .pxd file under agents/, kernels/ or sim/ that is not
    one of ``_NOT_RUN_CODE``."""
    return (relative_path.endswith((".py", ".pyx", ".pxd"))
            and "__pycache__/" not in relative_path
            and relative_path.split("/", 1)[0] in _CODE_DIRS
            and not relative_path.startswith(_NOT_RUN_CODE))


@functools.cache
def code_fingerprint() -> str:
    """sha256 (16 hex digits) of the package version and every source file that shapes a run's
    numbers (``shapes_numbers``), so a stored run is reused only by the code that made it."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(__version__.encode())
    for folder in _CODE_DIRS:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and shapes_numbers(relative):
                digest.update(relative.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def run_dir_for(out: str | Path, scenario_name: str, key: str) -> Path:
    """``<out>/<scenario name>/<run key>``, the name made safe for a file system."""
    return Path(out) / rio.safe_name(scenario_name) / key


def is_complete(run_dir: str | Path) -> bool:
    """A folder holds a complete run when summary.json (written last) and the data are there."""
    run_dir = Path(run_dir)
    return all((run_dir / name).is_file() for name in (SUMMARY, RUN_INFO, TIMESERIES, EVENTS))


def versions() -> dict[str, str]:
    """Versions of what shapes a run's numbers, recorded in run_info.json."""
    found = {"flywheel-sim": __version__, "code": code_fingerprint(),
             "python": platform.python_version()}
    for dist in ("mesa", "numpy", "pandas", "pyarrow"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def run(
    scenario: Scenario,
    seed: int | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    charts: bool = True,
    model_factory: Callable[..., Any] | None = None,
    kernels: str = "cython",
    *,
    limits: Limits | None = None,
    source: str | None = None,
) -> RunResult:
    """Run ``scenario`` with ``seed`` (default: the scenario's) and, if ``out`` is given, store it.

    ``kernels``: the engine, "cython" or "reference" (the plain-Python twins, much slower); it
    is part of the run key and recorded in run_info.json's ``versions``.
    ``model_factory(scenario=..., rng=...)`` builds the model (default ``FlywheelModel``); it is
    also given ``kernels=`` when the engine is not the default.
    A run already stored under ``out`` is loaded, not recomputed (any chart it lacks is drawn).
    ``limits`` (default ``sim.preflight.Limits()``): a run estimated above them is refused before
    anything is built; ``source`` names the scenario in that message (its file; default its name).
    A seed, an ``out`` or a data file that cannot be used is a ``UserInputError``; a failure to
    write the results an ``OutputError``.
    """
    kernel_set(kernels)                      # a bad name fails before anything is computed
    seed = _checked_seed(scenario.seed if seed is None else seed)
    check_fits(scenario, limits, source)     # a run too large for the machine: before building
    if model_factory is None:
        check_runs_alone(scenario, source)   # a frozen impulse twin needs sim.twins
    if out is not None:
        rio.check_out_dir(out)
    yaml_text = resolved_yaml(scenario)
    key = _run_key_of(yaml_text, seed, kernels, data_fingerprint(scenario))
    title = run_title(scenario.name, seed, key)
    run_dir = run_dir_for(out, scenario.name, key) if out is not None else None

    if run_dir is not None and is_complete(run_dir):
        result = load_run(run_dir)
        message = f"{run_dir}: this run is already stored; loaded it instead of recomputing"
        log.info(message)
        if progress:
            print(message, file=sys.stderr)
        if charts:
            draw_missing_charts(result, run_dir, title)
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
    summary = rio.to_jsonable(model.summary())  # what summary.json holds: a reloaded run is equal
    info = RunInfo(run_key=key, wall_time_s=round(time.perf_counter() - started, 3),
                   versions={**versions(), "kernels": kernels})
    if run_dir is not None:
        header = f"# flywheel-sim {__version__}: run {key} used seed {seed}\n"
        _write_run(run_dir, header + yaml_text, timeseries, events, summary, info, charts, title,
                   where=f"--out {out}")
    return RunResult(timeseries, events, summary, info, run_dir)


def _checked_seed(seed: Any) -> int:
    """``seed`` as an int from 0 to ``MAX_SEED`` (what the scenario's ``seed`` field allows)."""
    try:
        if isinstance(seed, bool) or int(seed) != seed:
            raise ValueError
        value = int(seed)
    except (TypeError, ValueError, OverflowError):
        raise UserInputError(f"--seed: must be a whole number, got {seed!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise UserInputError(f"--seed: must be from 0 to 2^63 - 1, got {value}")
    return value


def _step_all(model: Any, scenario: Scenario, progress: bool) -> None:
    """Step ``model`` ``model.n_steps`` times, with a bar counting simulated days."""
    n_steps = int(model.n_steps)
    if not progress:
        for _ in range(n_steps):
            model.step()
        return
    from tqdm import tqdm

    days_per_step = scenario.dt_years * 365.25
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
    info: RunInfo,
    charts: bool,
    title: str,
    where: str = "",
) -> None:
    """Write a run into a temporary folder beside ``run_dir`` (summary.json last) and rename it
    into place. On any failure or interruption only that folder, and the parent folders this
    call made if they are empty, are removed; a failure to write (a full disk, no permission)
    becomes an ``OutputError`` naming ``where``."""
    created = _missing_folders(run_dir.parent)
    tmp = rio.temp_name(run_dir)          # named before it exists: any clean-up can remove it
    try:
        rio.remove_stale_temps(run_dir.parent)       # what killed processes left behind
        rio.make_folder(tmp)
        rio.write_text(tmp / RESOLVED_YAML, yaml_text)
        rio.write_parquet(tmp / TIMESERIES, timeseries)
        rio.write_parquet(tmp / EVENTS, events)
        if charts:
            _draw_charts_safely(timeseries, events, tmp / CHARTS_DIR, title, run_dir)
        rio.write_json(tmp / RUN_INFO, info)
        rio.write_json(tmp / SUMMARY, summary)
        rio.publish_folder(tmp, run_dir, is_complete)  # or keep the same run another finished
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:
            _rmdir_if_empty(folder)
        if isinstance(exc, OSError) and not isinstance(exc, UserInputError):
            raise rio.output_error(where or run_dir, exc) from exc
        raise


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _draw_charts_safely(timeseries, events, charts_dir: Path, title: str, run_dir: Path,
                        only=None) -> None:
    """Draw the charts (``only``: those named); a chart that fails is a warning, not a lost run
    (``flywheel charts <run_dir>`` redraws them, and so does the next run of the same key)."""
    from sim.charts import draw_run_charts

    try:
        draw_run_charts(timeseries, events, charts_dir, title=title, only=only)
    except Exception as exc:  # the data is safe; only a picture is missing
        warnings.warn(
            f"charts not drawn ({type(exc).__name__}: {exc}); "
            f"redraw them with `flywheel charts {run_dir}`",
            stacklevel=2,
        )


def draw_missing_charts(result: RunResult, run_dir: Path, title: str) -> None:
    """Draw each chart a stored run lacks (killed or out of disk while drawing), atomically; the
    charts it has and its data are left as they are."""
    from sim.charts import CHART_FILES

    charts_dir = run_dir / CHARTS_DIR
    missing = [name for name in CHART_FILES if not (charts_dir / name).is_file()]
    if missing:
        rio.remove_stale_temps(charts_dir)
        _draw_charts_safely(result.timeseries, result.events, charts_dir, title, run_dir, missing)


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
    for name in (SUMMARY, RUN_INFO):
        if not (run_dir / name).is_file():
            raise UserInputError(f"{run_dir}: not a complete run (no {name})")
    return RunResult(
        timeseries=rio.read_parquet(run_dir / TIMESERIES),
        events=rio.read_parquet(run_dir / EVENTS),
        summary=rio.read_json(run_dir / SUMMARY),
        info=RunInfo(**rio.read_json(run_dir / RUN_INFO)),
        path=run_dir,
        reused=True,
    )


# label, summary key, how to show the value, and where the value is: "run" (the run's value),
# "run+markets" (the run's, then each market's when they differ), "markets" (each market's)
SUMMARY_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("days simulated", "days_simulated", "days", "run"),
    ("steps", "steps", "count", "run"),
    ("active users at start", "active_users_start", "count", "run"),
    ("active users at end", "active_users_end", "count", "run"),
    ("option volume", "option_volume_usd", "usd", "run"),
    ("perp volume", "perp_volume_usd", "usd", "run"),
    ("LP money-weighted return in token", "lp_return_mw_token", "pct", "run+markets"),
    ("LP money-weighted return in USD", "lp_return_mw_usd", "pct", "run+markets"),
    ("LP share-price return in token", "share_price_return_token", "pct", "run+markets"),
    ("pools drained", "markets_drained", "list", "run"),
    ("traders who lost money", "traders_lost_money_share", "pct_abs", "run"),
    ("LP max drawdown", "lp_max_drawdown", "pct_abs", "run+markets"),
    ("liquidations", "liquidations", "count", "run"),
    ("liquidated", "liquidations_usd", "usd", "run"),
    ("bad debt", "bad_debt_usd", "usd", "run+markets"),
    ("ADL", "adl_usd", "usd", "run"),
    ("insurance depleted", "insurance_depleted", "bool", "run"),
    ("insurance depleted on", "insurance_depleted_day", "day", "markets"),
    ("peak premium", "peak_premium", "pct", "run"),
    ("peak discount", "peak_discount", "pct", "run"),
    ("conservation error", "conservation_max_error", "sci", "run"),
)


def _format_value(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "bool" or isinstance(value, bool):
        return "yes" if value else "no"
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
        case "list":
            return ", ".join(value) if value else "none"
    return f"{value:g}"


def summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, formatted value) of the headline values of a ``metrics.RunSummary``.

    A market's value follows the run's when the markets differ ("run+markets"); values kept
    per market only ("markets") are shown where a market has one.
    """
    rows: list[tuple[str, str]] = []
    markets: Mapping[str, Mapping[str, Any]] = summary["markets"]
    for label, key, kind, where in SUMMARY_ROWS:
        if where != "markets":
            rows.append((label, _format_value(summary[key], kind)))
        if where == "run":
            continue
        shown = {m: v[key] for m, v in markets.items()
                 if v[key] is not None and v[key] is not False}
        if where == "markets" or len(set(shown.values())) > 1:
            rows += [(f"{label} [{m}]", _format_value(v, kind)) for m, v in shown.items()]
    return rows + flywheel_rows(summary.get("flywheel_diagnostics"))


def format_summary_table(summary: Mapping[str, Any]) -> str:
    """The headline values of a run, one a line, aligned."""
    rows = summary_rows(summary)
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)
