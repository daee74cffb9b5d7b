"""The NYSE session calendar and the simulation clock (design section 3).

The clock is UTC; the stock market is open Mon-Fri 09:30-16:00 America/New_York (so the UTC
hours of the session move with daylight saving time), except on listed full-day holidays.
A step counts as open when its start time lies inside the session. Early closes (13:00 on
the day after Thanksgiving and before Christmas) are not modelled: the session is a full one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

NEW_YORK = ZoneInfo("America/New_York")
SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)

# NYSE full-day closures 2020-2027 (nyse.com "Holidays and trading hours"; observed dates
# when a holiday falls on a weekend; no Friday closure when 1 January is a Saturday, as on
# 1 January 2022). Juneteenth is a closure from 2022 on. Special closures in the range: only
# the 2025-01-09 national day of mourning (the last before it, 2018-12-05, is out of range).
DEFAULT_NYSE_HOLIDAYS: tuple[date, ...] = (
    # 2020
    date(2020, 1, 1),    # New Year's Day
    date(2020, 1, 20),   # Martin Luther King Jr. Day
    date(2020, 2, 17),   # Washington's Birthday
    date(2020, 4, 10),   # Good Friday
    date(2020, 5, 25),   # Memorial Day
    date(2020, 7, 3),    # Independence Day observed (4 July is a Saturday)
    date(2020, 9, 7),    # Labor Day
    date(2020, 11, 26),  # Thanksgiving
    date(2020, 12, 25),  # Christmas
    # 2021
    date(2021, 1, 1),
    date(2021, 1, 18),
    date(2021, 2, 15),
    date(2021, 4, 2),    # Good Friday
    date(2021, 5, 31),
    date(2021, 7, 5),    # Independence Day observed (4 July is a Sunday)
    date(2021, 9, 6),
    date(2021, 11, 25),
    date(2021, 12, 24),  # Christmas observed (25 December is a Saturday)
    # 2022 (1 January is a Saturday: no closure on 31 December 2021)
    date(2022, 1, 17),
    date(2022, 2, 21),
    date(2022, 4, 15),   # Good Friday
    date(2022, 5, 30),
    date(2022, 6, 20),   # Juneteenth observed (19 June is a Sunday), the first NYSE Juneteenth
    date(2022, 7, 4),
    date(2022, 9, 5),
    date(2022, 11, 24),
    date(2022, 12, 26),  # Christmas observed (25 December is a Sunday)
    # 2023
    date(2023, 1, 2),    # New Year's Day observed (1 January is a Sunday)
    date(2023, 1, 16),
    date(2023, 2, 20),
    date(2023, 4, 7),    # Good Friday
    date(2023, 5, 29),
    date(2023, 6, 19),
    date(2023, 7, 4),
    date(2023, 9, 4),
    date(2023, 11, 23),
    date(2023, 12, 25),
    # 2024
    date(2024, 1, 1),
    date(2024, 1, 15),
    date(2024, 2, 19),
    date(2024, 3, 29),   # Good Friday
    date(2024, 5, 27),
    date(2024, 6, 19),
    date(2024, 7, 4),
    date(2024, 9, 2),
    date(2024, 11, 28),
    date(2024, 12, 25),
    # 2025
    date(2025, 1, 1),    # New Year's Day
    date(2025, 1, 9),    # National Day of Mourning, President Carter
    date(2025, 1, 20),   # Martin Luther King Jr. Day
    date(2025, 2, 17),   # Washington's Birthday
    date(2025, 4, 18),   # Good Friday
    date(2025, 5, 26),   # Memorial Day
    date(2025, 6, 19),   # Juneteenth
    date(2025, 7, 4),    # Independence Day
    date(2025, 9, 1),    # Labor Day
    date(2025, 11, 27),  # Thanksgiving
    date(2025, 12, 25),  # Christmas
    # 2026
    date(2026, 1, 1),
    date(2026, 1, 19),
    date(2026, 2, 16),
    date(2026, 4, 3),
    date(2026, 5, 25),
    date(2026, 6, 19),
    date(2026, 7, 3),    # Independence Day observed (4 July is a Saturday)
    date(2026, 9, 7),
    date(2026, 11, 26),
    date(2026, 12, 25),
    # 2027
    date(2027, 1, 1),
    date(2027, 1, 18),
    date(2027, 2, 15),
    date(2027, 3, 26),
    date(2027, 5, 31),
    date(2027, 6, 18),   # Juneteenth observed (19 June is a Saturday)
    date(2027, 7, 5),    # Independence Day observed (4 July is a Sunday)
    date(2027, 9, 6),
    date(2027, 11, 25),
    date(2027, 12, 24),  # Christmas observed (25 December is a Saturday)
)


def _require_aware(name: str, t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name}: needs a timezone-aware datetime (UTC), got naive {t.isoformat()}")


class NyseCalendar:
    """Says whether the NYSE regular session is open at a UTC instant."""

    def __init__(self, holidays: Iterable[date] = DEFAULT_NYSE_HOLIDAYS) -> None:
        self.holidays: frozenset[date] = frozenset(
            h.date() if isinstance(h, datetime) else h for h in holidays
        )

    def is_open(self, t: datetime) -> bool:
        """True if ``t`` (tz-aware) falls in a regular session: 09:30 <= NY time < 16:00."""
        _require_aware("t", t)
        local = t.astimezone(NEW_YORK)
        if local.weekday() >= 5 or local.date() in self.holidays:
            return False
        return SESSION_OPEN <= local.time() < SESSION_CLOSE

    def open_mask(self, times: Iterable[datetime]) -> np.ndarray:
        """``is_open`` of each time, as a bool array."""
        return np.fromiter((self.is_open(t) for t in times), dtype=bool)


def step_times(start: datetime, n_steps: int, step_minutes: float) -> list[datetime]:
    """The ``n_steps + 1`` UTC instants that bound the steps: start, start + dt, ..."""
    _require_aware("start", start)
    if int(n_steps) != n_steps or n_steps < 0:
        raise ValueError(f"n_steps: must be an integer >= 0, got {n_steps}")
    if not step_minutes > 0:
        raise ValueError(f"step_minutes: must be > 0, got {step_minutes}")
    start_utc = start.astimezone(UTC)
    step = timedelta(minutes=step_minutes)
    return [start_utc + i * step for i in range(int(n_steps) + 1)]
