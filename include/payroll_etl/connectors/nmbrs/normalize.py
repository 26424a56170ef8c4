"""Landed Nmbrs SOAP pages -> canonical rows (no network, no zeep: lxml re-reads the landed XML).

Every landed page is one SOAP response; :class:`_Landed` files its result by operation, company and
employee, then builds the rows: employer, the current pay period, per employee one ``employee`` row
(personal info, the default home address, the IBAN when landed), employments split by schedule
version, salary versions, and payroll results from the wage-code reports (:mod:`.rows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors import normalizers, xml
from payroll_etl.connectors.base import Normalized, RawPage
from payroll_etl.connectors.nmbrs import rows as shared
from payroll_etl.connectors.nmbrs.plan import parse_current_period
from payroll_etl.connectors.nmbrs.rows import Employment, SalaryVersion
from payroll_etl.connectors.nmbrs.settings import (
    DAYS,
    FREQUENCIES,
    SALARY_BASES,
    SALARY_TYPE_NAMES,
)
from payroll_etl.errors import MalformedPayloadError
from payroll_etl.landing import ERRORS_ENTITY
from payroll_etl.model import EMPLOYEE, EMPLOYER
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod, calendar_tail


@dataclass
class _Landed:
    """Everything parsed from the landed pages, per company, before rows are built."""

    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched: set[str] = field(default_factory=set)
    current_period: dict[str, str] = field(default_factory=dict)
    employments: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)  # company -> [(emp id, node)]
    salaries: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    personal: dict[str, dict[str, Any]] = field(default_factory=dict)  # company -> emp id -> node
    addresses: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    banks: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    schedules: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # company -> run id -> node
    reports: list[tuple[str, str, Any]] = field(default_factory=list)  # (company, run id, <report>)

    def add(self, page: RawPage) -> None:
        """File one landed SOAP response by operation; a fault page is skipped. MalformedPayloadError names
        the page URL when it is not well-formed XML, has no SOAP body or an unexpected shape."""
        if page.entity == ERRORS_ENTITY:
            return  # an answer of status 300 or more: evidence, no data
        response = xml.soap_response(page.payload, f"landed Nmbrs page {page.url}")
        if response is None:
            return  # a fault that was retried or that failed the run: kept in landing, no data
        operation = xml.local(response).removesuffix("Response")
        query = parse_qs(urlsplit(page.url).query)
        employee = (query.get("EmployeeId") or [""])[0]
        result = response[0] if len(response) else None
        try:
            self._dispatch(operation, page.source_id, employee, query, result)
        except (AttributeError, IndexError, TypeError, ValueError):
            raise MalformedPayloadError(f"landed Nmbrs page {page.url} ({operation}) has an unexpected shape"
                                        ) from None

    def _dispatch(self, operation: str, company: str, employee: str, query: dict[str, list[str]],
                  result: Any) -> None:
        if operation == "List_GetAll":
            for node in xml.children(result, "Company") if result is not None else []:
                self.companies[xml.text(node, "ID") or ""] = {
                    "name": xml.text(node, "Name"), "tijdvak": xml.text(node, "LoonaangifteTijdvak")}
            return
        self.fetched.add(company)
        if operation == "Company_GetCurrentPeriod":
            self.current_period[company] = result.text if result is not None else ""
        elif operation == "Employment_GetAll_AllEmployeesByCompany":
            self.employments[company] = _per_employee_items(result, "EmployeeEmploymentItem", "EmployeeEmployments",
                                                            "Employment")
        elif operation == "Salary_GetAll_AllEmployeesByCompany":
            self.salaries[company] = _per_employee_items(result, "EmployeeSalaryItem", "EmployeeSalaries", "Salary_V2")
        elif operation == "PersonalInfo_GetCurrent":
            if result is not None:
                self.personal.setdefault(company, {})[xml.text(result, "Id") or employee] = result
        elif operation == "Address_GetListCurrent":
            self.addresses[(company, employee)] = xml.children(result, "EmployeeAddress") if result is not None else []
        elif operation == "BankAccount_GetListCurrent":
            self.banks[(company, employee)] = xml.children(result, "BankAccount") if result is not None else []
        elif operation == "Schedule_GetList":
            self.schedules[(company, employee)] = xml.children(result, "Schedule") if result is not None else []
        elif operation == "Run_GetList":
            for node in xml.children(result, "RunInfo") if result is not None else []:
                self.runs.setdefault(company, {})[xml.text(node, "ID") or ""] = node
        elif operation.startswith("Reports_GetWageCodesByRunCompany"):
            run_id = (query.get("RunId") or [""])[0]
            for report in shared.run_output_reports(result.text if result is not None else None,
                                                    f"Nmbrs run output of run {run_id}"):
                self.reports.append((company, run_id, report))

    # --------------------------------------------------------------- rows
    def rows(self, employer: EmployerConfig, period: PayPeriod, parser: Parser) -> Normalized:
        """Canonical rows of every company with landed data; values that do not parse become record issues."""
        out = Normalized()
        for company in sorted(self.fetched):
            info = self.companies.get(company, {})
            current = parse_current_period(self.current_period.get(company), employer.employer, company)
            frequency = (current[2] if current else None) or FREQUENCIES.get(info.get("tijdvak") or "") \
                or employer.payroll_frequency
            tail = calendar_tail(frequency, employer.four_week_tail, self._stated_periods(company, current, parser))
            out.add("employer", EMPLOYER.row(
                source_id=company, valid_from=period.start, valid_to=None,
                name=parser.string(info.get("name"), "employer", company, "name") or company,
                loonheffingennummer=None, payroll_frequency=frequency))
            self._period_rows(out, company, current, frequency, parser, tail)
            employments = self._employments(company, parser)
            for employee_id, node in sorted(self.personal.get(company, {}).items()):
                self._employee_row(out, company, employee_id, node, period, parser)
                self._employment_rows(out, company, employee_id, employments.get(employee_id, []), frequency, parser)
                self._salary_rows(out, company, employee_id, employments.get(employee_id, []), frequency, parser)
            self._result_rows(out, company, employments, frequency, parser, tail)
        return out

    def _stated_periods(self, company: str, current: tuple[int, int, str] | None,
                        parser: Parser) -> list[tuple[int, int]]:
        """Every (year, period number) the landed answers state: current period, runs, wage-code reports."""
        stated = [current[:2]] if current else []
        for run in self.runs.get(company, {}).values():
            year = parser.integer(xml.text(run, "Year"), "payroll_result", xml.text(run, "ID") or "", "Year")
            for name in ("PeriodStart", "PeriodEnd"):
                number = parser.integer(xml.text(run, name), "payroll_result", xml.text(run, "ID") or "", name)
                if year is not None and number is not None:
                    stated.append((year, number))
        for _company, run_id, report in (r for r in self.reports if r[0] == company):
            year = parser.integer(xml.text(report, "year"), "payroll_result", run_id, "year")
            number = parser.integer(xml.text(report, "period"), "payroll_result", run_id, "period")
            if year is not None and number is not None:
                stated.append((year, number))
        return stated

    def _period_rows(self, out: Normalized, company: str, current: tuple[int, int, str] | None, frequency: str,
                     parser: Parser, tail: str) -> None:
        text = self.current_period.get(company)
        if text is None:
            return
        if current is None:
            parser.issue("payroll_period", company, "Company_GetCurrentPeriod", "parse_period",
                         "not in the yyyy-p-type format (e.g. 2026-3-M, 2026-4-4W)")
            return
        shared.add_period_row(out, company, frequency, current[0], current[1], tail, parser)

    def _employments(self, company: str, parser: Parser) -> dict[str, list[Employment]]:
        out: dict[str, list[Employment]] = {}
        for employee_id, node in self.employments.get(company, []):
            emp_id = xml.text(node, "EmploymentId") or ""
            out.setdefault(employee_id, []).append(Employment(
                emp_id, employee_id, parser.date(xml.text(node, "StartDate"), "employment", emp_id, "start_date"),
                parser.date(xml.text(node, "EndDate"), "employment", emp_id, "end_date")))
        for emps in out.values():
            emps.sort(key=lambda e: e.start or date.min)
        return out

    def _employee_row(self, out: Normalized, company: str, employee_id: str, node: Any, period: PayPeriod,
                      parser: Parser) -> None:
        e = "employee"
        address = _pick_address(self.addresses.get((company, employee_id), []))
        bank = self.banks.get((company, employee_id))
        iban = None
        if bank:
            chosen = next((b for b in bank if xml.text(b, "Type") == "Bankrekening1"), bank[0])
            iban = parser.string(xml.text(chosen, "IBAN"), e, employee_id, "iban")
        house = " ".join(p for p in (xml.text(address, "HouseNumber"), xml.text(address, "HouseNumberAddition")) if p) \
            if address is not None else None
        gender = xml.text(node, "Gender")
        out.add(e, EMPLOYEE.row(
            source_id=employee_id, valid_from=period.start, valid_to=None, employer_source_id=company,
            employee_number=parser.string(xml.text(node, "EmployeeNumber") or xml.text(node, "Number"), e,
                                          employee_id, "employee_number"),
            bsn=parser.string(xml.text(node, "BSN"), e, employee_id, "bsn"),
            initials=parser.string(xml.text(node, "Initials"), e, employee_id, "initials"),
            first_name=parser.string(xml.text(node, "FirstName"), e, employee_id, "first_name"),
            prefix=parser.string(xml.text(node, "Prefix"), e, employee_id, "prefix"),
            last_name=parser.string(xml.text(node, "LastName"), e, employee_id, "last_name"),
            birth_date=parser.date(xml.text(node, "Birthday"), e, employee_id, "birth_date"),
            gender=(normalizers.gender(gender) or "U") if gender else None,
            street=parser.string(xml.text(address, "Street"), e, employee_id, "street") if address is not None
            else None,
            house_number=parser.string(house, e, employee_id, "house_number"),
            postcode=normalizers.postcode(xml.text(address, "PostalCode")) if address is not None else None,
            city=parser.string(xml.text(address, "City"), e, employee_id, "city") if address is not None else None,
            country=parser.string(xml.text(address, "CountryISOCode"), e, employee_id, "country")
            if address is not None else None,
            civil_status=parser.string(xml.text(node, "BurgerlijkeStaat"), e, employee_id, "civil_status"),
            date_of_death=parser.date(xml.text(node, "DeceasedDate"), e, employee_id, "date_of_death"),
            iban=iban,
        ))

    def _employment_rows(self, out: Normalized, company: str, employee_id: str, employments: list[Employment],
                         frequency: str, parser: Parser) -> None:
        """One row per (employment, schedule version): hours and part-time factor from Schedule_GetList."""
        versions: list[tuple[date, Decimal | None, Decimal | None]] = []
        for node in self.schedules.get((company, employee_id), []):
            start = parser.date(xml.text(node, "StartDate"), "employment", employee_id, "schedule_start")
            if start is None:
                continue
            hours, fulltime = _schedule_hours(node, employee_id, parser)
            versions = [v for v in versions if v[0] != start] + [(start, hours, fulltime)]  # later entry wins
        versions.sort(key=lambda v: v[0])
        shared.add_employment_rows(out, company, employee_id, employments, versions, frequency, parser)

    def _salary_rows(self, out: Normalized, company: str, employee_id: str, employments: list[Employment],
                     frequency: str, parser: Parser) -> None:
        nodes = [n for emp, n in self.salaries.get(company, []) if emp == employee_id]
        parsed = []
        for node in nodes:
            sid = xml.text(node, "ID") or ""
            start = parser.date(xml.text(node, "StartDate"), "salary", sid, "valid_from")
            if start is not None:
                parsed.append((start, sid, node))
        versions = []
        for start, sid, node in parsed:
            salary_type = (xml.text(node, "Type") or "").strip()
            label = f"Salary_V2 Type {salary_type or '(empty)'} " \
                    f"({SALARY_TYPE_NAMES.get(salary_type, 'not in the WSDL SalaryType enum')})"
            versions.append(SalaryVersion(start, sid, xml.text(node, "Value"), SALARY_BASES.get(salary_type), label))
        shared.add_salary_rows(out, employments, versions, frequency, parser)

    def _result_rows(self, out: Normalized, company: str, employments: dict[str, list[Employment]],
                     frequency: str, parser: Parser, tail: str) -> None:
        run_periods = {run_id: f"{xml.text(run, 'Year')}{int(xml.text(run, 'PeriodEnd') or 0):02d}"
                       for run_id, run in self.runs.get(company, {}).items()}
        shared.add_company_results(out, company, self.reports, run_periods, employments, frequency, tail, parser)



def _pick_address(nodes: list[Any]) -> Any | None:
    homes = [n for n in nodes if xml.text(n, "Type") == "HomeAddress"]
    for candidates in (homes, nodes):
        default = [n for n in candidates if xml.text(n, "Default") == "true"]
        if default or candidates:
            return (default or candidates)[0]
    return None


def _schedule_hours(node: Any, employee_id: str, parser: Parser) -> tuple[Decimal | None, Decimal | None]:
    """Hours per week (the mean of a two-week cycle when week 2 is filled) and the full-time norm."""
    week1 = [parser.decimal(xml.text(node, f"Hours{d}"), "employment", employee_id, f"Hours{d}") for d in DAYS]
    week2 = [parser.decimal(xml.text(node, f"Hours{d}2"), "employment", employee_id, f"Hours{d}2") for d in DAYS]
    hours = shared.pattern_hours(week1, week2)
    if hours is None:
        return None, None
    hours = hours.quantize(Decimal("0.01"))
    pct = parser.decimal(xml.text(node, "ParttimePercentage"), "employment", employee_id, "ParttimePercentage")
    return hours, shared.fulltime_hours(hours, pct)


def _per_employee_items(result: Any, item: str, array: str, leaf: str) -> list[tuple[str, Any]]:
    """(EmployeeId, leaf) pairs of a company-wide list; empty arrays may be absent or ``<X />``."""
    if result is None:
        return []
    return [(xml.text(node, "EmployeeId") or "", leaf_node) for node in xml.children(result, item)
            for leaf_node in (xml.children(xml.child(node, array), leaf) if xml.child(node, array) is not None else [])]


