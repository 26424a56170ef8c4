"""The validate step: data-quality rules on the staged tables, quarantine, report pages; blocks a bad load."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from payroll_etl.errors import DataQualityError
from payroll_etl.parsing import RecordIssue
from payroll_etl.steps.baseline import headcount_baseline, previous_run_info
from payroll_etl.steps.context import RunContext, read_json, system_arrow_pool, write_private
from payroll_etl.steps.normalize import staged_paths, staged_rows

if TYPE_CHECKING:
    from payroll_etl.quality import DQContext, DQOutcome

log = logging.getLogger(__name__)


def _dq_context(ctx: RunContext, settings_dq: dict[str, Any] | None) -> DQContext:
    """The data-quality context of this run: the previous run's counts and keys from the warehouse (none
    for a shadow run), the extract's scope, the source's calendar, the first-run baseline."""
    from payroll_etl.quality import DQContext

    extract_info = read_json(ctx.staging / "extract.json") if (ctx.staging / "extract.json").exists() else {}
    previous_counts, previous_keys, previous_open, first_run = previous_run_info(ctx) if ctx.publishes \
        else ({}, {}, {}, False)
    if ctx.is_past_view():  # a past period need not state who joined since: no "missing from source" warnings
        previous_open = {}
    stated = ctx.stated_period()
    return DQContext(ctx.employer, ctx.period, ctx.logical_date.isoformat(), ctx.report_dir, previous_counts,
                     previous_keys, extract_info.get("scope", {}), settings_dq or {}, previous_open,
                     (stated.frequency, stated.tail) if stated is not None else None,
                     first_run=first_run, baseline=headcount_baseline(ctx) if first_run else None)


def _record_blocked(ctx: RunContext, outcome: DQOutcome, received: dict[str, int]) -> None:
    """Record the blocked run in the warehouse (``load_run`` failed, its ``dq_result``) and its history page."""
    from payroll_etl.warehouse.load import LoadBatch, record_failed_run

    now = datetime.now(UTC)
    batch = LoadBatch(ctx.load_run_id, ctx.employer.dag_id, ctx.airflow_run_id, ctx.employer.connector,
                      ctx.employer.employer, ctx.logical_date, ctx.period, {}, status="failed",
                      message=outcome.blocking[0][:300], started_at=now, recorded_at=now,
                      dq_results=dq_rows(ctx, [r.as_row() for r in outcome.results], now),
                      rows={"received": received})
    record_failed_run(ctx.warehouse_url, batch)
    write_history(ctx)


def validate(ctx: RunContext, settings_dq: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the data-quality rules on the staged tables (read in record batches, never whole).

    ``settings_dq``: the ``data_quality`` section of the config. Writes ``dq.json`` (results and
    quarantined keys, for the load step) and the report pages; returns the summary for XCom.
    Raises ``DataQualityError`` when a blocking check fails (a publishing run records the failed
    run in the warehouse first). Rules: ``payroll_etl.quality``, docs/data-quality.md.
    """
    from payroll_etl.quality import run_quality
    from payroll_etl.warehouse.migrate import upgrade

    os.environ.setdefault("TQDM_DISABLE", "1")  # no GE progress bars in task logs
    system_arrow_pool()
    upgrade(ctx.warehouse_url)
    tables = staged_paths(ctx)
    issues_path = ctx.staging / "issues.json"
    issues = [RecordIssue(**i) for i in json.loads(issues_path.read_text())] if issues_path.exists() else []
    outcome = run_quality(tables, issues, _dq_context(ctx, settings_dq))
    quarantined = {e: [[k[0], k[1], checks] for k, checks in rows.items()] for e, rows in outcome.quarantined.items()}
    write_private(ctx.staging / "dq.json", json.dumps({
        "results": [r.as_row() for r in outcome.results], "quarantined": quarantined,
        "blocking": outcome.blocking, "report": str(outcome.report_path) if outcome.report_path else None},
        sort_keys=True, default=str))
    summary = outcome.summary()
    _log_report_paths(ctx, outcome.report_path)
    if outcome.blocking and not ctx.publishes:  # a shadow run writes nothing to the warehouse
        raise DataQualityError(f"{ctx.employer.employer}: data quality blocked the shadow run of "
                               f"{ctx.employer.connector}: {outcome.blocking[0]}")
    if outcome.blocking:
        _record_blocked(ctx, outcome, staged_rows(tables))
        raise DataQualityError(f"{ctx.employer.employer}: data quality blocked the load: {outcome.blocking[0]}")
    return summary


def _log_report_paths(ctx: RunContext, run_page: Path | None) -> None:
    """The task log's way to the reports: this run's page, the run date's index, the employer's history."""
    from payroll_etl.quality.index import day_page, history_page

    if run_page is not None:
        log.info("data-quality report of this run: %s", run_page.resolve().as_uri())
    log.info("data-quality index of run date %s (all employers): %s", ctx.logical_date.isoformat(),
             day_page(ctx.report_dir, ctx.logical_date.isoformat()).resolve().as_uri())
    log.info("data-quality history of %s: %s", ctx.employer.employer,
             history_page(ctx.report_dir, ctx.employer.connector, ctx.employer.employer).resolve().as_uri())


def write_history(ctx: RunContext) -> None:
    """Rewrite the employer's history page from the warehouse, now that this run is recorded there.

    A report that cannot be written is a warning: the load is committed and the pages are rebuilt
    by the next run or by ``make dq-report --html``.
    """
    from payroll_etl.quality.history import write_history

    try:
        write_history(ctx.report_dir, ctx.warehouse_url, ctx.employer.connector, ctx.employer.employer,
                      ctx.logical_date.isoformat())
    except Exception as exc:  # noqa: BLE001 - reporting must not undo or fail a committed load
        log.warning("data-quality history of %s not written: %s", ctx.employer.employer, type(exc).__name__)


def dq_rows(ctx: RunContext, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """``dq_result`` rows of this run: each check result with the run's keys and ``checked_at``."""
    return [{"load_run_id": ctx.load_run_id, "connector": ctx.employer.connector, "employer": ctx.employer.employer,
             **r, "checked_at": now} for r in rows]
