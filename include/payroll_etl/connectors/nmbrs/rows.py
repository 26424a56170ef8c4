"""Canonical rows both Nmbrs connectors build the same way (SOAP :mod:`payroll_etl.connectors.nmbrs`,
REST :mod:`payroll_etl.connectors.nmbrs_rest`): pay periods, employments split by schedule version,
salary versions and payroll results from the run output XML (``<reports><report>``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from payroll_etl.connectors import normalizers, xml
from payroll_etl.connectors.base import Normalized
from payroll_etl.model import EMPLOYMENT, PAYROLL_PERIOD, PAYROLL_RESULT, SALARY
from payroll_etl.parsing import Parser
from payroll_etl.periods import period_bounds


@dataclass
class Employment:
    """One employment (dienstverband) of an employee as either Nmbrs API states it: id, employee id,
    start and end date (None: open-ended or not stated)."""

    id: str
    employee_id: str
    start: date | None
    end: date | None


def _report_decimal(text: str | None) -> str | None:
    """Report values use decimal commas and '-' for "no amount"."""
    if text is None:
        return None
    text = text.strip()
    if text in ("", "-"):
        return None
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    return text



def run_output_reports(text: str | None, what: str) -> list[Any]:
    """The ``<report>`` elements of a run output document (``<reports><report>`` per employee and
    period), which both APIs deliver as XML text declared UTF-16: the declaration is dropped and the
    text parsed. ``[]`` for an empty document; MalformedPayloadError names ``what`` when it is no XML."""
    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", text or "").strip()
    return xml.children(xml.parse(body, what), "report") if body else []


def pattern_hours(week1: list[Decimal | None], week2: list[Decimal | None]) -> Decimal | None:
    """Hours per week of a schedule's day pattern: the sum of week 1, or the mean of weeks 1 and 2 when
    week 2 is filled (a two-week cycle); None when a day of week 1 is unknown. Unrounded."""
    first = [h for h in week1 if h is not None]
    if len(first) < len(week1):
        return None
    hours = sum(first, Decimal(0))
    second = [h for h in week2 if h is not None]
    if len(second) == len(week2) and sum(second, Decimal(0)) > 0:
        hours = (hours + sum(second, Decimal(0))) / 2
    return hours


def fulltime_hours(hours: Decimal, percentage: Decimal | None) -> Decimal | None:
    """The full-time norm (hours per week, 2 decimals) from the hours worked and the part-time
    percentage (``hours × 100 / percentage``); None without a (non-zero) percentage."""
    return (hours * 100 / percentage).quantize(Decimal("0.01")) if percentage else None


def add_period_row(out: Normalized, company: str, frequency: str, year: int, number: int, tail: str,
                   parser: Parser) -> None:
    """A pay period of the company as a ``payroll_period`` row (``company:YYYY-N``), bounds from
    :func:`~payroll_etl.periods.period_bounds`; a number out of range is a record issue. The current
    period and every period a run has results for get one row each (a second call is a no-op)."""
    source_id = f"{company}:{year}-{number}"
    if any(row["source_id"] == source_id for row in out.rows.get("payroll_period", ())):
        return  # one row per period, whichever call named it first
    try:
        start, end = period_bounds(frequency, year, number, tail)  # type: ignore[arg-type]
    except ValueError:
        parser.issue("payroll_period", company, "period_number", "parse_period", "period number out of range")
        return
    out.add("payroll_period", PAYROLL_PERIOD.row(source_id=source_id, valid_from=start, valid_to=end, year=year,
                                                 period_number=number, frequency=frequency, start_date=start,
                                                 end_date=end))


def add_employment_rows(out: Normalized, company: str, employee_id: str, employments: list[Employment],
                        versions: list[tuple[date, Decimal | None, Decimal | None]], frequency: str | None,
                        parser: Parser, end_reasons: dict[str, str | None] | None = None) -> None:
    """Employment rows of one employee: one per (employment, schedule version), see :func:`employment_versions`.

    ``versions``: (start, hours per week, full-time hours) sorted by start; ``end_reasons`` by
    employment id where the API delivers them (REST), else ``end_reason`` stays None (SOAP).
    """
    for emp in employments:
        if emp.start is None:
            parser.issue("employment", emp.id, "start_date", "required", "employment has no start date")
            continue
        for valid_from, valid_to, hours, fulltime, factor in employment_versions(emp, versions):
            out.add("employment", EMPLOYMENT.row(
                source_id=emp.id, valid_from=valid_from, valid_to=valid_to, employee_source_id=employee_id,
                employment_number=None, start_date=emp.start, end_date=emp.end,
                end_reason=(end_reasons or {}).get(emp.id), hours_per_week=hours, fulltime_hours_per_week=fulltime,
                part_time_factor=factor, payroll_frequency=frequency, payroll_administration_id=company))


@dataclass(frozen=True)
class SalaryVersion:
    """One salary record as either Nmbrs API states it: start, id, amount text, the basis the type states
    (``fulltime`` | ``actual`` | ``hourly``; None for a type that is no gross salary, e.g. a net one) and
    the type as the API names it, for the quarantine reason."""

    start: date
    id: str
    value: object
    basis: str | None
    type_label: str


def add_salary_rows(out: Normalized, employments: list[Employment], versions: list[SalaryVersion],
                    frequency: str | None, parser: Parser) -> None:
    """Salary rows of one employee: each version closed the day before the next (by start, id) or at the
    employment's end; component ``BASIS``, ``basis`` as the source states it (docs/benefits.md "Salary
    basis"), an hourly wage with frequency ``hour``. A type that is no gross salary is a record issue
    (``unknown_basis``: the row is quarantined, never guessed)."""
    ordered = sorted(versions, key=lambda v: (v.start, v.id))
    for i, version in enumerate(ordered):
        emp = _employment_on(employments, version.start)
        if emp is None:
            parser.issue("salary", version.id, "employment_source_id", "parent", "no employment for this salary")
            continue
        if version.basis is None:
            parser.issue("salary", version.id, "basis", "unknown_basis",
                         f"{version.type_label} is not a gross full-time, part-time or hourly salary")
        next_start = ordered[i + 1].start if i + 1 < len(ordered) else None
        out.add("salary", SALARY.row(
            source_id=version.id, valid_from=version.start,
            valid_to=next_start - timedelta(days=1) if next_start else emp.end, employment_source_id=emp.id,
            gross_amount=parser.decimal(version.value, "salary", version.id, "gross_amount"),
            frequency="hour" if version.basis == "hourly" else frequency, basis=version.basis,
            holiday_allowance_pct=None, component="BASIS", is_correction=False))


def add_report_rows(out: Normalized, run_id: str, report: Any, employee_id: str,
                    employments: dict[str, list[Employment]], frequency: str, tail: str, run_period: str | None,
                    parser: Parser, *, company: str | None = None) -> None:
    """Payroll-result rows of one ``<report>`` of the run output (one employee, one period): a row per
    wage code with an amount (``-`` = none), keyed ``run:employee:YYYYPP:code``. With ``company``, the
    report's period also gets its ``payroll_period`` row (every period we load results for has one)."""
    year = parser.integer(xml.text(report, "year"), "payroll_result", run_id, "year")
    number = parser.integer(xml.text(report, "period"), "payroll_result", run_id, "period")
    if year is None or number is None:
        return
    try:
        start, end = period_bounds(frequency, year, number, tail)  # type: ignore[arg-type]
    except ValueError:
        parser.issue("payroll_result", run_id, "period", "parse_period", "period number out of range")
        return
    emps = employments.get(employee_id, [])
    emp = _employment_on(emps, end) or _employment_on(emps, start)
    period_id = normalizers.period_id(year, number)
    if company is not None:
        add_period_row(out, company, frequency, year, number, tail, parser)
    for line in xml.children(xml.child(report, "lines"), "line"):
        code = (xml.text(line, "code") or "").strip()
        source_id = f"{run_id}:{employee_id}:{period_id}:{code}"
        amount_text = _report_decimal(xml.text(line, "value"))
        if amount_text is None:
            continue  # "-": no amount for this wage code
        if emp is None:
            parser.issue("payroll_result", source_id, "employment_source_id", "parent",
                         "no employment for this employee in the period")
            continue
        out.add("payroll_result", PAYROLL_RESULT.row(
            source_id=source_id, valid_from=start, valid_to=None, employment_source_id=emp.id, period_id=period_id,
            run_id=run_id,
            run_sequence=parser.integer(xml.text(report, "runnumber"), "payroll_result", source_id, "run_sequence"),
            run_period_id=run_period, component=code,
            amount=parser.decimal(amount_text, "payroll_result", source_id, "amount")))


def add_company_results(out: Normalized, company: str, reports: Iterable[tuple[str, str, Any]],
                        run_periods: Mapping[str, str], employments: dict[str, list[Employment]], frequency: str,
                        tail: str, parser: Parser, *, employee_ids: Callable[[str], str] = str) -> None:
    """Payroll-result rows of ``company`` from the landed ``(company, run id, <report>)`` triples
    (:func:`add_report_rows` per report); ``run_periods``: run id -> the run's own period id
    (``YYYYPP`` of its last period); ``employee_ids`` normalises the report's ``employeeid`` to the
    employee key of ``employments`` (REST ids are lower-case GUIDs)."""
    for report_company, run_id, report in reports:
        if report_company == company:
            employee_id = employee_ids((xml.text(report, "employeeid") or "").strip())
            add_report_rows(out, run_id, report, employee_id, employments, frequency, tail, run_periods.get(run_id),
                            parser, company=company)


def employment_versions(emp: Employment, versions: list[tuple[date, Decimal | None, Decimal | None]]
                        ) -> list[tuple[date, date | None, Decimal | None, Decimal | None, Decimal | None]]:
    """Split an employment by schedule versions (start, hours, full-time hours), sorted by start.

    Returns (valid_from, valid_to, hours, fulltime, part-time factor) per version: the version in
    force at the employment's start, then every later one up to its end; without any version one
    row with unknown hours. The factor is hours / full-time hours, 4 decimals.
    """
    assert emp.start is not None
    starts = [v for v in versions if v[0] <= emp.start][-1:] + [
        v for v in versions if emp.start < v[0] and (emp.end is None or v[0] <= emp.end)]
    if not starts:
        starts = [(emp.start, None, None)]
    out = []
    for i, (start, hours, fulltime) in enumerate(starts):
        valid_to = starts[i + 1][0] - timedelta(days=1) if i + 1 < len(starts) else emp.end
        factor = normalizers.part_time_factor(hours, fulltime)
        out.append((max(start, emp.start), valid_to, hours, fulltime, factor))
    return out


def _employment_on(employments: list[Employment], day: date) -> Employment | None:
    for emp in employments:
        if (emp.start is None or emp.start <= day) and (emp.end is None or emp.end >= day):
            return emp
    earlier = [e for e in employments if e.start is not None and e.start <= day]
    return earlier[-1] if earlier else (employments[0] if employments else None)
