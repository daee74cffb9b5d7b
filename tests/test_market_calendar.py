"""The NYSE session calendar and the UTC step clock."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sim.market.calendar import DEFAULT_NYSE_HOLIDAYS, NyseCalendar, step_times

NY = ZoneInfo("America/New_York")
CAL = NyseCalendar(DEFAULT_NYSE_HOLIDAYS)


def ny(*args):
    """A New York wall-clock time, as the UTC instant the simulation clock would hold."""
    return datetime(*args, tzinfo=NY).astimezone(UTC)


def test_new_york_time_zone_data_is_available():
    assert ny(2025, 1, 7, 10, 0).hour == 15     # EST = UTC-5
    assert ny(2025, 7, 8, 10, 0).hour == 14     # EDT = UTC-4


def test_weekend_from_friday_close_to_monday_open_is_closed():
    # Fri 2025-07-11 16:00 ET to Mon 2025-07-14 09:30 ET, every 15 minutes
    t, end = ny(2025, 7, 11, 16, 0), ny(2025, 7, 14, 9, 30)
    assert CAL.is_open(t - timedelta(minutes=1))
    while t < end:
        assert not CAL.is_open(t), t.astimezone(NY)
        t += timedelta(minutes=15)
    assert CAL.is_open(end)


def test_listed_holiday_is_closed_all_day():
    assert not CAL.is_open(ny(2025, 7, 4, 12, 0))          # a Friday
    assert CAL.is_open(ny(2025, 7, 3, 12, 0))
    assert NyseCalendar([]).is_open(ny(2025, 7, 4, 12, 0))  # only because it is listed


def test_tuesday_10am_is_open_in_winter_and_in_summer():
    winter, summer = ny(2025, 1, 14, 10, 0), ny(2025, 7, 8, 10, 0)
    assert CAL.is_open(winter) and CAL.is_open(summer)
    # 13:00 UTC in summer and 14:00 UTC in winter are both 09:00 ET: closed
    assert not CAL.is_open(datetime(2025, 7, 8, 13, 0, tzinfo=UTC))
    assert not CAL.is_open(datetime(2025, 1, 14, 14, 0, tzinfo=UTC))
    # 20:30 UTC is 15:30 EST (open) in winter but 16:30 EDT (closed) in summer
    assert CAL.is_open(datetime(2025, 1, 14, 20, 30, tzinfo=UTC))
    assert not CAL.is_open(datetime(2025, 7, 8, 20, 30, tzinfo=UTC))


def test_session_bounds_0929_closed_0930_open_1600_closed():
    assert not CAL.is_open(ny(2025, 3, 11, 9, 29))
    assert CAL.is_open(ny(2025, 3, 11, 9, 30))
    assert CAL.is_open(ny(2025, 3, 11, 15, 59))
    assert not CAL.is_open(ny(2025, 3, 11, 16, 0))


def test_dst_change_week():
    # US DST began Sunday 2025-03-09: Friday 09:30 EST = 14:30 UTC, Monday 09:30 EDT = 13:30 UTC
    assert CAL.is_open(datetime(2025, 3, 7, 14, 30, tzinfo=UTC))
    assert not CAL.is_open(datetime(2025, 3, 7, 13, 30, tzinfo=UTC))
    assert CAL.is_open(datetime(2025, 3, 10, 13, 30, tzinfo=UTC))


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.is_open(datetime(2025, 3, 11, 15, 0))


def test_default_holidays_are_weekdays_of_2025_to_2027():
    assert len(DEFAULT_NYSE_HOLIDAYS) == 31
    for d in DEFAULT_NYSE_HOLIDAYS:
        assert d.weekday() < 5 and 2025 <= d.year <= 2027
    assert date(2026, 7, 3) in DEFAULT_NYSE_HOLIDAYS and date(2027, 12, 24) in DEFAULT_NYSE_HOLIDAYS


def test_step_times_and_open_mask_of_an_hourly_week():
    times = step_times(datetime(2025, 7, 7, 0, 0, tzinfo=UTC), 24 * 7, 60)
    assert len(times) == 24 * 7 + 1
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    assert times[1] - times[0] == timedelta(hours=1)
    mask = CAL.open_mask(times)
    assert mask.dtype == np.bool_ and mask.shape == (len(times),)
    # Mon-Fri, steps starting 10:00..15:00 EDT (14..19 UTC) are open: 6 a day; 09:30 is not a step start
    assert mask.sum() == 5 * 6
    assert list(np.flatnonzero(mask[:24])) == [14, 15, 16, 17, 18, 19]


def test_step_times_converts_other_zones_to_utc():
    times = step_times(datetime(2025, 1, 6, 9, 30, tzinfo=NY), 2, 30)
    assert times[0] == datetime(2025, 1, 6, 14, 30, tzinfo=UTC)
    assert times[0].tzinfo == UTC
