"""Merging one entity of a batch into its bitemporal history table (current and past views).

Per entity (``merge_entity``): row hashes are computed on the Arrow table, compared client-side
with the current versions' keys and hashes (read with ``COPY ... TO STDOUT`` on PostgreSQL), and
only the changed/vanished rows are staged and merged set-based; rows new to the warehouse are
written straight into the history table (sorted, ``COPY`` on PostgreSQL, Arrow scan on DuckDB).
A past view (``merge_past_view``) only adds history older than everything known. Rules:
docs/warehouse.md ("Effective-dated and snapshot entities", "Past views", "Fast loads").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from payroll_etl.model import Entity
from payroll_etl.warehouse.batch import BEGINNING_OF_TIME, LoadBatch
from payroll_etl.warehouse.db import Db
from payroll_etl.warehouse.diff import (
    MATCH_EXTRA,
    Diff,
    diff_entity,
    sql_types,
    with_bookkeeping,
    with_row_hash,
)
from payroll_etl.warehouse.schema import warehouse_columns

if TYPE_CHECKING:
    from concurrent.futures import Future

    import pyarrow as pa

SCOPE = "connector = :connector AND employer = :employer"
SCOPE_T = "t.connector = :connector AND t.employer = :employer"
NOW, RUN = "CAST(:now AS TIMESTAMPTZ)", "CAST(:run AS VARCHAR)"
# New rows are taken from the staged table and inserted this many at a time (one COPY each on
# PostgreSQL, encoded 65,536 rows a chunk): a first load of 800,000 payroll results then holds a
# slice of them, not a second, sorted copy of all of them (docs/warehouse.md, "Fast loads").
INSERT_SLICE = 131_072
SUPERSEDE = f"UPDATE {{name}} t SET superseded_at = {NOW}, superseded_by_run = {RUN} WHERE {SCOPE_T} "


def batch_params(batch: LoadBatch) -> dict[str, object]:
    """The bound parameters every merge statement of ``batch`` uses: scope, transaction time, run."""
    return {"connector": batch.connector, "employer": batch.employer, "now": batch.recorded_at,
            "run": batch.load_run_id}


def insert_types(name: str) -> dict[str, str]:
    """SQL types of a history table's columns plus the bookkeeping columns ``with_bookkeeping`` adds."""
    return {**sql_types(name), "recorded_at": "TIMESTAMPTZ", "load_run_id": "VARCHAR(64)"}


def _key_match(extra: tuple[str, ...], left: str) -> str:
    return f"{left}.source_id = t.source_id AND {left}.valid_from = t.valid_from" + "".join(
        f' AND {left}."{x}" = t."{x}"' for x in extra)


def read_current(db: Db, entity: Entity, batch: LoadBatch, source: pa.Table,
                 hashed: Future[pa.Table] | None = None) -> tuple[pa.Table, pa.Table]:
    """(``source`` with ``row_hash``, the current versions' key and hash columns of this employer).

    The snapshot is hashed in a thread (DuckDB releases the GIL) while the warehouse is read;
    ``hashed``: that hash already under way (``load.merge_entities`` hashes every entity ahead).
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    name = entity.name
    key_cols = ["source_id", "valid_from", *MATCH_EXTRA.get(name, ()), "row_hash"]
    open_only = "" if entity.effective_dated else " AND valid_to IS NULL"
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashing = hashed or pool.submit(with_row_hash, entity, source)
        current = db.fetch_arrow(
            f"SELECT {', '.join(key_cols)} FROM {name} WHERE {SCOPE} AND superseded_at IS NULL{open_only}",
            pa.schema([pa.field(k, pa.date32() if k == "valid_from" else pa.string()) for k in key_cols]),
            {"connector": batch.connector, "employer": batch.employer})
        return hashing.result(), current


def _supersede_changed(db: Db, entity: Entity, cols: list[str], params: dict[str, object]) -> str:
    """Supersede the current versions the staged ``d_<entity>`` rows replace; returns the valid_from
    expression of the inserted versions."""
    name = entity.name
    if entity.effective_dated:
        match = _key_match(MATCH_EXTRA.get(name, ()), "d")
        db.execute(SUPERSEDE.format(name=name) + f"AND t.superseded_at IS NULL "
                   f"AND EXISTS (SELECT 1 FROM d_{name} d WHERE {match})", params)
        return "d.valid_from"
    # a snapshot: close the open version at the day before the change's effective date (kept, as a new fact)
    other = [c for c in cols if c != "valid_to"]
    db.execute(
        f"INSERT INTO {name} ({', '.join(chr(34) + c + chr(34) for c in other)}, "
        f"valid_to, row_hash, recorded_at, load_run_id) "
        f"SELECT {', '.join(f't.{chr(34)}{c}{chr(34)}' for c in other)}, "
        f"CAST(d.valid_from - INTERVAL '1 day' AS DATE), t.row_hash, {NOW}, {RUN} "
        f"FROM {name} t JOIN d_{name} d ON d.source_id = t.source_id "
        f"WHERE {SCOPE_T} AND t.superseded_at IS NULL AND t.valid_to IS NULL "
        f"AND t.valid_from < d.valid_from", params)
    db.execute(SUPERSEDE.format(name=name) + f"AND t.superseded_at IS NULL AND t.valid_to IS NULL "
               f"AND t.recorded_at < {NOW} AND EXISTS (SELECT 1 FROM d_{name} d WHERE d.source_id = t.source_id)",
               params)
    return "CASE WHEN d.cur_valid_from >= d.valid_from THEN d.cur_valid_from ELSE d.valid_from END"


def apply_diff(db: Db, entity: Entity, batch: LoadBatch, diff: Diff) -> int:
    """Write ``diff``: supersede replaced and vanished versions, insert changed and new rows.

    Returns the number of rows inserted. Changed and vanished rows go through temporary tables
    (``d_<entity>``, ``v_<entity>``); new rows are bulk-inserted straight into the history table.
    """
    import pyarrow as pa

    name = entity.name
    cols = warehouse_columns(entity)
    types = sql_types(name)
    params = batch_params(batch)
    valid_from_expr = "d.valid_from"
    if diff.changed.num_rows:
        db.stage(f"d_{name}", diff.changed, {**types, "cur_valid_from": "DATE"})
        valid_from_expr = _supersede_changed(db, entity, cols, params)
    if diff.vanished.num_rows:  # versions the source no longer states for a key it did send
        db.stage(f"v_{name}", diff.vanished, types)
        match = _key_match(MATCH_EXTRA.get(name, ()), "v")
        db.execute(SUPERSEDE.format(name=name) + f"AND t.superseded_at IS NULL "
                   f"AND EXISTS (SELECT 1 FROM v_{name} v WHERE {match})", params)
    if diff.changed.num_rows:
        select = ", ".join(valid_from_expr if c == "valid_from" else f'd."{c}"' for c in cols)
        db.execute(f"INSERT INTO {name} ({', '.join(chr(34) + c + chr(34) for c in cols)}, row_hash, "
                   f"recorded_at, load_run_id) SELECT {select}, d.row_hash, {NOW}, {RUN} FROM d_{name} d", params)
    for start in range(0, diff.new_count, INSERT_SLICE):  # a slice at a time: no sorted copy of the whole table
        new = diff.new_rows(start, INSERT_SLICE)
        if not entity.effective_dated:  # first version of a snapshot record: we do not know since when
            new = new.set_column(new.schema.get_field_index("valid_from"), "valid_from",
                                 pa.repeat(pa.scalar(BEGINNING_OF_TIME, pa.date32()), new.num_rows))
        db.bulk_insert(name, with_bookkeeping(new, batch), insert_types(name))
        del new
    for temp in (f"d_{name}", f"v_{name}"):
        db.drop_temp(temp)
    return diff.changed.num_rows + diff.new_count


def merge_entity(db: Db, entity: Entity, batch: LoadBatch, table: pa.Table,
                 hashed: Future[pa.Table] | None = None) -> dict[str, int]:
    """Merge one entity's rows (Arrow, warehouse columns) into its history table.

    Returns ``{"received", "inserted", "superseded", "unchanged"}`` row counts. Hashes are computed
    in Arrow (``hashed``: already under way, see ``read_current``), compared with the current
    versions' hashes, and only the rows that differ are staged and merged set-based; rows new to
    the warehouse are bulk-inserted (COPY). Records the touched source ids in ``db.touched[entity]``
    for the mutation feed.
    """
    import pyarrow as pa

    staged, current = read_current(db, entity, batch, table.select(warehouse_columns(entity)), hashed)
    diff = diff_entity(entity, staged, current)
    inserted = apply_diff(db, entity, batch, diff)
    new_ids = diff.staged.column("source_id").take(diff.new_at)
    db.touched[entity.name] = pa.table({"source_id": pa.chunked_array(
        [*new_ids.chunks, *(c for t in (diff.changed, diff.vanished) for c in t.column("source_id").chunks)],
        pa.string())})
    return {"received": table.num_rows, "inserted": inserted,
            "superseded": diff.changed.num_rows + diff.vanished.num_rows, "unchanged": diff.unchanged}


def _older_history(entity: Entity, batch: LoadBatch, staged: pa.Table, known: pa.Table,
                   current: pa.Table) -> tuple[pa.Table, int]:
    """(rows of a past view older than every version we hold of a known record, closed at the view's
    horizon; the number of rows equal to a current version), compared in an in-memory DuckDB."""
    import duckdb

    cols = warehouse_columns(entity)
    con = duckdb.connect()
    try:
        con.register("s", staged)
        con.register("k", known)
        con.register("c", current)
        (same,), = con.execute("SELECT count(*) FROM s JOIN c USING (source_id, valid_from) "
                               "WHERE s.row_hash = c.row_hash").fetchall()
        # known to hold through the end of the past view's period, not beyond: what came between that
        # and the earliest version we hold is unknown, not the old value carried forward
        horizon = "CAST($horizon AS DATE)"
        select = ", ".join(
            f"LEAST(coalesce(s.valid_to, {horizon}), {horizon}, CAST(k.first_from - 1 AS DATE)) AS valid_to"
            if c == "valid_to" else f's."{c}"' for c in cols)
        older = con.sql(f"SELECT {select} FROM s JOIN k USING (source_id) WHERE s.valid_from < k.first_from "
                        f"AND s.valid_from <= {horizon} ORDER BY s.source_id, s.valid_from",
                        params={"horizon": batch.period.end}).to_arrow_table()
    finally:
        con.close()
    return older, int(same)


def merge_past_view(db: Db, entity: Entity, batch: LoadBatch, table: pa.Table) -> dict[str, int]:
    """Merge one state entity of a *past view* without touching what newer views recorded.

    ``table``: the entity's rows in warehouse columns. Rules (docs/warehouse.md, "Past views"):

    * snapshot entities (employee, employer) are not merged at all: a past view cannot say what a
      person's data is now, and their first version already reaches back to 1900-01-01;
    * effective-dated entities (employment, salary) gain only versions *older than every version we
      hold* of a record we already know, closed at the end of the past view's pay period or the day
      before the earliest known version, whichever comes first;
    * nothing is superseded; a record we never saw is not created.

    Returns ``{"received", "inserted", "superseded": 0, "unchanged", "kept_newer"}``; ``kept_newer``
    counts rows that disagree with (or are unknown to) newer knowledge and were therefore not loaded.
    """
    import pyarrow as pa

    counts = {"received": table.num_rows, "inserted": 0, "superseded": 0, "unchanged": 0, "kept_newer": 0}
    db.touched[entity.name] = pa.table({"source_id": pa.array([], pa.string())})
    if not entity.effective_dated or table.num_rows == 0:
        counts["kept_newer"] = table.num_rows
        return counts
    scope = {"connector": batch.connector, "employer": batch.employer}
    known = db.fetch_arrow(
        f"SELECT source_id, min(valid_from) AS first_from, count(*) AS n FROM {entity.name} "
        f"WHERE {SCOPE} AND superseded_at IS NULL GROUP BY source_id",
        pa.schema([pa.field("source_id", pa.string()), pa.field("first_from", pa.date32()),
                   pa.field("n", pa.int64())]), scope)
    current = db.fetch_arrow(
        f"SELECT source_id, valid_from, row_hash FROM {entity.name} WHERE {SCOPE} AND superseded_at IS NULL",
        pa.schema([pa.field("source_id", pa.string()), pa.field("valid_from", pa.date32()),
                   pa.field("row_hash", pa.string())]), scope)
    staged = with_row_hash(entity, table.select(warehouse_columns(entity)))
    older, same = _older_history(entity, batch, staged, known, current)
    if older.num_rows:
        db.bulk_insert(entity.name, with_bookkeeping(with_row_hash(entity, older), batch), insert_types(entity.name))
    counts.update(inserted=older.num_rows, unchanged=same, kept_newer=table.num_rows - older.num_rows - same)
    return counts

