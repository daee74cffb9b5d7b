"""Replaying prices from a file: as-of lookup and one-line errors naming file and column."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from sim.errors import UserInputError
from sim.market.calendar import step_times
from sim.market.replay import load_price_file

START = datetime(2025, 7, 7, tzinfo=UTC)
TIMES = step_times(START, 6, 60)


def _write_csv(tmp_path, text, name="prices.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """time,BTC,TSLA
2025-07-07T00:00:00Z,100000,300
2025-07-07T02:30:00Z,101000,301
2025-07-07T05:00:00Z,99000,299
"""


def test_prices_are_taken_as_of_each_step_forward_filled(tmp_path):
    p = load_price_file(_write_csv(tmp_path, GOOD), ["TSLA", "BTC"], TIMES)
    assert p.shape == (7, 2)
    np.testing.assert_array_equal(p[:, 1], [100000, 100000, 100000, 101000, 101000, 99000, 99000])
    np.testing.assert_array_equal(p[:, 0], [300, 300, 300, 301, 301, 299, 299])


def test_parquet_with_unsorted_rows_and_a_custom_time_column(tmp_path):
    df = pd.DataFrame({
        "ts": pd.to_datetime(["2025-07-07T03:00Z", "2025-07-06T23:00Z"], utc=True),
        "BTC": [2.0, 1.0],
    })
    path = tmp_path / "p.parquet"
    df.to_parquet(path)
    p = load_price_file(path, ["BTC"], TIMES, time_column="ts")
    np.testing.assert_array_equal(p[:, 0], [1, 1, 1, 2, 2, 2, 2])


def test_times_without_zone_are_utc_and_offsets_are_honoured(tmp_path):
    text = "time,BTC\n2025-07-07 00:00:00,1\n2025-07-07T03:00:00+02:00,2\n"
    p = load_price_file(_write_csv(tmp_path, text), ["BTC"], TIMES)
    np.testing.assert_array_equal(p[:, 0], [1, 2, 2, 2, 2, 2, 2])   # +02:00 is 01:00 UTC


def _error(tmp_path, text, assets=("BTC", "TSLA"), times=TIMES, name="prices.csv"):
    path = _write_csv(tmp_path, text, name)
    with pytest.raises(UserInputError) as info:
        load_price_file(path, list(assets), times)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_column_names_the_file_and_the_column(tmp_path):
    message = _error(tmp_path, GOOD, assets=("BTC", "NVDA"))
    assert "'NVDA'" in message and "missing column" in message


def test_missing_time_column(tmp_path):
    assert "'time'" in _error(tmp_path, GOOD.replace("time", "date"))


@pytest.mark.parametrize("bad", ["-5", "0", "", "abc"])
def test_non_positive_or_missing_prices(tmp_path, bad):
    message = _error(tmp_path, GOOD.replace("301", bad))
    assert "'TSLA'" in message and "positive" in message


def test_unparsable_time(tmp_path):
    message = _error(tmp_path, GOOD.replace("2025-07-07T02:30:00Z", "yesterday"))
    assert "'time'" in message and "yesterday" in message and "row 2" in message


def test_step_before_the_first_row(tmp_path):
    early = step_times(START - timedelta(hours=1), 2, 60)
    assert "no price yet" in _error(tmp_path, GOOD, times=early)


def test_file_missing_or_unknown_type(tmp_path):
    with pytest.raises(UserInputError, match="not found"):
        load_price_file(tmp_path / "nope.csv", ["BTC"], TIMES)
    assert "unknown price file type" in _error(tmp_path, GOOD, name="prices.txt")
