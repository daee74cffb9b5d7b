"""Flywheel diagnostics (sim.flywheel_stats): lagged correlations and the arrivals' elasticity
to depth, on series whose answer is known, against scipy, and in a real run's summary."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy import stats as sps

from sim import flywheel_stats as fs
from sim import run as run_mod
from sim.results_io import read_parquet
from tests.tiny import tiny

STEPS_PER_DAY = 24


def step_frame(activity, depth, users, arrivals, burn_in_steps=12, extra_steps=5,
               margin_depth=None) -> pd.DataFrame:
    """An hourly per-step frame whose whole days after the burn-in have the given daily
    activity and arrivals (sums) and depth, users and margin depth (means); ``extra_steps``
    hours of a last, incomplete day follow."""
    days = len(activity)
    n = burn_in_steps + days * STEPS_PER_DAY + extra_steps
    day = np.r_[np.full(burn_in_steps, -1), np.repeat(np.arange(days), STEPS_PER_DAY),
                np.full(extra_steps, days)]

    def per_day(values, spread):
        v = np.r_[values, values[-1]] if days else np.zeros(1)
        out = np.where(day >= 0, v[np.clip(day, 0, None)], v[0])
        return out / STEPS_PER_DAY if spread else out

    first_hour = np.r_[False, day[1:] != day[:-1]] & (day >= 0)
    arrivals_steps = np.where(first_hour, np.r_[arrivals, 0][np.clip(day, 0, None)], 0)
    margin = per_day(depth if margin_depth is None else margin_depth, False)
    return pd.DataFrame({
        "step": np.arange(n),
        "time": pd.Timestamp("2025-07-07", tz="UTC") + pd.to_timedelta(np.arange(n), unit="h"),
        "burn_in": np.arange(n) < burn_in_steps,
        "option_volume_usd": 0.75 * per_day(activity, True),
        "perp_volume_usd": 0.25 * per_day(activity, True),
        "pool_capacity_usd[A.M]": 0.4 * per_day(depth, False),
        "pool_capacity_usd[B.M]": 0.6 * per_day(depth, False),
        "depth_2pct_usd[A.M]": margin,
        "active_traders": per_day(users, False) - 3.0,
        "active_lps": np.full(n, 3.0),
        "arrivals": arrivals_steps,
    })


def log_walk(rng, days, sigma=0.2, start=1e6):
    return start * np.exp(np.cumsum(rng.normal(0.0, sigma, days)))


# ------------------------------------------------------------------ daily series


def test_daily_series_sums_flows_and_averages_levels_over_whole_days_after_the_burn_in():
    activity, depth = np.array([10.0, 20.0, 30.0]), np.array([100.0, 200.0, 300.0])
    users, arrivals = np.array([5.0, 6.0, 7.0]), np.array([1, 0, 4])
    frame = step_frame(activity, depth, users, arrivals, margin_depth=depth / 10)
    daily = fs.daily_series(frame)
    assert len(daily) == 3                      # the 5 hours of a fourth day are dropped
    np.testing.assert_allclose(daily["activity"], activity)
    np.testing.assert_allclose(daily["depth"], depth)          # summed over both markets
    np.testing.assert_allclose(daily["margin_depth"], depth / 10)
    np.testing.assert_allclose(daily["users"], users)
    np.testing.assert_allclose(daily["arrivals"], arrivals)
    assert fs.daily_series(frame, margin_tokens=[])["margin_depth"].isna().all()


def test_a_venue_without_margin_tokens_has_no_margin_depth_correlations():
    rng = np.random.default_rng(2)
    frame = step_frame(log_walk(rng, 30), log_walk(rng, 30), np.arange(30.0) + 10,
                       rng.poisson(3, 30))
    d = fs.diagnostics(frame, margin_tokens=[])
    assert d["changes"]["margin_depth"] == "no data"
    for pair in ("activity->margin_depth", "margin_depth->users"):
        assert all(v is None for v in d["xcorr"][pair])
    assert d["xcorr"]["activity->depth"][0] is not None


def test_daily_series_of_a_real_run_agrees_with_pandas_resampling():
    result = run_mod.run(tiny({"clock.days": 5}), seed=2)
    frame = result.timeseries
    post = frame[~frame["burn_in"]].set_index("time")
    expected = post.resample("24h", origin=post.index[0]).agg(
        {"option_volume_usd": "sum", "perp_volume_usd": "sum", "arrivals": "sum",
         "pool_capacity_usd[TSLA.M]": "mean", "pool_capacity_usd[NVDA.M]": "mean",
         "active_traders": "mean", "active_lps": "mean"}).iloc[:4]   # 4.5 days: 4 whole
    daily = fs.daily_series(frame)
    assert len(daily) == 4
    np.testing.assert_allclose(daily["activity"],
                               expected["option_volume_usd"] + expected["perp_volume_usd"])
    np.testing.assert_allclose(daily["arrivals"], expected["arrivals"])
    np.testing.assert_allclose(daily["depth"], expected["pool_capacity_usd[TSLA.M]"]
                               + expected["pool_capacity_usd[NVDA.M]"])
    np.testing.assert_allclose(daily["users"], expected["active_traders"] + expected["active_lps"])


# ------------------------------------------------------------------ cross-correlations


def test_lagged_xcorr_is_pearsons_r_of_the_overlapping_pairs():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=40), rng.normal(size=40)
    got = fs.lagged_xcorr(x, y, max_lag=10)
    for lag in range(11):
        assert got[lag] == pytest.approx(sps.pearsonr(x[:40 - lag], y[lag:]).statistic, abs=1e-12)


def test_correlations_of_independent_white_noise_leave_the_noise_band_5_percent_of_the_time():
    rng = np.random.default_rng(9)
    band = np.array(fs.noise_band(89), dtype=float)
    outside = [np.abs(fs.lagged_xcorr(rng.normal(size=89), rng.normal(size=89))) > band
               for _ in range(400)]
    assert 0.035 <= np.mean(outside) <= 0.065
    assert fs.noise_band(8)[:4] == pytest.approx(1.96 / np.sqrt([8, 7, 6, 5]))
    assert fs.noise_band(8)[4:] == [None] * 11


def test_the_peak_lag_is_how_many_days_depth_follows_activity_and_users_follow_depth():
    rng = np.random.default_rng(11)
    days = 90
    activity = log_walk(rng, days + 10)
    depth = np.r_[np.full(3, 1e6), activity[:-3]] * np.exp(rng.normal(0, 0.05, days + 10))
    users = 100 * np.r_[np.full(2, 1.0), depth[:-2] / 1e6] * np.exp(rng.normal(0, 0.05, days + 10))
    frame = step_frame(activity[10:], depth[10:], users[10:], rng.poisson(5, days))
    d = fs.diagnostics(frame)
    assert d["days"] == days and d["lags_days"] == list(range(15))
    assert d["peak_lag_days"]["activity->depth"] == 3
    assert d["peak_lag_days"]["depth->users"] == 2
    assert d["peak_lag_days"]["activity->users"] == 5
    assert d["peak_corr"]["activity->depth"] > 0.9
    assert all(abs(c) < 0.4 for c in d["xcorr"]["depth->activity"][1:])   # no lead the other way
    assert d["changes"]["activity"] == "log difference"


def test_constant_or_short_series_give_none_not_an_exception():
    flat = step_frame(np.full(30, 5.0), np.full(30, 1e6), np.full(30, 40.0), np.full(30, 2))
    d = fs.diagnostics(flat)
    assert d["days"] == 30
    assert all(v is None for series in d["xcorr"].values() for v in series)
    assert all(v is None for v in d["peak_lag_days"].values())
    assert d["arrival_depth_elasticity"] is None                  # no variation in depth
    rng = np.random.default_rng(0)
    short = step_frame(log_walk(rng, 4), log_walk(rng, 4), np.arange(4.0) + 1, np.ones(4))
    d = fs.diagnostics(short)
    assert d["days"] == 4 and d["arrival_depth_elasticity"] is None
    assert all(v is None for series in d["xcorr"].values() for v in series)
    six = step_frame(log_walk(rng, 6), log_walk(rng, 6), np.arange(6.0) + 1, np.ones(6))
    undefined = [v is None for v in fs.diagnostics(six)["xcorr"]["activity->depth"]]
    assert undefined == [False] + [True] * 14                       # 5 changes: lag 0 only
    none = np.zeros(0)
    only_burn_in = step_frame(none, none, none, none.astype(int), extra_steps=0)
    for frame in (only_burn_in, only_burn_in.iloc[:0], only_burn_in.iloc[:1]):
        d = fs.diagnostics(frame)
        assert d["days"] == 0 and d["arrival_depth_elasticity"] is None
    json.dumps(d, allow_nan=False)


def test_days_without_activity_use_plain_differences():
    rng = np.random.default_rng(4)
    activity = log_walk(rng, 20)
    activity[5] = 0.0
    d = fs.diagnostics(step_frame(activity, log_walk(rng, 20), np.full(20, 9.0), np.ones(20)))
    assert d["changes"]["activity"] == "difference" and d["changes"]["depth"] == "log difference"
    assert d["xcorr"]["activity->depth"][0] is not None
    assert d["xcorr"]["users->activity"][0] is None                  # users constant


# ------------------------------------------------------------------ elasticity


def test_poisson_fit_is_the_maximum_of_the_likelihood_scipy_finds():
    rng = np.random.default_rng(8)
    x = rng.normal(0.0, 0.5, 50)
    y = rng.poisson(np.exp(1.0 + 0.4 * x))

    def nll(b):
        eta = b[0] + b[1] * x
        return -(y @ eta - np.exp(eta).sum())

    best = optimize.minimize(nll, [0.0, 0.0], method="BFGS", options={"gtol": 1e-10})
    slope, _ = fs.poisson_elasticity(y, x)
    assert slope == pytest.approx(best.x[1], abs=1e-6)


def test_elasticity_of_arrivals_drawn_with_mean_c_depth_to_0_7_is_found_within_3_std_errors():
    rng = np.random.default_rng(21)
    days = 90
    depth = log_walk(rng, days, sigma=0.1, start=2e6)
    arrivals = rng.poisson(4.0 * (depth / 2e6) ** 0.7)
    d = fs.diagnostics(step_frame(log_walk(rng, days), depth, np.full(days, 50.0), arrivals))
    e = d["arrival_depth_elasticity"]
    assert e["days"] == days and "Poisson" in e["estimator"]
    assert 0.0 < e["std_error"] < 0.5
    assert abs(e["estimate"] - 0.7) < 3 * e["std_error"]


def test_the_std_error_covers_the_true_elasticity_about_95_percent_of_the_time():
    rng = np.random.default_rng(5)
    hits, reps = 0, 300
    for _ in range(reps):
        depth = log_walk(rng, 60, sigma=0.1, start=1.0)
        slope, se = fs.poisson_elasticity(rng.poisson(5.0 * depth ** 0.7), np.log(depth))
        hits += abs(slope - 0.7) < 1.96 * se
    assert 0.90 <= hits / reps <= 0.99


def test_no_elasticity_without_arrivals_or_with_a_maximum_at_infinity():
    x = np.arange(10.0)
    assert fs.poisson_elasticity(np.zeros(10), x) is None
    assert fs.poisson_elasticity(np.r_[np.zeros(9), 5.0], x) is None   # arrivals only at the top
    assert fs.poisson_elasticity(np.ones(4), x[:4]) is None            # too few days


# ------------------------------------------------------------------ in a run's summary


def test_a_real_runs_summary_holds_the_diagnostics_and_survives_json(tmp_path):
    result = run_mod.run(tiny({"clock.days": 10}), seed=4, out=tmp_path, charts=False)
    d = result.summary["flywheel_diagnostics"]
    assert d["days"] == 9 and d["lags_days"] == list(range(15))
    assert set(d["xcorr"]) == {f"{x}->{y}" for x, y in fs.PAIRS}
    assert all(len(v) == 15 for v in d["xcorr"].values())
    assert d["xcorr"]["activity->depth"][0] is not None        # 8 daily changes: lags 0..3
    assert all(v is None for v in d["xcorr"]["activity->depth"][4:])
    stored = json.loads((result.path / "summary.json").read_text())
    assert stored["flywheel_diagnostics"] == d
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    again = fs.diagnostics(read_parquet(result.path / "timeseries.parquet"), ["TSLA.M", "NVDA.M"])
    assert again == d                                          # a pure function of the frame
    table = run_mod.format_summary_table(result.summary)
    assert "arrivals' elasticity to pool capacity" in table
    assert "activity -> depth peak lag" in table
