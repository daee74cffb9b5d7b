"""Per-asset price files (design 13, ``price_files``): one file per asset, mixing replayed and
simulated assets; times in s, ms, ns or ISO; unsorted, repeated and irregular rows; the step
price is the last observation at or before the step's end (equal times: the later row); the
simulated assets are drawn conditionally on the replayed ones' returns; bad files are one line,
exit 2, from ``flywheel run`` and ``flywheel validate``."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.assets import USDC
from sim.cli import main
from sim.errors import UserInputError
from sim.ledger import Ledger
from sim.market.paths import generate_log_returns
from sim.market.replay import load_asset_price_file
from sim.market.world import World
from sim.model import FlywheelModel
from sim.scenario import load_scenario
from tests.tiny import tiny

START = pd.Timestamp("2025-07-07T00:00:00Z")   # tiny's start (Monday), hourly steps, 3 days

# An irregular TSLA feed: (seconds after START, price). Unsorted, duplicates (the later row
# wins), gaps from minutes to a day, one row before the start.
ROWS = [
    (3600 * 30 + 120, 330.0),
    (-600, 314.0),
    (3600 * 2, 316.0),
    (3600 * 2, 317.0),          # same time as the row above: this one wins
    (3600 * 5 + 59, 318.5),
    (3600 * 55, 340.0),
    (3600 * 6, 319.0),
    (3600 * 6 + 7, 320.0),
    (3600 * 30 + 120, 331.0),   # duplicate of the first row, later in the file: wins
    (3600 * 29, 325.0),
]


def expected_as_of(offsets_s: list[float]) -> np.ndarray:
    """The documented rule, done the slow way: last row at or before each time, the later row
    of equal times winning."""
    out = []
    for t in offsets_s:
        best = None
        for s, p in ROWS:             # file order: a later equal time overwrites
            if s <= t and (best is None or s >= best[0]):
                best = (s, p)
        out.append(best[1])
    return np.array(out)


def write_feed(path: Path, unit: str = "s") -> Path:
    epoch_s = [int(START.timestamp()) + s for s, _ in ROWS]
    if unit == "s":
        times = epoch_s
    elif unit == "ms":
        times = [t * 1000 for t in epoch_s]
    elif unit == "ns":
        times = [t * 1_000_000_000 for t in epoch_s]
    else:
        times = [pd.Timestamp(t, unit="s", tz="UTC").isoformat() for t in epoch_s]
    frame = pd.DataFrame({"note": ["x"] * len(ROWS), "timestamp": times,
                          "price": [p for _, p in ROWS], "volume": range(len(ROWS))})
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def step_offsets(sc) -> list[float]:
    return [k * sc.clock.step_minutes * 60.0 for k in range(sc.n_steps + 1)]


# --- the step-price rule and the time units -----------------------------------------------------


@pytest.mark.parametrize("unit", ["s", "ms", "ns", "iso"])
def test_each_time_unit_reads_the_same_prices(tmp_path, unit):
    path = write_feed(tmp_path / f"tsla_{unit}.csv", unit)
    sc = tiny()
    times = [START.to_pydatetime() + timedelta(seconds=s) for s in step_offsets(sc)]
    got = load_asset_price_file(path, times, "timestamp", "price", unit)
    assert np.array_equal(got, expected_as_of(step_offsets(sc)))
    assert len(set(got)) > 4     # not "every step gets the last price"


def test_numbers_default_to_seconds_and_parquet_reads_like_csv(tmp_path):
    sc = tiny()
    times = [START.to_pydatetime() + timedelta(seconds=s) for s in step_offsets(sc)]
    want = expected_as_of(step_offsets(sc))
    csv = load_asset_price_file(write_feed(tmp_path / "a.csv", "s"), times, "timestamp")
    pq = load_asset_price_file(write_feed(tmp_path / "a.parquet", "ns"), times, "timestamp",
                               time_unit="ns")
    assert np.array_equal(csv, want) and np.array_equal(pq, want)


@pytest.mark.parametrize(("written", "read_as", "needle"), [
    ("s", "ns", "1970"),        # seconds read as nanoseconds: all in 1970, refused, not replayed
    ("ns", "s", "2262"),        # nanoseconds read as seconds: beyond pandas' range
    ("ms", "s", "2262"),
    ("iso", "s", "as epoch s"),
    ("s", "iso", "time_unit"),
])
def test_a_wrong_time_unit_is_one_line_naming_file_and_field(tmp_path, written, read_as, needle):
    path = write_feed(tmp_path / "tsla.csv", written)
    times = [START.to_pydatetime()]
    with pytest.raises(UserInputError) as err:
        load_asset_price_file(path, times, "timestamp", "price", read_as, field="price_files.TSLA")
    msg = str(err.value)
    assert "\n" not in msg and "tsla.csv" in msg and "price_files.TSLA" in msg and needle in msg


# --- a mixed run -------------------------------------------------------------------------------


def mixed(tmp_path: Path, unit: str = "s", **overrides):
    path = write_feed(tmp_path / "tsla.csv", unit)
    spec = {"path": str(path), "time_column": "timestamp", "price_column": "price"}
    if unit != "s":
        spec["time_unit"] = unit
    return tiny({"price_files": {"TSLA": spec}, **overrides})


def test_mixed_run_replays_the_stock_simulates_crypto_and_conserves_money(tmp_path):
    sc = mixed(tmp_path)
    m = FlywheelModel(sc)
    w = m.world
    i_tsla, i_btc = w.asset_index["TSLA"], w.asset_index["BTC"]
    assert w.is_replayed("TSLA") and not w.is_replayed("BTC") and not w.is_replayed("NVDA")
    want = expected_as_of(step_offsets(sc))
    assert w.latent[i_tsla] == want[0]
    assert w.latent[i_btc] == sc.assets["BTC"].price
    tsla, btc = [], []
    for _ in range(sc.n_steps):
        m.step()
        tsla.append(w.latent[i_tsla])
        btc.append(w.latent[i_btc])
    assert np.allclose(tsla, want[1:], rtol=1e-12, atol=0.0)
    assert len(set(btc)) == len(btc)           # simulated: moves every step
    assert m.ledger.max_relative_error <= 1e-9
    # The stock's reference price is the feed's as of the last open step.
    assert np.min(np.abs(w.reference[i_tsla] / want - 1.0)) < 1e-12


def test_mixed_run_through_the_cli_runs(tmp_path, capsys):
    write_feed(tmp_path / "tsla.csv", "ms")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        GOOD + "price_files:\n  TSLA: {path: tsla.csv, time_column: timestamp, "
        "price_column: price, time_unit: ms}\n")
    assert main(["validate", str(scenario)]) == 0
    assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    series = next((tmp_path / "out").rglob("timeseries.*"), None)
    assert series is not None


def test_paths_resolve_relative_to_the_scenario_file(tmp_path, monkeypatch):
    folder = tmp_path / "sc"
    folder.mkdir()
    write_feed(folder / "tsla.csv")
    (folder / "s.yaml").write_text("name: x\nprice_files: {TSLA: {path: tsla.csv, "
                                   "time_column: timestamp}}\n")
    monkeypatch.chdir(tmp_path)
    s = load_scenario(folder / "s.yaml")
    assert Path(s.price_files["TSLA"].path) == folder / "tsla.csv"


def test_a_split_on_a_stock_replayed_by_its_own_file_uses_the_feed_as_it_is(tmp_path):
    sc = tiny()
    at = 38
    lines = ["time,price"]
    for k in range(sc.n_steps + 1):
        t = sc.clock.start + timedelta(hours=k)
        lines.append(f"{t.isoformat()},{315.0 / (3.0 if k >= at else 1.0)!r}")
    (tmp_path / "tsla.csv").write_text("\n".join(lines) + "\n")
    quiet = {
        "agents.lp.act_rate_per_day": 0.0, "agents.trader.act_rate_per_day": 0.0,
        "agents.market_maker.act_rate_per_day": 0.0, "agents.arbitrageur.act_rate_per_day": 0.0,
        "arrivals.traders.potential": 0, "arrivals.liquidity_providers.potential": 0,
    }
    m = FlywheelModel(tiny({
        **quiet, "price_files": {"TSLA": {"path": str(tmp_path / "tsla.csv")}},
        "events": [{"kind": "split", "asset": "TSLA", "at": f"step {at}", "ratio": 3.0}],
    }))
    w, tok = m.world, m.world.tokens["TSLA.M"]
    navs = []
    for _ in range(at + 3):
        m.step()
        navs.append(tok.nav)
    assert tok.split_multiplier == 3.0
    assert np.allclose(navs, 315.0, rtol=1e-12, atol=0.0), navs
    assert w.price("TSLA") == pytest.approx(105.0, rel=1e-12)


# --- the conditional simulation ----------------------------------------------------------------


def _gbm(n: int, sigma: float, dt: float, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal(n)
    return (-0.5 * sigma * sigma) * dt + sigma * math.sqrt(dt) * z


@pytest.mark.parametrize("rho", [0.9, 0.0, -0.5])
def test_conditional_draws_hold_the_correlation_with_the_replayed_returns(rho):
    n, dt = 20_000, 1.0 / (365.25 * 24)
    given = _gbm(n, 0.6, dt, seed=11)
    corr = [[1.0, rho], [rho, 1.0]]
    r = generate_log_returns([0.6, 0.55], 0.0, corr, 0.0, 0.0, 0.0, n, dt,
                             np.random.default_rng(5), given={0: given})
    assert np.array_equal(r[:, 0], given)
    sample = np.corrcoef(r[:, 0], r[:, 1])[0, 1]
    assert sample == pytest.approx(rho, abs=0.03)
    assert np.std(r[:, 1]) == pytest.approx(0.55 * math.sqrt(dt), rel=0.03)


def test_world_simulates_crypto_conditionally_on_a_replayed_stock(tmp_path):
    n = 2000
    sc0 = tiny()
    dt = sc0.dt_years
    prices = 315.0 * np.exp(np.concatenate([[0.0], np.cumsum(_gbm(n, 0.6, dt, seed=3))]))
    times = [sc0.clock.start + timedelta(hours=k) for k in range(n + 1)]
    pd.DataFrame({"time": [t.isoformat() for t in times], "price": prices}).to_csv(
        tmp_path / "tsla.csv", index=False)
    two = {
        "assets": {"BTC": {"kind": "crypto", "price": 108_000.0, "sigma": 0.55},
                   "TSLA": {"kind": "stock", "price": 315.0, "sigma": 0.6}},
        "tokens": {"TSLA.M": {"underlying": "TSLA"}},
        "markets": {"TSLA.M": {"underlyings": ["BTC"]}},
        "clock.days": n / 24, "price_files": {"TSLA": {"path": str(tmp_path / "tsla.csv")}},
    }
    seen = {}
    for rho in (0.9, 0.0):
        sc = tiny({**two, "correlations": {"BTC/TSLA": rho}})
        w = World(sc, Ledger([*sc.tokens, USDC]), 0)
        r = w.log_returns
        assert r.shape == (n, 2)
        assert np.allclose(r[:, w.asset_index["TSLA"]], np.diff(np.log(prices)), atol=1e-12)
        seen[rho] = np.corrcoef(r[:, 0], r[:, 1])[0, 1]
    assert seen[0.9] == pytest.approx(0.9, abs=0.05)
    assert abs(seen[0.0]) < 0.06


def test_no_price_files_leaves_the_simulation_unchanged():
    sc = tiny()
    w = World(sc, Ledger([*sc.tokens, USDC]), 4)
    assets = [sc.assets[a] for a in sc.assets]
    from sim.rng import stream

    want = generate_log_returns(
        [a.sigma for a in assets], [a.mu for a in assets], sc.correlation_matrix(),
        [a.jump_intensity for a in assets], [a.jump_mean for a in assets],
        [a.jump_sd for a in assets], sc.n_steps, sc.dt_years, stream(4, "paths"))
    assert np.array_equal(w.log_returns, want)
    assert not w.replayed_mask.any()


# --- bad inputs: one line, exit 2, run and validate -----------------------------------------------

GOOD = ("name: t\nclock: {days: 2, burn_in_days: 0.5}\n"
        "agents: {traders: 10, liquidity_providers: 4}\n")


def _feed_text(rows: list[tuple[str, str]], header: str = "timestamp,price") -> str:
    return header + "\n" + "\n".join(f"{t},{p}" for t, p in rows) + "\n"


T0 = int(START.timestamp())
OK_ROWS = [(str(T0 + 3600 * k), "300") for k in range(0, 60, 7)]

BAD_FILES = {
    "missing price column": (_feed_text(OK_ROWS, "timestamp,close"), "", "price_column"),
    "missing time column": (_feed_text(OK_ROWS, "ts,price"), "", "time_column"),
    "nan price": (_feed_text([*OK_ROWS, (str(T0 + 99), "nan")]), "", "price_column"),
    "negative price": (_feed_text([(str(T0 + 5), "-3"), *OK_ROWS]), "", "price_column"),
    "unparseable time": (_feed_text([*OK_ROWS, ("yesterday", "3")]), "", "time_column"),
    "starts after the start": (_feed_text(OK_ROWS[1:]), "", "no price yet"),
    "ns read as seconds": (_feed_text([(str(T0 * 10**9), "3")]), "", "time_unit"),
    "named twice": (_feed_text(OK_ROWS), "price_file: {path: tsla.csv}\n", "named twice"),
    "unknown asset": (_feed_text(OK_ROWS), "", "no asset named 'DOGE'"),
    "missing file": (None, "", "no such file"),
    "bad unit": (_feed_text(OK_ROWS), "", "time_unit"),
}


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_price_files_exit_2_with_one_line(tmp_path, capsys, command, case):
    text, extra, needle = BAD_FILES[case]
    if text is not None:
        (tmp_path / "tsla.csv").write_text(text)
    asset = "DOGE" if case == "unknown asset" else "TSLA"
    unit = "minutes" if case == "bad unit" else "s"
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(GOOD + extra + f"price_files:\n  {asset}: {{path: tsla.csv, "
                        f"time_column: timestamp, time_unit: {unit}}}\n")
    args = [command, str(scenario)]
    if command == "run":
        args += ["--out", str(tmp_path / "results"), "--quiet"]
    code = main(args)
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and needle in lines[0]
    assert "tsla.csv" in lines[0] or "scenario.yaml" in lines[0]
    assert "price_file" in lines[0]
    assert "OK" not in captured.out
    if command == "run":
        assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*"))
