"""The warehouse engines: :class:`DuckDb` (a file, development) and :class:`PostgresDb` (production).

``connect(url)`` opens the one a SQLAlchemy URL names. The interface they implement, with bound
parameters and the Arrow bulk paths, is :class:`payroll_etl.warehouse.db.Db`.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from payroll_etl.errors import WarehouseError
from payroll_etl.warehouse.db import Db, Params, connection_lost, operation_name

if TYPE_CHECKING:
    import pyarrow as pa


class DuckDb(Db):
    """A DuckDB file; one writing process at a time (the file lock serialises loads)."""

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
                locked = "lock" in str(exc).lower()
                if not locked:
                    raise WarehouseError(f"DuckDB warehouse {path}: cannot open the file "
                                         f"({str(exc).splitlines()[0][:200]})") from exc
                if time.monotonic() > deadline:
                    raise WarehouseError(f"DuckDB warehouse {path} is locked by another process "
                                         f"(waited {timeout_s:g} s)") from exc
                time.sleep(0.5)
            except (duckdb.InvalidInputException, duckdb.CatalogException, duckdb.NotImplementedException) as exc:
                raise ConfigurationError(f"DuckDB warehouse {path}: invalid URL option "
                                         f"({str(exc).splitlines()[0][:200]})") from None
        self._registered: list[str] = []
        self.touched = {}
        self._lost = (duckdb.IOException,)  # the file went away / disk full: WarehouseError

    def _native(self, sql: str, params: Any) -> None:
        with connection_lost(operation_name(sql), self._lost):
            self.conn.execute(sql, params)

    def _rows(self, sql: str, params: Any) -> list[tuple]:
        with connection_lost(operation_name(sql), self._lost):
            return self.conn.execute(sql, params).fetchall()

    def stage(self, name: str, table: pa.Table, types: dict[str, str]) -> None:
        self.conn.register(f"{name}_arrow", table)
        self._registered.append(f"{name}_arrow")
        casts = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in table.column_names)
        self._native(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {casts} FROM {name}_arrow", None)

    def fetch_arrow(self, sql: str, schema: pa.Schema, params: Params | None = None) -> pa.Table:
        native, bound = self.text(sql, params)
        with connection_lost(operation_name(native), self._lost):
            return self.conn.sql(native, params=bound).to_arrow_table().cast(schema)

    def bulk_insert(self, target: str, table: pa.Table, types: dict[str, str]) -> None:
        view = f"{target}_bulk_arrow"
        self.conn.register(view, table)
        try:
            names = ", ".join(f'"{c}"' for c in table.column_names)
            casts = ", ".join(f'CAST("{c}" AS {types[c]})' for c in table.column_names)
            self._native(f"INSERT INTO {target} ({names}) SELECT {casts} FROM {view}", None)
        finally:
            self.conn.unregister(view)

    def lock_scope(self, connector: str, employer: str) -> None:
        """DuckDB has one writer per file: the file lock already serialises loads."""

    def close(self) -> None:
        for name in self._registered:
            try:
                self.conn.unregister(name)
            except Exception:  # noqa: BLE001
                pass
        self.conn.close()


class PostgresDb(Db):
    """A PostgreSQL session in autocommit mode; ``begin``/``commit`` frame the load transaction."""

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
        # server restart, backend terminated, connection lost, deadlock, timeouts: WarehouseError
        self._lost = (psycopg.OperationalError,)

    def _native(self, sql: str, params: Any) -> None:
        with connection_lost(operation_name(sql), self._lost):
            self.conn.execute(sql, params)

    def _rows(self, sql: str, params: Any) -> list[tuple]:
        with connection_lost(operation_name(sql), self._lost):
            cursor = self.conn.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []

    def copy_in(self, target: str, table: pa.Table, types: dict[str, str] | None = None) -> None:
        """Stream an Arrow table into ``target`` with COPY, batch by batch: binary (``pgbinary``) when
        ``types`` (column -> SQL type) is given and every column has an encoder, else CSV written by
        Arrow. A lost connection raises WarehouseError naming the COPY."""
        with connection_lost(f"COPY {target}", self._lost):
            self._copy_in(target, table, types)

    def _copy_in(self, target: str, table: pa.Table, types: dict[str, str] | None) -> None:
        import pyarrow.csv as pacsv

        from payroll_etl.warehouse import pgbinary

        if table.num_rows == 0:
            return
        from concurrent.futures import ThreadPoolExecutor

        names = ", ".join(f'"{c}"' for c in table.column_names)
        binary = (types is not None and pgbinary.encodable(table.schema, types)
                  and pgbinary.strings_parse(table, types))
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")

        def encode(batch: Any) -> memoryview:
            if binary:  # the server parses binary at about half the CPU of CSV (pgbinary)
                return pgbinary.encode_rows(batch, types or {})
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, options)
            return buffer.getbuffer()

        # Arrow encodes the next chunk (GIL released) while the server parses the current one
        with ThreadPoolExecutor(max_workers=1) as pool, self.conn.cursor().copy(
                f"COPY {target} ({names}) FROM STDIN WITH (FORMAT {'binary' if binary else 'csv'})") as copy:
            if binary:
                copy.write(pgbinary.HEADER)
            pending = None
            for batch in table.to_batches(max_chunksize=65536):
                future = pool.submit(encode, batch)
                if pending is not None:
                    copy.write(pending.result())
                pending = future
            if pending is not None:
                copy.write(pending.result())
            if binary:
                copy.write(pgbinary.TRAILER)

    def stage(self, name: str, table: pa.Table, types: dict[str, str]) -> None:
        cols = ", ".join(f'"{c}" {types[c]}' for c in table.column_names)
        self._native(f"CREATE TEMP TABLE {name} ({cols}) ON COMMIT DROP", None)
        self.copy_in(name, table, types)
        self._native(f"ANALYZE {name}", None)

    def bulk_insert(self, target: str, table: pa.Table, types: dict[str, str]) -> None:
        self.copy_in(target, table, types)

    def fetch_arrow(self, sql: str, schema: pa.Schema, params: Params | None = None) -> pa.Table:
        """The rows of ``sql`` as an Arrow table in ``schema``, in no particular order.

        They travel as CSV text aggregated by the server into at most ``FETCH_CHUNKS`` values (split by
        a hash of the first column; a text value is capped at 1 GB): libpq hands a ``COPY TO`` over one
        row per call, and that Python loop cost 0.17-0.29 s of client CPU for 240,000 key rows, the
        chunks 0.02-0.03 s (for 0.05-0.1 s more server CPU: the quoting and the grouping).
        """
        import pyarrow as pa
        import pyarrow.csv as pacsv

        native, bound = self.text(sql, params)
        names = [f"c{i}" for i in range(len(schema))]
        fields = ", ".join(_csv_field(n, pa.types.is_string(f.type)) for n, f in zip(names, schema, strict=True))
        chunks = (f"SELECT convert_to(string_agg(concat_ws(',', {fields}), E'\\n'), 'UTF8') FROM ({native}) "
                  f"AS q({', '.join(names)}) GROUP BY hashtext(CAST(c0 AS TEXT)) & {FETCH_CHUNKS - 1}")
        with connection_lost(operation_name(native), self._lost):
            rows = self.conn.execute(chunks, bound, binary=True).fetchall()
        if not rows:
            return schema.empty_table()
        table = pacsv.read_csv(
            pa.py_buffer(b"".join(bytes(r[0]) + b"\n" for r in rows)),  # Arrow misreads an unterminated last ,
            read_options=pacsv.ReadOptions(column_names=schema.names),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False))
        return table.cast(pa.schema(schema))

    def lock_scope(self, connector: str, employer: str) -> None:
        """Serialise loads of the same employer (e.g. overlapping backfill runs); other employers go on.

        A transaction-scoped advisory lock: released at COMMIT/ROLLBACK, or when the session dies.
        """
        self.execute("SELECT pg_advisory_xact_lock(hashtextextended(CAST(:scope AS TEXT), 7))",
                     {"scope": f"{connector}/{employer}"})

    def close(self) -> None:
        self.conn.close()


# Text values per ``PostgresDb.fetch_arrow`` (each capped at 1 GB: 16 GB of CSV, ~300 M key rows, in all).
# Grouping by a hash costs the server less than numbering the rows (row_number() OVER (): +0.05-0.1 s).
FETCH_CHUNKS = 16  # a power of two (a bit mask, not %: psycopg reads % as a placeholder)


def _csv_field(column: str, text: bool) -> str:
    """SQL for one CSV field of ``column``: NULL as an empty field, text always quoted (an empty string
    is ``""``), other types as their text output (what ``COPY ... (FORMAT csv)`` writes)."""
    if text:
        quoted = f"""'"' || replace(CAST({column} AS TEXT), '"', '""') || '"'"""
        return f"CASE WHEN {column} IS NULL THEN '' ELSE {quoted} END"
    return f"coalesce(CAST({column} AS TEXT), '')"


def connect(url: str) -> Db:
    """Open the warehouse of a SQLAlchemy ``url`` with every option of the URL honoured.

    ``duckdb:///<path>?<duckdb config>`` or ``postgresql[+psycopg]://...?sslmode=...``; the URL is
    parsed by SQLAlchemy and the conninfo built by psycopg (``warehouse/db_url.py``). Raises
    WarehouseError for another scheme, ConfigurationError for a bad option.
    """
    from payroll_etl.warehouse.db_url import duckdb_target, postgres_target

    if url.startswith("duckdb:///"):
        target = duckdb_target(url)
        return DuckDb(target.path, config=target.config)
    if url.startswith("postgresql"):
        pg = postgres_target(url)
        return PostgresDb(pg.conninfo, pg.where, pg.kwargs.get("password"))
    raise WarehouseError(f"unsupported warehouse URL scheme: {url.split(':', 1)[0]}")


@contextmanager
def session(db_or_url: Db | str) -> Iterator[Db]:
    """Use a ``Db`` as is (the caller owns the transaction), or open one for a URL: begin, yield,
    commit; any exception rolls back and propagates; the connection is closed either way."""
    if not isinstance(db_or_url, str):
        yield db_or_url
        return
    db = connect(db_or_url)
    try:
        db.begin()
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
