"""Data quality: rules per canonical entity, Great Expectations, quarantine, masked reports.

* ``identifiers``: BSN 11-proef, IBAN mod-97, postcode, loonheffingennummer (pure functions).
* ``rules``: every rule with its severity; row rules give a boolean "passes" Series per row,
  run-level rules judge volume and completeness against the previous run.
* ``suites``: evaluates the rules, quarantines rows failing an ``error`` rule, and validates each
  rule in Great Expectations as a custom expectation on a PII-free flag column, so neither GE nor
  its reports ever see a BSN, IBAN or birth date. A volume drop blocks the whole load.
* ``pages``: the self-contained HTML (Jinja2, one shared stylesheet, inline SVG chart); ``index``:
  the report files (run pages, per-day index); ``history``: per-employer history from the
  warehouse; ``report``: ``make dq-report``;
  ``scan``: finds BSN-like numbers in reports and logs.

Great Expectations is imported inside functions only (≈5 s import): never at DAG parse time.
See docs/data-quality.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payroll_etl.config import EmployerConfig
from payroll_etl.parsing import RecordIssue
from payroll_etl.periods import PayPeriod

ERROR, WARN = "error", "warn"


@dataclass
class CheckResult:
    entity: str
    check_name: str
    column: str | None
    severity: str
    success: bool
    element_count: int
    unexpected_count: int
    unexpected_sample: str | None = None  # masked

    def as_row(self) -> dict[str, Any]:
        return {"entity": self.entity, "check_name": self.check_name, "column_name": self.column,
                "severity": self.severity, "success": self.success, "element_count": self.element_count,
                "unexpected_count": self.unexpected_count, "unexpected_sample": self.unexpected_sample}


@dataclass
class DQContext:
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
    results: list[CheckResult]
    # entity -> {(source_id, valid_from iso): [failing error checks]}
    quarantined: dict[str, dict[tuple[str, str], list[str]]]
    blocking: list[str]  # one-line reasons, free of personal data
    report_path: Path | None = None

    @property
    def success(self) -> bool:
        return not self.blocking

    def summary(self) -> dict[str, Any]:
        failed = [r for r in self.results if not r.success]
        return {
            "checks": len(self.results),
            "failed_error": sum(1 for r in failed if r.severity == ERROR),
            "failed_warn": sum(1 for r in failed if r.severity == WARN),
            "quarantined": {e: len(rows) for e, rows in self.quarantined.items() if rows},
            "blocking": self.blocking,
            "report": str(self.report_path) if self.report_path else None,
        }


def run_quality(tables: dict[str, Any], issues: list[RecordIssue], ctx: DQContext) -> DQOutcome:
    """Validate canonical Arrow tables; see module docstring."""
    from payroll_etl.quality.suites import evaluate

    return evaluate(tables, issues, ctx)
