"""Render the synthetic world as Loket.nl REST objects (shapes of the official OpenAPI spec)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from payroll_simulators.world import (
    Employment,
    PayrollRun,
    Person,
    Werkgever,
    World,
    stable_id,
    werkgever_bounds,
    werkgever_periods,
)

GENDERS = {"M": {"key": 1, "value": "Man"}, "V": {"key": 2, "value": "Vrouw"}}
CIVIL_STATUS = {"ongehuwd": 1, "gehuwd": 2, "geregistreerd partnerschap": 3, "gescheiden": 4}
# payrollPeriodType: monthly key 1, 4-weekly key 3, weekly key 4 (spec schema description).
PERIOD_TYPES = {"month": {"key": 1, "value": "Maand"}, "four_weeks": {"key": 3, "value": "4 weken"},
                "week": {"key": 4, "value": "Week"}}
# grossWageType (the wage's kind): periodic wage or hourly wage; isGrossWageFullTime says whether a periodic
# wage is the full-time amount or the part-time amount actually paid. A net wage has no grossWage.
GROSS_WAGE_TYPES = {"periodic": {"key": 1, "value": "periodic"}, "hourly": {"key": 2, "value": "hourly"}}
RUN_STATUS = {0: "Staat klaar voor verloning", 1: "Verloning gereed", 9: "Verloning goedgekeurd"}
# World component -> Loket payroll component (value maxLength 14 in the spec).
COMPONENTS = {
    "BRUTO_LOON": {"key": 70, "value": "LOON/SALARIS", "category": {"key": 26, "value": "Output"},
                   "column": {"key": 1, "value": "Bruto"}, "costsEmployer": None},
    "RESERVERING_VAKANTIEGELD": {"key": 257, "value": "RES VAK.GELD", "category": {"key": 26, "value": "Output"},
                                 "column": {"key": 3, "value": "Reservering"}, "costsEmployer": None},
}
NL = {"key": 530, "value": "Nederland", "isoCode": "NL"}
SIM_USER = {"id": stable_id("loket-user", "salarisadministrateur"), "initials": "S", "prefix": None,
            "lastName": "Administrateur", "formattedName": "Administrateur, S"}


def num(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def admin_id(wg: Werkgever) -> str:
    """Payroll administration ids are upper-case: the spec's reference pattern only allows A-F."""
    return stable_id("payrolladministration", wg.id).upper()


def employer(wg: Werkgever) -> dict[str, Any]:
    return {
        "id": wg.id,
        "employerNumber": wg.number,
        "companyName": wg.name,
        "chamberOfCommerceNumber": f"{(wg.number * 7919) % 100_000_000:08d}",
        "employerLogo": None,
        "providerLogo": None,
        "sbi": {"key": 12, "value": "Overige dienstverlening", "sbiCode": "9609"},
        "legalForm": {"key": 1, "value": "B.V."},
        "branch": {"key": 2, "value": "Overige"},
        "providerSettings": {"administrationNumber": f"A{wg.number}", "groupCode": 40,
                             "parentEmployerForConsolidatedOverviews": None,
                             "sendEmailWhenSalarySlipIsAvailable": True},
        "contact": {"name": "Salarisadministratie", "phoneNumber": "088-1234567", "function": "HR"},
        "contactInformation": {"emailAddress": "salaris@example.nl", "faxNumber": None, "phoneNumber": "088-1234567",
                               "website": "www.example.nl"},
        "address": {"street": "Industrieweg", "city": "Utrecht", "houseNumber": 10, "houseNumberAddition": None,
                    "furtherIndication": None, "postalCode": "3542 AD", "location": None, "country": NL,
                    "province": {"key": 9, "value": "Utrecht"}},
        "deviatingPostalAddress": None,
    }


def payroll_administration(wg: Werkgever) -> dict[str, Any]:
    return {
        "id": admin_id(wg),
        "name": wg.name[:70],
        "shortName": wg.name.split()[0][:12],
        "administrationNumber": f"A{wg.number}",
        "clientNumber": wg.number,
        "description": f"Verloning {wg.name}"[:50],
        "startDate": "2008-01-01",
        "endDate": None,
        "cao": {"key": 184, "value": "Geen CAO"},
        "loonmodel": {"key": 184, "value": "Standaard " + PERIOD_TYPES[wg.frequency]["value"].lower()},
        "groupClassification": None,
        "groupCode": 40,
        "address": employer(wg)["address"],
        "deviatingPostalAddress": None,
        "contact": {"name": "Salarisadministratie", "phoneNumber": "088-1234567"},
        "payrollPeriodType": PERIOD_TYPES[wg.frequency],
        "payrollTaxesNumber": wg.loonheffingennummer,
        "claTaxReturnCBSCode": 9999,
        "employerId": wg.id,
    }


def formatted_name(p: Person) -> str:
    return f"{p.last_name}, {p.initials}" + (f" {p.prefix}" if p.prefix else "")


def employee(p: Person, version: str) -> dict[str, Any]:
    contact: dict[str, Any] = {"phoneNumber": None, "mobilePhoneNumber": "0612345678", "faxNumber": None,
                               "emailAddress": None}
    if version >= "2021-03-29":
        contact.update({"businessPhoneNumber": None, "businessMobilePhoneNumber": None, "businessEmailAddress": None})
    aow = date(p.birth_date.year + 67, p.birth_date.month, 1)
    return {
        "id": p.id,
        "employeeNumber": p.employee_number,
        "personalDetails": {
            "firstName": p.first_name, "lastName": p.last_name, "prefix": p.prefix or None,
            "initials": p.initials, "lastNamePartner": None, "prefixPartner": None,
            "formattedName": formatted_name(p), "dateOfBirth": iso(p.birth_date), "placeOfBirth": None,
            "dateOfDeath": iso(p.date_of_death), "aowDate": iso(aow), "photo": None,
            "howToFormatLastName": {"key": 1, "value": "Geboortenaam"}, "title": None,
            "nationality": {"key": 1, "value": "Nederlandse"}, "gender": GENDERS[p.gender],
            "civilStatus": {"key": CIVIL_STATUS.get(p.civil_status, 1), "value": p.civil_status},
        },
        "contactInformation": contact,
        "identityDocument": None,
        "travel": {"travelDistanceToWork": None},
        "address": {"street": p.street, "city": p.city, "houseNumber": p.house_number, "houseNumberAddition": None,
                    "furtherIndication": None, "postalCode": p.postcode, "location": None, "country": NL},
        "deviatingPostalAddress": None,
        "exclusionFromAbsenceStatus": False,
        "statusEmployeeSelfService": {"key": 0, "value": "N.v.t."},
        "revokeEmployeeSelfServiceAccessOn": None,
    }


def employee_basic(p: Person) -> dict[str, Any]:
    return {"id": p.id, "employeeNumber": p.employee_number, "firstName": p.first_name, "initials": p.initials,
            "prefix": p.prefix or None, "lastName": p.last_name, "prefixPartner": None, "lastNamePartner": None,
            "formattedName": formatted_name(p), "dateOfBirth": iso(p.birth_date), "photo": None}


def employment(world: World, wg: Werkgever, emp: Employment) -> dict[str, Any]:
    person = world.person(wg.id, emp.person_id)
    meta = {"key": 1, "value": "n.v.t."}
    return {
        "employee": employee_basic(person),
        "id": emp.id,
        "startDate": iso(emp.start),
        "historicalStartDate": None,
        "commissionUntilDate": None,
        "endDate": iso(emp.end),
        "endOfEmploymentReason": {"key": 2, "value": emp.end_reason} if emp.end_reason else None,
        "endOfEmploymentReasonTaxAuthorities": None,
        "endOfEmploymentDueToIllness": False if emp.end else None,
        "firstDayNotification": None,
        "payrollAdministration": {"id": admin_id(wg), "name": wg.name[:70], "clientNumber": wg.number,
                                  "description": f"Verloning {wg.name}"[:50]},
        "nonPayrollAdministration": None,
        "administration": {"id": admin_id(wg), "name": wg.name[:70], "clientNumber": wg.number,
                           "description": f"Verloning {wg.name}"[:50], "administrationType": "payrollAdministration"},
        "typeOfEmployee": {"key": 1, "value": "Personeelslid"},
        "employmentCategoryType": {"key": 1, "value": "Normaal"},
        "linkedEmployment": None,
        "employmentDurationType": {"key": 1, "value": "Onbepaalde tijd"},
        "startDateContractOfIndefiniteDuration": iso(emp.start),
        "employmentContractType": {"key": 1, "value": "Schriftelijk"},
        "vacationCoupons": None,
        "sendToExternalParty": None,
        "deviatingCLAExternalParty": None,
        "deviatingCLATaxReturn": None,
        "incomeRelationshipNumber": emp.number,
        "employeeProfileId": None,
        "professionCode": None,
        "exemptionWorkRelatedExpenseScheme": False,
        "exemptionPremiumWaiverMarginalLabour": False,
        "typeOfParticipation": None,
        "valueOfParticipation": None,
        "wachtgeldOldRegulation": False,
        "participation55plusRegulationUWV": False,
        "essMutationSet": meta,
        "exemptionInsuranceObligation": meta,
        "specialIncomeRatio": None,
        "emailLeaveRequest": None,
        "temporaryTaxExemption": meta,
        "periodPayGradeAdjustment": None,
        "signalPayGradeAdjustment": False,
        **{f"commissionUntilDate{i}": None for i in range(1, 7)},
        "isDirectorAndMajorShareholder": False,
        "isPreviousOwner": False,
        "isFamilyOfOwner": False,
        "isOnCallEmployment": False,
        "hasOnCallAppearanceObligation": None,
        "isGemoedsbezwaardNationalInsurance": False,
        "isGemoedsbezwaardEmployeeInsurance": False,
        "isAnonymousEmployee": False,
        "cancellationPeriodEmployee": 1,
        "cancellationPeriodEmployer": 2,
        "cancellationPeriodTimeUnit": {"key": 4, "value": "Maand"},
        "cancellationNoticeDate": None,
        "startCancellationNoticePeriod": None,
        "payrollId": emp.number,
        "namePayslip": None,
        "calculateWorkingHours": False,
        "writtenEmploymentContract": True,
    }


def _chain_end(versions: list, index: int, emp: Employment) -> date | None:
    """Linked chain: a version ends the day before the next one starts, the last at employment end."""
    from datetime import timedelta

    ordered = sorted(versions, key=lambda v: v.start)
    if index + 1 < len(ordered):
        return ordered[index + 1].start - timedelta(days=1)
    return emp.end


def wages(wg: Werkgever, emp: Employment) -> list[dict[str, Any]]:
    out = []
    for i, w in enumerate(sorted(emp.wages, key=lambda v: v.start)):
        out.append({
            "id": w.id, "startDate": iso(w.start), "endDate": iso(_chain_end(emp.wages, i, emp)),
            "payrollPeriodType": PERIOD_TYPES[wg.frequency],
            **_wage_amounts(w),
            "employerCosts": None, "employerCostsType": None, "payScale": None, "payGrade": None,
            "applyPayGrade": None,
        })
    return out


def _wage_amounts(w: Any) -> dict[str, Any]:
    """grossWage / grossWageType / isGrossWageFullTime (or the net fields) as the wage's basis states."""
    if w.basis == "net":
        return {"grossWage": None, "grossWageType": None, "isGrossWageFullTime": None,
                "netWage": num(w.gross_amount), "netWageType": {"key": 1, "value": "periodic"}}
    kind = "hourly" if w.basis == "hourly" else "periodic"
    return {"grossWage": num(w.gross_amount), "grossWageType": GROSS_WAGE_TYPES[kind],
            "isGrossWageFullTime": w.basis == "fulltime", "netWage": None, "netWageType": None}


def working_hours(emp: Employment) -> list[dict[str, Any]]:
    out = []
    for i, h in enumerate(sorted(emp.hours, key=lambda v: v.start)):
        parttime = h.hours_per_week != emp.fulltime_hours
        out.append({
            "id": h.id, "startDate": iso(h.start), "endDate": iso(_chain_end(emp.hours, i, emp)),
            "shift": {"shiftNumber": 1, "fullTimeHoursPerWeek": num(emp.fulltime_hours)},
            "deviatingHoursPerWeek": num(h.hours_per_week) if parttime else None,
            "averageHoursPerWeek": num(h.hours_per_week),
            "deviatingSvDaysPerPeriod": None,
            "averageParttimeFactor": None,
            "regularWorkPattern": True,
            "shiftRateSickLeave": {"shiftNumber": 1, "fullTimeHoursPerWeek": num(emp.fulltime_hours)},
            "flexibleHoursContract": None,
            "workPattern": None,
            "calculateUsingWorkPattern": {"leaveHours": False, "hoursBrokenPeriod": False,
                                          "hoursRegularPeriod": False, "daysDailyRate": False,
                                          "deviatingDaysAndHours": False},
            "contractCode": None,
            "aggregatedHoursPerWeek": num(h.hours_per_week),
        })
    return out


def actual(records: list[dict[str, Any]], day: date) -> dict[str, Any] | None:
    """The record of a dated chain in force on ``day`` (Loket's ``actual*?referenceDate=``)."""
    current = None
    for r in records:
        if r["startDate"] <= day.isoformat() and (r["endDate"] is None or r["endDate"] >= day.isoformat()):
            current = r
    return current


def run(run: PayrollRun, approved: bool = True) -> dict[str, Any]:
    from datetime import datetime, time, timedelta, timezone

    tz = timezone(timedelta(hours=1))
    requested = datetime.combine(run.approved_on - timedelta(days=1), time(10, 0), tz)
    status = run.status
    return {
        "id": run.id,
        "payrollPeriod": {"year": run.year, "periodNumber": run.period},
        "payrollRunStatus": {"key": status, "value": RUN_STATUS.get(status, "Onbekend")},
        "textPaySlip": None, "textPayment": None,
        "requestTime": requested.isoformat(),
        "processingFinishedTime": (requested + timedelta(minutes=5)).isoformat(),
        "approvalTime": datetime.combine(run.approved_on, time(9, 0), tz).isoformat() if status == 9 else None,
        "sequenceNumber": run.sequence,
        "textTariffPaySlip": None,
        "availableForEmployeeDate": iso(run.approved_on),
        "sendEmailToEmployee": True,
        "requestedBy": SIM_USER,
        "approvedBy": SIM_USER if status == 9 else None,
        "sequenceNumberApproved": run.sequence if status == 9 else None,
        "removeTime": None, "removedBy": None,
        "methodOfCreation": {"key": 1, "value": "Handmatig"},
        "errorsAndWarnings": {"hasErrors": False, "hasWarnings": False},
        "payrollTaxReturnPeriod": {"year": run.year, "periodNumber": run.period},
    }


def periods(world: World, wg: Werkgever, years: tuple[int, ...] = (2025, 2026)) -> list[dict[str, Any]]:
    out = []
    runs = [r for r in world.runs if r.werkgever_id == wg.id]
    for year in years:
        for number in range(1, werkgever_periods(wg, year) + 1):
            start, end = werkgever_bounds(wg, year, number)
            own = sorted((r for r in runs if r.year == year and r.period == number), key=lambda r: r.sequence)
            out.append({
                "id": year * 100 + number, "year": year, "periodNumber": number,
                "startDate": iso(start), "endDate": iso(end),
                "automaticProcessing": None,
                "payrollPeriodType": PERIOD_TYPES[wg.frequency],
                "testYear": False,
                "payrollRuns": [{"id": r.id,
                                 "payrollRunStatus": {"key": r.status, "value": RUN_STATUS.get(r.status, "")},
                                 "sequenceNumber": r.sequence,
                                 "sequenceNumberApproved": r.sequence if r.status == 9 else None,
                                 "journalRuns": []} for r in own],
            })
    return out


def period_results(world: World, wg: Werkgever, period_id: int) -> list[dict[str, Any]]:
    """Current approved state of a period's latest approved run, per employment; retro periods included."""
    year, number = divmod(period_id, 100)
    runs = [r for r in world.runs if r.werkgever_id == wg.id and r.year == year and r.period == number
            and r.status == 9]
    if not runs:
        return []
    latest = max(runs, key=lambda r: r.sequence)
    by_emp: dict[str, dict[tuple[int, int], list]] = {}
    for line in world.results:
        if line.run_id == latest.id:
            by_emp.setdefault(line.employment_id, {}).setdefault((line.year, line.period), []).append(line)
    out = []
    for emp_id, per in by_emp.items():
        entries = []
        for (y, p), lines in sorted(per.items()):
            start, end = werkgever_bounds(wg, y, p)
            entries.append({
                "payrollPeriod": {"year": y, "periodNumber": p, "periodStartDate": iso(start),
                                  "periodEndDate": iso(end), "testYear": False},
                "payslipTypes": [{"payslipType": {"key": 1, "value": "Normale strook"},
                                  "payrollComponentResults": [
                                      {"payrollComponent": COMPONENTS[line.component], "value": num(line.amount),
                                       "valueSpecialTariff": 0} for line in lines]}],
            })
        out.append({"employmentId": emp_id, "payrollPeriods": entries})
    return out


def multi_period_results(world: World, wg: Werkgever, start_id: int, end_id: int) -> list[dict[str, Any]]:
    """``/payrollresults?payrollPeriodIdStart&End``: one item per employment, period and component.

    The spec declares ``payrollResults`` as a single object, so each item carries one component.
    """
    runs = {r.id: r for r in world.runs if r.werkgever_id == wg.id and r.status == 9}
    emps = {e.id: e for e in wg.employments}
    out = []
    for line in world.results:
        if line.run_id not in runs or not start_id <= line.year * 100 + line.period <= end_id:
            continue
        emp = emps[line.employment_id]
        person = world.person(wg.id, emp.person_id)
        out.append({
            "employer": {"employerNumber": wg.number, "companyName": wg.name},
            "payrollAdministration": {"clientNumber": wg.number},
            "employee": {"employeeNumber": person.employee_number, "formattedName": formatted_name(person),
                         "gender": GENDERS[person.gender]["value"], "dateOfBirth": iso(person.birth_date)},
            "employment": {"startDate": iso(emp.start), "endDate": iso(emp.end), "payrollId": emp.number},
            "payrollPeriod": {"year": line.year, "periodNumber": line.period},
            "payrollResults": {"payrollComponent": COMPONENTS[line.component], "value": num(line.amount),
                               "valueSpecialTariff": 0},
        })
    return out
