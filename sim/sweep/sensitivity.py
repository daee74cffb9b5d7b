"""``flywheel sensitivity``: first-order and total Sobol indices of a ``sample: saltelli`` sweep.

The model output at each sample point is the mean over its seeds of one runs.parquet column
(``sim.sweep.aggregate.point_means``; a headline's name stands for its column, so a share's
output is the share of seeds), per scenario; SALib's ``sobol.analyze`` turns Saltelli's design
into S1 and ST with 95% bootstrap confidence half-widths (Saltelli 2002; Saltelli et al. 2010).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim import results_io as rio
from sim.charts import save_figure
from sim.errors import UserInputError
from sim.sweep.aggregate import HEADLINE_BY_NAME, point_means
from sim.sweep.spec import Sample, salib_problem

CONFIDENCE = 0.95


def metric_column(metric: str, runs: pd.DataFrame, where: str) -> str:
    """The runs.parquet column a metric name stands for (a headline's, or a column itself)."""
    column = HEADLINE_BY_NAME[metric].column if metric in HEADLINE_BY_NAME else metric
    if column not in runs.columns:
        known = ", ".join(HEADLINE_BY_NAME)
        raise UserInputError(f"{where}: --metric: no column {column!r} in runs.parquet "
                             f"(headlines: {known}; or any numeric column)")
    if not (pd.api.types.is_numeric_dtype(runs[column]) or pd.api.types.is_bool_dtype(runs[column])
            or runs[column].dropna().map(lambda v: isinstance(v, bool | int | float)).all()):
        raise UserInputError(f"{where}: --metric: {column!r} is not numeric")
    return column


def sobol_indices(sample: Sample, outputs: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """S1 and ST (with 95% confidence half-widths) of each parameter, from Saltelli's design."""
    from SALib.analyze import sobol

    res = sobol.analyze(salib_problem(sample), np.asarray(outputs, dtype=float),
                        calc_second_order=sample.second_order, conf_level=CONFIDENCE,
                        seed=seed, print_to_console=False)
    return pd.DataFrame({"parameter": list(sample.ranges), "S1": res["S1"],
                         "S1_conf": res["S1_conf"], "ST": res["ST"], "ST_conf": res["ST_conf"]})


def expected_points(sample: Sample) -> int:
    """Rows of Saltelli's design: N (D + 2), or N (2D + 2) with second order."""
    d = len(sample.ranges)
    return sample.n * (2 * d + 2 if sample.second_order else d + 2)


def sensitivity(folder: str | Path, metric: str) -> dict[str, pd.DataFrame]:
    """Sobol indices of ``metric`` per scenario of the sweep stored in ``folder``."""
    from sim.sweep.driver import MANIFEST, RUNS

    folder = Path(folder)
    manifest = rio.read_json(folder / MANIFEST)
    spec = manifest.get("sample")
    if not spec or spec.get("method") != "saltelli":
        raise UserInputError(f"{folder}: not a 'sample: {{method: saltelli}}' sweep; Sobol "
                             "indices need Saltelli's design")
    sample = Sample.model_validate(spec)
    runs = rio.read_parquet(folder / RUNS)
    column = metric_column(metric, runs, str(folder))
    out = {}
    for scenario, group in runs.groupby("scenario", sort=False):
        means = point_means(group, column)
        missing = sorted(set(range(expected_points(sample))) - set(means.dropna().index))
        if missing:
            raise UserInputError(f"{folder}: {scenario}: {len(missing)} sample points have no "
                                 f"finished run with a value of {column} (first: point "
                                 f"{missing[0]}); run the sweep again")
        out[str(scenario)] = sobol_indices(sample, means.to_numpy(), seed=int(manifest.get("root_seed", 0)))
    return out


def format_indices(indices: dict[str, pd.DataFrame], metric: str) -> str:
    """A plain table per scenario: S1 and ST with their 95% intervals."""
    lines = []
    for scenario, frame in indices.items():
        lines += [f"{scenario}: Sobol indices of {metric} (mean over seeds per point; "
                  "95% bootstrap intervals)",
                  f"  {'parameter':<34} {'S1':>7} {'S1 95% interval':>19} {'ST':>7} "
                  f"{'ST 95% interval':>19}"]
        for r in frame.itertuples():
            lines.append(f"  {r.parameter:<34} {r.S1:7.3f} [{r.S1 - r.S1_conf:7.3f},"
                         f"{r.S1 + r.S1_conf:7.3f}] {r.ST:7.3f} [{r.ST - r.ST_conf:7.3f},"
                         f"{r.ST + r.ST_conf:7.3f}]")
    return "\n".join(lines)


def bar_figure(indices: dict[str, pd.DataFrame], metric: str, title: str) -> Figure:
    """S1 and ST per parameter with error bars, a panel per scenario."""
    fig = Figure(figsize=(max(7.0, 5.5 * len(indices)), 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(indices), squeeze=False).ravel()
    for ax, (scenario, frame) in zip(axes, indices.items()):
        x = np.arange(len(frame))
        ax.bar(x - 0.2, frame["S1"], 0.4, yerr=frame["S1_conf"], capsize=3, label="first order S1")
        ax.bar(x + 0.2, frame["ST"], 0.4, yerr=frame["ST_conf"], capsize=3, label="total ST")
        ax.set_xticks(x, frame["parameter"], rotation=20, ha="right")
        ax.set_ylabel("Sobol index (share of variance)")
        ax.set_title(scenario, fontsize=11, loc="left")
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=9)
    fig.suptitle(f"{title}: Sobol indices of {metric}\n(mean over seeds per point; bars: 95% "
                 "bootstrap intervals, SALib)", fontsize=12)
    return fig


def draw_bar_chart(indices: dict[str, pd.DataFrame], metric: str, title: str, path: Path) -> Path:
    fig = bar_figure(indices, metric, title)
    return save_figure(fig, path, 100)
