"""Replay: exogenous prices read from a file instead of simulated (design section 3).

The file (CSV or Parquet, chosen by suffix) has a time column and one column per asset.
Each step takes the last price at or before its time (forward fill), so a file of daily
closes drives an hourly clock; a step earlier than the first row has no price and is an
error. Times without a zone are read as UTC. Every problem is one ``UserInputError`` line
naming the file and the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import UserInputError

_CSV_SUFFIXES = {".csv"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in _CSV_SUFFIXES | _PARQUET_SUFFIXES:
        raise UserInputError(f"{path}: unknown price file type {suffix!r} (use .csv or .parquet)")
    if not path.is_file():
        raise UserInputError(f"{path}: price file not found")
    try:
        if suffix in _CSV_SUFFIXES:
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as exc:  # any parser failure is the user's file, reported in one line
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"{path}: cannot read price file ({detail})") from None


def _parse_times(path: Path, column: str, raw: pd.Series) -> pd.DatetimeIndex:
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        raise UserInputError(f"{path}: column {column!r}: times must be ISO 8601 text or timestamps")
    try:
        parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserInputError(
            f"{path}: column {column!r}: row {i + 1}: cannot parse time {raw.iloc[i]!r}"
        )
    return pd.DatetimeIndex(parsed)


def load_price_file(
    path: str | Path,
    asset_names: Sequence[str],
    times: Sequence[datetime],
    time_column: str = "time",
) -> np.ndarray:
    """Prices of ``asset_names`` as of each of ``times`` (UTC), shape (len(times), n_assets)."""
    path = Path(path)
    table = _read_table(path)
    needed = [time_column, *asset_names]
    for column in needed:
        if column not in table.columns:
            have = ", ".join(map(str, table.columns))
            raise UserInputError(f"{path}: missing column {column!r} (columns: {have})")
    if len(table) == 0:
        raise UserInputError(f"{path}: no rows")

    file_times = _parse_times(path, time_column, table[time_column])
    order = np.argsort(file_times.asi8, kind="stable")
    file_ns = file_times.asi8[order]

    prices = np.empty((len(table), len(asset_names)))
    for j, name in enumerate(asset_names):
        col = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)[order]
        bad = ~np.isfinite(col) | (col <= 0.0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raw = table[name].iloc[order[i]]
            raise UserInputError(
                f"{path}: column {name!r}: price {raw!r} at {file_times[order[i]].isoformat()}"
                " is not a positive number"
            )
        prices[:, j] = col

    step_ns = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).asi8
    # Last row at or before each step; equal times in the file: the later row wins.
    row = np.searchsorted(file_ns, step_ns, side="right") - 1
    if len(row) and row.min() < 0:
        first_step = pd.Timestamp(step_ns[int(np.argmin(row))], tz="UTC")
        raise UserInputError(
            f"{path}: column {time_column!r}: first row {file_times.min().isoformat()} is after "
            f"the step at {first_step.isoformat()} (no price yet)"
        )
    return prices[row]
