"""Versions of an employment and its wages, and which version applies on a day (pure, no I/O).

The inputs of ``calc.compute_basis``: warehouse rows as known at some time (docs/benefits.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from payroll_etl.errors import ConfigurationError

BASE_COMPONENT = "BASIS"


@dataclass(frozen=True)
class SalaryVersion:
    """One wage version of one component (a ``salary`` warehouse row, as known at some time)."""

    valid_from: date
    gross_amount: Decimal  # per period of ``frequency``, on ``basis``
    frequency: str  # month | four_weeks | week | hour | year
    component: str = BASE_COMPONENT
    holiday_allowance_pct: Decimal | None = None
    valid_to: date | None = None
    source_id: str = ""
    basis: str | None = None  # fulltime | actual | hourly; None: recorded before bases were kept (full-time)


FULLTIME_BASES = (None, "fulltime", "hourly")


@dataclass(frozen=True)
class EmploymentVersion:
    """One working-hours version of an employment (an ``employment`` warehouse row)."""

    valid_from: date
    start_date: date
    end_date: date | None = None
    part_time_factor: Decimal | None = None
    hours_per_week: Decimal | None = None
    fulltime_hours_per_week: Decimal | None = None
    valid_to: date | None = None


# --- which version applies when ------------------------------------------------------------

def peildatum(reference_date: date, rule: str, employment_start: date) -> date:
    """The date whose salary counts for ``reference_date``.

    ``fixed_1_january``: 1 January of the reference year, or the entry date when that is later
    (a raise during the year counts from next 1 January). ``follows_changes``: the date itself.
    Part-time factors are never fixed: they always come from the reference date itself.
    """
    if rule == "follows_changes":
        return reference_date
    if rule == "fixed_1_january":
        return max(date(reference_date.year, 1, 1), employment_start)
    raise ConfigurationError(f"unknown peildatum rule {rule!r}")


def _in_effect(valid_from: date, valid_to: date | None, day: date) -> bool:
    return valid_from <= day and (valid_to is None or valid_to >= day)


def salary_on(versions: Iterable[SalaryVersion], day: date) -> list[SalaryVersion]:
    """Per component, the version in effect on ``day`` (latest valid_from wins)."""
    best: dict[str, SalaryVersion] = {}
    for v in versions:
        if not _in_effect(v.valid_from, v.valid_to, day):
            continue
        code = (v.component or BASE_COMPONENT).upper()
        if code not in best or v.valid_from > best[code].valid_from:
            best[code] = v
    return [best[k] for k in sorted(best)]


def employment_on(versions: Iterable[EmploymentVersion], day: date) -> EmploymentVersion | None:
    """The employment version in effect on ``day`` (latest valid_from wins); None when there is none."""
    best = None
    for v in versions:
        if _in_effect(v.valid_from, v.valid_to, day) and (best is None or v.valid_from > best.valid_from):
            best = v
    return best
