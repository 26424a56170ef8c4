"""Loading one employer run into the warehouse: one transaction, set-based, idempotent.

Per entity (``merge_entity``): row hashes are computed on the Arrow table, compared client-side
with the current versions' keys and hashes (read with ``COPY ... TO STDOUT`` on PostgreSQL), and
only the changed/vanished rows are staged and merged set-based; rows new to the warehouse are
written straight into the history table (sorted, ``COPY`` on PostgreSQL, Arrow scan on DuckDB).

The merge keeps bitemporal history; see ``schema.py`` and docs/warehouse.md. Re-running the same
batch finds every row already current with the same hash and changes nothing. Everything happens
inside one transaction, so a load killed part-way leaves the warehouse as it was. Runs of
different employers touch disjoint rows and do not block each other on PostgreSQL; runs of the
same employer serialise on an advisory lock. DuckDB is single-writer per file, so its loads queue
on the file lock (the embedded default).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from payroll_etl.errors import WarehouseError
from payroll_etl.model import ENTITIES, Entity
from payroll_etl.periods import PayPeriod
from payroll_etl.warehouse.schema import ENTITY_TABLES, warehouse_columns

LOAD_ORDER = ("employer", "employee", "employment", "salary", "payroll_period", "payroll_result")
BEGINNING_OF_TIME = date(1900, 1, 1)


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


# Steps run inside the load transaction after the entities merged (mutations, benefit bases).
# Each is called as step(db, batch, changes) and must be idempotent.
POST_LOAD_STEPS: list[Callable[[Db, LoadBatch, dict[str, dict[str, int]]], None]] = []


def lit(value: object) -> str:
    """A SQL literal for values we generate ourselves (run ids, timestamps, keys)."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return f"CAST('{value.isoformat()}' AS TIMESTAMPTZ)"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class Db:
    """The few operations the loader needs, on DuckDB or PostgreSQL."""

    dialect: str
    # entity -> Arrow table(source_id) of the records this load inserted or superseded versions of;
    # post-load steps (the mutation feed) use it to look only at what changed.
    touched: dict[str, Any]
    # entity -> SQL relation of "what we believed before this load" for the mutation feed, when it is
    # not the entity's table (a cutover load adds the old connector's facts, translated: cutover.py).
    prior: dict[str, str] = {}  # noqa: RUF012 - replaced per instance, never mutated in place

    def execute(self, sql: str) -> None: ...
    def query(self, sql: str) -> list[tuple]: ...
    def stage(self, name: str, table: Any, types: dict[str, str]) -> None: ...
    def fetch_arrow(self, sql: str, schema: Any) -> Any: ...
    def bulk_insert(self, target: str, table: Any, types: dict[str, str]) -> None: ...
    def lock_scope(self, connector: str, employer: str) -> None: ...

    def drop_temp(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {name}")

    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class DuckDb(Db):
    dialect = "duckdb"

    def __init__(self, path: str, timeout_s: float = 600.0, config: dict[str, str] | None = None):
        """Open the file ``path`` (spaces are fine) with DuckDB ``config`` options from the URL query
        (``access_mode=read_only``: readers that must never write). Waits up to ``timeout_s`` for
        another process's lock; an unknown/invalid option is a ConfigurationError naming it."""
        import duckdb

        from payroll_etl.errors import ConfigurationError

        deadline = time.monotonic() + timeout_s
        while True:  # DuckDB allows one writing process per file: wait for the other loader
            try:
                self.conn = duckdb.connect(path, config=dict(config or {}))
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseError(f"DuckDB warehouse {path} is locked by another process") from exc
                time.sleep(0.5)
            except (duckdb.InvalidInputException, duckdb.CatalogException, duckdb.NotImplementedException) as exc:
                raise ConfigurationError(f"DuckDB warehouse {path}: invalid URL option "
                                         f"({str(exc).splitlines()[0][:200]})") from None
        self._registered: list[str] = []
        self.touched = {}

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def query(self, sql: str) -> list[tuple]:
        return self.conn.execute(sql).fetchall()

    def stage(self, name: str, table: Any, types: dict[str, str]) -> None:
        self.conn.register(f"{name}_arrow", table)
        self._registered.append(f"{name}_arrow")
        casts = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in table.column_names)
        self.conn.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {casts} FROM {name}_arrow")

    def fetch_arrow(self, sql: str, schema: Any) -> Any:
        return self.conn.sql(sql).to_arrow_table().cast(schema)

    def bulk_insert(self, target: str, table: Any, types: dict[str, str]) -> None:
        """Insert Arrow rows straight into ``target`` (DuckDB scans the Arrow buffers)."""
        view = f"{target}_bulk_arrow"
        self.conn.register(view, table)
        try:
            names = ", ".join(f'"{c}"' for c in table.column_names)
            casts = ", ".join(f'CAST("{c}" AS {types[c]})' for c in table.column_names)
            self.conn.execute(f"INSERT INTO {target} ({names}) SELECT {casts} FROM {view}")
        finally:
            self.conn.unregister(view)

    def lock_scope(self, connector: str, employer: str) -> None:
        """DuckDB has one writer per file: the file lock already serialises loads."""

    def begin(self) -> None:
        self.conn.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - nothing to roll back
            pass

    def close(self) -> None:
        for name in self._registered:
            try:
                self.conn.unregister(name)
            except Exception:  # noqa: BLE001
                pass
        self.conn.close()


class PostgresDb(Db):
    dialect = "postgresql"

    def __init__(self, conninfo: str, where: str = "warehouse", password: str | None = None):
        """Connect with a libpq ``conninfo`` (every option of it honoured: sslmode, sslrootcert, ...).

        A refused TLS/authentication handshake raises ConfigurationError naming the option (not
        retried); an unreachable server WarehouseError (retryable). See ``db_url``.
        """
        import psycopg

        from payroll_etl.warehouse.db_url import classify_connect_error

        try:
            self.conn = psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise classify_connect_error(exc, where, password) from None
        # The loader's statements touch one employer's rows; with a large table the planner's cost
        # passes jit_above_cost and PostgreSQL spent ~0.9 s JIT-compiling the mutation-feed insert of
        # 600 rows (measured, docs/warehouse.md "Fast loads"). No statement here profits from JIT.
        self.conn.execute("SET jit = off")
        self.touched = {}

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def query(self, sql: str) -> list[tuple]:
        return self.conn.execute(sql).fetchall()

    def copy_in(self, target: str, table: Any) -> None:
        """Stream an Arrow table into ``target`` with COPY (CSV written by Arrow, batch by batch)."""
        import pyarrow.csv as pacsv

        if table.num_rows == 0:
            return
        from concurrent.futures import ThreadPoolExecutor

        names = ", ".join(f'"{c}"' for c in table.column_names)
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")

        def encode(batch: Any) -> memoryview:
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, options)
            return buffer.getbuffer()

        # Arrow encodes the next chunk (GIL released) while the server parses the current one
        with ThreadPoolExecutor(max_workers=1) as pool, \
                self.conn.cursor().copy(f"COPY {target} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
            pending = None
            for batch in table.to_batches(max_chunksize=65536):
                future = pool.submit(encode, batch)
                if pending is not None:
                    copy.write(pending.result())
                pending = future
            if pending is not None:
                copy.write(pending.result())

    def stage(self, name: str, table: Any, types: dict[str, str]) -> None:
        cols = ", ".join(f'"{c}" {types[c]}' for c in table.column_names)
        self.conn.execute(f"CREATE TEMP TABLE {name} ({cols}) ON COMMIT DROP")
        self.copy_in(name, table)
        self.conn.execute(f"ANALYZE {name}")

    def bulk_insert(self, target: str, table: Any, types: dict[str, str]) -> None:
        self.copy_in(target, table)

    def fetch_arrow(self, sql: str, schema: Any) -> Any:
        """Run ``sql`` and read the result through COPY TO STDOUT into Arrow (fast for big key sets)."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        with self.conn.cursor().copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            for block in copy:
                buffer.write(block)
        if buffer.tell() == 0:
            return schema.empty_table()
        buffer.seek(0)
        table = pacsv.read_csv(
            buffer, read_options=pacsv.ReadOptions(column_names=schema.names),
            convert_options=pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False))
        return table.cast(pa.schema(schema))

    def lock_scope(self, connector: str, employer: str) -> None:
        """Serialise loads of the same employer (e.g. overlapping backfill runs); other employers go on.

        A transaction-scoped advisory lock: released at COMMIT/ROLLBACK, or when the session dies.
        """
        self.conn.execute(f"SELECT pg_advisory_xact_lock(hashtextextended({lit(f'{connector}/{employer}')}, 7))")

    def begin(self) -> None:
        self.conn.execute("BEGIN")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001
            pass

    def close(self) -> None:
        self.conn.close()


def connect(url: str) -> Db:
    """Open the warehouse of a SQLAlchemy ``url`` with every option of the URL honoured.

    ``duckdb:///<path>?<duckdb config>`` or ``postgresql[+psycopg]://...?sslmode=...``; the URL is
    parsed by SQLAlchemy and the conninfo built by psycopg (``warehouse/db_url.py``).
    """
    from payroll_etl.warehouse.db_url import duckdb_target, postgres_target

    if url.startswith("duckdb:///"):
        target = duckdb_target(url)
        return DuckDb(target.path, config=target.config)
    if url.startswith("postgresql"):
        pg = postgres_target(url)
        return PostgresDb(pg.conninfo, pg.where, pg.kwargs.get("password"))
    raise WarehouseError(f"unsupported warehouse URL scheme: {url.split(':', 1)[0]}")


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
    """What a staged entity changes: rows to add, rows replacing a current version, versions that vanished."""

    new: Any  # rows without a current version: inserted as they are
    changed: Any  # rows whose current version has another hash (with cur_valid_from)
    vanished: Any  # (source_id, valid_from, ...) of current versions the source no longer states
    unchanged: int


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
        return Diff(staged.sort_by(key), empty.append_column("cur_valid_from", pa.array([], pa.date32())),
                    current.select(["source_id", "valid_from", *extra]).slice(0, 0), 0)
    if entity.effective_dated:
        on = "c.source_id = s.source_id AND c.valid_from = s.valid_from" + "".join(
            f' AND c."{x}" = s."{x}"' for x in extra)
    else:
        on = "c.source_id = s.source_id"
    keys = staged.select(["source_id", "valid_from", *extra, "row_hash"]).append_column(
        "_pos", pa.array(np.arange(staged.num_rows, dtype=np.int64)))
    con = duckdb.connect()
    try:
        con.register("s", keys)
        con.register("c", current)
        joined = con.sql(f"SELECT s._pos, s.row_hash, c.valid_from AS cur_valid_from, c.row_hash AS cur_hash "
                         f"FROM s LEFT JOIN c ON {on}").to_arrow_table().combine_chunks()
        ckey = ", ".join(f'c."{k}"' for k in ("source_id", "valid_from", *extra))
        if entity.effective_dated and entity.name not in ADDITIVE:
            # a version older than the earliest one the source states for the record is beyond what it
            # states (its history depth, or history a connector switch carried over), not withdrawn
            vanished = con.sql(
                f"SELECT {ckey} FROM c WHERE c.valid_from >= (SELECT min(s.valid_from) FROM s "
                f"WHERE s.source_id = c.source_id) AND NOT EXISTS (SELECT 1 FROM s WHERE {on})").to_arrow_table()
        else:
            vanished = con.sql(f"SELECT {ckey} FROM c WHERE FALSE").to_arrow_table()
    finally:
        con.close()
    new = staged.take(joined["_pos"].filter(pc.is_null(joined["cur_hash"]))).sort_by(key)
    differs = joined.filter(pc.not_equal(joined["row_hash"], joined["cur_hash"]))  # null (new) drops out
    changed = staged.take(differs["_pos"]).append_column(
        "cur_valid_from", differs["cur_valid_from"].cast(pa.date32()))
    unchanged = joined.num_rows - new.num_rows - changed.num_rows
    return Diff(new, changed, vanished, int(unchanged))


def with_bookkeeping(table: Any, batch: LoadBatch) -> Any:
    """``table`` plus the ``recorded_at`` (ISO text) and ``load_run_id`` columns of ``batch``."""
    import pyarrow as pa

    table = table.append_column("recorded_at", pa.repeat(pa.scalar(batch.recorded_at.isoformat()), table.num_rows))
    return table.append_column("load_run_id", pa.repeat(pa.scalar(batch.load_run_id), table.num_rows))


def merge_entity(db: Db, entity: Entity, batch: LoadBatch, table: Any) -> dict[str, int]:
    """Merge one entity's rows into its history table. Returns counts of inserted/superseded.

    Hashes are computed in Arrow, compared with the current versions' hashes, and only the rows
    that differ are staged and merged set-based; rows new to the warehouse are bulk-inserted (COPY).
    The snapshot is hashed in a thread while the current keys and hashes are read from the warehouse.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    name = entity.name
    cols = warehouse_columns(entity)
    types = sql_types(name)
    extra = MATCH_EXTRA.get(name, ())
    scope = f"connector = {lit(batch.connector)} AND employer = {lit(batch.employer)}"
    open_only = "" if entity.effective_dated else " AND valid_to IS NULL"
    key_cols = ["source_id", "valid_from", *extra, "row_hash"]
    insert_types = {**types, "recorded_at": "TIMESTAMPTZ", "load_run_id": "VARCHAR(64)"}
    source = table.select(cols)
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashed = pool.submit(with_row_hash, entity, source)  # DuckDB releases the GIL
        current = db.fetch_arrow(
            f"SELECT {', '.join(key_cols)} FROM {name} WHERE {scope} AND superseded_at IS NULL{open_only}",
            pa.schema([pa.field(k, pa.date32() if k == "valid_from" else pa.string()) for k in key_cols]))
        staged = hashed.result()
    diff = diff_entity(entity, staged, current)
    now, run = lit(batch.recorded_at), lit(batch.load_run_id)
    scope_t = f"t.connector = {lit(batch.connector)} AND t.employer = {lit(batch.employer)}"
    col_list = ", ".join(f'"{c}"' for c in cols)
    changed = diff.changed.num_rows
    vanished = diff.vanished.num_rows
    if changed:
        db.stage(f"d_{name}", diff.changed, {**types, "cur_valid_from": "DATE"})
        if entity.effective_dated:
            match = "d.source_id = t.source_id AND d.valid_from = t.valid_from" + "".join(
                f' AND d."{x}" = t."{x}"' for x in extra)
            db.execute(
                f"UPDATE {name} t SET superseded_at = {now}, superseded_by_run = {run} "
                f"WHERE {scope_t} AND t.superseded_at IS NULL AND EXISTS (SELECT 1 FROM d_{name} d WHERE {match})")
            valid_from_expr = "d.valid_from"
        else:
            # close the open version at the day before the change's effective date (kept, as a new fact)
            other = ", ".join(f't."{c}"' for c in cols if c != "valid_to")
            db.execute(
                f"INSERT INTO {name} ({', '.join(chr(34) + c + chr(34) for c in cols if c != 'valid_to')}, "
                f"valid_to, row_hash, recorded_at, load_run_id) "
                f"SELECT {other}, CAST(d.valid_from - INTERVAL '1 day' AS DATE), t.row_hash, {now}, {run} "
                f"FROM {name} t JOIN d_{name} d ON d.source_id = t.source_id "
                f"WHERE {scope_t} AND t.superseded_at IS NULL AND t.valid_to IS NULL "
                f"AND t.valid_from < d.valid_from")
            db.execute(
                f"UPDATE {name} t SET superseded_at = {now}, superseded_by_run = {run} "
                f"WHERE {scope_t} AND t.superseded_at IS NULL AND t.valid_to IS NULL AND t.recorded_at < {now} "
                f"AND EXISTS (SELECT 1 FROM d_{name} d WHERE d.source_id = t.source_id)")
            valid_from_expr = "CASE WHEN d.cur_valid_from >= d.valid_from THEN d.cur_valid_from ELSE d.valid_from END"
    if vanished:
        # versions the source no longer states for a key it did send (e.g. a removed wage line)
        db.stage(f"v_{name}", diff.vanished, types)
        match = "v.source_id = t.source_id AND v.valid_from = t.valid_from" + "".join(
            f' AND v."{x}" = t."{x}"' for x in extra)
        db.execute(
            f"UPDATE {name} t SET superseded_at = {now}, superseded_by_run = {run} "
            f"WHERE {scope_t} AND t.superseded_at IS NULL AND EXISTS (SELECT 1 FROM v_{name} v WHERE {match})")
    if changed:
        select = ", ".join(valid_from_expr if c == "valid_from" else f'd."{c}"' for c in cols)
        db.execute(
            f"INSERT INTO {name} ({col_list}, row_hash, recorded_at, load_run_id) "
            f"SELECT {select}, d.row_hash, {now}, {run} FROM d_{name} d")
    new = diff.new
    if new.num_rows:
        if not entity.effective_dated:  # first version of a snapshot record: we do not know since when
            new = new.set_column(new.schema.get_field_index("valid_from"), "valid_from",
                                 pa.repeat(pa.scalar(BEGINNING_OF_TIME, pa.date32()), new.num_rows))
        db.bulk_insert(name, with_bookkeeping(new, batch), insert_types)
    for temp in (f"d_{name}", f"v_{name}"):
        db.drop_temp(temp)
    db.touched[name] = pa.table({"source_id": pa.chunked_array(
        [c for t in (diff.new, diff.changed, diff.vanished) for c in t.column("source_id").chunks], pa.string())})
    return {"received": table.num_rows, "inserted": changed + new.num_rows, "superseded": changed + vanished,
            "unchanged": diff.unchanged}


def merge_past_view(db: Db, entity: Entity, batch: LoadBatch, table: Any) -> dict[str, int]:
    """Merge one state entity of a *past view* without touching what newer views recorded.

    ``table``: the entity's rows in warehouse columns. Rules (docs/warehouse.md, "Past views"):

    * snapshot entities (employee, employer) are not merged at all: a past view cannot say what a
      person's data is now, and their first version already reaches back to 1900-01-01;
    * effective-dated entities (employment, salary) gain only versions *older than every version we
      hold* of a record we already know: history a current view did not state. Such a version is
      closed at the end of the past view's pay period (what it knows), or the day before the earliest
      known version if that comes first: the time between stays unknown, never filled with the old
      value, so no answer in force after the backfilled period changes;
    * nothing is superseded; a record we never saw is not created (a current view, e.g. a
      ``full_refresh`` night, is what introduces records and their IN_DIENST mutation).

    Returns ``{"received", "inserted", "superseded": 0, "unchanged", "kept_newer"}``; ``kept_newer``
    counts rows that disagree with (or are unknown to) newer knowledge and were therefore not loaded.
    """
    import duckdb
    import pyarrow as pa

    name = entity.name
    counts = {"received": table.num_rows, "inserted": 0, "superseded": 0, "unchanged": 0, "kept_newer": 0}
    db.touched[name] = pa.table({"source_id": pa.array([], pa.string())})
    if not entity.effective_dated or table.num_rows == 0:
        counts["kept_newer"] = table.num_rows
        return counts
    cols = warehouse_columns(entity)
    staged = with_row_hash(entity, table.select(cols))
    scope = f"connector = {lit(batch.connector)} AND employer = {lit(batch.employer)}"
    known = db.fetch_arrow(
        f"SELECT source_id, min(valid_from) AS first_from, count(*) AS n FROM {name} "
        f"WHERE {scope} AND superseded_at IS NULL GROUP BY source_id",
        pa.schema([pa.field("source_id", pa.string()), pa.field("first_from", pa.date32()),
                   pa.field("n", pa.int64())]))
    current = db.fetch_arrow(
        f"SELECT source_id, valid_from, row_hash FROM {name} WHERE {scope} AND superseded_at IS NULL",
        pa.schema([pa.field("source_id", pa.string()), pa.field("valid_from", pa.date32()),
                   pa.field("row_hash", pa.string())]))
    con = duckdb.connect()
    try:
        con.register("s", staged)
        con.register("k", known)
        con.register("c", current)
        (same,), = con.execute("SELECT count(*) FROM s JOIN c USING (source_id, valid_from) "
                               "WHERE s.row_hash = c.row_hash").fetchall()
        # known to hold through the end of the past view's period, not beyond: what came between that
        # and the earliest version we hold is unknown, not the old value carried forward
        horizon = f"DATE '{batch.period.end.isoformat()}'"
        select = ", ".join(
            f"LEAST(coalesce(s.valid_to, {horizon}), {horizon}, CAST(k.first_from - 1 AS DATE)) AS valid_to"
            if c == "valid_to" else f's."{c}"' for c in cols)
        older = con.sql(f"SELECT {select} FROM s JOIN k USING (source_id) WHERE s.valid_from < k.first_from "
                        f"AND s.valid_from <= {horizon} ORDER BY s.source_id, s.valid_from").to_arrow_table()
    finally:
        con.close()
    if older.num_rows:
        older = with_bookkeeping(with_row_hash(entity, older), batch)
        db.bulk_insert(name, older, {**sql_types(name), "recorded_at": "TIMESTAMPTZ", "load_run_id": "VARCHAR(64)"})
    counts.update(inserted=older.num_rows, unchanged=int(same),
                  kept_newer=table.num_rows - older.num_rows - int(same))
    return counts


def _insert_rows(db: Db, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    values = ", ".join("(" + ", ".join(lit(r.get(c)) for c in columns) + ")" for r in rows)
    db.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}")


def write_load_run(db: Db, batch: LoadBatch, finished: bool = True) -> None:
    db.execute(f"DELETE FROM load_run WHERE load_run_id = {lit(batch.load_run_id)}")
    _insert_rows(db, "load_run", [{
        "load_run_id": batch.load_run_id, "dag_id": batch.dag_id, "airflow_run_id": batch.airflow_run_id,
        "connector": batch.connector, "employer": batch.employer, "logical_date": batch.logical_date,
        "period_id": batch.period.id, "started_at": batch.started_at,
        "finished_at": datetime.now(UTC) if finished else None, "status": batch.status,
        "rows": json.dumps(batch.rows, sort_keys=True), "message": batch.message,
        "view": "past" if batch.past_view else "current",
    }])


def write_dq(db: Db, batch: LoadBatch) -> None:
    """Replace this run's dq_result and quarantine rows (a re-run reports afresh)."""
    for table in ("dq_result", "quarantine"):
        db.execute(f"DELETE FROM {table} WHERE load_run_id = {lit(batch.load_run_id)}")
    for chunk in range(0, len(batch.dq_results), 500):
        _insert_rows(db, "dq_result", batch.dq_results[chunk:chunk + 500])
    for chunk in range(0, len(batch.quarantine), 500):
        _insert_rows(db, "quarantine", batch.quarantine[chunk:chunk + 500])


def _write_state(db: Db, batch: LoadBatch) -> None:
    """Store the run's new watermarks, keeping the ones it started from in ``state_before``.

    A re-run of the same run (same ``load_run_id``) keeps the original ``state_before``, so any
    number of re-runs of one logical date all start from the same watermarks.
    """
    if batch.state is None:
        return
    where = f"connector = {lit(batch.connector)} AND employer = {lit(batch.employer)}"
    found = db.query(f"SELECT state, load_run_id, state_before FROM source_state WHERE {where}")
    if not found:
        before: str | None = "{}"
    elif found[0][1] == batch.load_run_id:
        before = found[0][2]
    else:
        before = found[0][0]
    db.execute(f"DELETE FROM source_state WHERE {where}")
    _insert_rows(db, "source_state", [{
        "connector": batch.connector, "employer": batch.employer, "state": json.dumps(batch.state, sort_keys=True),
        "load_run_id": batch.load_run_id, "updated_at": batch.recorded_at, "state_before": before}])


def load(url: str, batch: LoadBatch) -> dict[str, dict[str, int]]:
    """Apply ``batch`` in one transaction. Returns per-entity counts."""
    from payroll_etl.warehouse import cutover, mutations

    db = connect(url)
    changes: dict[str, dict[str, int]] = {}
    try:
        db.begin()
        db.lock_scope("employer", batch.employer)  # one lock per employer, whatever the connector
        plan = cutover.prepare(db, batch)  # a connector switch: match identities, quarantine ambiguous ones
        if batch.identities is not None and batch.identities.num_rows:
            raise WarehouseError("clear BSN/IBAN are never written: seal them first (payroll_etl.warehouse.identity)")
        for name in LOAD_ORDER:
            if name not in batch.tables:
                continue
            if batch.past_view and name not in ADDITIVE:
                changes[name] = merge_past_view(db, ENTITIES[name], batch, batch.tables[name])
            else:
                changes[name] = merge_entity(db, ENTITIES[name], batch, batch.tables[name])
        if plan is not None:  # close the old connector's facts; its facts are the feed's "before"
            batch.rows["cutover"] = cutover.apply(db, batch, plan)
            batch.message = "; ".join(m for m in (
                f"cutover from {', '.join(plan.old_connectors)}: their open facts closed", batch.message) if m)
        if not batch.past_view:  # a past view changes no current fact: no mutation, no new benefit basis
            mutations.post_load_step(db, batch, changes)  # the mutation feed is part of every load
            for step in POST_LOAD_STEPS:
                step(db, batch, changes)
        cutover.cleanup(db)
        batch.rows = {**batch.rows, "loaded": changes}
        write_dq(db, batch)
        if not batch.past_view:  # an old view's watermarks would rewind the incremental nights
            _write_state(db, batch)
        write_load_run(db, batch)
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


def _analyze_if_grown(db: Db, changes: dict[str, dict[str, int]]) -> None:
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


def record_failed_run(url: str, batch: LoadBatch) -> None:
    """Record a run that loads no data (validation blocked it): load_run + dq_result only."""
    db = connect(url)
    try:
        db.begin()
        write_dq(db, batch)
        write_load_run(db, batch)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


def newer_current_view(url: str, connector: str, employer: str, logical_date: date, load_run_id: str) -> date | None:
    """The logical date of the newest successful *current-view* load after ``logical_date`` (None: none).

    A load of an older logical date than this one is a past view (docs/warehouse.md, "Past views").
    Any connector of the employer counts: after a connector switch, a replay of the old connector's
    last night is a past view too, so it cannot reopen what the cutover closed. (``connector`` is
    kept for the callers; the employer is one identity across connectors.)
    """
    db = connect(url)
    try:
        rows = db.query(
            f"SELECT max(logical_date) FROM load_run WHERE employer = {lit(employer)} "
            f"AND status IN ('success', 'partial') AND view = 'current' AND logical_date > {lit(logical_date)} "
            f"AND load_run_id <> {lit(load_run_id)}")
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
        rows = db.query(f"SELECT state, load_run_id, state_before FROM source_state "
                        f"WHERE connector = {lit(connector)} AND employer = {lit(employer)}")
    finally:
        db.close()
    if not rows:
        return {}
    state, last_run, before = rows[0]
    if load_run_id is not None and last_run == load_run_id and before is not None:
        return json.loads(before)
    return json.loads(state)
