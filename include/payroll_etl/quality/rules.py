"""The data-quality rules: what is checked, on which column, at which severity, and why.

Every rule is computed here in pandas, on the real values, as a boolean "passes" Series per row.
``suites.py`` turns each Series into a flag column of a PII-free check frame that Great
Expectations validates (so GE and its Data Docs never see a BSN, IBAN or birth date), and
quarantines the rows that fail an ``error`` rule. docs/data-quality.md lists every rule.

Rule names are the ``check_name`` in ``dq_result`` and the ``failing_checks`` in ``quarantine``
(``<check_name>:<column>``), so renaming one is a reporting change: do it on purpose.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from payroll_etl.config.models import DataQualitySettings
from payroll_etl.model import ENTITIES
from payroll_etl.periods import period_bounds
from payroll_etl.quality import ERROR, WARN, DQContext
from payroll_etl.quality.identifiers import bsn_valid, iban_valid, lhn_valid, postcode_valid

if TYPE_CHECKING:
    import pandas as pd

# Processing order: parents before children, so a quarantined parent is known to its children.
ENTITY_ORDER = ("employer", "employee", "employment", "salary", "payroll_period", "payroll_result")
NL_COUNTRY = {"", "NL", "NLD", "NEDERLAND", "THE NETHERLANDS", "NETHERLANDS"}

# The one set of defaults lives in the data_quality settings model (payroll_etl/config/models.py).
DEFAULTS: dict[str, Any] = DataQualitySettings().model_dump(exclude={"employers"})


def effective_settings(ctx: DQContext) -> dict[str, Any]:
    """Defaults, then the data_quality section, then its ``employers.<key>`` override."""
    return DataQualitySettings.model_validate(ctx.settings or {}).for_employer(ctx.employer.employer)


@dataclass
class RuleEnv:
    """What a rule may look at besides its own table."""

    ctx: DQContext
    frames: dict[str, pd.DataFrame]  # all entities of this run (real values, in memory only)
    settings: dict[str, Any]
    reference_date: date
    # source ids per entity that will load in this run (not quarantined), filled in ENTITY_ORDER
    loading_ids: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RowRule:
    """A row-level rule: ``check(df, env) -> bool Series`` (True = the row passes)."""

    entity: str
    name: str
    column: str | None
    severity: str
    check: Callable[[Any, RuleEnv], Any]
    description: str = ""

    @property
    def label(self) -> str:
        """How the rule appears in ``quarantine.failing_checks``."""
        return f"{self.name}:{self.column}" if self.column else self.name


# ------------------------------------------------------------------------------ helpers

def _num(series) -> Any:
    import pandas as pd

    def conv(v: object) -> float:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return math.nan
        try:
            return float(v)  # Decimal, int, str
        except (TypeError, ValueError):
            return math.nan

    return pd.Series([conv(v) for v in series], index=series.index, dtype="float64")


def _dates(series) -> Any:
    import pandas as pd

    return pd.to_datetime(series, errors="coerce")


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _pydate(value: object) -> date | None:
    if value is None:
        return None
    if hasattr(value, "date") and callable(value.date):  # pandas Timestamp / datetime
        try:
            return value.date()  # type: ignore[union-attr]
        except ValueError:
            return None
    return value if isinstance(value, date) else None


def _map(series, fn: Callable[[object], bool], null_passes: bool = True) -> Any:
    import pandas as pd

    def apply(v: object) -> bool:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return null_passes
        return fn(v)

    return pd.Series([apply(v) for v in series], index=series.index, dtype="bool")


def _not_null(column: str) -> Callable[[Any, RuleEnv], Any]:
    return lambda df, env: df[column].notna()


def _date_in_range(column: str, low: str = "1900-01-01", high: str = "2100-12-31") -> Callable[[Any, RuleEnv], Any]:
    def check(df, env):
        import pandas as pd

        values = _dates(df[column])
        return values.isna() | ((values >= pd.Timestamp(low)) & (values <= pd.Timestamp(high)))

    return check


def _first_employment_start(env: RuleEnv) -> dict[str, date]:
    employment = env.frames.get("employment")
    first: dict[str, date] = {}
    if employment is None or employment.empty:
        return first
    for emp_id, start in zip(employment["employee_source_id"], employment["start_date"]):
        start = _pydate(start)
        if emp_id is None or start is None:
            continue
        if emp_id not in first or start < first[emp_id]:
            first[emp_id] = start
    return first


# ------------------------------------------------------------------------- identifiers

def _bsn(df, env):
    return _map(df["bsn"], bsn_valid)


def _iban(df, env):
    return _map(df["iban"], iban_valid)


def _postcode(df, env):
    import pandas as pd

    dutch = df["country"].map(lambda c: c is None or (isinstance(c, float) and math.isnan(c))
                              or str(c).strip().upper() in NL_COUNTRY)
    valid = _map(df["postcode"], postcode_valid)
    return pd.Series(~dutch.astype(bool) | valid, index=df.index, dtype="bool")


def _lhn(df, env):
    return _map(df["loonheffingennummer"], lhn_valid)


# ------------------------------------------------------------------------ plausibility

def _birth_date_error(df, env):
    first = _first_employment_start(env)

    def ok(birth_value: object, employee_id: object) -> bool:
        birth = _pydate(birth_value)
        if birth is None:
            return True
        if birth > env.reference_date:
            return False
        start = first.get(employee_id)  # type: ignore[arg-type]
        return start is None or _age(birth, start) >= 13

    import pandas as pd

    return pd.Series([ok(b, s) for b, s in zip(df["birth_date"], df["source_id"])], index=df.index, dtype="bool")


def _birth_date_warn(df, env):
    first = _first_employment_start(env)

    def ok(birth_value: object, employee_id: object) -> bool:
        birth = _pydate(birth_value)
        if birth is None or birth > env.reference_date:
            return True  # the error rule reports it
        start = first.get(employee_id)  # type: ignore[arg-type]
        if start is not None and 13 <= _age(birth, start) < 15:
            return False
        return _age(birth, env.reference_date) <= 75

    import pandas as pd

    return pd.Series([ok(b, s) for b, s in zip(df["birth_date"], df["source_id"])], index=df.index, dtype="bool")


def _end_not_before_start(start_col: str = "start_date", end_col: str = "end_date"):
    def check(df, env):
        start, end = _dates(df[start_col]), _dates(df[end_col])
        return end.isna() | start.isna() | (end >= start)

    return check


def _ptf_positive(df, env):
    values = _num(df["part_time_factor"])
    return values.isna() | (values > 0)


def _ptf_at_most_one(df, env):
    values = _num(df["part_time_factor"])
    return values.isna() | (values <= 1)


def _hours_at_most(limit: float):
    def check(df, env):
        values = _num(df["hours_per_week"])
        return values.isna() | ((values >= 0) & (values <= limit))

    return check


def _no_overlapping_versions(df, env):
    """Versions of one employment (same source id) must not overlap: valid_to < next valid_from."""
    import pandas as pd

    ok = pd.Series(True, index=df.index, dtype="bool")
    frame = pd.DataFrame({"sid": df["source_id"], "vf": _dates(df["valid_from"]), "vt": _dates(df["valid_to"])},
                         index=df.index)
    frame = frame.dropna(subset=["sid", "vf"])
    frame = frame[frame["sid"].duplicated(keep=False)]  # only employments with several versions
    for _, group in frame.sort_values("vf").groupby("sid", sort=False):
        idx, vf, vt = list(group.index), list(group["vf"]), list(group["vt"])
        for i in range(len(idx) - 1):
            if pd.notna(vt[i]) and vt[i] >= vf[i + 1]:
                ok[idx[i]] = False
                ok[idx[i + 1]] = False
    return ok


def _salary_non_negative(df, env):
    corrections = {str(c).upper() for c in env.settings["correction_components"]}
    amounts = _num(df["gross_amount"])
    is_corr = [bool(flag) if flag is not None and flag == flag else False for flag in df["is_correction"]]
    comp = [str(c).upper() in corrections if c is not None else False for c in df["component"]]
    import pandas as pd

    allowed_negative = pd.Series([a or b for a, b in zip(is_corr, comp)], index=df.index, dtype="bool")
    return amounts.isna() | (amounts >= 0) | allowed_negative


def _holiday_allowance(df, env):
    minimum = float(env.settings["holiday_allowance_min_pct"])
    values = _num(df["holiday_allowance_pct"])
    return values.isna() | (values >= minimum)


# --------------------------------------------------------------------------- structure

def _unique_key(df, env):
    return ~df.duplicated(subset=["source_id", "valid_from"], keep=False)


def _parent_exists(parent: str, column: str):
    """The parent is in this run and not quarantined, or already in the warehouse."""

    def check(df, env):
        known = env.loading_ids.get(parent, set()) | set(env.ctx.previous_keys.get(parent, set()))
        return df[column].map(lambda v: v is not None and v in known).astype(bool)

    return check


def _period_number_ok(frequency: object, year: object, number: object, tail: str) -> bool:
    try:
        period_bounds(str(frequency), int(year), int(number), tail)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False
    return True


def _period_number(df, env):
    import pandas as pd

    tail = env.ctx.calendar[1]
    return pd.Series([_period_number_ok(f, y, n, tail) for f, y, n in
                      zip(df["frequency"], df["year"], df["period_number"])], index=df.index, dtype="bool")


def _period_dates(df, env):
    """Warn when a period's dates differ from the calendar in periods.py (the source may differ legally)."""
    import pandas as pd

    tail = env.ctx.calendar[1]

    def ok(f: object, y: object, n: object, start: object, end: object) -> bool:
        if not _period_number_ok(f, y, n, tail):
            return True  # reported by the error rule
        bounds = period_bounds(str(f), int(y), int(n), tail)  # type: ignore[arg-type, call-overload]
        return (_pydate(start), _pydate(end)) == bounds

    return pd.Series([ok(*row) for row in zip(df["frequency"], df["year"], df["period_number"], df["start_date"],
                                              df["end_date"])], index=df.index, dtype="bool")


def _period_id(column: str):
    def check(df, env):
        frequency, tail = env.ctx.calendar

        def ok(value: object) -> bool:
            text = str(value)
            return len(text) == 6 and text.isdigit() and _period_number_ok(frequency, text[:4], text[4:], tail)

        return _map(df[column], ok)

    return check


# ------------------------------------------------------------------------------- rules

def _generic_rules() -> list[RowRule]:
    rules: list[RowRule] = []
    for entity in ENTITIES.values():
        rules.append(RowRule(entity.name, "expect_compound_columns_to_be_unique", "source_id,valid_from", ERROR,
                             _unique_key, "Business key (source id, valid from) is unique in this run."))
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
                "Versions of one employment do not overlap (valid_to before the next valid_from)."),
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
        out.append(rule if severity == rule.severity else
                   RowRule(rule.entity, rule.name, rule.column, severity, rule.check, rule.description))
    return out


def reference_date(ctx: DQContext) -> date:
    """'Today' for plausibility rules: the run's logical date (reproducible in backfills)."""
    try:
        return date.fromisoformat(ctx.run_label[:10])
    except ValueError:
        return ctx.period.end


# ---------------------------------------------------------------------- run-level rules

@dataclass(frozen=True)
class VolumeCheck:
    entity: str
    previous: int
    current: int
    minimum: int  # fewest rows that pass
    severity: str
    max_drop_pct: float

    @property
    def success(self) -> bool:
        return self.current >= self.minimum

    def reason(self) -> str:
        drop = 100.0 * (self.previous - self.current) / self.previous if self.previous else 0.0
        return (f"{self.entity} row count dropped from {self.previous} to {self.current} ({drop:.0f} %, more than "
                f"max_drop_pct={self.max_drop_pct:g}): the source probably answered partially")


PERIOD_SCOPED = frozenset({"payroll_period", "payroll_result"})


def volume_checks(counts: dict[str, int], ctx: DQContext, settings: dict[str, Any]) -> list[VolumeCheck]:
    """Row counts vs the previous run, for population entities fetched completely ("full") this run.

    Period-scoped entities (``payroll_period``, ``payroll_result``) are left out: their count follows
    the runs of the period a load covers (a backfill of one period vs a nightly of the whole year),
    not the population, so a drop says nothing about a partial answer.
    """
    max_drop = float(settings["max_drop_pct"])
    checks = []
    for entity in ENTITY_ORDER:
        if entity in PERIOD_SCOPED:
            continue
        previous = int(ctx.previous_counts.get(entity) or 0)
        if ctx.scope.get(entity) != "full" or previous <= 0:
            continue
        minimum = math.ceil(previous * (1 - max_drop / 100.0))
        severity = ERROR if previous >= int(settings["volume_min_previous_rows"]) else WARN
        checks.append(VolumeCheck(entity, previous, counts.get(entity, 0), minimum, severity, max_drop))
    return checks


# Why a first extract may come back empty, per connector: named in the blocking reason (issue 15 §4).
EMPTY_CAUSES = {
    "loket_rest": "a wrong Werkgever id in source_ids (another werkgever of the provider, one without staff), or "
                  "the filter settings of the koppeling's Loket user for this werkgever hide every employment "
                  "(Loket: the user's filter settings, GET /providers/user/filtersettings/{employerId})",
    "loket_soap": "a wrong werkgever DataIdentity in source_ids, or the webservice user's team or authorisation "
                  "does not give it the werkgever's Dienstverbanden",
    "nmbrs": "a wrong company in source_ids (a similarly named company without staff), or the API user's "
             "template restricts which employees it sees",
}
FIRST_EXTRACT_CHECK = "expect_first_extract_to_have_employees"
HEADCOUNT_CHECK = "expect_headcount_near_last_known"


@dataclass(frozen=True)
class FirstRunCheck:
    """A run-level check of a connector's first load of an employer (see :func:`first_run_checks`)."""

    entity: str
    check_name: str
    severity: str
    success: bool
    current: int
    expected: int  # fewest employees that pass
    reason: str  # one line, free of personal data; empty when it passes


def headcount(frame: Any, period_start: date, period_end: date) -> int:
    """Distinct employees with an employment overlapping ``[period_start, period_end]`` (employment frame)."""
    if frame is None or len(frame) == 0:
        return 0
    start = frame["start_date"].map(_pydate)
    end = frame["end_date"].map(_pydate)
    active = [(s is None or s <= period_end) and (e is None or e >= period_start) for s, e in zip(start, end)]
    return int(frame.loc[active, "employee_source_id"].dropna().nunique())


def first_run_checks(frames: dict[str, Any], ctx: DQContext, settings: dict[str, Any]) -> list[FirstRunCheck]:
    """Checks of a connector's first load of an employer, when there is no previous run to compare with.

    * An extract with no employee or no employment rows fails (error): a new employer always has
      staff, so an empty answer means the source hid them (causes per connector: ``EMPTY_CAUSES``).
    * After a migration (``ctx.baseline``: the last known headcount under another connector) the
      headcount of this period may be at most ``max_drop_pct`` % lower; error when the baseline is
      at least ``volume_min_previous_rows``, else warn. Skipped for periods ending before the
      baseline's date (a backfill of older periods may legitimately have fewer people).
    Only judged when employees and employments were fetched completely ("full").
    """
    if not ctx.first_run or ctx.scope.get("employment") != "full" or ctx.scope.get("employee") != "full":
        return []
    employees = len(frames["employee"]) if "employee" in frames else 0
    employments = frames.get("employment")
    rows = 0 if employments is None else len(employments)
    ids = ", ".join(ctx.employer.source_ids)
    causes = EMPTY_CAUSES.get(ctx.employer.connector, "a wrong source id, or the source user cannot see the staff")
    if employees == 0 or rows == 0:
        what = "no employees" if employees == 0 else "employees but no employments"
        return [FirstRunCheck("employment", FIRST_EXTRACT_CHECK, ERROR, False, 0, 1,
                              f"the first {ctx.employer.connector} extract of {ctx.employer.employer} (source ids "
                              f"{ids}) returned {what}; likely causes: {causes}")]
    checks = [FirstRunCheck("employment", FIRST_EXTRACT_CHECK, ERROR, True, employees, 1, "")]
    base = ctx.baseline
    if base and int(base.get("headcount") or 0) > 0 and ctx.period.end >= date.fromisoformat(str(base["as_of"])):
        previous = int(base["headcount"])
        max_drop = float(settings["max_drop_pct"])
        minimum = math.ceil(previous * (1 - max_drop / 100.0))
        current = headcount(employments, ctx.period.start, ctx.period.end)
        severity = ERROR if previous >= int(settings["volume_min_previous_rows"]) else WARN
        ok = current >= minimum
        reason = "" if ok else (
            f"the first {ctx.employer.connector} extract of {ctx.employer.employer} has {current} employees in "
            f"period {ctx.period.id}, far fewer than the last known headcount {previous} ({base['connector']}, "
            f"{base['as_of']}; more than max_drop_pct={max_drop:g} % less): the source answered partially; "
            f"likely causes: {causes}")
        checks.append(FirstRunCheck("employment", HEADCOUNT_CHECK, severity, ok, current, minimum, reason))
    return checks


def completeness(frames: dict[str, Any], ctx: DQContext) -> dict[str, tuple[list[str], list[str]]]:
    """entity -> (previously open source ids, those missing now), for employee/employment fetched "full".

    "Open" = present in the warehouse without an end date (``ctx.previous_open``; falls back to
    ``previous_keys`` when the pipeline did not say). A record that disappears from the source
    without being ended is reported (warn "missing from source"), never treated as an exit.
    """
    out = {}
    for entity in ("employee", "employment"):
        if ctx.scope.get(entity) != "full":
            continue
        previous = ctx.previous_open.get(entity, ctx.previous_keys.get(entity))
        if previous is None:
            continue
        frame = frames.get(entity)
        present = set(frame["source_id"].dropna()) if frame is not None else set()
        out[entity] = (sorted(previous), sorted(set(previous) - present))
    return out


__all__ = ["DEFAULTS", "EMPTY_CAUSES", "ENTITY_ORDER", "FIRST_EXTRACT_CHECK", "HEADCOUNT_CHECK", "FirstRunCheck",
           "RowRule", "RuleEnv", "VolumeCheck", "completeness", "effective_settings",
           "first_run_checks", "headcount", "reference_date", "row_rules", "volume_checks"]
