"""What one Nmbrs SOAP extract fetches, and in which order.

Company-wide calls first (``List_GetAll`` to resolve the configured companies,
``Company_GetCurrentPeriod``, ``Employment_GetAll_AllEmployeesByCompany``,
``Salary_GetAll_AllEmployeesByCompany``, ``Run_GetList`` and the wage-code report per wanted run),
then the per-employee calls (:data:`~.settings.EMPLOYEE_CALLS` plus ``options.include``) for the
employees employed in the period, spread over ``options.max_workers`` threads.

The functions take a ``call(operation, company_id, employee_id=None, **params)`` that makes one SOAP
call with landing, rate limit, retries and fault mapping and returns zeep's result.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date
from typing import Any

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import ExtractRequest
from payroll_etl.connectors.nmbrs.settings import (
    EMPLOYEE_CALLS,
    FREQUENCIES,
    OPTIONAL_CALLS,
    PERIOD_RE,
    PERIOD_TYPES,
    Options,
)
from payroll_etl.errors import ConfigurationError, RecordError
from payroll_etl.periods import PayPeriod, calendar_tail, period_bounds, period_for_logical_date
from payroll_etl.quality.identifiers import closest_names, nmbrs_company_ref

Call = Callable[..., Any]


@dataclass
class Company:
    """A configured Nmbrs company: Company ID, name and pay frequency as ``List_GetAll`` states it."""

    id: int
    name: str
    frequency: str | None


def resolve_companies(call: Call, employer: EmployerConfig) -> list[Company]:
    """Companies named in ``source_ids``: exact (case/space/dot/comma sensitive) name or Company ID.

    A name that is not listed raises :class:`ConfigurationError` with the closest names; an unlisted
    numeric id is kept, so that the service itself says whether the user lacks access (2004).
    """
    listed = call("List_GetAll", "all") or []
    by_id = {int(c.ID): c for c in listed if c is not None and c.ID is not None}
    by_name = {c.Name: c for c in by_id.values() if c.Name is not None}
    out: list[Company] = []
    for source_id in employer.source_ids:
        text = nmbrs_company_ref(source_id)
        company = by_name.get(text)
        if company is None and text.strip().isdigit():
            company = by_id.get(int(text.strip()))
            if company is None:  # not listed: let the service say whether it is 2004
                out.append(Company(int(text.strip()), text.strip(), None))
                continue
        if company is None:
            closest = closest_names(text, list(by_name))
            names = ", ".join(f"{name!r} (Company ID {int(by_name[name].ID)})" for name in closest) or "(none)"
            raise ConfigurationError(
                f"employer {employer.employer}: Nmbrs company {text!r} not found among the {len(by_name)} "
                f"companies this API user sees; closest names: {names}. Names are case, space, dot and comma "
                "sensitive: enter the literal name as Nmbrs shows it, or the Company ID")
        out.append(Company(int(company.ID), company.Name, FREQUENCIES.get(str(company.LoonaangifteTijdvak))))
    return list({c.id: c for c in out}.values())


def extract_company(call: Call, company: Company, request: ExtractRequest, options: Options,
                    seen: set[int]) -> set[int]:
    """Every call of one company for ``request.period``; returns the run ids fetched so far."""
    period = request.period
    cid = company.id
    employments = call("Employment_GetAll_AllEmployeesByCompany", cid, CompanyID=cid) or []
    call("Salary_GetAll_AllEmployeesByCompany", cid, CompanyID=cid)
    population = sorted({int(item.EmployeeId) for item in employments
                         if request.full_refresh or _overlaps(item, period.start, period.end)})
    seen = extract_runs(call, company, request, options, seen)
    calls = list(EMPLOYEE_CALLS) + [OPTIONAL_CALLS[name] for name in options.include]
    tasks: list[tuple[str, int]] = [(op, emp) for emp in population for op in calls]
    per_employee(call, tasks, company, period, options)
    return seen


def extract_runs(call: Call, company: Company, request: ExtractRequest, options: Options,
                 seen: set[int]) -> set[int]:
    """Runs and their wage-code reports: a backfill takes the period's runs, a nightly the new ones."""
    period = request.period
    years = [period.year] + ([period.year - 1] if period.number == 1 and not request.backfill else [])
    seen = set(seen)
    for year in years:
        runs = call("Run_GetList", company.id, CompanyId=company.id, Year=year) or []
        for run in runs:
            run_id = int(run.ID)
            if request.backfill:
                wanted = int(run.Year) == period.year and int(run.PeriodStart) <= period.number <= int(run.PeriodEnd)
            else:
                wanted = request.full_refresh or run_id not in seen
            if not wanted:
                continue
            if options.wage_codes:
                for code in options.wage_codes:
                    call("Reports_GetWageCodesByRunCompany_FilterByWageCode", company.id,
                         CompanyId=company.id, RunId=run_id, intYear=int(run.Year), WageCode=code)
            else:
                call("Reports_GetWageCodesByRunCompany_v2", company.id,
                     CompanyId=company.id, RunId=run_id, intYear=int(run.Year))
            seen.add(run_id)
    return seen


def per_employee(call: Call, tasks: list[tuple[str, int]], company: Company, period: PayPeriod,
                 options: Options) -> None:
    """The (operation, employee id) calls on ``options.max_workers`` threads; the first error cancels the rest
    and is raised."""
    def run(operation: str, employee_id: int) -> None:
        params: dict[str, Any] = {"EmployeeId": employee_id}
        if operation == "Schedule_GetList":
            params.update(Period=period.number, Year=period.year)
        call(operation, company.id, employee_id, **params)

    if not tasks:
        return
    with ThreadPoolExecutor(max_workers=options.max_workers, thread_name_prefix="nmbrs") as pool:
        futures = [pool.submit(run, op, emp) for op, emp in tasks]
        _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled():
                error = future.exception()
                if error is not None:
                    raise error


def parse_current_period(text: str | None, employer: str, company: str) -> tuple[int, int, str] | None:
    """(year, number, frequency) of a ``Company_GetCurrentPeriod`` answer ("2026-14-4W"); None when it is
    not in the yyyy-p-type shape. An unknown period type is an error naming employer and company."""
    match = PERIOD_RE.match(text or "")
    if not match:
        return None
    code = match.group(3).upper()
    if code not in PERIOD_TYPES:
        raise RecordError(employer, "payroll_period", company, "Company_GetCurrentPeriod",
                          f"unknown Nmbrs period type {code!r} (known: {', '.join(PERIOD_TYPES)})")
    return int(match.group(1)), int(match.group(2)), PERIOD_TYPES[code]


def source_period_of(current: Any, request: ExtractRequest, company_frequency: str | None,
                     company: str) -> PayPeriod:
    """The period this run processes, in the company's calendar as Nmbrs states it.

    The frequency is the current period's type (else the company's, else the employer config's); a
    nightly run processes the company's current period, a backfill the period containing its
    logical date. Dates come from the calendar (Nmbrs SOAP states numbers, not dates).
    """
    employer = request.employer
    parsed = parse_current_period(str(current) if current is not None else None, employer.employer, company)
    frequency = parsed[2] if parsed else company_frequency or employer.payroll_frequency
    tail = calendar_tail(frequency, employer.four_week_tail, [parsed[:2]] if parsed else [])
    if parsed and not request.backfill:
        year, number = parsed[0], parsed[1]
        try:
            start, end = period_bounds(frequency, year, number, tail)  # type: ignore[arg-type]
        except ValueError:
            raise RecordError(employer.employer, "payroll_period", company, "Company_GetCurrentPeriod",
                              f"period {number} does not exist in {year} for a {frequency} payroll") from None
        return PayPeriod(frequency, year, number, start, end, tail)  # type: ignore[arg-type]
    return period_for_logical_date(request.logical_date, frequency, tail)  # type: ignore[arg-type]


def company_not_found(employer: EmployerConfig, text: str, names: list[str], seen_by: str,
                      alternatives: str) -> ConfigurationError:
    """The error for a configured Nmbrs company that is not listed: the three closest names (rapidfuzz)
    and the seed's rule that names are literal."""
    from rapidfuzz import fuzz, process

    closest = process.extract(text, names, scorer=fuzz.WRatio, limit=3)
    found = ", ".join(repr(name) for name, _score, _ in closest) or "(none)"
    return ConfigurationError(
        f"employer {employer.employer}: Nmbrs company {text!r} not found among the {len(names)} companies "
        f"{seen_by}; closest names: {found}. Names are case, space, dot and comma sensitive: use the literal name "
        f"or {alternatives}")


def _overlaps(item: Any, start: date, end: date) -> bool:
    for e in (getattr(item.EmployeeEmployments, "Employment", None) or []) if item.EmployeeEmployments else []:
        s = e.StartDate.date() if e.StartDate else None
        f = e.EndDate.date() if e.EndDate else None
        if (s is None or s <= end) and (f is None or f >= start):
            return True
    return False


