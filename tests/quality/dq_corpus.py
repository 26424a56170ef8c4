"""A corpus of bad (and good) payroll records: every rule fails at least once and passes at least once.

Two runs of one employer (monthly payroll, Loket REST):

* ``PREVIOUS`` (logical date 2025-05-15): a clean run that puts employees/employments in the
  warehouse, so the completeness and "parent already in the warehouse" rules have history.
* ``CORPUS`` (logical date 2025-06-15): the bad records. Source ids say what each one tests.

BSNs are the synthetic test vectors of research/domain.md §3.1 / §6.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

from payroll_etl.config import EmployerConfig
from payroll_etl.parsing import RecordIssue

EMPLOYER = EmployerConfig(employer="dq_corpus", name="DQ Corpus BV", connector="loket_rest", source_ids=("wg-1",),
                          conn_id="payroll_dq_corpus", payroll_frequency="month")
PREVIOUS_DATE = date(2025, 5, 15)
CORPUS_DATE = date(2025, 6, 15)
VALID_BSNS = ("111222333", "123456782", "249566758", "999999990")
INVALID_BSNS = ("123456789", "111222334", "000000000")


def _employee(sid: str, **kw: Any) -> dict[str, Any]:
    row = {"source_id": sid, "valid_from": date(2025, 1, 1), "employer_source_id": "wg-1",
           "employee_number": sid, "bsn": None, "last_name": "Jansen", "birth_date": date(1980, 5, 1),
           "postcode": "2601 DC", "country": "NL", "iban": None}
    row.update(kw)
    return row


def _employment(sid: str, employee: str, **kw: Any) -> dict[str, Any]:
    row = {"source_id": sid, "valid_from": date(2025, 1, 1), "employee_source_id": employee,
           "employment_number": "1", "start_date": date(2020, 1, 1), "end_date": None, "hours_per_week": D("38"),
           "fulltime_hours_per_week": D("38"), "part_time_factor": D("1.0000"), "payroll_frequency": "month"}
    row.update(kw)
    return row


def _salary(sid: str, employment: str, gross: str, **kw: Any) -> dict[str, Any]:
    row = {"source_id": sid, "valid_from": date(2025, 1, 1), "employment_source_id": employment,
           "gross_amount": D(gross), "frequency": "month", "holiday_allowance_pct": D("8.00"),
           "component": "BASIS", "is_correction": False}
    row.update(kw)
    return row


def _period(sid: str, frequency: str, year: int, number: int, start: date, end: date) -> dict[str, Any]:
    return {"source_id": sid, "valid_from": start, "year": year, "period_number": number, "frequency": frequency,
            "start_date": start, "end_date": end}


def _result(sid: str, employment: str, period_id: str = "202506", run_period_id: str | None = "202506",
            **kw: Any) -> dict[str, Any]:
    row = {"source_id": sid, "valid_from": date(2025, 6, 1), "employment_source_id": employment,
           "period_id": period_id, "run_id": "run-202506-1", "run_sequence": 1, "run_period_id": run_period_id,
           "component": "BRUTO_LOON", "amount": D("3000.00")}
    row.update(kw)
    return row


PREVIOUS: dict[str, list[dict[str, Any]]] = {
    "employer": [{"source_id": "wg-1", "valid_from": date(2025, 1, 1), "name": "DQ Corpus BV",
                  "loonheffingennummer": "111222333L01", "payroll_frequency": "month"}],
    "employee": [
        _employee("p-ok1", bsn="111222333", iban="NL91ABNA0417164300"),
        _employee("p-prev", bsn="123456782"),
        _employee("p-gone", bsn="249566758"),
    ],
    "employment": [
        _employment("m-ok1", "p-ok1"),
        _employment("m-prevonly", "p-prev"),
        _employment("m-gone", "p-gone"),
        _employment("m-ended", "p-prev", start_date=date(2021, 1, 1), end_date=date(2025, 4, 30)),
    ],
}
PREVIOUS_SCOPE = {"employer": "full", "employee": "full", "employment": "full"}

CORPUS: dict[str, list[dict[str, Any]]] = {
    "employer": [
        {"source_id": "wg-1", "valid_from": date(2025, 1, 1), "name": "DQ Corpus BV",
         "loonheffingennummer": "111222333L01", "payroll_frequency": "month"},
        {"source_id": "wg-lhn-rsin", "valid_from": date(2025, 1, 1), "name": "Bad RSIN BV",
         "loonheffingennummer": "123456789L01", "payroll_frequency": "month"},
        {"source_id": "wg-lhn-format", "valid_from": date(2025, 1, 1), "name": "Bad format BV",
         "loonheffingennummer": "111222333X01", "payroll_frequency": "month"},
    ],
    "employee": [
        _employee("p-ok1", bsn="111222333", iban="NL91ABNA0417164300"),
        _employee("p-ok2", bsn="123456782", iban="NL86INGB0002445588", postcode="1011ab",
                  birth_date=date(1990, 1, 1)),
        _employee("p-ok3", bsn="249566758", postcode=None, birth_date=None),
        _employee("p-ok4", bsn="999999990", postcode="1000", country="BE"),
        _employee("p-bsn-checksum", bsn="123456789"),
        _employee("p-bsn-typo", bsn="111222334"),
        _employee("p-bsn-zeros", bsn="000000000"),
        _employee("p-bsn-missing", bsn=None),
        _employee("p-iban", bsn="111222333", iban="NL91ABNA0417164301"),
        _employee("p-pc-ss", bsn="111222333", postcode="2611 SS"),
        _employee("p-pc-zero", bsn="111222333", postcode="0123 AB"),
        _employee("p-pc-long", bsn="111222333", postcode="12345 AB"),
        _employee("p-young", bsn="111222333", birth_date=date(2015, 1, 1)),
        _employee("p-future", bsn="111222333", birth_date=date(2026, 1, 1)),
        _employee("p-teen", bsn="111222333", birth_date=date(2010, 3, 1)),
        _employee("p-old", bsn="111222333", birth_date=date(1945, 1, 1)),
        _employee("p-nolastname", bsn="111222333", last_name=None),
        _employee("p-parse", bsn="111222333", birth_date=None),
    ],
    "employment": [
        _employment("m-ok1", "p-ok1", valid_from=date(2020, 1, 1), valid_to=date(2024, 12, 31)),
        _employment("m-ok1", "p-ok1", valid_from=date(2025, 1, 1), hours_per_week=D("30.4"),
                    part_time_factor=D("0.8000")),
        _employment("m-ok2", "p-ok2", start_date=date(2015, 3, 1), end_date=date(2025, 5, 31)),
        _employment("m-prev", "p-prev"),
        _employment("m-teen", "p-teen", start_date=date(2024, 6, 1)),
        _employment("m-young", "p-young", start_date=date(2025, 1, 1)),
        _employment("m-orphan", "p-ghost"),
        _employment("m-end", "p-ok1", start_date=date(2025, 3, 1), end_date=date(2025, 2, 1)),
        _employment("m-ptf-zero", "p-ok2", part_time_factor=D("0")),
        _employment("m-ptf-high", "p-ok2", hours_per_week=D("45"), part_time_factor=D("1.1842")),
        _employment("m-hours-72", "p-ok2", hours_per_week=D("72"), part_time_factor=None),
        _employment("m-hours-50", "p-ok2", hours_per_week=D("50"), part_time_factor=None),
        _employment("m-overlap", "p-ok2", valid_from=date(2024, 1, 1), valid_to=date(2024, 12, 31)),
        _employment("m-overlap", "p-ok2", valid_from=date(2024, 6, 1)),
        _employment("m-dup", "p-ok2"),
        _employment("m-dup", "p-ok2"),
        _employment("m-nostart", "p-ok2", start_date=None),
    ],
    "salary": [
        _salary("s-ok", "m-ok1", "4000.00"),
        _salary("s-correction", "m-ok1", "-150.00", is_correction=True),
        _salary("s-correction-component", "m-ok2", "-20.00", component="CORRECTIE", is_correction=None),
        _salary("s-negative", "m-ok1", "-100.00"),
        _salary("s-holiday", "m-ok2", "3000.00", holiday_allowance_pct=D("7.50")),
        _salary("s-orphan", "m-ghost", "3000.00"),
        _salary("s-prev", "m-prevonly", "3000.00"),
        _salary("s-cascade", "m-young", "500.00"),
    ],
    "payroll_period": [
        _period("pp-2025-06", "month", 2025, 6, date(2025, 6, 1), date(2025, 6, 30)),
        _period("pp-month-13", "month", 2025, 13, date(2025, 12, 1), date(2025, 12, 31)),
        _period("pp-4w-13", "four_weeks", 2025, 13, date(2025, 12, 3), date(2025, 12, 31)),
        _period("pp-4w-14", "four_weeks", 2025, 14, date(2025, 12, 31), date(2025, 12, 31)),
        _period("pp-dates", "month", 2025, 7, date(2025, 7, 2), date(2025, 7, 31)),
        _period("pp-end-before", "month", 2025, 8, date(2025, 8, 31), date(2025, 8, 1)),
    ],
    "payroll_result": [
        _result("r-ok", "m-ok1"),
        _result("r-period-13", "m-ok1", period_id="202513"),
        _result("r-run-period", "m-ok1", run_period_id="2025-6"),
        _result("r-orphan", "m-ghost"),
        _result("r-prev", "m-prev"),
    ],
}
CORPUS_SCOPE = {"employer": "full", "employee": "full", "employment": "full", "salary": "incremental",
                "payroll_period": "incremental", "payroll_result": "incremental"}
CORPUS_ISSUES = [RecordIssue(EMPLOYER.employer, "employee", "p-parse", "birth_date", "parse_date",
                             "not a valid ISO date")]

# ------------------------------------------------------------------------- expectations

# quarantine: (entity, source_id, valid_from, failing_checks) exactly
EXPECTED_QUARANTINE = {
    ("employer", "wg-lhn-rsin", "2025-01-01", "expect_loonheffingennummer_to_be_valid:loonheffingennummer"),
    ("employer", "wg-lhn-format", "2025-01-01", "expect_loonheffingennummer_to_be_valid:loonheffingennummer"),
    ("employee", "p-bsn-checksum", "2025-01-01", "expect_bsn_to_pass_elfproef:bsn"),
    ("employee", "p-bsn-typo", "2025-01-01", "expect_bsn_to_pass_elfproef:bsn"),
    ("employee", "p-bsn-zeros", "2025-01-01", "expect_bsn_to_pass_elfproef:bsn"),
    ("employee", "p-iban", "2025-01-01", "expect_iban_to_pass_mod97:iban"),
    ("employee", "p-young", "2025-01-01", "expect_birth_date_to_be_possible:birth_date"),
    ("employee", "p-future", "2025-01-01", "expect_birth_date_to_be_possible:birth_date"),
    ("employee", "p-nolastname", "2025-01-01", "expect_column_values_to_not_be_null:last_name"),
    ("employee", "p-parse", "2025-01-01", "parse__parse_date:birth_date"),
    ("employment", "m-young", "2025-01-01", "expect_employee_to_exist:employee_source_id"),
    ("employment", "m-orphan", "2025-01-01", "expect_employee_to_exist:employee_source_id"),
    ("employment", "m-end", "2025-01-01", "expect_end_date_not_before_start_date:end_date"),
    ("employment", "m-ptf-zero", "2025-01-01", "expect_part_time_factor_to_be_positive:part_time_factor"),
    ("employment", "m-hours-72", "2025-01-01", "expect_hours_per_week_at_most_60:hours_per_week"),
    ("employment", "m-overlap", "2024-01-01", "expect_versions_not_to_overlap:valid_from"),
    ("employment", "m-overlap", "2024-06-01", "expect_versions_not_to_overlap:valid_from"),
    ("employment", "m-dup", "2025-01-01", "expect_compound_columns_to_be_unique:source_id,valid_from"),
    ("employment", "m-nostart", "2025-01-01", "expect_column_values_to_not_be_null:start_date"),
    ("salary", "s-negative", "2025-01-01", "expect_gross_amount_not_negative:gross_amount"),
    ("salary", "s-orphan", "2025-01-01", "expect_employment_to_exist:employment_source_id"),
    ("salary", "s-cascade", "2025-01-01", "expect_employment_to_exist:employment_source_id"),
    ("payroll_period", "pp-month-13", "2025-12-01", "expect_period_number_consistent_with_frequency:period_number"),
    ("payroll_period", "pp-4w-14", "2025-12-31", "expect_period_number_consistent_with_frequency:period_number"),
    ("payroll_period", "pp-end-before", "2025-08-31", "expect_end_date_not_before_start_date:end_date"),
    ("payroll_result", "r-period-13", "2025-06-01", "expect_period_id_consistent_with_frequency:period_id"),
    ("payroll_result", "r-run-period", "2025-06-01", "expect_period_id_consistent_with_frequency:run_period_id"),
    ("payroll_result", "r-orphan", "2025-06-01", "expect_employment_to_exist:employment_source_id"),
}

# Failed checks: (entity, check_name, column) -> (severity, element_count, unexpected_count).
# Every other check of the run must succeed with unexpected_count 0 (see ALL_CHECKS).
EXPECTED_FAILED = {
    ("employer", "expect_loonheffingennummer_to_be_valid", "loonheffingennummer"): ("error", 3, 2),
    ("employee", "expect_bsn_to_pass_elfproef", "bsn"): ("error", 18, 3),
    ("employee", "expect_bsn_to_be_present", "bsn"): ("warn", 18, 1),
    ("employee", "expect_iban_to_pass_mod97", "iban"): ("error", 18, 1),
    ("employee", "expect_postcode_to_be_dutch", "postcode"): ("warn", 18, 3),
    ("employee", "expect_birth_date_to_be_possible", "birth_date"): ("error", 18, 2),
    ("employee", "expect_birth_date_to_be_usual", "birth_date"): ("warn", 18, 2),
    ("employee", "expect_column_values_to_not_be_null", "last_name"): ("error", 18, 1),
    ("employee", "parse__parse_date", "birth_date"): ("error", 18, 1),
    ("employee", "expect_previous_records_to_be_present", "source_id"): ("warn", 3, 2),
    ("employment", "expect_employee_to_exist", "employee_source_id"): ("error", 17, 2),
    ("employment", "expect_end_date_not_before_start_date", "end_date"): ("error", 17, 1),
    ("employment", "expect_part_time_factor_to_be_positive", "part_time_factor"): ("error", 17, 1),
    ("employment", "expect_part_time_factor_at_most_one", "part_time_factor"): ("warn", 17, 1),
    ("employment", "expect_hours_per_week_at_most_60", "hours_per_week"): ("error", 17, 1),
    ("employment", "expect_hours_per_week_at_most_48", "hours_per_week"): ("warn", 17, 2),
    ("employment", "expect_versions_not_to_overlap", "valid_from"): ("error", 17, 2),
    ("employment", "expect_compound_columns_to_be_unique", "source_id,valid_from"): ("error", 17, 2),
    ("employment", "expect_column_values_to_not_be_null", "start_date"): ("error", 17, 1),
    ("employment", "expect_previous_records_to_be_present", "source_id"): ("warn", 3, 2),
    ("salary", "expect_gross_amount_not_negative", "gross_amount"): ("error", 8, 1),
    ("salary", "expect_holiday_allowance_pct_at_least_minimum", "holiday_allowance_pct"): ("warn", 8, 1),
    ("salary", "expect_employment_to_exist", "employment_source_id"): ("error", 8, 2),
    ("payroll_period", "expect_period_number_consistent_with_frequency", "period_number"): ("error", 6, 2),
    ("payroll_period", "expect_period_dates_to_match_calendar", "start_date"): ("warn", 6, 2),
    ("payroll_period", "expect_end_date_not_before_start_date", "end_date"): ("error", 6, 1),
    ("payroll_result", "expect_period_id_consistent_with_frequency", "period_id"): ("error", 5, 1),
    ("payroll_result", "expect_period_id_consistent_with_frequency", "run_period_id"): ("error", 5, 1),
    ("payroll_result", "expect_employment_to_exist", "employment_source_id"): ("error", 5, 1),
}
