"""Run-level data-quality rules: volume against the previous run, a first run's extract, completeness.

They judge a run's row counts and key sets rather than single rows; ``suites`` records them (the
volume check as a Great Expectations row-count expectation). docs/data-quality.md lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from payroll_etl.quality.base import ENTITY_ORDER, ERROR, WARN, DQContext
from payroll_etl.quality.checks import _pydate


@dataclass(frozen=True)
class VolumeCheck:
    """Row count of a fully fetched population entity against the previous run (``volume_checks``).
"""
    entity: str
    previous: int
    current: int
    minimum: int  # fewest rows that pass
    severity: str
    max_drop_pct: float

    @property
    def success(self) -> bool:
        """True when at least ``minimum`` rows arrived."""
        return self.current >= self.minimum

    def reason(self) -> str:
        """One line, PII-free: from how many rows to how many, and the configured limit."""
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
    "nmbrs_rest": "a wrong company in source_ids (a similarly named company, companyId or company number without "
                  "staff), or the tags/filters of the template user behind the consent hide the company's employees",
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
