"""The data-quality rules: what is checked, on which column, at which severity, and why.

Every rule is computed here in pandas, on the real values, as a boolean "passes" Series per row.
``suites.py`` turns each Series into a flag column of a PII-free check frame that Great
Expectations validates (so GE and its Data Docs never see a BSN, IBAN or birth date), and
quarantines the rows that fail an ``error`` rule. docs/data-quality.md lists every rule.

Rule names are the ``check_name`` in ``dq_result`` and the ``failing_checks`` in ``quarantine``
(``<check_name>:<column>``), so renaming one is a reporting change: do it on purpose.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any

from payroll_etl.config.models import DataQualitySettings
from payroll_etl.model import ENTITIES
from payroll_etl.quality.base import ENTITY_ORDER, ERROR, WARN, DQContext, RowRule, RuleEnv
from payroll_etl.quality.checks import (
    _birth_date_error,
    _birth_date_warn,
    _bsn,
    _date_in_range,
    _end_not_before_start,
    _holiday_allowance,
    _hours_at_most,
    _iban,
    _lhn,
    _no_overlapping_versions,
    _not_null,
    _parent_exists,
    _period_dates,
    _period_id,
    _period_number,
    _postcode,
    _ptf_at_most_one,
    _ptf_positive,
    _salary_non_negative,
    _unique_key,
)
from payroll_etl.quality.run_level import (
    EMPTY_CAUSES,
    FIRST_EXTRACT_CHECK,
    HEADCOUNT_CHECK,
    PERIOD_SCOPED,
    FirstRunCheck,
    VolumeCheck,
    completeness,
    first_run_checks,
    headcount,
    volume_checks,
)

# The one set of defaults lives in the data_quality settings model (payroll_etl/config/models.py).
DEFAULTS: dict[str, Any] = DataQualitySettings().model_dump(exclude={"employers"})


def effective_settings(ctx: DQContext) -> dict[str, Any]:
    """Defaults, then the data_quality section, then its ``employers.<key>`` override."""
    return DataQualitySettings.model_validate(ctx.settings or {}).for_employer(ctx.employer.employer)


# ------------------------------------------------------------------------------- rules

def _generic_rules() -> list[RowRule]:
    rules: list[RowRule] = []
    for entity in ENTITIES.values():
        rules.append(RowRule(entity.name, "expect_compound_columns_to_be_unique", "source_id,valid_from", ERROR,
                             _unique_key(entity.name), "Business key (source id, valid from) is unique in this run."))
        for col in entity.columns:
            if col.name in ("connector", "employer"):
                continue
            if not col.nullable:
                rules.append(RowRule(entity.name, "expect_column_values_to_not_be_null", col.name, ERROR,
                                     _not_null(col.name), f"Required column `{col.name}` is present."))
            if col.type == "date" and not col.pii:
                rules.append(RowRule(entity.name, "expect_column_values_to_be_between", col.name, ERROR,
                                     _date_in_range(col.name), f"`{col.name}` lies between 1900-01-01 and 2100-12-31."))
    return rules


def _specific_rules() -> list[RowRule]:
    return [
        # identifiers
        RowRule("employer", "expect_loonheffingennummer_to_be_valid", "loonheffingennummer", ERROR, _lhn,
                "Loonheffingennummer is 9 digits passing the 11-modulus, `L`, 2 digits (where present)."),
        RowRule("employee", "expect_bsn_to_pass_elfproef", "bsn", ERROR, _bsn,
                "BSN is 9 digits (8 are left-padded), not all zeros, and passes the 11-proef (where present)."),
        RowRule("employee", "expect_bsn_to_be_present", "bsn", WARN, _not_null("bsn"),
                "A BSN is known (pension and insurance registrations need it)."),
        RowRule("employee", "expect_iban_to_pass_mod97", "iban", ERROR, _iban,
                "IBAN passes ISO 7064 MOD 97-10; a Dutch IBAN is 18 characters, NLkk + 4 letters + 10 digits "
                "(where present)."),
        RowRule("employee", "expect_postcode_to_be_dutch", "postcode", WARN, _postcode,
                "Dutch address: postcode is `NNNN AA` (first digit 1-9), letters not SA, SD or SS."),
        # plausibility
        RowRule("employee", "expect_birth_date_to_be_possible", "birth_date", ERROR, _birth_date_error,
                "Birth date is not in the future and the person was at least 13 at the start of the first employment."),
        RowRule("employee", "expect_birth_date_to_be_usual", "birth_date", WARN, _birth_date_warn,
                "The person was at least 15 at the start of the first employment and is at most 75 now."),
        RowRule("employment", "expect_end_date_not_before_start_date", "end_date", ERROR,
                _end_not_before_start(), "Employment end date is on or after its start date."),
        RowRule("employment", "expect_part_time_factor_to_be_positive", "part_time_factor", ERROR, _ptf_positive,
                "Part-time factor is above 0 (where present)."),
        RowRule("employment", "expect_part_time_factor_at_most_one", "part_time_factor", WARN, _ptf_at_most_one,
                "Part-time factor is at most 1 (above 1 is allowed, e.g. PFZW, but unusual)."),
        RowRule("employment", "expect_hours_per_week_at_most_60", "hours_per_week", ERROR, _hours_at_most(60),
                "Contract hours per week between 0 and 60 (Arbeidstijdenwet maximum)."),
        RowRule("employment", "expect_hours_per_week_at_most_48", "hours_per_week", WARN, _hours_at_most(48),
                "Contract hours per week at most 48 (Arbeidstijdenwet 16-week average)."),
        RowRule("salary", "expect_gross_amount_not_negative", "gross_amount", ERROR, _salary_non_negative,
                "Gross amount is 0 or more, except on correction lines (is_correction or a correction component)."),
        RowRule("salary", "expect_holiday_allowance_pct_at_least_minimum", "holiday_allowance_pct", WARN,
                _holiday_allowance, "Holiday allowance percentage is at least the statutory 8 % (configurable)."),
        # structure
        RowRule("employment", "expect_employee_to_exist", "employee_source_id", ERROR,
                _parent_exists("employee", "employee_source_id"),
                "The employee is in this run (and not quarantined) or already in the warehouse."),
        RowRule("employment", "expect_versions_not_to_overlap", "valid_from", ERROR, _no_overlapping_versions,
                "Versions of one employment do not overlap (valid_to before the next valid_from).",
                whole_entity=("source_id", "valid_from", "valid_to")),
        RowRule("salary", "expect_employment_to_exist", "employment_source_id", ERROR,
                _parent_exists("employment", "employment_source_id"),
                "The employment is in this run (and not quarantined) or already in the warehouse."),
        RowRule("payroll_result", "expect_employment_to_exist", "employment_source_id", ERROR,
                _parent_exists("employment", "employment_source_id"),
                "The employment is in this run (and not quarantined) or already in the warehouse."),
        RowRule("payroll_period", "expect_period_number_consistent_with_frequency", "period_number", ERROR,
                _period_number, "Period number fits the frequency: 1-12 monthly; 1-13 four-weekly, 14 only when "
                "the employer's payroll has a short period 14."),
        RowRule("payroll_period", "expect_period_dates_to_match_calendar", "start_date", WARN, _period_dates,
                "Period start and end match the calendar of the frequency (period 1 starts 1 January)."),
        RowRule("payroll_period", "expect_end_date_not_before_start_date", "end_date", ERROR,
                _end_not_before_start(), "Period end date is on or after its start date."),
        RowRule("payroll_result", "expect_period_id_consistent_with_frequency", "period_id", ERROR,
                _period_id("period_id"), "Period id is YYYYPP with PP valid for the employer's frequency."),
        RowRule("payroll_result", "expect_period_id_consistent_with_frequency", "run_period_id", ERROR,
                _period_id("run_period_id"), "Run period id is YYYYPP with PP valid for the employer's frequency."),
    ]


# Extension point: functions returning more rules (kept from the first version of this package).
EXTRA_ROW_RULES: list[Callable[[], list[RowRule]]] = []


def row_rules(settings: dict[str, Any] | None = None) -> list[RowRule]:
    """All row rules, with ``severity_overrides`` from the settings applied."""
    overrides = (settings or {}).get("severity_overrides") or {}
    rules = _generic_rules() + _specific_rules() + [r for extra in EXTRA_ROW_RULES for r in extra()]
    out = []
    for rule in rules:
        severity = overrides.get(f"{rule.entity}.{rule.name}", overrides.get(rule.name, rule.severity))
        if severity not in (ERROR, WARN):
            severity = rule.severity
        out.append(rule if severity == rule.severity else dataclasses.replace(rule, severity=severity))
    return out


def reference_date(ctx: DQContext) -> date:
    """'Today' for plausibility rules: the run's logical date (reproducible in backfills)."""
    try:
        return date.fromisoformat(ctx.run_label[:10])
    except ValueError:
        return ctx.period.end


__all__ = ["DEFAULTS", "EMPTY_CAUSES", "ENTITY_ORDER", "FIRST_EXTRACT_CHECK", "HEADCOUNT_CHECK", "PERIOD_SCOPED",
           "FirstRunCheck", "RowRule", "RuleEnv", "VolumeCheck", "completeness", "effective_settings",
           "first_run_checks", "headcount", "reference_date", "row_rules", "volume_checks"]
