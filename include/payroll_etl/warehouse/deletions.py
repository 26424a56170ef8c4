"""Records deleted at the source end in the warehouse after a full refresh.

A post-load step (inside the load transaction; the pipeline passes it to ``load.load``). When the run was a
full refresh (the connector fetched every record the source still has: ``batch.rows["full_refresh"]``)
and is not a backfill, every current ``employee`` / ``employment`` version of this employer whose
``source_id`` the source no longer sent is superseded: ``superseded_at`` = this load,
``superseded_by_run`` = this run, no successor. The history stays (bitemporal: "as known before
the refresh" still answers), the ``*_current`` views stop showing the record, and the count is
recorded in ``load_run.rows["loaded"][entity]["ended_at_source"]``. The completeness check of the
same run reports the ids (warn ``expect_previous_records_to_be_present``).

Rules that keep it from ending what is still there:

* "Sent" = loaded **or quarantined** in this run: a record failing a data-quality check still exists.
* Only on a full refresh: a nightly scope "full" can still be a population (Nmbrs: employed in this
  pay period), so a leaver missing from it is not a deletion.
* Never on a backfill or a replay of an older date: when a later logical date of this employer
  already loaded, newer knowledge wins and nothing is ended.
* ``salary`` and payroll facts are not ended: actual wages are a reference-date view, and a
  salary line without a current employment is simply not joined.
* No mutation: disappearing is not an exit (``UIT_DIENST`` needs an end date); a deleted record
  that comes back is loaded as a new version, and its IN_DIENST mutation has the same
  ``mutation_id`` as before, so it is not emitted twice.
"""

from __future__ import annotations

import logging
from typing import Any

from payroll_etl.warehouse.batch import LoadBatch
from payroll_etl.warehouse.db import Db
from payroll_etl.warehouse.merge import NOW, RUN, SCOPE_T, batch_params

log = logging.getLogger(__name__)

ENDED_ENTITIES = ("employee", "employment")


def _sent_ids(batch: LoadBatch, entity: str) -> Any:
    """Arrow table(source_id): ids the source sent this run (loaded + quarantined)."""
    import pyarrow as pa

    ids: list[Any] = []
    table = batch.tables.get(entity)
    if table is not None:
        ids += table.column("source_id").to_pylist()
    ids += [q["source_id"] for q in batch.quarantine if q.get("entity") == entity]
    return pa.table({"source_id": pa.array(sorted({str(i) for i in ids if i is not None}), pa.string())})


def _newer_load_exists(db: Db, batch: LoadBatch) -> bool:
    rows = db.query(
        "SELECT 1 FROM load_run WHERE connector = :connector AND employer = :employer "
        "AND status IN ('success', 'partial') AND load_run_id <> :run AND logical_date > :day LIMIT 1",
        {**batch_params(batch), "day": batch.logical_date})
    return bool(rows)


def end_deleted_records(db: Db, batch: LoadBatch, changes: dict[str, dict[str, int]]) -> None:
    """Supersede current employee/employment versions the full refresh no longer found (see module doc).

    Idempotent: a re-run finds nothing current left to end. Counts go to ``changes[entity]``.
    """
    if not batch.rows.get("full_refresh") or batch.rows.get("backfill"):
        return
    if _newer_load_exists(db, batch):
        log.info("full refresh of %s/%s for %s is older than a later load: no record ended",
                 batch.connector, batch.employer, batch.logical_date)
        return
    params = batch_params(batch)
    still_open = f"{SCOPE_T} AND t.superseded_at IS NULL AND t.recorded_at < {NOW}"
    for entity in ENDED_ENTITIES:
        if entity not in batch.tables:  # the run sent nothing for it at all: not evidence of deletion
            continue
        sent = _sent_ids(batch, entity)
        if sent.num_rows == 0:  # an empty answer is an outage until proven otherwise (volume check)
            continue
        db.stage(f"sent_{entity}", sent, {"source_id": "TEXT"})
        gone = db.query(
            f"SELECT count(DISTINCT t.source_id) FROM {entity} t WHERE {still_open} "
            f"AND t.source_id NOT IN (SELECT source_id FROM sent_{entity})", params)[0][0]
        if gone:
            db.execute(
                f"UPDATE {entity} t SET superseded_at = {NOW}, superseded_by_run = {RUN} "
                f"WHERE {still_open} AND t.source_id NOT IN (SELECT source_id FROM sent_{entity})", params)
        db.drop_temp(f"sent_{entity}")
        changes.setdefault(entity, {})["ended_at_source"] = int(gone)
        if gone:
            log.info("full refresh of %s/%s: %d %s record(s) no longer at the source, ended",
                     batch.connector, batch.employer, gone, entity)
