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


def test_default_holidays_are_weekdays_of_2020_to_2027():
    # 9 a year in 2020-2022 (Juneteenth from 2022; no New Year closure in 2022), 10 after,
    # and the 2025-01-09 day of mourning
    assert len(DEFAULT_NYSE_HOLIDAYS) == 9 * 3 + 10 * 5 + 1
    for d in DEFAULT_NYSE_HOLIDAYS:
        assert d.weekday() < 5 and 2020 <= d.year <= 2027
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


# -- the default list, 2020-2027 -------------------------------------------------------------

@pytest.mark.parametrize("day", [
    date(2022, 6, 20),   # Juneteenth observed (19 June 2022 is a Sunday)
    date(2021, 4, 2),    # Good Friday
    date(2020, 11, 26),  # Thanksgiving
    date(2020, 7, 3),    # Independence Day observed (4 July 2020 is a Saturday)
    date(2021, 12, 24),  # Christmas observed (25 December 2021 is a Saturday)
    date(2023, 1, 2),    # New Year's Day observed (1 January 2023 is a Sunday)
    date(2024, 3, 29),   # Good Friday
    date(2025, 1, 9),    # National Day of Mourning, President Carter
])
def test_known_nyse_closures_2020_to_2025_are_closed(day):
    assert not CAL.is_open(ny(day.year, day.month, day.day, 12, 0)), day


@pytest.mark.parametrize("day", [
    date(2021, 12, 31),  # 1 January 2022 is a Saturday: the NYSE stays open on the Friday before
    date(2021, 6, 18),   # Juneteenth was not an NYSE closure before 2022
    date(2022, 8, 25),   # TSLA's 3-for-1 split took effect at this open
    date(2020, 11, 27),  # the day after Thanksgiving (an early close, not a closure)
    date(2024, 12, 24),  # Christmas Eve (early close)
    date(2023, 4, 10),   # Easter Monday
])
def test_known_nyse_open_days_2020_to_2024_are_open(day):
    assert CAL.is_open(ny(day.year, day.month, day.day, 12, 0)), day


def test_default_list_has_each_year_2020_to_2027_and_good_friday_two_days_before_easter():
    from dateutil.easter import easter

    years = {d.year for d in DEFAULT_NYSE_HOLIDAYS}
    assert years == set(range(2020, 2028))
    for y in years:
        assert easter(y) - timedelta(days=2) in DEFAULT_NYSE_HOLIDAYS, y
    assert not any(d.month == 6 and d.day in (18, 19, 20, 21) for d in DEFAULT_NYSE_HOLIDAYS
                   if d.year < 2022)
    assert len(DEFAULT_NYSE_HOLIDAYS) == len(set(DEFAULT_NYSE_HOLIDAYS))
    assert list(DEFAULT_NYSE_HOLIDAYS) == sorted(DEFAULT_NYSE_HOLIDAYS)
