"""Business-hours calendar: parsing, deadlines, elapsed business time, DST and holidays."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.routing.calendar import (
    HoursError,
    Interval,
    WorkingHours,
    add_business_days,
    add_business_time,
    business_time_between,
    is_working,
    national_holidays,
    next_working_start,
    parse_hours,
)

NY = "America/New_York"
BERLIN = "Europe/Berlin"
KOLKATA = "Asia/Kolkata"
H = timedelta(hours=1)
NINE_TO_FIVE = Interval(9 * 60, 17 * 60)


def at(tz: str, *parts: int) -> datetime:
    """A wall-clock time in ``tz`` (only used for times that exist exactly once)."""
    return datetime(*parts, tzinfo=ZoneInfo(tz))


def office(tz: str = NY, holidays: tuple[str, ...] = ()) -> WorkingHours:
    return parse_hours({"mon-fri": "09:00-17:00"}, tz, holidays)


# --- Parsing -------------------------------------------------------------------------------------


def test_parse_ranges_single_days_and_closed_days():
    hours = parse_hours({"mon-fri": "09:00-17:00", "sat": "10:00-12:00", "sun": "closed"}, NY)

    assert hours.week == ((NINE_TO_FIVE,),) * 5 + ((Interval(600, 720),), ())
    assert hours.timezone == NY
    assert hours.holidays == frozenset()


def test_parse_wrapping_range_comma_lists_and_full_day_names():
    hours = parse_hours({"Sun-Thu": "08:00-16:00", "Friday, sat": []}, "Asia/Jerusalem")

    assert [bool(day) for day in hours.week] == [True, True, True, True, False, False, True]


def test_parse_several_intervals_as_list_or_commas_sorted():
    as_list = parse_hours({"mon": ["13:00-17:00", "09:00-12:00"]}, NY)
    as_text = parse_hours({"mon": "09:00-12:00, 13:00-17:00"}, NY)

    assert as_list.week[0] == (Interval(540, 720), Interval(780, 1020))
    assert as_text == as_list


def test_parse_midnight_end_and_touching_intervals():
    hours = parse_hours({"sat": ["00:00-12:00", "12:00-24:00"]}, NY)

    assert hours.week[5] == (Interval(0, 720), Interval(720, 1440))


def test_parse_holidays_from_strings_and_dates_merged():
    hours = parse_hours({"mon": "09:00-17:00"}, NY, ["2026-12-24", date(2026, 12, 31)])

    assert hours.holidays == {date(2026, 12, 24), date(2026, 12, 31)}
    assert hours.with_holidays([date(2027, 1, 1)]).holidays == {
        date(2026, 12, 24),
        date(2026, 12, 31),
        date(2027, 1, 1),
    }


@pytest.mark.parametrize(
    ("week", "key", "fragment"),
    [
        ({"funday": "09:00-17:00"}, "funday", "unknown day 'funday'"),
        ({"mon-fry": "09:00-17:00"}, "mon-fry", "unknown day 'fry'"),
        ({"mon": "9am-5pm"}, "mon", "'9am-5pm' is not an interval"),
        ({"mon": ""}, "mon", "'' is not an interval"),
        ({"mon": "17:00-09:00"}, "mon", "17:00-09:00 does not end after it starts"),
        ({"mon": "09:00-09:00"}, "mon", "does not end after it starts"),
        ({"mon": "25:00-26:00"}, "mon", "not a time of day"),
        ({"mon": "09:00-24:30"}, "mon", "not a time of day"),
        ({"mon": "09:60-10:00"}, "mon", "not a time of day"),
        ({"mon": ["09:00-13:00", "12:00-17:00"]}, "mon", "09:00-13:00 and 12:00-17:00 overlap"),
        ({"mon-fri": "09:00-17:00", "fri": "09:00-12:00"}, "fri", "fri is given twice"),
        ({"mon": 9}, "mon", "expected intervals"),
        ({"mon": ["09:00-12:00", 13]}, "mon", "expected intervals"),
        ({1: "09:00-17:00"}, "1", "1 is not a day name"),
    ],
)
def test_parse_errors_name_the_bad_key(week, key, fragment):
    with pytest.raises(HoursError, match=re.escape(fragment)) as caught:
        parse_hours(week, NY)

    assert caught.value.key == key


@pytest.mark.parametrize("week", [{}, {"mon": "closed"}, {"mon-sun": []}])
def test_a_week_without_working_time_is_an_error(week):
    with pytest.raises(HoursError, match="no working time") as caught:
        parse_hours(week, NY)

    assert caught.value.key is None


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "America", 5])
def test_unknown_timezone_is_an_error(zone):
    with pytest.raises(HoursError, match="timezone") as caught:
        parse_hours({"mon": "09:00-17:00"}, zone)

    assert caught.value.key == "timezone"


@pytest.mark.parametrize("holiday", ["2026-13-01", "next friday", 20261224, datetime(2026, 1, 1)])
def test_bad_holiday_is_an_error(holiday):
    with pytest.raises(HoursError, match="is not a date") as caught:
        parse_hours({"mon": "09:00-17:00"}, NY, [holiday])

    assert caught.value.key == "holidays"


def test_hours_built_directly_are_checked_too():
    monday = (Interval(780, 1020), Interval(540, 720))
    with pytest.raises(HoursError, match="not in order"):
        WorkingHours((monday,) + ((),) * 6, NY)
    with pytest.raises(HoursError, match="7 days"):
        WorkingHours(((NINE_TO_FIVE,),) * 6, NY)
    with pytest.raises(ValueError, match="does not end after it starts"):
        Interval(600, 540)
    with pytest.raises(ValueError, match="outside 00:00-24:00"):
        Interval(600, 1441)


# --- National holidays ---------------------------------------------------------------------------


def test_national_holidays_of_a_country_and_subdivision():
    us = national_holidays("US", [2026])
    germany = national_holidays("DE", [2026, 2027])
    bavaria = national_holidays("DE", [2026], subdivision="BY")

    assert date(2026, 11, 26) in us  # Thanksgiving
    assert date(2026, 7, 3) in us  # Independence Day falls on a Saturday: observed Friday
    assert {date(2026, 12, 25), date(2027, 12, 25)} <= germany
    assert date(2026, 12, 24) not in germany
    assert date(2026, 1, 6) in bavaria - germany  # Epiphany is only regional


@pytest.mark.parametrize(("country", "subdivision"), [("XX", None), ("US", "ZZ")])
def test_unknown_country_or_subdivision_is_an_error(country, subdivision):
    with pytest.raises(HoursError, match=country if subdivision is None else subdivision) as caught:
        national_holidays(country, [2026], subdivision)

    assert caught.value.key == "country"


# --- Deadlines -----------------------------------------------------------------------------------


def test_friday_afternoon_plus_four_hours_is_monday_noon():
    deadline = add_business_time(at(NY, 2026, 1, 9, 16), 4 * H, office())

    assert deadline == at(NY, 2026, 1, 12, 12)
    assert deadline.tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        ((2026, 1, 14, 7), H, (2026, 1, 14, 10)),  # before opening: counting starts at 09:00
        ((2026, 1, 14, 19), H, (2026, 1, 15, 10)),  # after closing: next morning
        ((2026, 1, 14, 17), H, (2026, 1, 15, 10)),  # exactly at closing: closed
        ((2026, 1, 14, 17), timedelta(0), (2026, 1, 15, 9)),
        ((2026, 1, 14, 16), H, (2026, 1, 14, 17)),  # may end exactly at closing
        ((2026, 1, 14, 9), timedelta(0), (2026, 1, 14, 9)),  # opening time is working time
        ((2026, 1, 14, 12), timedelta(0), (2026, 1, 14, 12)),
        ((2026, 1, 10, 12), 90 * timedelta(minutes=1), (2026, 1, 12, 10, 30)),  # Saturday
    ],
)
def test_deadline_from_starts_around_opening_hours(start, duration, expected):
    assert add_business_time(at(NY, *start), duration, office()) == at(NY, *expected)


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        (NY, datetime(2026, 1, 14, 18, tzinfo=UTC)),  # 07:00 local: waits for 09:00 EST
        (BERLIN, datetime(2026, 1, 14, 16, tzinfo=UTC)),  # 13:00 local: done at 17:00 CET
        (KOLKATA, datetime(2026, 1, 15, 7, 30, tzinfo=UTC)),  # 17:30 local: Thursday 13:00 IST
    ],
)
def test_same_instant_gives_deadlines_in_each_owners_own_hours(tz, expected):
    start = datetime(2026, 1, 14, 12, tzinfo=UTC)

    assert add_business_time(start, 4 * H, office(tz)) == expected


def test_half_hour_offset_opening_and_start_given_in_another_zone():
    kolkata = office(KOLKATA)

    assert is_working(datetime(2026, 1, 14, 3, 30, tzinfo=UTC), kolkata)  # 09:00 IST
    assert not is_working(datetime(2026, 1, 14, 3, 29, tzinfo=UTC), kolkata)
    assert add_business_time(at(BERLIN, 2026, 1, 14, 15), H, office(NY)) == at(NY, 2026, 1, 14, 10)


def test_lunch_break_is_skipped():
    hours = parse_hours({"mon-fri": ["09:00-12:00", "13:00-17:00"]}, NY)

    assert add_business_time(at(NY, 2026, 1, 14, 11), 2 * H, hours) == at(NY, 2026, 1, 14, 14)
    assert next_working_start(at(NY, 2026, 1, 14, 12, 30), hours) == at(NY, 2026, 1, 14, 13)
    assert not is_working(at(NY, 2026, 1, 14, 12, 30), hours)
    assert business_time_between(at(NY, 2026, 1, 14), at(NY, 2026, 1, 15), hours) == 7 * H


def test_explicit_holiday_is_skipped():
    hours = office(holidays=("2026-01-12",))

    assert add_business_time(at(NY, 2026, 1, 9, 16), 4 * H, hours) == at(NY, 2026, 1, 13, 12)
    assert not is_working(at(NY, 2026, 1, 12, 10), hours)


def test_us_thanksgiving_from_the_holidays_package():
    hours = office().with_holidays(national_holidays("US", [2026]))

    assert add_business_time(at(NY, 2026, 11, 25, 16), 2 * H, hours) == at(NY, 2026, 11, 27, 10)
    assert add_business_time(at(NY, 2026, 11, 25, 16), 2 * H, office()) == at(NY, 2026, 11, 26, 10)


def test_german_christmas_merged_with_an_explicit_day():
    national = national_holidays("DE", [2026])
    hours = parse_hours({"mon-fri": "09:00-17:00"}, BERLIN, national)
    with_eve = parse_hours({"mon-fri": "09:00-17:00"}, BERLIN, ["2026-12-24", *national])
    start = at(BERLIN, 2026, 12, 24, 16)  # Thursday; the 25th is a holiday, the 26th a Saturday

    assert add_business_time(start, 2 * H, hours) == at(BERLIN, 2026, 12, 28, 10)
    assert add_business_time(start, 2 * H, with_eve) == at(BERLIN, 2026, 12, 28, 11)


def test_long_durations_cross_many_weeks():
    start = at(NY, 2026, 1, 5, 9)  # a Monday

    assert add_business_time(start, 40 * H, office()) == at(NY, 2026, 1, 9, 17)
    # 30 days of business time = 90 eight-hour days = 18 weeks; crosses the March DST change
    deadline = add_business_time(start, timedelta(days=30), office())
    assert deadline == at(NY, 2026, 5, 8, 17)
    assert business_time_between(start, deadline, office()) == timedelta(days=30)


# --- Daylight saving -----------------------------------------------------------------------------


def test_weekday_deadline_keeps_local_time_across_dst_weekends():
    spring = add_business_time(at(NY, 2026, 3, 6, 16), 4 * H, office())
    autumn = add_business_time(at(NY, 2026, 10, 30, 16), 4 * H, office())

    assert spring == datetime(2026, 3, 9, 16, tzinfo=UTC)  # 12:00 EDT
    assert autumn == datetime(2026, 11, 2, 17, tzinfo=UTC)  # 12:00 EST


@pytest.mark.parametrize(
    ("tz", "sunday", "interval", "real"),
    [
        (NY, date(2026, 3, 8), "09:00-17:00", 8 * H),
        (NY, date(2026, 3, 8), "00:00-08:00", 7 * H),
        (NY, date(2026, 3, 8), "02:00-03:00", timedelta(0)),  # the hour does not exist
        (NY, date(2026, 3, 8), "01:00-04:00", 2 * H),
        (NY, date(2026, 3, 8), "02:30-04:00", H),  # 02:30 is the jump: 03:00 EDT
        (NY, date(2026, 3, 15), "02:00-03:00", H),
        (NY, date(2026, 11, 1), "00:00-08:00", 9 * H),
        (NY, date(2026, 11, 1), "01:00-02:00", 2 * H),  # from the first 01:00
        (NY, date(2026, 11, 1), "02:00-03:00", H),
        (NY, date(2026, 11, 1), "01:30-01:45", timedelta(minutes=15)),
        (BERLIN, date(2026, 3, 29), "02:00-03:00", timedelta(0)),
        (BERLIN, date(2026, 3, 29), "01:00-04:00", 2 * H),
        (BERLIN, date(2026, 3, 29), "00:00-08:00", 7 * H),
        (BERLIN, date(2026, 10, 25), "02:00-03:00", 2 * H),
        (BERLIN, date(2026, 10, 25), "01:00-04:00", 4 * H),
        (BERLIN, date(2026, 10, 25), "00:00-08:00", 9 * H),
        (BERLIN, date(2026, 10, 18), "02:00-03:00", H),
    ],
)
def test_real_time_in_an_interval_on_dst_sundays(tz, sunday, interval, real):
    hours = parse_hours({"sun": interval}, tz)
    day_start = at(tz, sunday.year, sunday.month, sunday.day)
    next_day = sunday + timedelta(days=1)

    elapsed = business_time_between(day_start, at(tz, *next_day.timetuple()[:3]), hours)

    assert elapsed == real


def test_deadline_inside_an_interval_containing_the_change():
    hours = parse_hours({"sun": "00:00-08:00"}, NY)

    spring = add_business_time(at(NY, 2026, 3, 8), 7 * H, hours)
    autumn = add_business_time(at(NY, 2026, 11, 1), 9 * H, hours)

    assert spring == at(NY, 2026, 3, 8, 8) == datetime(2026, 3, 8, 12, tzinfo=UTC)
    assert autumn == at(NY, 2026, 11, 1, 8) == datetime(2026, 11, 1, 13, tzinfo=UTC)


def test_an_hour_inside_the_gap_is_skipped_to_the_next_week():
    hours = parse_hours({"sun": "02:00-03:00"}, NY)
    saturday = at(NY, 2026, 3, 7, 12)

    assert next_working_start(saturday, hours) == datetime(2026, 3, 15, 6, tzinfo=UTC)
    assert not is_working(datetime(2026, 3, 8, 7, tzinfo=UTC), hours)  # the jump itself


def test_fall_back_counts_both_passes_of_the_repeated_hour():
    hours = parse_hours({"sun": "02:00-03:00"}, BERLIN)
    first_pass = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second_pass = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET

    assert is_working(first_pass, hours)
    assert is_working(second_pass, hours)
    assert add_business_time(first_pass, H, hours) == second_pass


# --- Elapsed time and misuse ---------------------------------------------------------------------


def test_business_time_between_across_a_weekend_and_backwards():
    friday, monday = at(NY, 2026, 1, 9, 16), at(NY, 2026, 1, 12, 10)

    assert business_time_between(friday, monday, office()) == 2 * H
    assert business_time_between(monday, friday, office()) == timedelta(0)
    assert business_time_between(monday, monday, office()) == timedelta(0)


def test_naive_datetimes_and_negative_durations_are_refused():
    naive = datetime(2026, 1, 14, 10)
    aware = at(NY, 2026, 1, 14, 10)

    with pytest.raises(ValueError, match="start must be timezone-aware"):
        add_business_time(naive, H, office())
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        business_time_between(aware, naive, office())
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        is_working(naive, office())
    with pytest.raises(ValueError, match="must not be negative"):
        add_business_time(aware, -H, office())


# --- Properties ----------------------------------------------------------------------------------

ZONES = [NY, BERLIN, KOLKATA, "Australia/Lord_Howe", "America/Sao_Paulo", "Pacific/Apia", "UTC"]


@st.composite
def working_hours(draw: st.DrawFn) -> WorkingHours:
    """Random weeks; Lord Howe (30-minute DST), Sao Paulo (DST at midnight until 2019) and Apia
    (skipped 2011-12-30 entirely) stress the wall-clock rules."""
    week = []
    for _ in range(7):
        points = sorted(draw(st.sets(st.integers(0, 1440), max_size=6)))
        week.append(tuple(Interval(a, b) for a, b in zip(points[::2], points[1::2], strict=False)))
    if not any(week):
        week[0] = (NINE_TO_FIVE,)
    holidays = draw(st.frozensets(st.dates(date(2011, 1, 1), date(2012, 12, 31)), max_size=20))
    return WorkingHours(tuple(week), draw(st.sampled_from(ZONES)), holidays)


def weekly_minutes(hours: WorkingHours) -> int:
    return sum(i.end - i.start for day in hours.week for i in day)


zones = st.sampled_from(ZONES).map(ZoneInfo)
instants = st.datetimes(datetime(2011, 1, 1), datetime(2027, 12, 31), timezones=zones)


@given(hours=working_hours(), start=instants, data=st.data())
@settings(deadline=None, max_examples=300)
def test_round_trip_between_start_and_deadline(hours, start, data):
    # Up to about six weeks' worth, so sparse random weeks stay fast.
    limit = weekly_minutes(hours) * 60 * 6
    duration = timedelta(microseconds=data.draw(st.integers(0, limit * 10**6)))

    deadline = add_business_time(start, duration, hours)

    assert business_time_between(start, deadline, hours) == duration
    assert deadline >= start
    assert deadline.tzinfo is UTC
    if duration:
        assert business_time_between(start, deadline - timedelta(microseconds=1), hours) < duration


@given(hours=working_hours(), start=instants)
@settings(deadline=None)
def test_zero_duration_is_the_next_working_instant(hours, start):
    first = add_business_time(start, timedelta(0), hours)

    assert first == next_working_start(start, hours)
    assert is_working(first, hours)
    # In UTC: Python never finds an aware time in a DST gap or fold equal to one in another zone.
    assert is_working(start, hours) == (first == start.astimezone(UTC))


gaps = st.timedeltas(timedelta(0), timedelta(days=60))


@given(hours=working_hours(), a=instants, first=gaps, second=gaps, zone=zones)
@settings(deadline=None)
def test_business_time_adds_up_and_never_exceeds_real_time(hours, a, first, second, zone):
    # Step in UTC: aware arithmetic within one zone is wall-clock arithmetic and drops ``fold``,
    # so ``a + first`` can be real time *before* ``a`` in a DST fold or gap. astimezone() then
    # shows b and c in a zone with the right fold, keeping a <= b <= c in real time.
    b = (a.astimezone(UTC) + first).astimezone(zone)
    c = (b.astimezone(UTC) + second).astimezone(zone)

    whole = business_time_between(a, c, hours)

    assert whole == business_time_between(a, b, hours) + business_time_between(b, c, hours)
    assert timedelta(0) <= whole <= c.astimezone(UTC) - a.astimezone(UTC)  # real elapsed time


def test_folded_and_skipped_wall_times_are_read_as_their_real_instants():
    # What the property above first tripped over: the same wall time with another fold is
    # another instant, an hour apart, although ``-`` on same-zone datetimes says zero.
    hours = parse_hours({"sun": "00:00-04:00"}, NY)
    edt = datetime(2011, 11, 6, 1, 30, tzinfo=ZoneInfo(NY))  # 05:30 UTC
    est = edt.replace(fold=1)  # 06:30 UTC
    assert business_time_between(edt, est, hours) == H
    assert business_time_between(est, edt, hours) == timedelta(0)
    assert business_time_between(est, est + timedelta(0), hours) == timedelta(0)  # fold dropped
    assert business_time_between(est + timedelta(0), est, hours) == H

    hours = parse_hours({"sun": "00:00-08:00"}, NY)
    gap_early = datetime(2011, 3, 13, 2, 0, fold=1, tzinfo=ZoneInfo(NY))  # read as EDT: 06:00 UTC
    gap_late = gap_early.replace(fold=0)  # read as EST: 07:00 UTC
    assert gap_late - gap_early == timedelta(0)
    assert business_time_between(gap_early, gap_late, hours) == H
    assert business_time_between(gap_late, gap_early, hours) == timedelta(0)


def test_business_days_end_at_the_close_of_the_last_working_day():
    hours = parse_hours({"mon-fri": "09:00-17:00"}, "Europe/Madrid", ["2026-11-09"])
    friday = datetime(2026, 11, 6, 15, 0, tzinfo=UTC)  # 16:00 in Madrid

    # Monday is a holiday: Tuesday and Wednesday are the two working days.
    assert add_business_days(friday, 2, hours) == datetime(2026, 11, 11, 16, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="at least 1"):
        add_business_days(friday, 0, hours)
