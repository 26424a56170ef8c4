"""Landed Nmbrs REST pages → canonical rows (no network; any landed run can be replayed).

The rules mirror the SOAP connector's (:mod:`payroll_etl.connectors.nmbrs`) so both APIs give the
same canonical rows for the same company (the parity test), except where one API cannot deliver a
value (docs/connectors/nmbrs_rest.md, "Parity"):

* employee: the personal-info version in force in the pay period (``period`` ≤ the run's period;
  the latest ``createdAt`` wins within a period); the default home address; the newest BSN of
  ``privateInfos``; the IBAN of ``bankAccount1`` (only with ``options.include: [bank_accounts]``);
  ``maritalStatus`` in the Dutch words the SOAP API and the Nmbrs screens use.
* employment: one row per (employment, schedule version) with ``startDate`` ≤ the period end;
  hours per week = the schedule's ``hoursPerWeek`` (else the week pattern, mean of two weeks);
  full-time hours = hours × 100 / ``parttimePercentage``; ``end_reason`` from ``endContractReason``.
* salary: versions per employee, each closed the day before the next starts (or at the
  employment's end); gross full-time/part-time salary and hourly wage are the base salary
  (``BASIS``), the hourly wage with frequency ``hour``; other types keep their name.
* payroll_result: the run output XML (``<reports><report>`` per employee and period, decimal
  commas, ``-`` = no amount), one row per wage code with an amount.

Values the connector does not understand (a period type other than month/4-weeks, an unknown
marital status) become record issues naming employer, entity, record and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors import normalizers
from payroll_etl.connectors.base import Normalized, RawPage
from payroll_etl.connectors.nmbrs import rows as shared
from payroll_etl.connectors.nmbrs.rows import Employment, SalaryVersion
from payroll_etl.errors import MalformedPayloadError
from payroll_etl.model import EMPLOYEE, EMPLOYER
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod

FREQUENCIES = {"month": "month", "4-weeks": "four_weeks"}
MARITAL = {"married": "gehuwd", "unmarried": "ongehuwd", "registeredPartner": "geregistreerd partnerschap",
           "divorced": "gescheiden", "livingTogether": "samenwonend", "widowWidower": "weduwe/weduwnaar",
           "notSpecified": None}
# salary ``type`` (spec enum) -> the basis it states (docs/benefits.md "Salary basis"); others are no gross salary
SALARY_BASES = {"grossFulltimeSalary": "fulltime", "grossParttimeSalary": "actual", "grossHourlyWage": "hourly"}
BULK = {"personal_info": "info", "address": "addresses", "private_info": "privateInfos",
        "bank_account": "bankAccounts", "employment": "employments", "salary": "salaries", "schedule": "schedules"}
# landed for their own sake; "errors": 4xx/5xx bodies kept as evidence (landing.ERRORS_ENTITY)
NOT_CANONICAL = {"contract", "pension_export", "document_task", "change_probe", "errors"}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def normalize(pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod, parser: Parser) -> Normalized:
    """Canonical rows of every company whose period page was landed; MalformedPayloadError names the page URL."""
    landed = _Landed()
    for page in pages:
        landed.add(page)
    return landed.rows(employer, period, parser)


@dataclass
class _Landed:
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    periods: dict[str, dict[str, Any]] = field(default_factory=dict)
    lists: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = field(default_factory=dict)  # entity/company/emp
    runs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    reports: list[tuple[str, str, Any]] = field(default_factory=list)  # (company, run id, <report>)

    def add(self, page: RawPage) -> None:
        """File one landed page (JSON list page or run output XML); MalformedPayloadError names the page URL."""
        if page.entity in NOT_CANONICAL:
            return
        if page.entity == "payroll_result":
            self._report(page)
            return
        try:
            body = json.loads(page.payload, parse_float=Decimal)
        except ValueError:
            raise MalformedPayloadError(f"landed Nmbrs REST page {page.url} is not valid JSON") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise MalformedPayloadError(f"landed Nmbrs REST page {page.url} lacks the {{pagination, data}} envelope")
        company = page.source_id.lower()
        try:
            self._dispatch(page.entity, company, data)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise MalformedPayloadError(f"landed Nmbrs REST page {page.url} ({page.entity}) has an unexpected shape"
                                        ) from None

    def _dispatch(self, entity: str, company: str, data: list[dict[str, Any]]) -> None:
        if entity == "company":
            for item in data:
                self.companies[str(item["companyId"]).lower()] = item
        elif entity == "payroll_period":
            if data:
                self.periods[company] = data[0]
        elif entity == "payroll_run":
            for run in data:
                self.runs.setdefault(company, {})[str(run["payrollRunId"]).lower()] = run
        elif entity in BULK:
            per_employee = self.lists.setdefault(entity, {}).setdefault(company, {})
            for item in data:
                per_employee.setdefault(str(item["employeeId"]).lower(), []).extend(item.get(BULK[entity]) or [])

    def _report(self, page: RawPage) -> None:
        ref = parse_qs(urlsplit(page.url).fragment)
        company, run_id = (ref.get("companyId") or [page.source_id])[0].lower(), (ref.get("payrollRunId") or [""])[0]
        for report in shared.run_output_reports(page.payload, f"landed Nmbrs REST run output {page.url}"):
            self.reports.append((company, run_id.lower(), report))

    # --------------------------------------------------------------------------------- rows
    def rows(self, employer: EmployerConfig, period: PayPeriod, parser: Parser) -> Normalized:
        """Canonical rows of every company whose period page was landed; unknown values become record issues."""
        out = Normalized()
        for company in sorted(self.periods):
            frequency = self._frequency(company, employer, parser)
            info = self.companies.get(company, {})
            out.add("employer", EMPLOYER.row(
                source_id=company, valid_from=period.start, valid_to=None,
                name=parser.string(info.get("name"), "employer", company, "name") or company,
                loonheffingennummer=None, payroll_frequency=frequency))
            self._period_row(out, company, frequency, employer, parser)
            employments = self._employments(company, parser)
            for employee_id in sorted(self.lists.get("personal_info", {}).get(company, {})):
                self._employee_row(out, company, employee_id, period, parser)
                emps = employments.get(employee_id, [])
                self._employment_rows(out, company, employee_id, emps, frequency, period, parser)
                self._salary_rows(out, company, employee_id, emps, frequency, parser)
            if frequency is not None:
                self._result_rows(out, company, employments, frequency, employer.four_week_tail, parser)
        return out

    def _frequency(self, company: str, employer: EmployerConfig, parser: Parser) -> str | None:
        kind = self.periods[company].get("periodType")
        frequency = FREQUENCIES.get(str(kind))
        if frequency is None:
            parser.issue("payroll_period", company, "periodType", "unsupported",
                         f"period type {kind!r} is not supported (month, 4-weeks)")
        return frequency

    def _period_row(self, out: Normalized, company: str, frequency: str | None, employer: EmployerConfig,
                    parser: Parser) -> None:
        current = self.periods[company].get("period") or {}
        year = parser.integer(current.get("year"), "payroll_period", company, "year")
        number = parser.integer(current.get("period"), "payroll_period", company, "period")
        if frequency is not None and year is not None and number is not None:
            shared.add_period_row(out, company, frequency, year, number, employer.four_week_tail, parser)

    def _employments(self, company: str, parser: Parser) -> dict[str, list[Employment]]:
        out: dict[str, list[Employment]] = {}
        self.end_reasons: dict[str, str | None] = {}
        for employee_id, items in self.lists.get("employment", {}).get(company, {}).items():
            for item in items:
                emp_id = str(item.get("employmentId") or "").lower()
                out.setdefault(employee_id, []).append(Employment(
                    emp_id, employee_id, parser.date(item.get("startDate"), "employment", emp_id, "start_date"),
                    parser.date(item.get("endDate"), "employment", emp_id, "end_date")))
                reason = (item.get("endContractReason") or {}).get("reason")
                self.end_reasons[emp_id] = parser.string(reason, "employment", emp_id, "end_reason")
        for emps in out.values():
            emps.sort(key=lambda e: e.start or date.min)
        return out

    def _employee_row(self, out: Normalized, company: str, employee_id: str, period: PayPeriod,
                      parser: Parser) -> None:
        e = "employee"
        info = _in_force(self.lists["personal_info"][company][employee_id], period)
        basic, birth = info.get("basicInfo") or {}, info.get("birthInfo") or {}
        marital = (info.get("partnerInfo") or {}).get("maritalStatus")
        if marital is not None and marital not in MARITAL:
            parser.issue(e, employee_id, "maritalStatus", "unknown_code", f"marital status {marital!r} is not known")
        address = _home_address(self._nested("address", company, employee_id), period)
        bsns = sorted(self._nested("private_info", company, employee_id), key=lambda r: str(r.get("createdAt") or ""))
        banks = self._nested("bank_account", company, employee_id)
        bank = next((b for b in banks if b.get("bankAccountType") == "bankAccount1"), banks[0] if banks else None)
        house = " ".join(str(p) for p in (address.get("houseNumber"), address.get("houseNumberAddition")) if p) \
            if address else None
        gender = birth.get("gender")
        number = basic.get("employeeNumber")
        out.add(e, EMPLOYEE.row(
            source_id=employee_id, valid_from=period.start, valid_to=None, employer_source_id=company,
            employee_number=None if number is None else parser.string(str(number), e, employee_id,
                                                                        "employee_number"),
            bsn=parser.string(bsns[-1].get("BSN"), e, employee_id, "bsn") if bsns else None,
            initials=parser.string(basic.get("initials"), e, employee_id, "initials"),
            first_name=parser.string(basic.get("firstName"), e, employee_id, "first_name"),
            prefix=parser.string(basic.get("prefix"), e, employee_id, "prefix"),
            last_name=parser.string(basic.get("lastName"), e, employee_id, "last_name"),
            birth_date=parser.date(birth.get("birthDate"), e, employee_id, "birth_date"),
            gender=(normalizers.gender(gender) or "U") if gender else None,
            street=parser.string(address.get("street"), e, employee_id, "street") if address else None,
            house_number=parser.string(house, e, employee_id, "house_number"),
            postcode=normalizers.postcode(address.get("postalCode")) if address else None,
            city=parser.string(address.get("city"), e, employee_id, "city") if address else None,
            country=parser.string(address.get("countryISOCode"), e, employee_id, "country") if address else None,
            civil_status=MARITAL.get(marital) if marital else None,
            date_of_death=parser.date(birth.get("deceasedOn"), e, employee_id, "date_of_death"),
            iban=parser.string(bank.get("IBAN"), e, employee_id, "iban") if bank else None,
        ))

    def _nested(self, entity: str, company: str, employee_id: str) -> list[dict[str, Any]]:
        return self.lists.get(entity, {}).get(company, {}).get(employee_id, [])

    def _employment_rows(self, out: Normalized, company: str, employee_id: str, employments: list[Employment],
                         frequency: str | None, period: PayPeriod, parser: Parser) -> None:
        versions: list[tuple[date, Decimal | None, Decimal | None]] = []
        for schedule in self._nested("schedule", company, employee_id):
            start = parser.date(schedule.get("startDate"), "employment", employee_id, "schedule_start")
            if start is None or start > period.end:
                continue
            hours, fulltime = _schedule_hours(schedule, employee_id, parser)
            versions = [v for v in versions if v[0] != start] + [(start, hours, fulltime)]  # later entry wins
        versions.sort(key=lambda v: v[0])
        shared.add_employment_rows(out, company, employee_id, employments, versions, frequency, parser,
                                   self.end_reasons)

    def _salary_rows(self, out: Normalized, company: str, employee_id: str, employments: list[Employment],
                     frequency: str | None, parser: Parser) -> None:
        versions = []
        for salary in self._nested("salary", company, employee_id):
            sid = str(salary.get("salaryId") or "").lower()
            start = parser.date(salary.get("startDate"), "salary", sid, "valid_from")
            if start is not None:
                kind = str(salary.get("type") or "")
                versions.append(SalaryVersion(start, sid, salary.get("value"), SALARY_BASES.get(kind),
                                              f"salary type {kind or '(empty)'}"))
        shared.add_salary_rows(out, employments, versions, frequency, parser)

    def _result_rows(self, out: Normalized, company: str, employments: dict[str, list[Employment]],
                     frequency: str, tail: str, parser: Parser) -> None:
        run_periods = {run_id: f"{run.get('year')}{int(run.get('periodEnd') or 0):02d}"
                       for run_id, run in self.runs.get(company, {}).items()}
        shared.add_company_results(out, company, self.reports, run_periods, employments, frequency, tail, parser,
                                   employee_ids=str.lower)


def _period_key(record: dict[str, Any]) -> tuple[int, int]:
    p = record.get("period") or {}
    return int(p.get("year") or 0), int(p.get("period") or 0)


def _in_force(versions: list[dict[str, Any]], period: PayPeriod) -> dict[str, Any]:
    """The version in force in ``period``: latest (period, createdAt) not after it, else the earliest."""
    ordered = sorted(versions, key=lambda v: (_period_key(v), str(v.get("createdAt") or "")))
    current = [v for v in ordered if _period_key(v) <= (period.year, period.number)]
    return (current or ordered or [{}])[-1 if current else 0]


def _home_address(addresses: list[dict[str, Any]], period: PayPeriod) -> dict[str, Any] | None:
    homes = [a for a in addresses if a.get("type") == "homeAddress"] or addresses
    defaults = [a for a in homes if a.get("isDefault")] or homes
    return _in_force(defaults, period) if defaults else None


def _schedule_hours(schedule: dict[str, Any], employee_id: str, parser: Parser) -> tuple[Decimal | None,
                                                                                           Decimal | None]:
    """Hours per week (``hoursPerWeek``, else the two-week pattern) and the full-time norm from the percentage."""
    hours = parser.decimal(schedule.get("hoursPerWeek"), "employment", employee_id, "hoursPerWeek")
    if hours is None:
        week1 = [parser.decimal((schedule.get("week1") or {}).get(f"hours{d}"), "employment", employee_id,
                                f"week1.hours{d}") for d in DAYS]
        week2 = [parser.decimal((schedule.get("week2") or {}).get(f"hours{d}"), "employment", employee_id,
                                f"week2.hours{d}") for d in DAYS]
        hours = shared.pattern_hours(week1, week2)
        if hours is None:
            return None, None
    hours = hours.quantize(Decimal("0.01"))
    pct = parser.decimal(schedule.get("parttimePercentage"), "employment", employee_id, "parttimePercentage")
    return hours, shared.fulltime_hours(hours, pct)
