"""Row hashes and the client-side comparison of a snapshot with the current versions.

``with_row_hash`` adds the md5 of an entity's attribute columns to an Arrow table (vectorised, in
an in-memory DuckDB); ``diff_entity`` joins only key and hash columns to split a snapshot into new,
changed, vanished and unchanged rows (docs/warehouse.md, "Fast loads").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payroll_etl.model import Entity
from payroll_etl.warehouse.batch import LoadBatch
from payroll_etl.warehouse.schema import ENTITY_TABLES, warehouse_columns


def sql_types(table_name: str) -> dict[str, str]:
    """Column SQL types, from the SQLAlchemy table, usable in both dialects."""
    from sqlalchemy.dialects import postgresql

    table = ENTITY_TABLES[table_name]
    dialect = postgresql.dialect()
    return {c.name: c.type.compile(dialect=dialect).replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
            for c in table.columns}


def hash_columns(entity: Entity) -> list[str]:
    """Attributes whose change makes a new version (not the key, not loader-assigned dates)."""
    skip = {"connector", "employer", "source_id", "valid_from"}
    if not entity.effective_dated:
        skip.add("valid_to")
    return [c for c in warehouse_columns(entity) if c not in skip]


# Extra columns that identify a version besides (source_id, valid_from). Payroll results are keyed on
# (employment, period, run, component): a later (retroactive) run adds lines instead of replacing them,
# whatever source_id the connector chose.
MATCH_EXTRA: dict[str, tuple[str, ...]] = {"payroll_result": ("period_id", "run_id", "component")}
# Entities whose lines never "vanish": a later load that omits them does not supersede them.
ADDITIVE = {"payroll_result", "payroll_period"}


def hash_sql(entity: Entity, alias: str = "s") -> str:
    """The row-hash expression; identical text on DuckDB and PostgreSQL (both cast to the same strings)."""
    parts = " || '|' || ".join(f"coalesce(CAST({alias}.\"{c}\" AS VARCHAR), '~')" for c in hash_columns(entity))
    return f"md5({parts})"


def with_row_hash(entity: Entity, table: Any) -> Any:
    """``table`` plus ``row_hash``, computed vectorised in an in-memory DuckDB over the Arrow buffers.

    Only the hash column comes back from DuckDB (in row order: ``preserve_insertion_order``); the
    other columns stay the caller's Arrow buffers instead of being copied through DuckDB.
    """
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        con.register("s", table)
        hashes = con.sql(f"SELECT {hash_sql(entity)} AS row_hash FROM s").to_arrow_table().column("row_hash")
    finally:
        con.close()
    return table.append_column("row_hash", hashes)


@dataclass
class Diff:
    """What a staged entity changes: rows to add, rows replacing a current version, versions that vanished.

    The new rows are not copied out of the staged table: ``new_at`` holds their positions in
    ``staged``, in key order; ``new_rows`` takes a slice of them (the loader inserts them slice by
    slice, so a first load does not hold a second, sorted copy of the whole table).
    """

    staged: Any  # the staged rows (with row_hash)
    new_at: Any  # positions in ``staged`` of the rows without a current version, sorted by key (Int64Array)
    changed: Any  # rows whose current version has another hash (with cur_valid_from)
    vanished: Any  # (source_id, valid_from, ...) of current versions the source no longer states
    unchanged: int

    @property
    def new_count(self) -> int:
        """How many rows are new."""
        return len(self.new_at)

    def new_rows(self, start: int = 0, length: int | None = None) -> Any:
        """The new rows ``start`` .. ``start + length`` (all from ``start``: ``None``), in key order."""
        return self.staged.take(self.new_at.slice(start, length))

    @property
    def new(self) -> Any:
        """Every new row, in key order (a copy: ``new_rows`` takes them a slice at a time)."""
        return self.new_rows()


def diff_entity(entity: Entity, staged: Any, current: Any) -> Diff:
    """Compare the staged rows (with row_hash) with the current versions' keys and hashes, client-side.

    Only the few changed rows then travel to the warehouse's staging tables; a nightly load where 1 %
    changed stages 1 % of the rows instead of all of them. The join runs on the narrow key and hash
    columns only (row positions, not whole rows); the new and changed rows are then taken from
    ``staged`` by position in Arrow.
    """
    import duckdb
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    extra = MATCH_EXTRA.get(entity.name, ())
    key = [(k, "ascending") for k in ("source_id", "valid_from", *extra)]
    if current.num_rows == 0:  # a first load: everything is new (sorted: index inserts stay sequential)
        empty = staged.schema.empty_table()
        return Diff(staged, _key_order(staged, None, key),
                    empty.append_column("cur_valid_from", pa.array([], pa.date32())),
                    current.select(["source_id", "valid_from", *extra]).slice(0, 0), 0)
    if entity.effective_dated:
        on = "c.source_id = s.source_id AND c.valid_from = s.valid_from" + "".join(
            f' AND c."{x}" = s."{x}"' for x in extra)
    else:
        on = "c.source_id = s.source_id"
    keys = staged.select(["source_id", "valid_from", *extra, "row_hash"]).append_column(
        "_pos", pa.array(np.arange(staged.num_rows, dtype=np.int64)))
    vanishing = entity.effective_dated and entity.name not in ADDITIVE
    # a version older than the earliest one the source states for the record is beyond what it
    # states (its history depth, or history a connector switch carried over), not withdrawn
    first = ("LEFT JOIN (SELECT source_id, min(valid_from) AS first_from FROM s GROUP BY source_id) m "
             "ON m.source_id = c.source_id ") if vanishing else ""
    gone = "s._pos IS NULL AND c.valid_from >= m.first_from" if vanishing else "FALSE"
    ckey = ("source_id", "valid_from", *extra)
    con = duckdb.connect()
    try:
        con.register("s", keys)
        con.register("c", current)
        # one pass: new, changed and vanished rows only, and narrow columns (no hash strings come back)
        rows = con.sql(
            f"SELECT s._pos, c.valid_from AS cur_valid_from, c.row_hash IS NULL AS is_new, "
            f"coalesce({gone}, FALSE) AS vanished, " + ", ".join(f'c."{k}" AS "{k}"' for k in ckey) + " "
            f"FROM s FULL JOIN c ON {on} {first}"
            f"WHERE s._pos IS NULL OR c.row_hash IS NULL OR c.row_hash <> s.row_hash").to_arrow_table().combine_chunks()
    finally:
        con.close()
    present = pc.is_valid(rows["_pos"])
    new_at = _key_order(staged, rows["_pos"].filter(pc.and_(present, rows["is_new"])), key)
    differs = rows.filter(pc.and_(present, pc.invert(rows["is_new"])))
    changed = staged.take(differs["_pos"]).append_column(
        "cur_valid_from", differs["cur_valid_from"].cast(pa.date32()))
    vanished = rows.filter(rows["vanished"]).select(list(ckey))
    unchanged = staged.num_rows - len(new_at) - changed.num_rows
    return Diff(staged, new_at, changed, vanished, int(unchanged))


def _key_order(staged: Any, positions: Any, key: list[tuple[str, str]]) -> Any:
    """``positions`` (rows of ``staged``; ``None``: all of them) reordered by ``key``: only the key
    columns are taken and sorted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = staged.select([k for k, _ in key])
    if positions is None:  # every row (a first load): sorted in place of taken, no copy of the keys
        return pc.sort_indices(keys, sort_keys=key)
    if isinstance(positions, pa.ChunkedArray):
        positions = positions.combine_chunks()
    return positions.take(pc.sort_indices(keys.take(positions), sort_keys=key))


def with_bookkeeping(table: Any, batch: LoadBatch) -> Any:
    """``table`` plus the ``recorded_at`` (ISO text) and ``load_run_id`` columns of ``batch``."""
    import pyarrow as pa

    table = table.append_column("recorded_at", pa.repeat(pa.scalar(batch.recorded_at.isoformat()), table.num_rows))
    return table.append_column("load_run_id", pa.repeat(pa.scalar(batch.load_run_id), table.num_rows))
