"""Loading one employer run into the warehouse: one transaction, set-based, idempotent.

``load(url, batch, post_load_steps)`` merges identities and every entity (``merge.py``), applies a
connector switch (``cutover.py``), derives the mutation feed (``mutations.py``, part of every
current-view load), stores the sealed identities, runs the caller's post-load steps (benefit
bases, deletions of a full refresh), and writes dq results, quarantine, source state and the
``load_run`` row (``records.py``), then commits.

The merge keeps bitemporal history; see ``schema.py`` and docs/warehouse.md. Re-running the same
batch finds every row already current with the same hash and changes nothing. Everything happens
inside one transaction, so a load killed part-way leaves the warehouse as it was. Runs of
different employers touch disjoint rows and do not block each other on PostgreSQL; runs of the
same employer serialise on an advisory lock. DuckDB is single-writer per file, so its loads queue
on the file lock (the embedded default).

The adapter (``Db``, ``connect``), the batch and the merge live in their own modules; their names
are re-exported here for the callers that import them from ``load``.
"""

from __future__ import annotations

from collections.abc import Sequence

from payroll_etl.errors import WarehouseError
from payroll_etl.model import ENTITIES
from payroll_etl.warehouse import cutover, identity, mutations
from payroll_etl.warehouse.batch import BEGINNING_OF_TIME, LOAD_ORDER, Changes, LoadBatch, PostLoadStep
from payroll_etl.warehouse.db import Db, lit
from payroll_etl.warehouse.diff import (
    ADDITIVE,
    MATCH_EXTRA,
    Diff,
    diff_entity,
    hash_columns,
    hash_sql,
    sql_types,
    with_bookkeeping,
    with_row_hash,
)
from payroll_etl.warehouse.engines import DuckDb, PostgresDb, connect
from payroll_etl.warehouse.merge import merge_entity, merge_past_view
from payroll_etl.warehouse.records import (
    insert_rows,
    newer_current_view,
    previous_state,
    record_failed_run,
    write_dq,
    write_load_run,
    write_state,
)
from payroll_etl.warehouse.schema import ENTITY_TABLES, warehouse_columns

__all__ = [
    "ADDITIVE", "BEGINNING_OF_TIME", "LOAD_ORDER", "MATCH_EXTRA", "Changes", "Db", "Diff", "DuckDb", "LoadBatch",
    "PostLoadStep", "PostgresDb", "connect", "diff_entity", "hash_columns", "hash_sql", "lit", "load",
    "merge_entity", "merge_past_view", "newer_current_view", "previous_state", "record_failed_run", "sql_types",
    "with_bookkeeping", "with_row_hash", "write_dq", "write_load_run",
]
_insert_rows = insert_rows  # former private names, still used by callers and tests
_write_state = write_state


def merge_entities(db: Db, batch: LoadBatch) -> Changes:
    """Merge every entity of ``batch`` in ``LOAD_ORDER``: a past view through ``merge_past_view``
    (period-scoped entities excepted), a current view through ``merge_entity``. Returns the counts."""
    from concurrent.futures import ThreadPoolExecutor

    changes: Changes = {}
    merged = [n for n in LOAD_ORDER if n in batch.tables and not (batch.past_view and n not in ADDITIVE)]
    pool = ThreadPoolExecutor(max_workers=1)
    try:  # hash every entity ahead, in load order: the big salary hash overlaps the smaller entities' merge
        hashed = {n: pool.submit(with_row_hash, ENTITIES[n], batch.tables[n].select(warehouse_columns(ENTITIES[n])))
                  for n in merged}
        for name in LOAD_ORDER:
            if name in hashed:
                changes[name] = merge_entity(db, ENTITIES[name], batch, batch.tables[name], hashed.pop(name))
            elif name in batch.tables:
                changes[name] = merge_past_view(db, ENTITIES[name], batch, batch.tables[name])
    finally:
        pool.shutdown(cancel_futures=True)
    return changes


def apply_batch(db: Db, batch: LoadBatch, post_load_steps: Sequence[PostLoadStep] = ()) -> Changes:
    """Everything ``load`` does inside its open transaction on ``db``; returns per-entity counts.

    Raises WarehouseError when the batch carries clear BSN/IBAN (they must be sealed first).
    """
    db.lock_scope("employer", batch.employer)  # one lock per employer, whatever the connector
    plan = cutover.prepare(db, batch)  # a connector switch: match identities, quarantine ambiguous ones
    if batch.identities is not None and batch.identities.num_rows:
        raise WarehouseError("clear BSN/IBAN are never written: seal them first (payroll_etl.warehouse.identity)")
    changes = merge_entities(db, batch)
    if plan is not None:  # close the old connector's facts; its facts are the feed's "before"
        batch.rows["cutover"] = cutover.apply(db, batch, plan)
        batch.message = "; ".join(m for m in (
            f"cutover from {', '.join(plan.old_connectors)}: their open facts closed", batch.message) if m)
    if not batch.past_view:  # a past view changes no current fact: no mutation, identity or benefit basis
        mutations.post_load_step(db, batch, changes)  # the mutation feed is part of every load
        identity.store_identities(db, batch, changes)  # a SealedLoadBatch's encrypted BSN/IBAN
        for step in post_load_steps:
            step(db, batch, changes)
    cutover.cleanup(db)
    batch.rows = {**batch.rows, "loaded": changes}
    write_dq(db, batch)
    if not batch.past_view:  # an old view's watermarks would rewind the incremental nights
        write_state(db, batch)
    write_load_run(db, batch)
    return changes


def load(url: str, batch: LoadBatch, post_load_steps: Sequence[PostLoadStep] = ()) -> Changes:
    """Apply ``batch`` to the warehouse at ``url`` in one transaction; returns per-entity counts.

    ``post_load_steps`` run inside the transaction after the mutation feed, in order, as
    ``step(db, batch, changes)`` (the pipeline passes the deletions of a full refresh and the
    benefit-bases recompute). Any exception rolls everything back and propagates.
    """
    db = connect(url)
    try:
        db.begin()
        changes = apply_batch(db, batch, post_load_steps)
        db.commit()
        _analyze_if_grown(db, changes)
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
    return changes


ANALYZE_MIN_ROWS = 20_000
# A quick ANALYZE samples 300 x this many rows (PostgreSQL's default target 100: 30,000 rows).
ANALYZE_STATISTICS_TARGET = 10


def _analyze_if_grown(db: Db, changes: Changes) -> None:
    """Refresh planner statistics after a big load, so the next merge plans on real sizes.

    After COMMIT, not inside the load transaction: ANALYZE takes a self-conflicting lock, and two
    employers analysing the same table inside their transactions would wait for each other.
    A quick ANALYZE (3,000-row sample, ``ANALYZE_STATISTICS_TARGET``): what the next load's plans
    need is the table's size and the key columns' rough distribution; measured at 20,000 employees
    it took 0.07-0.09 s instead of 0.69-0.83 s for the salary table. Autovacuum's own analyze (a
    load that grew a table by 10 % triggers it) later replaces these with full statistics.
    """
    if db.dialect != "postgresql":
        return
    grown = [name for name, counts in changes.items()
             if name in ENTITY_TABLES and counts.get("inserted", 0) >= ANALYZE_MIN_ROWS]
    if not grown:
        return
    try:
        db.execute(f"SET default_statistics_target = {ANALYZE_STATISTICS_TARGET}")
        for name in grown:
            db.execute(f"ANALYZE {name}")
        db.execute("RESET default_statistics_target")
    except Exception:  # noqa: BLE001 - statistics are an optimisation; autovacuum will catch up
        pass


