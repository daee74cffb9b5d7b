"""Price files' times read right (issue 10): numbers are epoch seconds unless ``time_unit``
says otherwise, in both file forms and both formats; a timestamp column keeps its own unit;
integer epochs are exact to the nanosecond; messages show the times as the file wrote them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.errors import UserInputError
from sim.market.calendar import step_times
from sim.market.replay import load_asset_price_file, load_price_file
from sim.run import run
from tests.tiny import tiny

START = pd.Timestamp("2025-07-07T00:00:00Z")        # tiny's start, hourly steps, 3 days
EPOCH_S = int(START.timestamp())
HOURS = 80
PRICES = 300.0 + np.arange(HOURS, dtype=float)       # a different price every hour


def write_parquet(path: Path, columns: dict) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def test_epoch_seconds_in_a_parquet_file_are_replayed_hour_by_hour(tmp_path):
    """The case that gave every step the file's last price, silently: int64 epoch seconds."""
    path = write_parquet(tmp_path / "tsla.parquet", {
        "time": pa.array(EPOCH_S + 3600 * np.arange(HOURS), pa.int64()),
        "price": pa.array(PRICES)})
    scenario = tiny({"price_files": {"TSLA": {"path": str(path)}}})
    latent = run(scenario).timeseries["latent[TSLA]"].to_numpy()
    # step t ends at t + 1 h: its price is the file's row t + 1
    np.testing.assert_allclose(latent, PRICES[1:scenario.n_steps + 1], rtol=1e-12)


@pytest.mark.parametrize("kind", ["int32", "float64", "uint64"])
def test_other_numeric_types_of_epoch_seconds_read_alike(tmp_path, kind):
    path = write_parquet(tmp_path / "t.parquet", {
        "time": pa.array((EPOCH_S + 3600 * np.arange(HOURS)).astype(kind)),
        "price": pa.array(PRICES)})
    times = step_times(START.to_pydatetime(), 5, 60)
    np.testing.assert_array_equal(load_asset_price_file(path, times), PRICES[:6])


def test_a_timestamp_column_keeps_its_own_unit_whatever_time_unit_says(tmp_path):
    stamps = pa.array((EPOCH_S + 3600 * np.arange(HOURS)).astype("datetime64[s]"),
                      pa.timestamp("s"))
    path = write_parquet(tmp_path / "t.parquet", {"time": stamps, "price": pa.array(PRICES)})
    times = step_times(START.to_pydatetime(), 5, 60)
    for unit in (None, "s", "ns", "iso"):
        np.testing.assert_array_equal(load_asset_price_file(path, times, time_unit=unit),
                                      PRICES[:6])


def test_the_wide_file_reads_epoch_seconds_and_takes_time_unit(tmp_path):
    names = ["BTC", "ETH"]
    frame = pd.DataFrame({"time": EPOCH_S + 3600 * np.arange(HOURS), "BTC": PRICES,
                          "ETH": PRICES / 10})
    frame.to_parquet(tmp_path / "s.parquet", index=False)
    frame.assign(time=frame["time"] * 1000).to_csv(tmp_path / "ms.csv", index=False)
    times = step_times(START.to_pydatetime(), 5, 60)
    seconds = load_price_file(tmp_path / "s.parquet", names, times)
    millis = load_price_file(tmp_path / "ms.csv", names, times, time_unit="ms")
    np.testing.assert_array_equal(seconds, millis)
    np.testing.assert_array_equal(seconds[:, 0], PRICES[:6])


def test_integer_epoch_nanoseconds_are_exact_to_the_nanosecond(tmp_path):
    """A feed one nanosecond after each hour: the first step has no price yet (the file starts
    1 ns after the run), and the message shows that time as written and as read."""
    ns = (EPOCH_S + 3600 * np.arange(HOURS)) * 10**9 + 1
    path = write_parquet(tmp_path / "t.parquet", {"time": pa.array(ns, pa.int64()),
                                                 "price": pa.array(PRICES)})
    times = step_times(START.to_pydatetime(), 5, 60)
    with pytest.raises(UserInputError) as err:
        load_asset_price_file(path, times, time_unit="ns", field="price_files.TSLA")
    message = str(err.value)
    assert f"{ns[0]} (epoch ns: 2025-07-07T00:00:00.000000001Z)" in message
    assert "1970" not in message and "no price yet" in message
    later = step_times((START + pd.Timedelta(hours=1)).to_pydatetime(), 5, 60)
    got = load_asset_price_file(path, later, time_unit="ns")
    np.testing.assert_array_equal(got, PRICES[:6])     # each step ends 1 ns before a new row


def test_milliseconds_with_odd_digits_are_exact(tmp_path):
    ms = (EPOCH_S + 3600 * np.arange(HOURS)) * 1000 + 999
    path = write_parquet(tmp_path / "t.parquet", {"time": pa.array(ms, pa.int64()),
                                                 "price": pa.array(PRICES)})
    times = step_times((START + pd.Timedelta(hours=1)).to_pydatetime(), 3, 60)
    np.testing.assert_array_equal(load_asset_price_file(path, times, time_unit="ms"),
                                  PRICES[:4])            # x:00:00.999 is before (x+1):00


def test_a_price_outside_the_range_a_price_may_reach_is_named_as_written(tmp_path):
    (tmp_path / "t.csv").write_text(f"time,price\n{EPOCH_S},315\n{EPOCH_S + 3600},5e-324\n")
    times = step_times(START.to_pydatetime(), 1, 60)
    with pytest.raises(UserInputError, match=r"row 2: price 5e-324 is outside 1e-12 to 1e\+15"):
        load_asset_price_file(tmp_path / "t.csv", times)
