"""`flywheel run` on a user's mistake: one line naming file and field, exit 2, no result files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main

GOOD = "name: t\nclock: {days: 2, burn_in_days: 0.5}\nagents: {traders: 10, liquidity_providers: 4}\n"

BAD = {
    "malformed": ("name: t\nclock: {days: 2\n", "line"),
    "unknown key": (GOOD + "colour: red\n", "colour"),
    "wrong type": ("name: t\nclock: {days: two}\n", "clock.days"),
    "negative size": ("name: t\npool: {initial_usd: -5}\n", "pool.initial_usd"),
    "nan price": ("name: t\nassets: {BTC: {kind: crypto, price: .nan, sigma: 0.5}}\n", "assets.BTC.price"),
    "not positive definite": (
        "name: t\ncorrelations: {BTC/ETH: 0.99, BTC/TSLA: 0.99, ETH/TSLA: -0.99}\n", "correlations"),
}


def _run(tmp_path: Path, text: str, capsys) -> tuple[int, str]:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    out = tmp_path / "results"
    code = main(["run", str(path), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_scenario_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case):
    text, field = BAD[case]
    code, err = _run(tmp_path, text, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "scenario.yaml" in lines[0] and field in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*"))


def _price_csv(path: Path, columns: list[str]) -> None:
    times = pd.date_range("2025-07-07", periods=60, freq="h", tz="UTC")
    rng = np.random.default_rng(0)
    data = {"time": times.strftime("%Y-%m-%dT%H:%M:%SZ")}
    for c in columns:
        data[c] = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, len(times))))
    pd.DataFrame(data).to_csv(path, index=False)


def test_price_file_with_a_missing_column_exits_2_and_writes_nothing(tmp_path, capsys):
    _price_csv(tmp_path / "prices.csv", ["BTC", "ETH", "TSLA"])        # NVDA missing
    code, err = _run(tmp_path, GOOD + "price_file: {path: prices.csv}\n", capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "prices.csv" in err and "NVDA" in err
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*"))


def test_replayed_prices_drive_the_run(tmp_path, capsys):
    _price_csv(tmp_path / "prices.csv", ["BTC", "ETH", "TSLA", "NVDA"])
    code, _ = _run(tmp_path, GOOD + "price_file: {path: prices.csv}\n", capsys)
    assert code == 0
    ts = pd.read_parquet(next((tmp_path / "results").rglob("timeseries.parquet")))
    prices = pd.read_csv(tmp_path / "prices.csv")
    # BTC trades around the clock: after step t the price is the file's row t + 1.
    np.testing.assert_allclose(ts["price[BTC]"].to_numpy(), prices["BTC"].to_numpy()[1:len(ts) + 1], rtol=1e-12)


@pytest.mark.parametrize("argv, field", [
    (["bench", "--only", "nope"], "--only"),
    (["bench", "--only", "model", "--model-days", "-1"], "--model-days"),
    (["bench", "--only", "model", "--model-days", "nan"], "--model-days"),
])
def test_bench_bad_arguments_exit_2_with_one_line_before_any_output(argv, field, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and field in err
