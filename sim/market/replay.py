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
from sim.scenario._base import SHOCKED_PRICE_RANGE

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


def load_price_file(
    path: str | Path,
    asset_names: Sequence[str],
    times: Sequence[datetime],
    time_column: str = "time",
    time_unit: str | None = None,
    field: str = "price_file",
) -> np.ndarray:
    """Prices of ``asset_names`` as of each of ``times`` (UTC), shape (len(times), n_assets);
    times read in ``time_unit`` (None: epoch seconds for numbers, ISO 8601 for text)."""
    path = Path(path)
    table = _read_table(path)
    for column in (time_column, *asset_names):
        if column not in table.columns:
            have = ", ".join(map(str, table.columns))
            key = f"{field}.time_column: " if column == time_column else f"{field}: "
            raise UserInputError(f"{path}: {key}missing column {column!r} (columns: {have})")
    if len(table) == 0:
        raise UserInputError(f"{path}: {field}: no rows")
    where_t = f"{field}.time_column {time_column!r}"
    raw_times = table[time_column]
    file_ns = _parse_times_in_unit(path, where_t, raw_times, time_unit)
    order = np.argsort(file_ns, kind="stable")
    prices = np.empty((len(table), len(asset_names)))
    for j, name in enumerate(asset_names):
        prices[:, j] = _prices(path, f"{field}: column {name!r}", table[name])[order]
    rows = _as_of_rows(path, where_t, file_ns[order], raw_times.iloc[order], times, time_unit)
    return prices[rows]


def _prices(path: Path, where: str, raw: pd.Series) -> np.ndarray:
    """The column as float64 USD; a value that is not a number within the range a price may
    reach (``SHOCKED_PRICE_RANGE``) is an error naming its row, shown as written."""
    col = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    low, high = SHOCKED_PRICE_RANGE
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(col) | (col < low) | (col > high)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = ("not a positive number" if not (np.isfinite(col[i]) and col[i] > 0)
                else f"outside {low:g} to {high:g} USD")
        raise UserInputError(f"{path}: {where}: row {i + 1}: price {_show(raw.iloc[i])} is {what}")
    return col


def _as_of_rows(
    path: Path, where: str, file_ns: np.ndarray, raw_sorted: pd.Series,
    times: Sequence[datetime], unit: str | None,
) -> np.ndarray:
    """Index into the sorted rows of the last one at or before each of ``times``."""
    step_ns = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).as_unit("ns").asi8
    # Last row at or before each step; equal times in the file: the later row wins.
    row = np.searchsorted(file_ns, step_ns, side="right") - 1
    if len(row) and row.min() < 0:
        first_step = pd.Timestamp(step_ns[int(np.argmin(row))], tz="UTC")
        raise UserInputError(
            f"{path}: {where}: the earliest time, "
            f"{_as_read(raw_sorted.iloc[0], file_ns[0], unit)}, is after the run's step at "
            f"{_iso(first_step.value)} (no price yet)"
        )
    return row


def _iso(ns: int) -> str:
    """A UTC time to the nanosecond, ISO 8601 with a Z, trailing zeros of the fraction dropped."""
    text = pd.Timestamp(int(ns), tz="UTC").isoformat().replace("+00:00", "Z")
    if "." in text:
        head, frac = text[:-1].split(".")
        text = f"{head}.{frac.rstrip('0')}Z" if frac.rstrip("0") else f"{head}Z"
    return text


def _as_read(raw, ns: int, unit: str | None) -> str:
    """A time as the file writes it and as it was read: ``1751846400 (epoch s:
    2025-07-07T00:00:00Z)``, or the ISO text itself when that is what it was."""
    if isinstance(raw, str) and unit in (None, "iso"):
        return f"{raw!r} ({_iso(ns)})"
    if isinstance(raw, (pd.Timestamp, datetime, np.datetime64)):
        return _iso(ns)
    return f"{_show(raw)} (epoch {unit or 's'}: {_iso(ns)})"


_EPOCH_UNITS = ("s", "ms", "ns")


def _show(value) -> str:
    """A cell as the user wrote it: 1751846400, 'yesterday' (not np.int64(1751846400))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _parse_times_in_unit(path: Path, where: str, raw: pd.Series, unit: str | None) -> np.ndarray:
    """Times of ``raw`` as int64 ns since the epoch (UTC), read in ``unit`` (None: s for
    numbers, iso for text). A column of timestamps (a Parquet timestamp) carries its own unit
    and is read as it is. Integer epochs are scaled exactly, in integers."""
    if pd.api.types.is_bool_dtype(raw):
        raise UserInputError(f"{path}: {where}: times must be numbers or ISO 8601 text")
    if pd.api.types.is_datetime64_any_dtype(raw):
        return pd.DatetimeIndex(pd.to_datetime(raw, utc=True)).as_unit("ns").asi8
    numeric = pd.api.types.is_numeric_dtype(raw)
    if unit is None:
        unit = "s" if numeric else "iso"
    if unit == "iso":
        if numeric:
            raise UserInputError(
                f"{path}: {where}: times are numbers, not ISO text; set time_unit to s, ms or ns"
            )
        try:
            parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
        except (ValueError, TypeError, OverflowError):
            parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed")
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UserInputError(f"{path}: {where}: row {i + 1}: cannot parse time {raw.iloc[i]!r}")
        return pd.DatetimeIndex(parsed).as_unit("ns").asi8
    per_ns = {"s": 10**9, "ms": 10**6, "ns": 1}[unit]
    limit = pd.Timestamp.max.value           # 2262-04-11, the end of pandas' nanosecond times
    if pd.api.types.is_integer_dtype(raw):
        big = [int(v) for v in (raw.min(), raw.max())]
        beyond = [b for b in big if abs(b) > limit // per_ns]
        if beyond:
            i = int(np.flatnonzero((raw == beyond[0]).to_numpy())[0])
            raise UserInputError(
                f"{path}: {where}: row {i + 1}: time {_show(raw.iloc[i])} read as epoch {unit} is "
                "beyond the year 2262; is time_unit right?"
            )
        ns = raw.to_numpy(dtype=np.int64) * np.int64(per_ns)     # exact
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UserInputError(f"{path}: {where}: row {i + 1}: cannot parse time "
                                 f"{_show(raw.iloc[i])} as epoch {unit}")
        scaled = values * per_ns
        if np.any(np.abs(scaled) > limit):
            i = int(np.flatnonzero(np.abs(scaled) > limit)[0])
            raise UserInputError(
                f"{path}: {where}: row {i + 1}: time {_show(raw.iloc[i])} read as epoch {unit} is "
                "beyond the year 2262; is time_unit right?"
            )
        ns = np.round(scaled).astype(np.int64)
    if ns.max() < pd.Timestamp("1971-01-01", tz="UTC").value:
        i = int(np.argmax(ns))
        raise UserInputError(
            f"{path}: {where}: every time read as epoch {unit} falls in 1970 (the latest, "
            f"{_show(raw.iloc[i])}, is {_iso(ns[i])}); is time_unit right?"
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
    raw_times = table[time_column]
    file_ns = _parse_times_in_unit(path, where_t, raw_times, time_unit)
    order = np.argsort(file_ns, kind="stable")
    col = _prices(path, f"{field}.price_column {price_column!r}", table[price_column])
    row = _as_of_rows(path, where_t, file_ns[order], raw_times.iloc[order], times, time_unit)
    return col[order][row]


def replayed_prices(scenario, times: Sequence[datetime]) -> dict[str, np.ndarray]:
    """Prices as of ``times`` of every asset the scenario replays (``price_file`` or
    ``price_files``), by name, each of shape (len(times),); {} when none is replayed."""
    names = list(scenario.assets)
    out: dict[str, np.ndarray] = {}
    if scenario.price_file is not None:
        spec = scenario.price_file
        wide = load_price_file(spec.path, names, times, spec.time_column, spec.time_unit)
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
