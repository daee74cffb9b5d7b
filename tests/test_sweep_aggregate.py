"""Aggregation over seeds (design 11), the report's answer, charts, and Sobol indices checked on
the Ishigami function through the same point-mean code a sweep uses."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from SALib.test_functions import Ishigami
from scipy import stats as sps

from sim.cli import main
from sim.sweep.aggregate import aggregate, estimate, point_means
from sim.sweep.charts import draw_sweep_charts
from sim.sweep.driver import run_sweep
from sim.sweep.plan import Task
from sim.sweep.report import threshold_answer
from sim.sweep.sensitivity import sobol_indices
from sim.sweep.spec import load_sweep, points
from tests.sweeps import write_sweep


def test_share_carries_the_wilson_interval_of_scipy():
    flags = pd.Series([True] * 3 + [False] * 57)
    est = estimate(flags, "share")
    ci = sps.binomtest(3, 60).proportion_ci(confidence_level=0.95, method="wilson")
    assert est.value == pytest.approx(0.05) and est.n == 60
    assert (est.low, est.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert est.low > 0.0                 # 3 of 60 is told apart from 0 (design: ~60 seeds)
    assert "Wilson" in est.estimator and "60 seeds" in est.estimator


def test_mean_interval_agrees_with_students_t_on_a_large_normal_sample():
    x = pd.Series(np.random.default_rng(4).normal(10.0, 2.0, 400))
    est = estimate(x, "mean")
    t_low, t_high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    boot = sps.bootstrap((x.to_numpy(),), np.mean, method="percentile",
                         rng=np.random.default_rng(9)).confidence_interval
    assert est.low == pytest.approx(boot.low, abs=0.03) and est.high == pytest.approx(boot.high, abs=0.03)
    assert est.value == pytest.approx(x.mean())
    assert est.std == pytest.approx(x.std(ddof=1))
    assert est.low == pytest.approx(t_low, abs=0.05) and est.high == pytest.approx(t_high, abs=0.05)


def test_var95_is_the_95th_percentile_with_scipys_bootstrap_interval():
    bad_debt = pd.Series(np.r_[np.zeros(50), np.linspace(1e3, 1e5, 10)])
    est = estimate(bad_debt, "var95")
    assert est.value == pytest.approx(np.percentile(bad_debt, 95))
    ci = sps.bootstrap((bad_debt.to_numpy(),), lambda x, axis: np.percentile(x, 95, axis=axis),
                       method="percentile", n_resamples=4000,
                       rng=np.random.default_rng(9)).confidence_interval
    assert est.low == pytest.approx(ci.low, rel=0.15) and est.high == pytest.approx(ci.high, rel=0.05)
    assert est.low <= est.value <= est.high
    assert "95th percentile over 60 seeds" in est.estimator


def test_day_of_depletion_is_the_median_over_the_seeds_that_depleted():
    days = pd.Series([None, 10.0, None, 12.0, 20.0], dtype=object)
    est = estimate(days, "median_present")
    assert est.value == 12.0 and est.n == 3 and "3 of 5 seeds" in est.estimator


def test_one_seed_has_no_interval_and_equal_values_a_point_interval():
    one = estimate(pd.Series([5.0]), "mean")
    assert one.value == 5.0 and math.isnan(one.low) and math.isnan(one.high)
    same = estimate(pd.Series([2.0, 2.0, 2.0]), "mean")
    assert (same.low, same.high) == (2.0, 2.0)


def _runs(values: dict[float, list[bool]], failed_at: float | None = None) -> pd.DataFrame:
    rows = []
    for point, (size, flags) in enumerate(values.items()):
        for r, flag in enumerate(flags):
            status = "failed" if size == failed_at and r == 0 else "ok"
            rows.append({"scenario": "s", "point": point, "insurance.initial": size,
                         "replicate": r, "status": status, "lp_bad_debt_loss": flag,
                         "bad_debt_usd": 1000.0 * flag})
    return pd.DataFrame(rows)


def test_aggregate_is_per_point_and_leaves_failed_runs_out():
    runs = _runs({0.0: [True] * 10 + [False] * 10, 0.02: [True] + [False] * 19}, failed_at=0.02)
    agg = aggregate(runs, ["insurance.initial"]).set_index(["point", "metric"])
    p0, p1 = agg.loc[(0, "p_lp_bad_debt_loss")], agg.loc[(1, "p_lp_bad_debt_loss")]
    assert p0["value"] == 0.5 and p0["n"] == 20 and p0["n_failed"] == 0
    assert p1["value"] == 0.0 and p1["n"] == 19 and p1["n_failed"] == 1   # its True run failed
    assert set(agg.index.get_level_values("metric")) == {"p_lp_bad_debt_loss", "var95_bad_debt_usd"}


def test_report_names_the_smallest_size_below_the_threshold_in_words(tmp_path):
    runs = _runs({0.0: [True] * 12 + [False] * 48, 0.01: [True] * 2 + [False] * 58,
                  0.02: [False] * 60})
    agg = aggregate(runs, ["insurance.initial"])
    spec = load_sweep(write_sweep(tmp_path, grid={"insurance.initial": [0.0, 0.01, 0.02]},
                                  threshold={"metric": "p_lp_bad_debt_loss", "below": 0.05}))
    text = "\n".join(threshold_answer(spec, agg))
    assert "**s**: insurance.initial = 0.01: 2 of 60 seeds (3.3%), 95% interval 0.9% to 11.4%" \
        in text
    assert "Just below, at 0: 12 of 60 seeds (20%)" in text
    assert "cannot rule out" in text


def test_charts_one_parameter_lines_two_parameters_heatmaps(tmp_path):
    runs = _runs({0.0: [True, False, True], 0.01: [False, False, True]})
    spec = load_sweep(write_sweep(tmp_path, grid={"insurance.initial": [0.0, 0.01]},
                                  threshold={"metric": "p_lp_bad_debt_loss", "below": 0.05}))
    agg = aggregate(runs, ["insurance.initial"])
    var = agg["metric"] == "var95_bad_debt_usd"
    agg.loc[var, "low"] = agg.loc[var, "value"] + 1.0    # an interval beside its estimate
    written = draw_sweep_charts(agg, spec, tmp_path / "c")
    assert {p.name for p in written} == {"p_lp_bad_debt_loss.png", "var95_bad_debt_usd.png",
                                        "headlines.png"}
    runs2 = runs.assign(**{"pool.initial_usd": 1e5})
    runs2 = pd.concat([runs2, runs2.assign(**{"pool.initial_usd": 2e5},
                                           point=runs2["point"] + 2)])
    spec2 = load_sweep(write_sweep(tmp_path, grid={"insurance.initial": [0.0, 0.01],
                                                   "pool.initial_usd": [1e5, 2e5]}))
    written = draw_sweep_charts(aggregate(runs2, spec2.varied), spec2, tmp_path / "h")
    assert {p.name for p in written} == {"p_lp_bad_debt_loss.png", "var95_bad_debt_usd.png"}
    assert all(p.stat().st_size > 10_000 for p in written)


def test_sobol_indices_of_ishigami_through_the_sweeps_point_means(tmp_path):
    spec = load_sweep(write_sweep(tmp_path, grid=None, seeds=2, sample={
        "method": "saltelli", "n": 1024,
        "ranges": {"x1": [-math.pi, math.pi], "x2": [-math.pi, math.pi],
                   "x3": [-math.pi, math.pi]}}))
    x = np.array([[p["x1"], p["x2"], p["x3"]] for p in points(spec)])
    y = Ishigami.evaluate(x)
    # two seeds per point whose noise cancels in the mean over seeds
    noise = np.random.default_rng(0).normal(0.0, 1.0, len(y))
    runs = pd.DataFrame({"point": np.repeat(np.arange(len(y)), 2), "status": "ok",
                         "y": np.column_stack([y + noise, y - noise]).ravel()})
    indices = sobol_indices(spec.sample, point_means(runs, "y").to_numpy(), seed=1)
    assert indices["S1"].to_numpy() == pytest.approx([0.31, 0.44, 0.0], abs=0.05)
    assert indices["ST"].to_numpy() == pytest.approx([0.56, 0.44, 0.24], abs=0.05)
    assert (indices["S1_conf"] < 0.1).all()


def linear_run(task: Task, out: str) -> dict:
    """y = 10 x insurance + pool / 1e7 (insurance explains almost all of its variance)."""
    y = 10 * task.params["insurance.initial"] + task.params["pool.initial_usd"] / 1e7
    return {"key": task.key, "status": "ok", "reused": False, "wall_time_s": 0.0,
            "row": {"y": y + (0.01 if task.replicate else -0.01)}}


def test_sensitivity_command_reads_a_saltelli_sweeps_folder(tmp_path, capsys):
    path = write_sweep(tmp_path, grid=None, seeds=1, sample={
        "method": "saltelli", "n": 32, "ranges": {"insurance.initial": [0.0, 0.1],
                                                 "pool.initial_usd": [1e5, 3e5]}})
    with ThreadPoolExecutor(2) as pool:
        result = run_sweep(path, pool, out=tmp_path / "out", run_fn=linear_run)
    assert not list((result.folder / "charts").glob("*.png"))       # a sample draws no lines
    assert main(["sensitivity", str(result.folder), "--metric", "y"]) == 0
    out = capsys.readouterr().out
    assert "tiny: Sobol indices of y" in out and "insurance.initial" in out
    s1 = float(out.split("insurance.initial")[1].split()[0])
    assert s1 > 0.9
    assert (result.folder / "charts" / "sensitivity_y.png").stat().st_size > 10_000
    assert main(["sensitivity", str(result.folder), "--metric", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
