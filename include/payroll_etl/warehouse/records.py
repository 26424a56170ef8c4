"""The bookkeeping rows of a load: ``load_run``, ``dq_result``, ``quarantine``, ``source_state``.

Small writes and reads with bound parameters and SQLAlchemy Core on the tables of ``schema.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, select

from payroll_etl.warehouse.batch import LoadBatch
from payroll_etl.warehouse.db import Db
from payroll_etl.warehouse.engines import connect, session
from payroll_etl.warehouse.schema import dq_result, load_run, metadata, quarantine, source_state


def insert_rows(db: Db, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into the schema table named ``table`` (bound parameters)."""
    if rows:
        db.insert(metadata.tables[table], rows)


def write_load_run(db: Db, batch: LoadBatch, finished: bool = True) -> None:
    """Replace the ``load_run`` row of ``batch.load_run_id``: times, status, counts, view (current | past)."""
    db.run(delete(load_run).where(load_run.c.load_run_id == batch.load_run_id))
    db.insert(load_run, [{
        "load_run_id": batch.load_run_id, "dag_id": batch.dag_id, "airflow_run_id": batch.airflow_run_id,
        "connector": batch.connector, "employer": batch.employer, "logical_date": batch.logical_date,
        "period_id": batch.period.id, "started_at": batch.started_at,
        "finished_at": datetime.now(UTC) if finished else None, "status": batch.status,
        "rows": json.dumps(batch.rows, sort_keys=True), "message": batch.message,
        "view": "past" if batch.past_view else "current",
    }])


def write_dq(db: Db, batch: LoadBatch) -> None:
    """Replace this run's dq_result and quarantine rows (a re-run reports afresh)."""
    for table, rows in ((dq_result, batch.dq_results), (quarantine, batch.quarantine)):
        db.run(delete(table).where(table.c.load_run_id == batch.load_run_id))
        if rows:
            db.insert(table, rows)


def write_state(db: Db, batch: LoadBatch) -> None:
    """Store the run's new watermarks, keeping the ones it started from in ``state_before``.

    A re-run of the same run (same ``load_run_id``) keeps the original ``state_before``, so any
    number of re-runs of one logical date all start from the same watermarks.
    """
    if batch.state is None:
        return
    where = (source_state.c.connector == batch.connector, source_state.c.employer == batch.employer)
    found = db.run(select(source_state.c.state, source_state.c.load_run_id, source_state.c.state_before)
                   .where(*where))
    if not found:
        before: str | None = "{}"
    elif found[0][1] == batch.load_run_id:
        before = found[0][2]
    else:
        before = found[0][0]
    db.run(delete(source_state).where(*where))
    db.insert(source_state, [{
        "connector": batch.connector, "employer": batch.employer, "state": json.dumps(batch.state, sort_keys=True),
        "load_run_id": batch.load_run_id, "updated_at": batch.recorded_at, "state_before": before}])


def record_failed_run(url: str, batch: LoadBatch) -> None:
    """Record a run that loads no data (validation blocked it): load_run + dq_result only."""
    with session(url) as db:
        write_dq(db, batch)
        write_load_run(db, batch)


def newer_current_view(url: str, connector: str, employer: str, logical_date: date, load_run_id: str) -> date | None:
    """The logical date of the newest successful *current-view* load after ``logical_date`` (None: none).

    A load of an older logical date than this one is a past view (docs/warehouse.md, "Past views").
    Any connector of the employer counts: after a connector switch, a replay of the old connector's
    last night is a past view too, so it cannot reopen what the cutover closed. (``connector`` is
    kept for the callers; the employer is one identity across connectors.)
    """
    from sqlalchemy import func

    db = connect(url)
    try:
        rows = db.run(select(func.max(load_run.c.logical_date)).where(
            load_run.c.employer == employer, load_run.c.status.in_(("success", "partial")),
            load_run.c.view == "current", load_run.c.logical_date > logical_date,
            load_run.c.load_run_id != load_run_id))
    finally:
        db.close()
    return rows[0][0] if rows and rows[0][0] is not None else None


def previous_state(url: str, connector: str, employer: str, load_run_id: str | None = None) -> dict[str, Any]:
    """The source watermarks a run of (connector, employer) starts from; ``{}`` means a full extract.

    Normally the state the latest loaded run left. When that latest run is ``load_run_id`` itself
    (a re-run of the same logical date), the state *it* started from: a re-run replays its night
    and reports the same rows and checks, instead of an incremental nothing that would replace
    the night's ``dq_result`` and ``load_run.rows`` (docs/data-quality.md, "Re-runs").
    """
    db = connect(url)
    try:
        rows = db.run(select(source_state.c.state, source_state.c.load_run_id, source_state.c.state_before)
                      .where(source_state.c.connector == connector, source_state.c.employer == employer))
    finally:
        db.close()
    if not rows:
        return {}
    state, last_run, before = rows[0]
    if load_run_id is not None and last_run == load_run_id and before is not None:
        return json.loads(before)
    return json.loads(state)
