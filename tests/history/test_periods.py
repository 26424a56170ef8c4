"""Pay-period mapping: monthly, four-weekly with period 13 tail or period 14, leap years, backfill dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from payroll_etl.periods import (
    backfill_logical_dates,
    period_bounds,
    period_for,
    period_for_logical_date,
    period_from_id,
    periods_between,
    periods_per_year,
)


def test_monthly_bounds_and_ids():
    p = period_for(date(2024, 2, 15), "month")
    assert (p.id, p.start, p.end) == ("202402", date(2024, 2, 1), date(2024, 2, 29))  # leap February
    assert period_for(date(2025, 12, 31), "month").end == date(2025, 12, 31)
    assert period_for(date(2025, 12, 31), "month").next().id == "202601"
    assert period_for(date(2025, 1, 1), "month").previous().id == "202412"


@pytest.mark.parametrize("year", [2024, 2025, 2026])
@pytest.mark.parametrize("tail", ["period13", "period14"])
def test_four_weekly_periods_tile_the_year_exactly(year, tail):
    n = periods_per_year("four_weeks", year, tail)
    bounds = [period_bounds("four_weeks", year, k, tail) for k in range(1, n + 1)]
    assert bounds[0][0] == date(year, 1, 1) and bounds[-1][1] == date(year, 12, 31)
    for (_, end), (start, _) in zip(bounds, bounds[1:]):
        assert start == end + timedelta(days=1)
    assert all((e - s).days == 27 for s, e in bounds[:12])
    day = date(year, 1, 1)
    while day.year == year:  # every day maps to the period whose bounds contain it
        p = period_for(day, "four_weeks", tail)
        assert p.start <= day <= p.end and (p.start, p.end) == bounds[p.number - 1]
        day += timedelta(days=1)


def test_period_13_tail_absorbs_the_remaining_days():
    p13 = period_for(date(2025, 12, 31), "four_weeks", "period13")
    assert (p13.number, p13.start, p13.end) == (13, date(2025, 12, 3), date(2025, 12, 31))  # 29 days
    leap = period_for(date(2024, 12, 31), "four_weeks", "period13")
    assert (leap.number, leap.start, leap.end) == (13, date(2024, 12, 2), date(2024, 12, 31))  # 30 days


def test_period_14_is_the_short_tail():
    p14 = period_for(date(2025, 12, 31), "four_weeks", "period14")
    assert (p14.id, p14.start, p14.end) == ("202514", date(2025, 12, 31), date(2025, 12, 31))
    assert period_for(date(2025, 12, 30), "four_weeks", "period14").number == 13
    leap = period_for(date(2024, 12, 30), "four_weeks", "period14")
    assert (leap.id, leap.start, leap.end) == ("202414", date(2024, 12, 30), date(2024, 12, 31))  # 2 days
    assert leap.next("period14").id == "202501"
    assert period_for(date(2025, 1, 1), "four_weeks", "period14").previous("period14").id == "202414"
    assert period_from_id("202414", "four_weeks", "period14") == leap
    with pytest.raises(ValueError):
        period_from_id("202514", "four_weeks", "period13")


def test_leap_day_falls_in_period_3():
    p = period_for(date(2024, 2, 29), "four_weeks")
    assert (p.number, p.start, p.end) == (3, date(2024, 2, 26), date(2024, 3, 24))


def test_logical_dates_of_a_daily_backfill_map_to_periods():
    # airflow backfill create --from-date 2025-01-01 --to-date 2025-03-01 on "0 2 * * *": runs at 02:00
    # on 2025-01-01 .. 2025-02-28 (the to-date is compared with the logical timestamp, so 03-01 is excluded)
    runs = [datetime(2025, 1, 1, 2, tzinfo=UTC) + timedelta(days=d) for d in range(59)]
    assert sorted({period_for_logical_date(r, "month").id for r in runs}) == ["202501", "202502"]
    four = {period_for_logical_date(r, "four_weeks").id for r in runs}
    assert sorted(four) == ["202501", "202502", "202503"]  # 1-28 Jan, 29 Jan-25 Feb, 26 Feb-25 Mar


def test_logical_date_is_read_in_the_payroll_time_zone():
    # 23:30 UTC on 31 January is already 1 February in Amsterdam: February's period
    assert period_for_logical_date(datetime(2025, 1, 31, 23, 30, tzinfo=UTC), "month").id == "202502"
    assert period_for_logical_date(date(2025, 1, 31), "month").id == "202501"


def test_year_end_backfill_covers_period_13_or_14():
    assert [p.id for p in periods_between(date(2025, 11, 20), date(2026, 1, 5), "four_weeks", "period14")] == [
        "202512", "202513", "202514", "202601"]
    assert [p.id for p in periods_between(date(2025, 11, 20), date(2026, 1, 5), "four_weeks")] == [
        "202512", "202513", "202601"]
    assert backfill_logical_dates(date(2024, 12, 1), date(2024, 12, 31), "four_weeks", "period14") == [
        date(2024, 11, 4), date(2024, 12, 2), date(2024, 12, 30)]
    assert periods_between(date(2025, 2, 1), date(2025, 1, 1), "month") == []


# ---- issue 15: weekly and week-based four-weekly calendars

def test_weekly_periods_are_iso_weeks_with_53_in_2026():
    assert periods_per_year("week", 2026) == 53 and periods_per_year("week", 2025) == 52
    p = period_for(date(2026, 11, 11), "week")
    assert (p.id, p.start, p.end) == ("202646", date(2026, 11, 9), date(2026, 11, 15))
    last = period_for(date(2027, 1, 2), "week")  # still ISO 2026
    assert (last.id, last.start, last.end) == ("202653", date(2026, 12, 28), date(2027, 1, 3))
    assert last.next().id == "202701" and period_from_id("202653", "week") == last
    with pytest.raises(ValueError):
        period_from_id("202553", "week")


def test_weekly_backfill_maps_each_logical_date_to_its_week():
    days = [datetime(2026, 11, d, 2, tzinfo=UTC) for d in (4, 11, 18)]
    assert [period_for_logical_date(d, "week").id for d in days] == ["202645", "202646", "202647"]
    assert backfill_logical_dates(date(2026, 11, 4), date(2026, 11, 18), "week") == [
        date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_week_based_four_weekly_tiles_iso_years(year):
    n = periods_per_year("four_weeks", year, "iso_weeks")
    assert n == (14 if year == 2026 else 13)
    bounds = [period_bounds("four_weeks", year, k, "iso_weeks") for k in range(1, n + 1)]
    assert bounds[0][0] == date.fromisocalendar(year, 1, 1)
    assert bounds[-1][1] + timedelta(days=1) == date.fromisocalendar(year + 1, 1, 1)
    for (_, end), (start, _) in zip(bounds, bounds[1:]):
        assert start == end + timedelta(days=1)


def test_2026_period_14_of_a_week_based_four_weekly_payroll():
    p14 = period_for(date(2026, 12, 30), "four_weeks", "iso_weeks")
    assert (p14.id, p14.start, p14.end, p14.tail) == ("202614", date(2026, 12, 28), date(2027, 1, 3), "iso_weeks")
    assert period_for(date(2027, 1, 3), "four_weeks", "iso_weeks").id == "202614"
    assert p14.next().id == "202701" and p14.previous().id == "202613"
    assert period_for(date(2025, 12, 29), "four_weeks", "iso_weeks").id == "202601"  # ISO week 1 of 2026
    assert [p.id for p in periods_between(date(2026, 12, 1), date(2027, 1, 5), "four_weeks", "iso_weeks")] == [
        "202613", "202614", "202701"]


def test_calendar_tail_follows_a_stated_period_14():
    from payroll_etl.periods import calendar_tail

    assert calendar_tail("four_weeks", "period13", [(2026, 13)]) == "period13"
    assert calendar_tail("four_weeks", "period13", [(2026, 14)]) == "iso_weeks"
    assert calendar_tail("four_weeks", "period14", [(2025, 14)]) == "period14"
    assert calendar_tail("month", "period13", [(2026, 12)]) == "period13"


def test_unknown_frequency_or_calendar_is_refused():
    with pytest.raises(ValueError, match="unknown payroll frequency"):
        period_for(date(2026, 1, 1), "quarter")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown four-weekly calendar"):
        period_for(date(2026, 1, 1), "four_weeks", "period15")  # type: ignore[arg-type]
