"""The world's companies and people in the Nmbrs REST API's shapes (OpenAPI ``components.schemas``).

Ids are the GUIDs of the SOAP integers (:func:`payroll_simulators.world.nmbrs_rest_id`), so the same
company extracted through SOAP and REST is the same data. ``createdAt`` values are deterministic
(a record is "created" shortly before it takes effect) unless the simulator recorded a later
creation (``created``: record id -> datetime), as for records added by tests.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from payroll_simulators.world import (
    Employment,
    Person,
    Werkgever,
    World,
    nmbrs_employee_id,
    nmbrs_employment_id,
    nmbrs_rest_id,
    nmbrs_run_id,
    nmbrs_salary_id,
    period_bounds,
    periods_in_year,
)

GENDER = {"M": "male", "V": "female"}
MARITAL = {"ongehuwd": "unmarried", "gehuwd": "married", "geregistreerd partnerschap": "registeredPartner",
           "gescheiden": "divorced"}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def stamp(day: date | datetime | None) -> str | None:
    """ISO date-time in UTC with ``Z``, as the API writes them."""
    if day is None:
        return None
    moment = day if isinstance(day, datetime) else datetime.combine(day, time())
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def number(value: Decimal) -> float:
    """JSON number for a decimal amount (shortest float repr round-trips the cents)."""
    return float(value)


def company_id(wg: Werkgever) -> str:
    """REST companyId of the world's werkgever (GUID of the SOAP CompanyId)."""
    return nmbrs_rest_id("company", wg.number)


def employee_id(wg: Werkgever, person: Person) -> str:
    """REST employeeId (GUID of the SOAP EmployeeId)."""
    return nmbrs_rest_id("employee", nmbrs_employee_id(wg, person))


def employment_id(world: World, wg: Werkgever, emp: Employment) -> str:
    """REST employmentId (GUID of the SOAP EmploymentId)."""
    return nmbrs_rest_id("employment", nmbrs_employment_id(world, wg, emp))


def run_id(world: World, run_uuid: str) -> str:
    """REST payrollRunId (GUID of the SOAP RunId)."""
    return nmbrs_rest_id("run", nmbrs_run_id(world, run_uuid))


def period_of(wg: Werkgever, day: date) -> dict[str, int]:
    """``Period {year, period}`` containing ``day`` in the company's payroll calendar."""
    year = day.year
    for number_ in range(1, periods_in_year(wg.frequency) + 1):
        start, end = period_bounds(wg.frequency, year, number_)
        if start <= day <= end:
            return {"year": year, "period": number_}
    return {"year": year, "period": periods_in_year(wg.frequency)}


def company(wg: Werkgever, debtor_id: str) -> dict[str, Any]:
    """``Company`` item of ``/api/companies``."""
    return {"companyId": company_id(wg), "number": str(wg.number - 100_000), "name": wg.name, "debtorId": debtor_id}


class Renderer:
    """Renders one company's records; ``created`` overrides createdAt per record id."""

    def __init__(self, world: World, created: dict[str, datetime], as_of: date):
        self.world, self.created, self.as_of = world, created, as_of

    def _created(self, record_id: str, default: date) -> str | None:
        return stamp(self.created.get(record_id, datetime.combine(default, time())))

    def _employments(self, wg: Werkgever, person: Person) -> list[Employment]:
        return sorted((e for e in wg.employments if e.person_id == person.id), key=lambda e: e.start)

    def _first_day(self, wg: Werkgever, person: Person) -> date:
        emps = self._employments(wg, person)
        return emps[0].start if emps else date(2020, 1, 1)

    def personal_info(self, wg: Werkgever, p: Person) -> dict[str, Any]:
        """``PersonalInfos`` item: one version, in force since the first employment."""
        active = any(e.start <= self.as_of and (e.end is None or e.end >= self.as_of)
                     for e in self._employments(wg, p))
        first = self._first_day(wg, p)
        pid = nmbrs_rest_id("personalinfo", nmbrs_employee_id(wg, p))
        return {"employeeId": employee_id(wg, p), "info": [{
            "personalInfoId": pid,
            "basicInfo": {"employeeNumber": p.employee_number, "firstName": p.first_name,
                          "firstNameInFull": p.first_name, "prefix": p.prefix or None, "initials": p.initials,
                          "lastName": p.last_name, "employeeType": "payroll" if active else "formerPayroll"},
            "birthInfo": {"birthDate": stamp(p.birth_date), "birthCountry": {"codeISO": "NL"},
                          "nationality": {"codeISO": "NL"}, "deceasedOn": stamp(p.date_of_death),
                          "gender": GENDER.get(p.gender, "unknown")},
            "contactInfo": {"privateEmail": None,
                            "businessEmail": f"{p.first_name.lower()}.{p.employee_number}@example.nl",
                            "businessPhone": None, "businessMobilePhone": None, "privatePhone": None,
                            "privateMobilePhone": None, "otherPhone": None},
            "partnerInfo": {"partnerPrefix": None, "partnerName": None, "ascription": {"code": 0, "ascription": None},
                            "maritalStatus": MARITAL.get(p.civil_status, "notSpecified")},
            "period": period_of(wg, first),
            "createdAt": self._created(pid, first - timedelta(days=14))}]}

    def employments(self, wg: Werkgever, p: Person) -> dict[str, Any]:
        """``EmployeeEmployments`` item (``creationDate`` instead of ``createdAt``, as the spec has it)."""
        out = []
        for e in self._employments(wg, p):
            eid = employment_id(self.world, wg, e)
            created = self._created(eid, e.start - timedelta(days=14))
            out.append({"employmentId": eid, "creationDate": created, "startDate": stamp(e.start),
                        "endDate": stamp(e.end), "seniorityDate": stamp(e.start),
                        "endContractReason": {"code": 1 if e.end_reason else None, "reason": e.end_reason},
                        "changedDate": created})
        return {"employeeId": employee_id(wg, p), "employments": out}

    def contracts(self, wg: Werkgever, p: Person) -> dict[str, Any]:
        """``EmployeeContracts`` item: one contract per employment, current hours."""
        out = []
        for e in self._employments(wg, p):
            cid = nmbrs_rest_id("contract", nmbrs_employment_id(self.world, wg, e))
            hours = [h for h in sorted(e.hours, key=lambda h: h.start) if h.start <= self.as_of]
            out.append({"contractId": cid, "startDate": stamp(e.start), "trialPeriod": None, "endDate": stamp(e.end),
                        "indefinite": e.end is None, "writtenContract": True,
                        "hoursPerWeek": number(hours[-1].hours_per_week) if hours else None,
                        "createdAt": self._created(cid, e.start - timedelta(days=14))})
        return {"employeeId": employee_id(wg, p), "contracts": out}

    def salaries(self, wg: Werkgever, p: Person) -> dict[str, Any]:
        """``EmployeeSalaries`` item: every wage version as a gross full-time salary."""
        out = []
        for e in self._employments(wg, p):
            for k, wage in enumerate(sorted(e.wages, key=lambda w: w.start)):
                sid = nmbrs_rest_id("salary", nmbrs_salary_id(self.world, wg, e, k))
                out.append({"salaryId": sid, "startDate": stamp(wage.start), "type": "grossFulltimeSalary",
                            "value": number(wage.gross_amount),
                            "createdAt": self._created(sid, wage.start - timedelta(days=10))})
        return {"employeeId": employee_id(wg, p), "salaries": out}

    def schedules(self, wg: Werkgever, p: Person) -> dict[str, Any]:
        """``EmployeeSchedules`` item: every hours version as a five-day, two-week pattern."""
        out = []
        for e in self._employments(wg, p):
            for k, version in enumerate(sorted(e.hours, key=lambda h: h.start)):
                hours = version.hours_per_week
                per_day = (hours / 5).quantize(Decimal("0.01"))
                week = {f"hours{d}": number(per_day if d not in ("Saturday", "Sunday") else Decimal(0)) for d in DAYS}
                sid = nmbrs_rest_id("schedule", nmbrs_employment_id(self.world, wg, e) * 100 + k)
                out.append({"scheduleId": sid, "startDate": stamp(version.start),
                            "parttimePercentage": number((hours * 100 / e.fulltime_hours).quantize(Decimal("0.01"))),
                            "hoursPerWeek": number(hours), "daysPerWeek": 5, "week1": week, "week2": dict(week),
                            "createdAt": self._created(sid, version.start - timedelta(days=10))})
        return {"employeeId": employee_id(wg, p), "schedules": out}

    def addresses(self, wg: Werkgever, p: Person) -> dict[str, Any]:
        """``EmployeeAddressess`` item (sic): the default home address."""
        aid = nmbrs_rest_id("address", nmbrs_employee_id(wg, p) * 10 + 1)
        first = self._first_day(wg, p)
        return {"employeeId": employee_id(wg, p), "addresses": [{
            "addressId": aid, "isDefault": True, "type": "homeAddress", "street": p.street,
            "houseNumber": str(p.house_number), "houseNumberAddition": None, "postalCode": p.postcode.replace(" ", ""),
            "city": p.city, "stateProvince": None, "countryISOCode": "NL", "period": period_of(wg, first),
            "createdAt": self._created(aid, first - timedelta(days=14))}]}

    def private_infos(self, wg: Werkgever, p: Person) -> dict[str, Any]:
        """``EmployeePrivateInfos`` item: the BSN."""
        rid = nmbrs_rest_id("privateinfo", nmbrs_employee_id(wg, p))
        return {"employeeId": employee_id(wg, p), "privateInfos": [
            {"BSN": p.bsn, "createdAt": self._created(rid, self._first_day(wg, p) - timedelta(days=14))}]}

    def bank_accounts(self, wg: Werkgever, p: Person) -> dict[str, Any]:
        """``EmployeeBankAccounts`` item: the salary account (``bankAccount1``)."""
        bid = nmbrs_rest_id("bankaccount", nmbrs_employee_id(wg, p) * 10 + 2)
        return {"employeeId": employee_id(wg, p), "bankAccounts": [{
            "bankAccountId": bid, "number": p.iban[-10:].lstrip("0"), "IBAN": p.iban, "city": p.city,
            "name": " ".join(x for x in (p.first_name, p.prefix, p.last_name) if x), "bankAccountType": "bankAccount1",
            "createdAt": self._created(bid, self._first_day(wg, p) - timedelta(days=14))}]}

    def payroll_run(self, run: Any) -> dict[str, Any]:
        """``PayrollRun`` item: one approved, locked run per period."""
        return {"payrollRunId": run_id(self.world, run.id), "number": run.sequence,
                "description": f"Verloning {run.year} periode {run.period}", "year": run.year,
                "periodStart": run.period, "periodEnd": run.period, "createdAt": stamp(run.approved_on),
                "type": "normal", "locked": True}

    def pension_exports(self, wg: Werkgever, today: date) -> list[dict[str, Any]]:
        """One pension declaration per approved run, sent five days after it; every sixth one is a
        correction declaration covering the period before (its correction start and end dates)."""
        out = []
        runs = [r for r in self.world.runs if r.werkgever_id == wg.id]
        for serial, run in enumerate(runs, start=1):
            sent = run.approved_on + timedelta(days=5)
            if sent > today:
                continue
            export: dict[str, Any] = {
                "pensionExportId": nmbrs_rest_id("pensionexport", nmbrs_run_id(self.world, run.id)),
                "serialNumber": serial, "period": run.period, "year": run.year, "status": "Verzonden",
                "sentAt": stamp(datetime.combine(sent, time(14, 54, 6), tzinfo=UTC)),
                "correctionStartDate": None, "correctionEndDate": None}
            out.append(export)
            if serial % 6 == 0 and run.period > 1:
                start, end = period_bounds(wg.frequency, run.year, run.period - 1)
                out.append({**export, "pensionExportId": nmbrs_rest_id("pensionexport-correction",
                                                                       nmbrs_run_id(self.world, run.id)),
                            "serialNumber": serial * 1000, "correctionStartDate": start.isoformat(),
                            "correctionEndDate": end.isoformat()})
        return out
