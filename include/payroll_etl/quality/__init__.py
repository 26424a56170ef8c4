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

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from payroll_etl.parsing import RecordIssue
from payroll_etl.quality.base import ERROR, WARN, CheckResult, DQContext, DQOutcome

if TYPE_CHECKING:
    import pyarrow as pa


def run_quality(tables: Mapping[str, pa.Table | Path], issues: list[RecordIssue], ctx: DQContext) -> DQOutcome:
    """Validate one employer run's canonical tables; see the module docstring.

    ``tables``: entity name -> Arrow table, or the path of its staged Parquet file (read in record
    batches, so a large entity is never in memory as a whole). ``issues``: the values the connector
    could not parse (each quarantines its record). Returns the outcome; writes the run's report pages.
    """
    from payroll_etl.quality.suites import evaluate

    return evaluate(tables, issues, ctx)


__all__ = ["ERROR", "WARN", "CheckResult", "DQContext", "DQOutcome", "run_quality"]
