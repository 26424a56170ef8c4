"""The data-quality vocabulary shared by rules, suites and reports: severities, contexts and results.

Kept apart from ``payroll_etl.quality`` (which re-exports every name) so that ``rules`` and
``suites`` depend on it without importing the package that runs them (no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from payroll_etl.config import EmployerConfig
from payroll_etl.periods import PayPeriod

if TYPE_CHECKING:
    import pandas as pd

ERROR, WARN = "error", "warn"
# Processing order: parents before children, so a quarantined parent is known to its children.
ENTITY_ORDER = ("employer", "employee", "employment", "salary", "payroll_period", "payroll_result")


@dataclass
class CheckResult:
    """One check's result in one run: a ``dq_result`` row (counts are rows; the sample is masked)."""

    entity: str
    check_name: str
    column: str | None
    severity: str
    success: bool
    element_count: int
    unexpected_count: int
    unexpected_sample: str | None = None  # masked

    def as_row(self) -> dict[str, Any]:
        """The result as a ``dq_result`` row (column names of the warehouse table)."""
        return {"entity": self.entity, "check_name": self.check_name, "column_name": self.column,
                "severity": self.severity, "success": self.success, "element_count": self.element_count,
                "unexpected_count": self.unexpected_count, "unexpected_sample": self.unexpected_sample}


@dataclass
class DQContext:
    """What the checks of one employer run know besides the run's own tables (built by the pipeline)."""

    employer: EmployerConfig
    period: PayPeriod
    run_label: str  # e.g. "2026-11-23"
    report_dir: Path
    previous_counts: dict[str, int] = field(default_factory=dict)  # rows per entity in the last good run
    previous_keys: dict[str, set[str]] = field(default_factory=dict)  # source ids per entity in the warehouse
    scope: dict[str, str] = field(default_factory=dict)  # ExtractResult.scope
    settings: dict[str, Any] = field(default_factory=dict)  # data_quality section of the config
    # source ids in the warehouse that are still open (employment without end date, employee with
    # an open or no employment): the completeness check warns when one of these disappears.
    previous_open: dict[str, set[str]] = field(default_factory=dict)
    # (frequency, four-weekly calendar) the source stated for this run (ExtractResult.period); it wins
    # over the employer config in the period checks. None: the config's.
    stated_calendar: tuple[str, str] | None = None

    @property
    def calendar(self) -> tuple[str, str]:
        """(frequency, four-weekly calendar) the period checks use: the source's, else the config's."""
        return self.stated_calendar or (self.employer.payroll_frequency, self.employer.four_week_tail)

    # True when this connector never loaded this employer before (set by the pipeline): an empty
    # extract then blocks the load instead of becoming the baseline (rules.first_run_checks).
    first_run: bool = False
    # On a first run: the employer's last known headcount under another connector (a migration),
    # {"connector": str, "headcount": int, "as_of": "YYYY-MM-DD"}; None when there is none.
    baseline: dict[str, Any] | None = None


@dataclass
class DQOutcome:
    """The data-quality outcome of a run: results, quarantined keys and the reasons that block the load."""

    results: list[CheckResult]
    # entity -> {(source_id, valid_from iso): [failing error checks]}
    quarantined: dict[str, dict[tuple[str, str], list[str]]]
    blocking: list[str]  # one-line reasons, free of personal data
    report_path: Path | None = None

    @property
    def success(self) -> bool:
        """True when nothing blocks the load."""
        return not self.blocking

    def summary(self) -> dict[str, Any]:
        """Small, PII-free summary for XCom and logs: check counts, quarantined rows per entity, blocking."""
        failed = [r for r in self.results if not r.success]
        return {
            "checks": len(self.results),
            "failed_error": sum(1 for r in failed if r.severity == ERROR),
            "failed_warn": sum(1 for r in failed if r.severity == WARN),
            "quarantined": {e: len(rows) for e, rows in self.quarantined.items() if rows},
            "blocking": self.blocking,
            "report": str(self.report_path) if self.report_path else None,
        }


@dataclass
class RuleEnv:
    """What a rule may look at besides its own rows.

    ``frames``: the columns other entities' rules consult, of the whole entity (real values, in
    memory only): ``employee`` (source_id) and ``employment`` (source_id, employee_source_id,
    start_date, end_date), see ``flags.REFERENCE_COLUMNS``; a test may pass whole frames.
    """

    ctx: DQContext
    frames: dict[str, pd.DataFrame]
    settings: dict[str, Any]
    reference_date: date
    # source ids per entity that will load in this run (not quarantined), filled in ENTITY_ORDER
    loading_ids: dict[str, set[str]] = field(default_factory=dict)
    # entity -> its (source_id, valid_from) keys that occur more than once in the whole entity, when the
    # rows are checked in batches; absent: the frame a check gets is the whole entity
    duplicate_keys: dict[str, set[tuple[Any, Any]]] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)  # values a check derives once per run (not per batch)


@dataclass(frozen=True)
class RowRule:
    """A row-level rule: ``check(df, env) -> bool Series`` (True = the row passes).

    ``whole_entity``: the columns the check needs of *all* the entity's rows at once (e.g. versions
    of one employment must not overlap); such a rule runs once on those columns, not per batch.
    """

    entity: str
    name: str
    column: str | None
    severity: str
    check: Callable[[Any, RuleEnv], Any]
    description: str = ""
    whole_entity: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How the rule appears in ``quarantine.failing_checks``."""
        return f"{self.name}:{self.column}" if self.column else self.name
