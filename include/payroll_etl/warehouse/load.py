"""Loading one employer run into the warehouse: one transaction, set-based, idempotent.

* PostgreSQL: Arrow -> CSV -> ``COPY`` into temporary staging tables (psycopg 3), then merge.
* DuckDB: Arrow tables are registered and read directly, then the same merge SQL.

The merge (``merge_entity``) keeps bitemporal history; see ``schema.py``. Re-running the same
batch finds every row already current with the same hash and changes nothing. Everything
happens inside one transaction, so a load killed part-way leaves the warehouse as it was.
Runs of different employers touch disjoint rows and do not block each other on PostgreSQL;
DuckDB is single-writer per file, so its loads queue on the file lock (the embedded default).
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

    def execute(self, sql: str) -> None: ...
    def query(self, sql: str) -> list[tuple]: ...
    def stage(self, name: str, table: Any, types: dict[str, str]) -> None: ...
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class DuckDb(Db):
    dialect = "duckdb"

    def __init__(self, path: str, timeout_s: float = 600.0):
        import duckdb

        deadline = time.monotonic() + timeout_s
        while True:  # DuckDB allows one writing process per file: wait for the other loader
            try:
                self.conn = duckdb.connect(path)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseError(f"DuckDB warehouse {path} is locked by another process") from exc
                time.sleep(0.5)
        self._registered: list[str] = []

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def query(self, sql: str) -> list[tuple]:
        return self.conn.execute(sql).fetchall()

    def stage(self, name: str, table: Any, types: dict[str, str]) -> None:
        self.conn.register(f"{name}_arrow", table)
        self._registered.append(f"{name}_arrow")
        casts = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in table.column_names)
        self.conn.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {casts} FROM {name}_arrow")

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

    def __init__(self, conninfo: str):
        import psycopg

        self.conn = psycopg.connect(conninfo, autocommit=True)

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def query(self, sql: str) -> list[tuple]:
        return self.conn.execute(sql).fetchall()

    def stage(self, name: str, table: Any, types: dict[str, str]) -> None:
        import pyarrow.csv as pacsv

        cols = ", ".join(f'"{c}" {types[c]}' for c in table.column_names)
        self.conn.execute(f"CREATE TEMP TABLE {name} ({cols}) ON COMMIT DROP")
        if table.num_rows == 0:
            return
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        names = ", ".join(f'"{c}"' for c in table.column_names)
        with self.conn.cursor().copy(f"COPY {name} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
            view = buffer.getbuffer()
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start:start + (1 << 20)])
        self.conn.execute(f"ANALYZE {name}")

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
    if url.startswith("duckdb:///"):
        return DuckDb(url.removeprefix("duckdb:///"))
    if url.startswith("postgresql"):
        from sqlalchemy.engine import make_url

        u = make_url(url)
        parts = [f"host={u.host or '127.0.0.1'}", f"port={u.port or 5432}", f"dbname={u.database}",
                 f"user={u.username or 'postgres'}"]
        if u.password:
            parts.append(f"password={u.password}")
        return PostgresDb(" ".join(parts))
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


def merge_entity(db: Db, entity: Entity, batch: LoadBatch, table: Any) -> dict[str, int]:
    """Merge one staged entity into its history table. Returns counts of inserted/superseded."""
    name = entity.name
    cols = warehouse_columns(entity)
    types = sql_types(name)
    db.stage(f"stage_{name}", table.select(cols), types)
    now, run = lit(batch.recorded_at), lit(batch.load_run_id)
    scope = f"t.connector = {lit(batch.connector)} AND t.employer = {lit(batch.employer)}"
    hash_expr = "md5(" + " || '|' || ".join(f"coalesce(CAST(s.\"{c}\" AS VARCHAR), '~')" for c in hash_columns(entity)) + ")"
    if entity.effective_dated:
        match = "cur.valid_from = s.valid_from"
    else:
        match = "cur.valid_to IS NULL"
    db.execute(f"DROP TABLE IF EXISTS d_{name}")
    db.execute(
        f"CREATE TEMP TABLE d_{name} AS SELECT s.*, {hash_expr} AS row_hash, "
        f"cur.valid_from AS cur_valid_from, cur.row_hash AS cur_hash "
        f"FROM stage_{name} s LEFT JOIN {name} cur ON cur.connector = s.connector AND cur.employer = s.employer "
        f"AND cur.source_id = s.source_id AND cur.superseded_at IS NULL AND {match}"
    )
    if db.dialect == "postgresql":
        db.execute(f"ANALYZE d_{name}")
    (changed, new), = db.query(
        f"SELECT count(*) FILTER (WHERE cur_hash IS NOT NULL AND cur_hash <> row_hash), "
        f"count(*) FILTER (WHERE cur_hash IS NULL) FROM d_{name}")
    col_list = ", ".join(f'"{c}"' for c in cols)
    superseded = 0
    if entity.effective_dated:
        if changed:
            db.execute(
                f"UPDATE {name} t SET superseded_at = {now}, superseded_by_run = {run} "
                f"WHERE {scope} AND t.superseded_at IS NULL AND EXISTS (SELECT 1 FROM d_{name} d "
                f"WHERE d.source_id = t.source_id AND d.valid_from = t.valid_from AND d.cur_hash <> d.row_hash)")
        # versions the source no longer states for a key it did send (e.g. a removed wage line)
        (vanished,), = db.query(
            f"SELECT count(*) FROM {name} t WHERE {scope} AND t.superseded_at IS NULL "
            f"AND t.source_id IN (SELECT source_id FROM d_{name}) AND NOT EXISTS (SELECT 1 FROM d_{name} d "
            f"WHERE d.source_id = t.source_id AND d.valid_from = t.valid_from)")
        if vanished:
            db.execute(
                f"UPDATE {name} t SET superseded_at = {now}, superseded_by_run = {run} "
                f"WHERE {scope} AND t.superseded_at IS NULL AND t.source_id IN (SELECT source_id FROM d_{name}) "
                f"AND NOT EXISTS (SELECT 1 FROM d_{name} d WHERE d.source_id = t.source_id "
                f"AND d.valid_from = t.valid_from)")
        superseded = changed + vanished
        valid_from_expr = "d.valid_from"
    else:
        if changed:
            # close the open version at the day before the change's effective date (kept, as a new fact)
            other = ", ".join(f't."{c}"' for c in cols if c not in ("valid_to",))
            db.execute(
                f"INSERT INTO {name} ({', '.join(chr(34) + c + chr(34) for c in cols if c != 'valid_to')}, "
                f"valid_to, row_hash, recorded_at, load_run_id) "
                f"SELECT {other}, CAST(d.valid_from - INTERVAL '1 day' AS DATE), t.row_hash, {now}, {run} "
                f"FROM {name} t JOIN d_{name} d ON d.source_id = t.source_id "
                f"WHERE {scope} AND t.superseded_at IS NULL AND t.valid_to IS NULL AND d.cur_hash <> d.row_hash "
                f"AND t.valid_from < d.valid_from")
            db.execute(
                f"UPDATE {name} t SET superseded_at = {now}, superseded_by_run = {run} "
                f"WHERE {scope} AND t.superseded_at IS NULL AND t.valid_to IS NULL AND t.recorded_at < {now} "
                f"AND EXISTS (SELECT 1 FROM d_{name} d WHERE d.source_id = t.source_id AND d.cur_hash <> d.row_hash)")
        superseded = changed
        valid_from_expr = (f"CASE WHEN d.cur_hash IS NULL THEN {lit(BEGINNING_OF_TIME)} "
                           f"WHEN d.cur_valid_from >= d.valid_from THEN d.cur_valid_from ELSE d.valid_from END")
    if changed or new:
        select = ", ".join(valid_from_expr if c == "valid_from" else f'd."{c}"' for c in cols)
        db.execute(
            f"INSERT INTO {name} ({col_list}, row_hash, recorded_at, load_run_id) "
            f"SELECT {select}, d.row_hash, {now}, {run} FROM d_{name} d "
            f"WHERE d.cur_hash IS NULL OR d.cur_hash <> d.row_hash")
    db.execute(f"DROP TABLE IF EXISTS d_{name}")
    if db.dialect == "duckdb":
        db.execute(f"DROP TABLE IF EXISTS stage_{name}")
    return {"received": table.num_rows, "inserted": changed + new, "superseded": superseded,
            "unchanged": table.num_rows - changed - new}


def _upsert_identities(db: Db, batch: LoadBatch) -> None:
    if batch.identities is None or batch.identities.num_rows == 0:
        return
    db.stage("stage_identity", batch.identities,
             {"person_key": "VARCHAR(64)", "bsn": "VARCHAR(9)", "iban": "VARCHAR(34)"})
    db.execute(
        "UPDATE person_identity p SET iban = s.iban, updated_at = " + lit(batch.recorded_at) +
        " FROM (SELECT DISTINCT person_key, iban FROM stage_identity) s "
        "WHERE p.person_key = s.person_key AND p.iban IS DISTINCT FROM s.iban")
    db.execute(
        "INSERT INTO person_identity (person_key, bsn, iban, first_load_run_id, updated_at) "
        f"SELECT person_key, min(bsn), min(iban), {lit(batch.load_run_id)}, {lit(batch.recorded_at)} "
        "FROM stage_identity s WHERE NOT EXISTS (SELECT 1 FROM person_identity p WHERE p.person_key = s.person_key) "
        "GROUP BY person_key")
    if db.dialect == "duckdb":
        db.execute("DROP TABLE IF EXISTS stage_identity")


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
    if batch.state is None:
        return
    db.execute(f"DELETE FROM source_state WHERE connector = {lit(batch.connector)} AND employer = {lit(batch.employer)}")
    _insert_rows(db, "source_state", [{
        "connector": batch.connector, "employer": batch.employer, "state": json.dumps(batch.state, sort_keys=True),
        "load_run_id": batch.load_run_id, "updated_at": batch.recorded_at}])


def load(url: str, batch: LoadBatch) -> dict[str, dict[str, int]]:
    """Apply ``batch`` in one transaction. Returns per-entity counts."""
    db = connect(url)
    changes: dict[str, dict[str, int]] = {}
    try:
        db.begin()
        _upsert_identities(db, batch)
        for name in LOAD_ORDER:
            if name in batch.tables:
                changes[name] = merge_entity(db, ENTITIES[name], batch, batch.tables[name])
        for step in POST_LOAD_STEPS:
            step(db, batch, changes)
        batch.rows = {**batch.rows, "loaded": changes}
        write_dq(db, batch)
        _write_state(db, batch)
        write_load_run(db, batch)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
    return changes


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


def previous_state(url: str, connector: str, employer: str) -> dict[str, Any]:
    db = connect(url)
    try:
        rows = db.query(f"SELECT state FROM source_state WHERE connector = {lit(connector)} "
                        f"AND employer = {lit(employer)}")
    finally:
        db.close()
    return json.loads(rows[0][0]) if rows else {}
