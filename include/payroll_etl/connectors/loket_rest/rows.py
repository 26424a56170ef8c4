"""Canonical rows from Loket REST records (one record at a time; :mod:`.normalize` walks the pages).

Rules and their sources: ``payrollPeriodType`` keys (1 month, 3 four-weekly, 4 week) and
``grossWageType`` from the Loket REST reference; Loket stores no part-time percentage, so the
factor is ``deviatingHoursPerWeek`` (null = full time) / the shift's ``fullTimeHoursPerWeek``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from payroll_etl.connectors.loket_rest.settings import (
    BASE_COMPONENT,
    GENDER_KEYS,
    HOURLY_WAGE_TYPES,
    PERIOD_TYPES,
    PERIODIC_WAGE_TYPES,
)
from payroll_etl.connectors.normalizers import gender, part_time_factor, period_id, postcode
from payroll_etl.errors import RecordError
from payroll_etl.model import EMPLOYEE, EMPLOYMENT, PAYROLL_RESULT, SALARY
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod


def period_type(obj: dict[str, Any] | None, employer: str, entity: str, record: str) -> str | None:
    """Canonical frequency of a Loket ``payrollPeriodType`` (key 1 month, 3 four-weekly, 4 week).

    None when the source states none; an unknown key is an error naming employer and record: a
    frequency is never guessed (it decides periods and annualisation)."""
    if not obj:
        return None
    key = obj.get("key")
    if isinstance(key, bool) or not isinstance(key, int) or key not in PERIOD_TYPES:
        raise RecordError(employer, entity, record, "payrollPeriodType",
                          f"unknown Loket payroll period type key {key!r} (known: 1 month, 3 four-weekly, 4 week)")
    return PERIOD_TYPES[key]


def wage_basis(wage: dict[str, Any]) -> tuple[str | None, str | None]:
    """(basis, problem) of a Loket wage: ``grossWageType`` periodic (key 1) or hourly (key 2) and, for a
    periodic wage, ``isGrossWageFullTime`` (true or absent: the full-time wage, Loket's default; false:
    the part-time amount actually paid). Anything else, or a net wage only, is a problem (no basis)."""
    if wage.get("grossWage") is None and wage.get("netWage") is not None:
        return None, "only a net wage is stated: the benefit bases need a gross wage"
    kind = wage.get("grossWageType") or {}
    value = str(kind.get("value") or "").strip().lower()
    key = kind.get("key")
    if value in HOURLY_WAGE_TYPES or (not value and key == 2):
        return "hourly", None
    if value in PERIODIC_WAGE_TYPES or (not value and key in (1, None)):
        full_time = wage.get("isGrossWageFullTime")
        if full_time is None or full_time is True:
            return "fulltime", None
        if full_time is False:
            return "actual", None
        return None, "isGrossWageFullTime is not a boolean"
    return None, f"unknown grossWageType (key {key!r}): not a periodic or hourly gross wage"


def loket_gender(value: Any) -> str:
    """M, V or X from ``personalDetails.gender`` ({key 1/2, value}) or a plain word; U when unknown."""
    if isinstance(value, dict):
        if value.get("key") in GENDER_KEYS:
            return GENDER_KEYS[value["key"]]
        value = value.get("value")
    return gender(value) or "U"


def employee_row(item: dict[str, Any], sid: str, werkgever: str, bsn: Any, period: PayPeriod,
                 parser: Parser) -> dict[str, Any]:
    """The employee row of an ``employees`` item (snapshot: valid from the period start)."""
    pd = item.get("personalDetails") or {}
    address = item.get("address") or {}
    e = "employee"
    house, addition = address.get("houseNumber"), address.get("houseNumberAddition")
    bsn_text = parser.string(bsn, e, sid, "citizenServiceNumber")
    if bsn_text is not None and bsn_text.isdigit() and len(bsn_text) < 9:
        bsn_text = bsn_text.zfill(9)  # old resource versions send the BSN as an integer
    return EMPLOYEE.row(
        source_id=sid, valid_from=period.start, valid_to=None, employer_source_id=werkgever,
        employee_number=parser.string(item.get("employeeNumber"), e, sid, "employeeNumber"),
        bsn=bsn_text,
        initials=parser.string(pd.get("initials"), e, sid, "initials"),
        first_name=parser.string(pd.get("firstName"), e, sid, "firstName"),
        prefix=parser.string(pd.get("prefix"), e, sid, "prefix"),
        last_name=parser.string(pd.get("lastName"), e, sid, "lastName"),
        birth_date=parser.date(pd.get("dateOfBirth"), e, sid, "dateOfBirth"),
        gender=loket_gender(pd.get("gender")),
        street=parser.string(address.get("street"), e, sid, "street"),
        house_number=f"{house}{' ' + addition if addition else ''}" if house is not None else None,
        postcode=postcode(address.get("postalCode")),
        city=parser.string(address.get("city"), e, sid, "city"),
        country=parser.string((address.get("country") or {}).get("isoCode"), e, sid, "country"),
        civil_status=parser.string((pd.get("civilStatus") or {}).get("value"), e, sid, "civilStatus"),
        date_of_death=parser.date(pd.get("dateOfDeath"), e, sid, "dateOfDeath"),
        iban=None,  # bank accounts are a separate Loket resource, not extracted
    )


def employment_row(emp: dict[str, Any], hours: dict[str, Any] | None, payroll_frequency: str | None,
                   parser: Parser) -> dict[str, Any]:
    """One employment version: the employment, narrowed to the dates of its working-hours record ``hours``."""
    e, sid = "employment", str(emp.get("id"))
    start = parser.date(emp.get("startDate"), e, sid, "startDate")
    end = parser.date(emp.get("endDate"), e, sid, "endDate")
    valid_from, valid_to = start, end
    per_week = fulltime = None
    if hours:
        h_start = parser.date(hours.get("startDate"), e, sid, "workingHours.startDate")
        h_end = parser.date(hours.get("endDate"), e, sid, "workingHours.endDate")
        valid_from = max(d for d in (h_start, start) if d) if (h_start or start) else None
        valid_to = min(d for d in (h_end, end) if d) if (h_end or end) else None
        fulltime = parser.decimal((hours.get("shift") or {}).get("fullTimeHoursPerWeek"), e, sid,
                                  "shift.fullTimeHoursPerWeek")
        deviating = parser.decimal(hours.get("deviatingHoursPerWeek"), e, sid, "deviatingHoursPerWeek")
        per_week = deviating if deviating is not None else fulltime
    reason = emp.get("endOfEmploymentReason") or {}
    return EMPLOYMENT.row(
        source_id=sid, valid_from=valid_from, valid_to=valid_to,
        employee_source_id=str((emp.get("employee") or {}).get("id")),
        employment_number=parser.string(emp.get("incomeRelationshipNumber"), e, sid, "incomeRelationshipNumber"),
        start_date=start, end_date=end,
        end_reason=parser.string(reason.get("value"), e, sid, "endOfEmploymentReason"),
        hours_per_week=per_week, fulltime_hours_per_week=fulltime,
        part_time_factor=part_time_factor(per_week, fulltime),
        payroll_frequency=payroll_frequency,
        payroll_administration_id=parser.string((emp.get("payrollAdministration") or {}).get("id"), e, sid,
                                                "payrollAdministration.id"),
    )


def salary_row(employment_id: str, wage: dict[str, Any], frequency: str | None, parser: Parser) -> dict[str, Any]:
    """The base salary (component ``BASIS``) of an ``actualwages`` record."""
    sid = f"{employment_id}/{BASE_COMPONENT}"
    basis, problem = wage_basis(wage)
    if problem:
        parser.issue("salary", sid, "basis", "unknown_basis", problem)
    if frequency is None:
        parser.issue("salary", sid, "payrollPeriodType", "required",
                     "neither the wage nor its payroll administration states a payroll period type")
    return SALARY.row(
        source_id=sid,
        valid_from=parser.date(wage.get("startDate"), "salary", sid, "startDate"),
        valid_to=parser.date(wage.get("endDate"), "salary", sid, "endDate"),
        employment_source_id=employment_id,
        gross_amount=parser.decimal(wage.get("grossWage"), "salary", sid, "grossWage"),
        frequency="hour" if basis == "hourly" else frequency,
        basis=basis, holiday_allowance_pct=None, component=BASE_COMPONENT, is_correction=False,
    )


def result_rows(item: dict[str, Any], run: dict[str, Any], run_pid: int, parser: Parser) -> Iterator[dict[str, Any]]:
    """payroll_result rows of one employment's ``payrollresults`` item (one per component, period and payslip)."""
    employment_id = str(item.get("employmentId"))
    run_id = str(run.get("id") or f"period-{run_pid}")
    sequence = run.get("sequenceNumber")
    for entry in item.get("payrollPeriods") or []:
        pp = entry.get("payrollPeriod") or {}
        year, number = pp.get("year"), pp.get("periodNumber")
        if not isinstance(year, int) or not isinstance(number, int):
            parser.issue("payroll_result", employment_id, "payrollPeriod", "parse_int", "period year/number missing")
            continue
        pid = period_id(year, number)
        start = parser.date(pp.get("periodStartDate"), "payroll_result", employment_id, "periodStartDate")
        for code, value in _component_values(entry):
            sid = f"{employment_id}/{pid}/{run_id}/{code}"
            amount = parser.decimal(value, "payroll_result", sid, "value")
            if amount is None:
                continue
            yield PAYROLL_RESULT.row(
                source_id=sid, valid_from=start or date(year, 1, 1), valid_to=None,
                employment_source_id=employment_id, period_id=pid, run_id=run_id, run_sequence=sequence,
                run_period_id=str(run_pid), component=code, amount=amount)


def _component_values(entry: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(component code, value) of every payslip of a period; ``@payslip`` marks non-regular payslips and
    ``_BT`` the special-tariff (bijzonder tarief) value."""
    for slip in entry.get("payslipTypes") or []:
        slip_key = (slip.get("payslipType") or {}).get("key")
        for res in slip.get("payrollComponentResults") or []:
            key = (res.get("payrollComponent") or {}).get("key")
            if key is None:
                continue
            component = str(key) if slip_key in (None, 1) else f"{key}@{slip_key}"
            yield component, res.get("value")
            if res.get("valueSpecialTariff"):
                yield f"{component}_BT", res["valueSpecialTariff"]
