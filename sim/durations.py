"""Durations ("3d", "12h", "90m") and event times ("day 30.5", "step 100", an ISO datetime).

Scenario files name times in words a researcher reads easily; these helpers turn them into
``timedelta`` and step indices. They raise ``ValueError`` with a short message; the scenario
loader adds the file and the field.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([wdhms])")
_DURATION = re.compile(r"^(?:\s*(?:\d+(?:\.\d*)?|\.\d+)\s*[wdhms])+\s*$")
_AT_DAY = re.compile(r"^\s*day\s+(\d+(?:\.\d*)?|\.\d+)\s*$", re.IGNORECASE)
_AT_STEP = re.compile(r"^\s*step\s+(\d+)\s*$", re.IGNORECASE)

# Offsets within this many minutes of a step boundary count as on it (float noise in "day 30.1").
_STEP_TOLERANCE = 1e-6

MAX_DAYS = 1.0e6
"""The longest duration or latest day a scenario can name: a million days (2,700 years), beyond
any run (runs lie within 1900-2200) and within what ``timedelta`` holds (999,999,999 days)."""


def parse_duration(text: str) -> timedelta:
    """``"3d"``, ``"12h"``, ``"90m"``, ``"1d12h"``, ``"1.5d"`` -> a positive timedelta.

    Units: w (weeks), d (days), h (hours), m (minutes), s (seconds).
    """
    if not isinstance(text, str) or not _DURATION.match(text.lower()):
        raise ValueError(
            f"cannot read duration {text!r}: use a number and a unit, e.g. '3d', '12h', '90m'"
        )
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text.lower()))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
    if not seconds <= MAX_DAYS * 86400:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"duration {shown!r} is longer than {MAX_DAYS:,.0f} days")
    return timedelta(seconds=seconds)


def parse_at(text: str) -> tuple[str, float | int | datetime]:
    """Read an event time: ``("day", 30.5)``, ``("step", 100)`` or ``("time", aware datetime)``.

    An ISO datetime without a zone is taken as UTC.
    """
    if not isinstance(text, str):
        raise ValueError(f"cannot read time {text!r}: use 'day 30', 'step 100' or an ISO datetime")
    if m := _AT_DAY.match(text):
        day = float(m.group(1))
        if not day <= MAX_DAYS:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise ValueError(f"time {shown!r} is later than day {MAX_DAYS:,.0f}")
        return "day", day
    if m := _AT_STEP.match(text):
        return "step", int(m.group(1))
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r}: use 'day 30', 'day 30.5', 'step 100' "
            "or an ISO datetime like '2025-08-08T22:00:00Z'"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return "time", when


def at_to_step(text: str, start: datetime, step_minutes: int) -> int:
    """The index of the first step whose time is at or after ``text`` (may be out of the run)."""
    kind, value = parse_at(text)
    if kind == "step":
        return int(value)
    if kind == "day":
        minutes = float(value) * 1440.0
    else:
        minutes = (value - start).total_seconds() / 60.0
    return _ceil_steps(minutes / step_minutes)


def duration_to_steps(text: str, step_minutes: int) -> int:
    """How many steps a duration lasts, rounded up (at least one)."""
    minutes = parse_duration(text).total_seconds() / 60.0
    return max(1, _ceil_steps(minutes / step_minutes))


def _ceil_steps(steps: float) -> int:
    return math.ceil(steps - _STEP_TOLERANCE)
