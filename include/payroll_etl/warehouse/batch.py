"""What one employer run hands the loader (:class:`LoadBatch`) and the shape of a post-load step.

Kept apart from the loader so the steps (mutation feed, cutover, identities, deletions, benefit
bases) can name these types without importing the loader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from payroll_etl.periods import PayPeriod

if TYPE_CHECKING:
    from payroll_etl.warehouse.db import Db

LOAD_ORDER = ("employer", "employee", "employment", "salary", "payroll_period", "payroll_result")
BEGINNING_OF_TIME = date(1900, 1, 1)
# per entity: {"received", "inserted", "superseded", "unchanged", ...} row counts of one load
Changes = dict[str, dict[str, int]]


@dataclass
class LoadBatch:
    """Everything one employer run writes, applied atomically."""

    load_run_id: str
    dag_id: str
    airflow_run_id: str | None
    connector: str
    employer: str
    logical_date: date
    period: PayPeriod
    tables: dict[str, Any]  # entity -> pyarrow.Table in warehouse columns (employee with person_key)
    identities: Any | None = None  # pyarrow.Table(person_key, bsn, iban)
    dq_results: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] | None = None
    status: str = "success"
    message: str | None = None
    rows: dict[str, Any] = field(default_factory=dict)
    benefit_config_error: str | None = None  # set by the pipeline when seeding benefit config failed
    # A past view of the source (a backfill of a past pay period, a replay of an old logical date):
    # it adds period-scoped facts and history older than anything known, never supersedes newer
    # knowledge and emits no mutation (docs/warehouse.md, "Past views").
    past_view: bool = False
    # The employer's other connectors (config history): a current-view load of the publishing connector
    # while one of them still has open facts is a cutover (warehouse/cutover.py, docs/warehouse.md).
    other_connectors: tuple[str, ...] = ()
    landing_ref: str | None = None  # the run's landing partition (quarantine rows written by the load)
    closed_connectors: list[str] = field(default_factory=list)  # set by a cutover: connectors taken over
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


# A step run inside the load transaction after the entities merged, as ``step(db, batch, changes)``
# (the benefit-bases recompute, deletions of a full refresh). Must be idempotent: a re-run of the
# same batch calls it again. Passed to ``load.load(..., post_load_steps=...)`` by the caller.
PostLoadStep = Callable[["Db", LoadBatch, Changes], None]
