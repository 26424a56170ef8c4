"""Data quality: Great Expectations suites per canonical entity, quarantine, masked reports.

How it fits together:

* Row-level rules are computed as boolean flag columns (``_ok__<check>``) on a *check frame*,
  a copy of the entity where personal data (BSN, IBAN, birth date, address) is replaced by
  those flags, so Great Expectations and its Data Docs never see a BSN in clear.
* Each flag becomes a GE expectation (``ExpectColumnValuesToBeInSet([True])``) for the
  report and ``dq_result``; failing rows of an ``error`` check are quarantined, ``warn`` rows load.
* Run-level rules (unique keys, required columns, volume) block the whole load when they fail
  at ``error`` severity: the source probably answered partially or the connector is broken.

Great Expectations is imported inside functions only (≈5 s import): never at DAG parse time.
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
