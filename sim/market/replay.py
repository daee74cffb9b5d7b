"""Replay: exogenous prices read from files instead of simulated (design sections 3, 13).

Two forms: ``price_file`` (``load_price_file``), one wide file with a time column and one
column per asset, every asset replayed; and ``price_files`` (``load_asset_price_file``), one
file per asset with a time column and a price column (other columns ignored), times written
as epoch seconds, milliseconds or nanoseconds (``time_unit`` s, ms, ns) or ISO 8601 text (iso).
CSV or Parquet, chosen by suffix.

The step-price rule, both forms: rows are stably sorted by time; the price as of a step
boundary (the run's start, then each step's end) is the last observation at or before it
(forward fill), so daily closes or Chainlink rounds minutes to a day apart drive an hourly
clock; of rows with equal times the later row in the file wins. A boundary earlier than the
first observation (the file starts after the run's start) has no price and is an error.
Times without a zone are read as UTC. Every problem is one ``UserInputError`` line naming the
file and the field or column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    return pd.DatetimeIndex(parsed).as_unit("ns")


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

    return prices[_as_of_rows(path, f"column {time_column!r}", file_ns, times)]


def _as_of_rows(
    path: Path, where: str, file_ns: np.ndarray, times: Sequence[datetime]
) -> np.ndarray:
    """Index into the sorted rows of the last one at or before each of ``times``."""
    step_ns = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).as_unit("ns").asi8
    # Last row at or before each step; equal times in the file: the later row wins.
    row = np.searchsorted(file_ns, step_ns, side="right") - 1
    if len(row) and row.min() < 0:
        first_step = pd.Timestamp(step_ns[int(np.argmin(row))], tz="UTC")
        first_row = pd.Timestamp(file_ns[0], tz="UTC")
        raise UserInputError(
            f"{path}: {where}: first row {first_row.isoformat()} is after "
            f"the step at {first_step.isoformat()} (no price yet)"
        )
    return row


_EPOCH_UNITS = ("s", "ms", "ns")


def _show(value) -> str:
    """A cell as the user wrote it: 1751846400, 'yesterday' (not np.int64(1751846400))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _parse_times_in_unit(path: Path, where: str, raw: pd.Series, unit: str | None) -> np.ndarray:
    """Times of ``raw`` as int64 ns since the epoch (UTC), read in ``unit`` (None: s for
    numbers, iso for text)."""
    numeric = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
    if pd.api.types.is_bool_dtype(raw):
        raise UserInputError(f"{path}: {where}: times must be numbers or ISO 8601 text")
    if unit is None:
        unit = "s" if numeric else "iso"
    if unit == "iso":
        if numeric:
            raise UserInputError(
                f"{path}: {where}: times are numbers, not ISO text; set time_unit to s, ms or ns"
            )
        if pd.api.types.is_datetime64_any_dtype(raw):
            parsed = pd.to_datetime(raw, utc=True)
        else:
            try:
                parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
            except (ValueError, TypeError):
                parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed")
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UserInputError(f"{path}: {where}: row {i + 1}: cannot parse time {raw.iloc[i]!r}")
        return pd.DatetimeIndex(parsed).as_unit("ns").asi8
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserInputError(
            f"{path}: {where}: row {i + 1}: cannot parse time {_show(raw.iloc[i])} as epoch {unit}"
        )
    per_ns = {"s": 1e9, "ms": 1e6, "ns": 1.0}[unit]
    if unit == "ns" and pd.api.types.is_integer_dtype(raw):
        ns = raw.to_numpy(dtype=np.int64)       # exact: float64 would round epoch ns
    else:
        scaled = values * per_ns
        limit = float(pd.Timestamp.max.value)
        if np.any(np.abs(scaled) > limit):
            i = int(np.flatnonzero(np.abs(scaled) > limit)[0])
            raise UserInputError(
                f"{path}: {where}: row {i + 1}: time {_show(raw.iloc[i])} read as epoch {unit} is "
                "beyond the year 2262; is time_unit right?"
            )
        ns = np.round(scaled).astype(np.int64)
    if ns.max() < pd.Timestamp("1971-01-01", tz="UTC").value:
        raise UserInputError(
            f"{path}: {where}: every time read as epoch {unit} falls in 1970 "
            f"({pd.Timestamp(int(ns.max()), tz='UTC').isoformat()}); is time_unit right?"
        )
    return ns


def load_asset_price_file(
    path: str | Path,
    times: Sequence[datetime],
    time_column: str = "time",
    price_column: str = "price",
    time_unit: str | None = None,
    field: str = "price_files",
) -> np.ndarray:
    """One asset's prices as of each of ``times`` (UTC), shape (len(times),), by the step-price
    rule of the module; errors name the file and ``field`` (e.g. ``price_files.TSLA``)."""
    path = Path(path)
    if time_unit is not None and time_unit not in (*_EPOCH_UNITS, "iso"):
        raise ValueError(f"time_unit: must be s, ms, ns or iso, got {time_unit!r}")
    table = _read_table(path)
    for key, column in (("time_column", time_column), ("price_column", price_column)):
        if column not in table.columns:
            have = ", ".join(map(str, table.columns))
            raise UserInputError(
                f"{path}: {field}.{key}: missing column {column!r} (columns: {have})"
            )
    if len(table) == 0:
        raise UserInputError(f"{path}: {field}: no rows")
    where_t = f"{field}.time_column {time_column!r}"
    file_ns = _parse_times_in_unit(path, where_t, table[time_column], time_unit)
    order = np.argsort(file_ns, kind="stable")
    raw = table[price_column]
    col = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(col) | (col <= 0.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserInputError(
            f"{path}: {field}.price_column {price_column!r}: row {i + 1}: "
            f"price {_show(raw.iloc[i])} is not a positive number"
        )
    row = _as_of_rows(path, where_t, file_ns[order], times)
    return col[order][row]


def replayed_prices(scenario, times: Sequence[datetime]) -> dict[str, np.ndarray]:
    """Prices as of ``times`` of every asset the scenario replays (``price_file`` or
    ``price_files``), by name, each of shape (len(times),); {} when none is replayed."""
    names = list(scenario.assets)
    out: dict[str, np.ndarray] = {}
    if scenario.price_file is not None:
        wide = load_price_file(scenario.price_file.path, names, times,
                               time_column=scenario.price_file.time_column)
        out.update({name: wide[:, j] for j, name in enumerate(names)})
    specs: Mapping = scenario.price_files
    for name, spec in specs.items():
        out[name] = load_asset_price_file(
            spec.path, times, spec.time_column, spec.price_column, spec.time_unit,
            field=f"price_files.{name}",
        )
    return out


def check_price_files(scenario) -> None:
    """Read every price file of ``scenario`` against its step clock, as a run would (for
    ``flywheel validate``); raises the run's ``UserInputError`` on a bad file."""
    from sim.market.calendar import step_times

    if scenario.price_file is None and not scenario.price_files:
        return
    sc = scenario
    replayed_prices(sc, step_times(sc.clock.start, sc.n_steps, sc.clock.step_minutes))
