"""Atomic, reproducible writing (and reading) of run results.

Every file is written under a temporary name in its own folder and renamed with ``os.replace``,
so a killed or failed run never leaves a half-written file under a final name (design section
15); a whole run is written into a temporary folder beside its final one (``temp_folder``) and
renamed into place last (``publish_folder``). Temporary names carry their process id and host,
so that ``remove_stale_temps`` removes only what a process that no longer runs left behind
(one killed by SIGKILL), never another live process's files. Files and folders get the modes
the user's umask gives (``tempfile`` would have made them private to their owner).
``check_out_dir`` refuses, before a run is computed, an output folder that cannot be written.

Parquet is written with fixed settings so the same frame always gives the same bytes: a run
is identified by its content, and two runs of one scenario and seed can be compared byte for byte.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import OutputError, UserInputError

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
"""Temporary files and folders start with this (hidden, and never matched by a final name)."""

_HOST = socket.gethostname()
# ".tmp-<name>.<pid>@<host>.<random>": who made a temporary file or folder.
_TEMP_NAME = re.compile(rf"^{re.escape(TEMP_PREFIX)}.*\.(\d+)@(.+)\.[^.]+$")
STALE_UNOWNED_S = 86_400.0
"""A temporary file without an owner (written before owners were recorded) older than a day is
a leftover: no write of a run's file takes a day."""


def _owner() -> str:
    # The pid is looked up each time: a forked worker has another pid than its parent.
    return f"{os.getpid()}@{_HOST}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True         # another user's process
    return True


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Remove the temporary files and folders in ``folder`` whose process is gone (this host's
    only; another host's are left alone), and ownerless ones older than a day. Returns them."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        m = _TEMP_NAME.match(entry.name)
        if m:
            stale = m.group(2) == _HOST and not _alive(int(m.group(1)))
        else:
            try:
                stale = time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_UNOWNED_S
            except OSError:
                continue
        if not stale:
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed

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


def temp_name(final: str | Path) -> Path:
    """A fresh name beside ``final`` for a temporary file or folder (same file system, so it
    can be renamed into place): ``.tmp-<final's name>.<pid>@<host>.<random>``. Nothing is
    created: whoever creates it does so with the modes the user's umask gives, and the name
    is known before the file exists, so a clean-up interrupted at any point can remove it."""
    final = Path(final)
    return final.with_name(f"{TEMP_PREFIX}{final.name}.{_owner()}.{secrets.token_hex(4)}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (``temp_name``: the body creates the file); on
    success rename it to ``path``.

    If the body raises, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def make_folder(folder: Path) -> None:
    """Create ``folder`` (a ``temp_name``) and its missing parents, with the user's modes; a
    parent that another process's clean-up removes meanwhile is made again."""
    for _ in range(3):
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
            return
        except FileNotFoundError:
            continue
    raise FileNotFoundError(errno.ENOENT, "the folder keeps disappearing", str(folder.parent))


def publish_folder(tmp: Path, final: Path, is_complete: Callable[[Path], bool]) -> bool:
    """Rename the finished folder ``tmp`` to ``final`` (atomic). True if ``tmp`` is now in
    place; False if a complete folder was there already (another process finished the same
    run first): ``tmp`` is then removed and the one in place kept.

    An incomplete folder under the final name (left by code that wrote in place, or edited by
    hand) is moved aside and removed, unless it turns out complete by then (another process
    published in between): then it is put back, or, if yet another took its place, removed as
    a duplicate of it.
    """
    for _ in range(5):
        try:
            os.rename(tmp, final)
            return True
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        if is_complete(final):
            shutil.rmtree(tmp, ignore_errors=True)
            return False
        aside = temp_name(final.with_name(f"{final.name}.aside"))
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            continue
        if is_complete(aside):
            try:
                os.rename(aside, final)
            except OSError:
                shutil.rmtree(aside, ignore_errors=True)
            continue
        shutil.rmtree(aside, ignore_errors=True)
    raise OSError(errno.EBUSY, "the results folder keeps changing under us", str(final))


def check_out_dir(out: str | Path, option: str = "--out") -> Path:
    """``out`` as a Path if results can be written there (now or once its missing folders are
    made), else one ``UserInputError`` line naming ``option``: empty, a file or inside one,
    a name or path too long, a folder that cannot be written (probed by making and removing a
    temporary folder in the nearest one that exists)."""
    text = os.fspath(out)
    if not text.strip():
        raise UserInputError(f"{option}: empty; name a folder for the results (e.g. results)")
    path = Path(text)
    name_max = _pathconf("PC_NAME_MAX", 255)
    if len(os.fsencode(os.path.abspath(text))) > _pathconf("PC_PATH_MAX", 4096) - 256:
        raise UserInputError(f"{option} {text[:60]}...: the path is too long for the results "
                             "(a run adds up to 256 characters beneath it)")
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            raise UserInputError(f"{option} {text[:60]}...: a folder name longer than "
                                 f"{name_max} bytes")
    existing = path
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is inside a file ({existing})"
        raise UserInputError(f"{option} {text}: {where}, not a folder")
    probe = temp_name(existing / "probe")
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise UserInputError(f"{option} {text}: cannot write in {existing} "
                             f"({exc.strerror or exc})") from None
    return path


def _pathconf(name: str, default: int) -> int:
    try:
        return int(os.pathconf("/", name))
    except (OSError, ValueError, AttributeError):
        return default


def output_error(where: str | Path, exc: OSError) -> OutputError:
    """A failure to write results (full disk, no permission) as one line naming ``where``."""
    return OutputError(f"{where}: cannot write the results ({exc.strerror or exc})")


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

