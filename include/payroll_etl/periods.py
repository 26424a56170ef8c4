"""Pay periods: the one helper that maps a logical date to a pay period.

Monthly: 12 calendar months. Four-weekly: period 1 starts on 1 January and every period is
28 days, so periods 1-13 cover 364 days; the remaining 1 day (2 in leap years) is handled by
``four_week_tail``: either ``"period13"`` (period 13 runs to 31 December, the 5-week case when
a 53rd week falls in) or ``"period14"`` (a short period 14 from the day after period 13 to
31 December). Which one a payroll uses is an employer setting (domain.md §2.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

Frequency = Literal["month", "four_weeks"]
Tail = Literal["period13", "period14"]


@dataclass(frozen=True)
class PayPeriod:
    frequency: Frequency
    year: int
    number: int
    start: date
    end: date

    @property
    def id(self) -> str:
        """Loket-style YYYYPP id."""
        return f"{self.year}{self.number:02d}"

    def previous(self, tail: Tail = "period13") -> PayPeriod:
        return period_for(self.start - timedelta(days=1), self.frequency, tail)

    def next(self, tail: Tail = "period13") -> PayPeriod:
        return period_for(self.end + timedelta(days=1), self.frequency, tail)


def periods_per_year(frequency: Frequency, year: int, tail: Tail = "period13") -> int:
    if frequency == "month":
        return 12
    return 14 if tail == "period14" else 13


def period_bounds(frequency: Frequency, year: int, number: int, tail: Tail = "period13") -> tuple[date, date]:
    if frequency == "month":
        if not 1 <= number <= 12:
            raise ValueError(f"monthly period number must be 1..12, got {number}")
        start = date(year, number, 1)
        end = date(year + (number == 12), number % 12 + 1, 1) - timedelta(days=1)
        return start, end
    last = periods_per_year(frequency, year, tail)
    if not 1 <= number <= last:
        raise ValueError(f"four-weekly period number must be 1..{last} for tail={tail}, got {number}")
    start = date(year, 1, 1) + timedelta(days=28 * (number - 1))
    if number < 13:
        return start, start + timedelta(days=27)
    if number == 13:
        return start, (start + timedelta(days=27) if tail == "period14" else date(year, 12, 31))
    return date(year, 1, 1) + timedelta(days=364), date(year, 12, 31)


def period_for(day: date, frequency: Frequency, tail: Tail = "period13") -> PayPeriod:
    """The pay period that contains ``day``."""
    if frequency == "month":
        number = day.month
    else:
        number = min((day - date(day.year, 1, 1)).days // 28 + 1, 13)
        if tail == "period14" and day >= date(day.year, 1, 1) + timedelta(days=364):
            number = 14
    start, end = period_bounds(frequency, day.year, number, tail)
    return PayPeriod(frequency, day.year, number, start, end)


def period_from_id(period_id: str, frequency: Frequency, tail: Tail = "period13") -> PayPeriod:
    year, number = int(period_id[:4]), int(period_id[4:])
    start, end = period_bounds(frequency, year, number, tail)
    return PayPeriod(frequency, year, number, start, end)


PAYROLL_TZ = "Europe/Amsterdam"


def local_day(moment: date | datetime, tz: str = PAYROLL_TZ) -> date:
    """The payroll (Dutch) calendar day of a logical date; an aware datetime is converted first.

    Airflow logical dates are UTC: 2025-01-31T23:30Z is already 1 February in Amsterdam.
    """
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            from zoneinfo import ZoneInfo

            moment = moment.astimezone(ZoneInfo(tz))
        return moment.date()
    return moment


def period_for_logical_date(logical_date: date | datetime, frequency: Frequency,
                            tail: Tail = "period13") -> PayPeriod:
    """The period a scheduled run or a backfill date processes.

    A nightly run at logical date D (Airflow 3's zero-width cron interval: D is the trigger time,
    ``data_interval_start == data_interval_end == D``) processes the period that contains D; a
    backfill over past dates therefore maps each date to the period it falls in. The data interval
    is deliberately not used. Runs without a logical date use ``run_after`` instead (the DAG does this).
    """
    return period_for(local_day(logical_date), frequency, tail)


def periods_between(first: date, last: date, frequency: Frequency, tail: Tail = "period13") -> list[PayPeriod]:
    """Every pay period that overlaps ``first``..``last`` (inclusive), in order.

    What a backfill over these logical dates processes (each date maps to the period containing it).
    """
    if last < first:
        return []
    periods = [period_for(first, frequency, tail)]
    while periods[-1].end < last:
        periods.append(periods[-1].next(tail))
    return periods


def backfill_logical_dates(first: date, last: date, frequency: Frequency, tail: Tail = "period13") -> list[date]:
    """One logical date per pay period overlapping ``first``..``last``: each period's first day.

    For a DAG that should backfill one run per period instead of one per night.
    """
    return [p.start for p in periods_between(first, last, frequency, tail)]
