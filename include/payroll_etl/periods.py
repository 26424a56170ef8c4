"""Pay periods: the one helper that maps a logical date to a pay period.

Calendars (docs/benefits.md "Pay calendars"; domain.md §2.3; nmbrs-rest.md "Company and period"):

* ``month``: 12 calendar months.
* ``week``: one period per ISO week (Monday..Sunday); the period year is the ISO year, so a year has
  52 or 53 periods (2026 has 53: week 53 = 28-12-2026..03-01-2027). Nmbrs period type ``1-week``,
  Loket ``payrollPeriodType`` key 4 ("week").
* ``four_weeks``: which four-weekly calendar is the ``tail`` (employer setting ``four_week_tail``):

  - ``"period13"`` (default): period 1 starts on 1 January, every period is 28 days and period 13
    runs to 31 December (it absorbs the 1 or 2 remaining days: the "5-week period 13" case).
  - ``"iso_weeks"``: week-based. Period 1 starts on the Monday of ISO week 1, every period is four
    ISO weeks (periods 1-13 = weeks 1-52); in a 53-week ISO year the 53rd week is a one-week
    **period 14** (2026: 28-12-2026..03-01-2027). The period year is the ISO year.
  - ``"period14"``: 1-January periods with the 1 or 2 remaining days as a short period 14
    (31 December, or 30-31 December in leap years). Kept for payrolls configured that way.

Where a source states its periods (Loket ``payrollperiods`` with start/end dates, Nmbrs
``Company_GetCurrentPeriod``/``Run_GetList``) the connectors use the source's dates; the functions
here are the calendar for everything the source does not state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

Frequency = Literal["month", "four_weeks", "week"]
Tail = Literal["period13", "period14", "iso_weeks"]
FREQUENCIES: tuple[str, ...] = ("month", "four_weeks", "week")
TAILS: tuple[str, ...] = ("period13", "period14", "iso_weeks")


@dataclass(frozen=True)
class PayPeriod:
    """One pay period: ``number`` within ``year`` (the ISO year for week-based calendars), inclusive
    ``start``..``end``, and the calendar (``frequency`` + ``tail``) it belongs to."""

    frequency: Frequency
    year: int
    number: int
    start: date
    end: date
    tail: Tail = "period13"

    @property
    def id(self) -> str:
        """Loket-style YYYYPP id."""
        return f"{self.year}{self.number:02d}"

    def previous(self, tail: Tail | None = None) -> PayPeriod:
        """The period before this one in the same calendar (``tail`` defaults to this period's)."""
        return period_for(self.start - timedelta(days=1), self.frequency, tail or self.tail)

    def next(self, tail: Tail | None = None) -> PayPeriod:
        """The period after this one in the same calendar (``tail`` defaults to this period's)."""
        return period_for(self.end + timedelta(days=1), self.frequency, tail or self.tail)


def check_calendar(frequency: str, tail: str = "period13") -> None:
    """Raise ValueError for a frequency or four-weekly calendar this module does not know."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown payroll frequency {frequency!r}: expected one of {', '.join(FREQUENCIES)}")
    if tail not in TAILS:
        raise ValueError(f"unknown four-weekly calendar {tail!r}: expected one of {', '.join(TAILS)}")


def iso_weeks_in_year(year: int) -> int:
    """52 or 53: the number of ISO weeks of ``year`` (28 December is always in its last week)."""
    return date(year, 12, 28).isocalendar()[1]


def _week_one(year: int) -> date:
    return date.fromisocalendar(year, 1, 1)


def _week_based(frequency: str, tail: str) -> bool:
    return frequency == "week" or (frequency == "four_weeks" and tail == "iso_weeks")


def periods_per_year(frequency: Frequency, year: int, tail: Tail = "period13") -> int:
    """How many pay periods the payroll has in ``year``: 12; 52/53 (week); 13 or 14 (four_weeks).

    Also the annualisation factor of a per-period wage (payroll_etl.benefits.calc.annualise).
    """
    check_calendar(frequency, tail)
    if frequency == "month":
        return 12
    if frequency == "week":
        return iso_weeks_in_year(year)
    if tail == "iso_weeks":
        return 14 if iso_weeks_in_year(year) == 53 else 13
    return 14 if tail == "period14" else 13


def calendar_tail(frequency: str, configured: str, stated: Iterable[tuple[int, int]]) -> str:
    """The four-weekly calendar that has every period number the source stated.

    The configured one when it fits; otherwise a stated period 14 in a 53-ISO-week year means the
    week-based calendar (``iso_weeks``): 1-January calendars with 13 periods have no period 14.
    """
    stated = list(stated)
    if frequency != "four_weeks":
        return configured
    if all(n <= periods_per_year("four_weeks", y, configured) for y, n in stated):  # type: ignore[arg-type]
        return configured
    if all(n <= periods_per_year("four_weeks", y, "iso_weeks") for y, n in stated):
        return "iso_weeks"
    return configured


def period_bounds(frequency: Frequency, year: int, number: int, tail: Tail = "period13") -> tuple[date, date]:
    """Inclusive (start, end) of period ``number`` of ``year``; ValueError when it does not exist."""
    check_calendar(frequency, tail)
    if frequency == "month":
        if not 1 <= number <= 12:
            raise ValueError(f"monthly period number must be 1..12, got {number}")
        start = date(year, number, 1)
        end = date(year + (number == 12), number % 12 + 1, 1) - timedelta(days=1)
        return start, end
    last = periods_per_year(frequency, year, tail)
    if not 1 <= number <= last:
        kind = "weekly" if frequency == "week" else "four-weekly"
        raise ValueError(f"{kind} period number must be 1..{last} in {year} for tail={tail}, got {number}")
    if frequency == "week":
        start = _week_one(year) + timedelta(weeks=number - 1)
        return start, start + timedelta(days=6)
    if tail == "iso_weeks":
        start = _week_one(year) + timedelta(days=28 * (number - 1))
        return start, start + timedelta(days=6 if number == 14 else 27)
    start = date(year, 1, 1) + timedelta(days=28 * (number - 1))
    if number < 13:
        return start, start + timedelta(days=27)
    if number == 13:
        return start, (start + timedelta(days=27) if tail == "period14" else date(year, 12, 31))
    return date(year, 1, 1) + timedelta(days=364), date(year, 12, 31)


def period_for(day: date, frequency: Frequency, tail: Tail = "period13") -> PayPeriod:
    """The pay period that contains ``day``."""
    check_calendar(frequency, tail)
    if _week_based(frequency, tail):
        year, week, _ = day.isocalendar()
        number = week if frequency == "week" else min((week - 1) // 4 + 1, 14)
    elif frequency == "month":
        year, number = day.year, day.month
    else:
        year = day.year
        number = min((day - date(day.year, 1, 1)).days // 28 + 1, 13)
        if tail == "period14" and day >= date(day.year, 1, 1) + timedelta(days=364):
            number = 14
    start, end = period_bounds(frequency, year, number, tail)
    return PayPeriod(frequency, year, number, start, end, tail)


def period_from_id(period_id: str, frequency: Frequency, tail: Tail = "period13") -> PayPeriod:
    """The period of a YYYYPP id in the given calendar; ValueError when it has no such period."""
    year, number = int(period_id[:4]), int(period_id[4:])
    start, end = period_bounds(frequency, year, number, tail)
    return PayPeriod(frequency, year, number, start, end, tail)


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
    When the source states its own periods, the connector replaces this computed period with the
    source's period containing D (``ExtractResult.period``; docs/benefits.md "Pay calendars").
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
