"""The row checks behind the data-quality rules, in pandas: each gives a boolean "passes" Series per row.

``rules.py`` names them (rule name, column, severity, description); ``flags.py`` runs them over a
run's tables in record batches. Every check takes ``(df, env)``: ``df`` a pandas frame of one
entity's rows (a batch, or the whole entity for a ``whole_entity`` rule), ``env`` the
:class:`~payroll_etl.quality.base.RuleEnv`, and returns a bool Series on ``df.index`` (True = passes;
a missing value passes unless the rule is about presence). Sources of the limits: docs/domain.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from payroll_etl.periods import period_bounds
from payroll_etl.quality.base import RuleEnv
from payroll_etl.quality.identifiers import bsn_valid, iban_valid, lhn_valid, postcode_valid

if TYPE_CHECKING:
    import pandas as pd

NL_COUNTRY = {"", "NL", "NLD", "NEDERLAND", "THE NETHERLANDS", "NETHERLANDS"}
Check = Callable[["pd.DataFrame", RuleEnv], "pd.Series"]

# ------------------------------------------------------------------------------ helpers

def _num(series: pd.Series) -> pd.Series:
    import pandas as pd

    def conv(v: object) -> float:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return math.nan
        try:
            return float(v)  # type: ignore[arg-type]  # Decimal, int, str
        except (TypeError, ValueError):
            return math.nan

    return pd.Series([conv(v) for v in series], index=series.index, dtype="float64")


def _dates(series: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_datetime(series, errors="coerce")


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _pydate(value: object) -> date | None:
    if value is None:
        return None
    if hasattr(value, "date") and callable(value.date):  # pandas Timestamp / datetime
        try:
            return value.date()
        except ValueError:
            return None
    return value if isinstance(value, date) else None


def _map(series: pd.Series, fn: Callable[[object], bool], null_passes: bool = True) -> pd.Series:
    import pandas as pd

    def apply(v: object) -> bool:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return null_passes
        return fn(v)

    return pd.Series([apply(v) for v in series], index=series.index, dtype="bool")


def _not_null(column: str) -> Check:
    return lambda df, env: df[column].notna()


def _date_in_range(column: str, low: str = "1900-01-01", high: str = "2100-12-31") -> Check:
    def check(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
        import pandas as pd

        values = _dates(df[column])
        return values.isna() | ((values >= pd.Timestamp(low)) & (values <= pd.Timestamp(high)))

    return check


def _first_employment_start(env: RuleEnv) -> dict[str, date]:
    """Employee source id -> start of the first employment in this run (once per run: ``env.cache``)."""
    if "first_employment_start" in env.cache:
        return env.cache["first_employment_start"]
    first: dict[str, date] = env.cache.setdefault("first_employment_start", {})
    employment = env.frames.get("employment")
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

def _bsn(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    return _map(df["bsn"], bsn_valid)


def _iban(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    return _map(df["iban"], iban_valid)


def _postcode(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    import pandas as pd

    dutch = df["country"].map(lambda c: c is None or (isinstance(c, float) and math.isnan(c))
                              or str(c).strip().upper() in NL_COUNTRY)
    valid = _map(df["postcode"], postcode_valid)
    return pd.Series(~dutch.astype(bool) | valid, index=df.index, dtype="bool")


def _lhn(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    return _map(df["loonheffingennummer"], lhn_valid)


# ------------------------------------------------------------------------ plausibility

def _birth_date_error(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    first = _first_employment_start(env)

    def ok(birth_value: object, employee_id: object) -> bool:
        birth = _pydate(birth_value)
        if birth is None:
            return True
        if birth > env.reference_date:
            return False
        start = first.get(employee_id) if isinstance(employee_id, str) else None
        return start is None or _age(birth, start) >= 13

    import pandas as pd

    return pd.Series([ok(b, s) for b, s in zip(df["birth_date"], df["source_id"])], index=df.index, dtype="bool")


def _birth_date_warn(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    first = _first_employment_start(env)

    def ok(birth_value: object, employee_id: object) -> bool:
        birth = _pydate(birth_value)
        if birth is None or birth > env.reference_date:
            return True  # the error rule reports it
        start = first.get(employee_id) if isinstance(employee_id, str) else None
        if start is not None and 13 <= _age(birth, start) < 15:
            return False
        return _age(birth, env.reference_date) <= 75

    import pandas as pd

    return pd.Series([ok(b, s) for b, s in zip(df["birth_date"], df["source_id"])], index=df.index, dtype="bool")


def _end_not_before_start(start_col: str = "start_date", end_col: str = "end_date") -> Check:
    def check(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
        start, end = _dates(df[start_col]), _dates(df[end_col])
        return end.isna() | start.isna() | (end >= start)

    return check


def _ptf_positive(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    values = _num(df["part_time_factor"])
    return values.isna() | (values > 0)


def _ptf_at_most_one(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    values = _num(df["part_time_factor"])
    return values.isna() | (values <= 1)


def _hours_at_most(limit: float) -> Check:
    def check(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
        values = _num(df["hours_per_week"])
        return values.isna() | ((values >= 0) & (values <= limit))

    return check


def _no_overlapping_versions(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
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


def _salary_non_negative(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    corrections = {str(c).upper() for c in env.settings["correction_components"]}
    amounts = _num(df["gross_amount"])
    is_corr = [bool(flag) if flag is not None and flag == flag else False for flag in df["is_correction"]]
    comp = [str(c).upper() in corrections if c is not None else False for c in df["component"]]
    import pandas as pd

    allowed_negative = pd.Series([a or b for a, b in zip(is_corr, comp)], index=df.index, dtype="bool")
    return amounts.isna() | (amounts >= 0) | allowed_negative


def _holiday_allowance(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    minimum = float(env.settings["holiday_allowance_min_pct"])
    values = _num(df["holiday_allowance_pct"])
    return values.isna() | (values >= minimum)


# --------------------------------------------------------------------------- structure

def business_key(source_id: object, valid_from: object) -> tuple[object, object]:
    """(source_id, valid_from) with a missing value (None, NaN, NaT) as None: keys compare as in
    ``DataFrame.duplicated``, where missing values are equal."""
    import pandas as pd

    return (None if source_id is None or pd.isna(source_id) else source_id,
            None if valid_from is None or pd.isna(valid_from) else valid_from)


def _unique_key(entity: str) -> Check:
    """(source_id, valid_from) occurs once in the entity. Checked in batches, the keys occurring more
    than once in the whole entity come from ``env.duplicate_keys`` (``flags.duplicate_keys``)."""

    def check(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
        duplicates = env.duplicate_keys.get(entity)
        if duplicates is None:  # the frame is the whole entity
            return ~df.duplicated(subset=["source_id", "valid_from"], keep=False)
        import pandas as pd

        if not duplicates:
            return pd.Series(True, index=df.index, dtype="bool")
        return pd.Series([business_key(s, v) not in duplicates for s, v in zip(df["source_id"], df["valid_from"])],
                         index=df.index, dtype="bool")

    return check


def _parent_exists(parent: str, column: str) -> Check:
    """The parent is in this run and not quarantined, or already in the warehouse."""

    def check(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
        key = f"parent_ids:{parent}"  # the parent entity is complete before its children are checked
        if key not in env.cache:
            env.cache[key] = env.loading_ids.get(parent, set()) | set(env.ctx.previous_keys.get(parent, set()))
        known = env.cache[key]
        return df[column].map(lambda v: v is not None and v in known).astype(bool)

    return check


def _period_number_ok(frequency: object, year: object, number: object, tail: str) -> bool:
    try:
        period_bounds(str(frequency), int(year), int(number), tail)  # type: ignore[arg-type, call-overload]
    except (ValueError, TypeError):
        return False
    return True


def _period_number(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
    import pandas as pd

    tail = env.ctx.calendar[1]
    return pd.Series([_period_number_ok(f, y, n, tail) for f, y, n in
                      zip(df["frequency"], df["year"], df["period_number"])], index=df.index, dtype="bool")


def _period_dates(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
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


def _period_id(column: str) -> Check:
    def check(df: pd.DataFrame, env: RuleEnv) -> pd.Series:
        frequency, tail = env.ctx.calendar

        def ok(value: object) -> bool:
            text = str(value)
            return len(text) == 6 and text.isdigit() and _period_number_ok(frequency, text[:4], text[4:], tail)

        return _map(df[column], ok)

    return check
