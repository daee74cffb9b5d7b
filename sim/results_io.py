"""Atomic, reproducible writing (and reading) of run results.

Every file is written under a temporary name in its own folder and renamed with ``os.replace``,
so a killed or failed run never leaves a half-written file under a final name (design section
15). Parquet is written with fixed settings so the same frame always gives the same bytes: a run
is identified by its content, and two runs of one scenario and seed can be compared byte for byte.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import UserInputError

# A run's folder (design 15): every reader and writer of results uses these names.
RESOLVED_YAML = "scenario.resolved.yaml"
TIMESERIES = "timeseries.parquet"
EVENTS = "events.parquet"
SUMMARY = "summary.json"         # sim.metrics.summary: the same for every computation of a run
RUN_INFO = "run_info.json"       # sim.run.RunInfo: how this computation went (time, versions)
CHARTS_DIR = "charts"


def safe_name(name: Any) -> str:
    """``name`` made safe as a folder name: runs of other characters become "_"."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "scenario"


def run_title(scenario_name: str, seed: Any, key: str) -> str:
    """The title line of a run's charts."""
    return f"{scenario_name}  (seed {seed}, run {key})"


TEMP_PREFIX = ".tmp-"
"""Temporary files start with this (hidden, and never matched by a final name)."""

PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "store_schema": True,
}
"""Fixed writer settings: the bytes of a Parquet file depend only on the frame (and on the
pandas/pyarrow versions, which run_info.json records)."""


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    If the body raises, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def frame_to_table(frame: pd.DataFrame) -> pa.Table:
    """Arrow table of ``frame`` without its index (a run's frames are indexed by row number)."""
    return pa.Table.from_pandas(frame, preserve_index=False)


def write_parquet(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` to ``path`` atomically with the fixed settings of ``PARQUET_OPTIONS``."""
    table = frame_to_table(frame)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
    return Path(path)


def read_parquet(path: str | Path) -> pd.DataFrame:
    """Read a Parquet file written by ``write_parquet`` (UserInputError if it is missing)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such file")
    try:
        return pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise UserInputError(f"{path}: not a readable Parquet file ({exc})") from None


def to_jsonable(value: Any) -> Any:
    """Plain JSON value of ``value``: NumPy scalars and arrays, timestamps, paths, sets.

    NaN and infinities become ``null`` (JSON has no such numbers).
    """
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        return [to_jsonable(v) for v in items]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (pd.Timedelta, np.timedelta64)):
        return pd.Timedelta(value).total_seconds()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is pd.NaT:
        return None
    return str(value)


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (keys in the given order)."""
    text = json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n"
    return write_text(path, text)


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON object (UserInputError if the file is missing or not JSON)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a JSON object")
    return data

