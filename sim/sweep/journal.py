"""A sweep's status log: one JSON line per finished or failed run, appended as each arrives.

The parent writes a run's line in one ``write``, then flushes and fsyncs it, so a sweep killed
at any moment (even ``kill -9``) leaves every finished run on disk and at most one torn last
line, which the next start cuts off before appending. Memory stays flat: the parent keeps a
run's record only until its line is written. Runs are keyed by their run key; a key finished
once counts as done (a later failure of the same key, from a rerun, does not undo it), a key
that only failed is run again by the next start. An exclusive lock on the file keeps two
sweeps from writing one folder at once.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sim import results_io as rio
from sim.errors import UserInputError

JOURNAL = "journal.jsonl"


class Journal:
    """Append-only JSON lines at ``path``; open it with ``with Journal(path) as j``."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fh: Any = None
        self.done: set[str] = set()        # keys of runs that finished (ok)
        self.failed: set[str] = set()      # keys whose last record is a failure

    def __enter__(self) -> Journal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+b")
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise UserInputError(f"{self.path.parent}: another flywheel sweep is writing this "
                                 "folder; wait for it to finish or stop it") from None
        self._cut_torn_tail()
        for record in self.records():
            self._note(record)
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()           # releases the lock
        self._fh = None

    def _cut_torn_tail(self) -> None:
        """Drop a last line without its newline (a write cut short by a kill)."""
        self._fh.seek(0, os.SEEK_END)
        size = self._fh.tell()
        if size == 0:
            return
        self._fh.seek(size - 1)
        if self._fh.read(1) == b"\n":
            return
        chunk = 1 << 16
        pos = size
        while pos > 0:
            start = max(0, pos - chunk)
            self._fh.seek(start)
            cut = self._fh.read(pos - start).rfind(b"\n")
            if cut >= 0:
                self._fh.truncate(start + cut + 1)
                return
            pos = start
        self._fh.truncate(0)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record in the file, in order (one line at a time)."""
        with open(self.path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break
                try:
                    record = json.loads(line)
                except ValueError:
                    continue           # a line damaged outside our writes: ignore it
                if isinstance(record, dict) and "key" in record:
                    yield record

    def _note(self, record: dict[str, Any]) -> None:
        key = record["key"]
        if record.get("status") == "ok":
            self.done.add(key)
            self.failed.discard(key)
        elif key not in self.done:
            self.failed.add(key)

    def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one line, durably (flush and fsync) before returning."""
        line = json.dumps(rio.to_jsonable(record), allow_nan=False, separators=(",", ":"))
        self._fh.write(line.encode("utf-8") + b"\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._note(record)
