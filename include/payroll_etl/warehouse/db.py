"""The warehouse database adapter: the few operations the loader needs, on DuckDB or PostgreSQL.

``connect(url)`` opens a :class:`DuckDb` (a file, development) or a :class:`PostgresDb`
(production). Statements take bound parameters: text SQL with ``:name`` placeholders
(``Db.query``/``Db.execute``, compiled per dialect by SQLAlchemy's ``text()``), or SQLAlchemy Core
statements on the tables of ``warehouse/schema.py`` (``Db.run``, ``Db.insert``). Bulk paths move
Arrow tables: ``stage`` (temporary table), ``bulk_insert`` (COPY on PostgreSQL, an Arrow scan on
DuckDB) and ``fetch_arrow`` (COPY TO STDOUT on PostgreSQL).

Nothing here commits implicitly: ``begin``/``commit``/``rollback`` frame one load transaction.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from payroll_etl.errors import WarehouseError

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import Table
    from sqlalchemy.sql.elements import ClauseElement

Params = Mapping[str, object]
INSERT_CHUNK = 500  # rows per multi-row INSERT of small writes


def lit(value: object) -> str:
    """A SQL literal (both dialects), for ad-hoc SQL only: tests and operators' one-off queries.

    No statement of ``payroll_etl`` uses it: reads and small writes bind parameters
    (``Db.query``/``Db.execute`` with ``:name`` placeholders, ``in_list``, ``Db.run``/``Db.insert`` on
    ``schema.py``'s tables). Re-exported by ``warehouse.load`` for the tests that build expected-value
    queries with it. ``None`` -> NULL, datetime -> TIMESTAMPTZ, date -> DATE; quotes are doubled.
    """
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


_VERB = re.compile(r"\s*([A-Za-z]+)")
_TARGET = re.compile(r"\b(?:INTO|FROM|UPDATE|TABLE)\s+([A-Za-z_][\w.]*)", re.IGNORECASE)


def operation_name(sql: str) -> str:
    """What a statement does, safe to log: its verb and first target table (``"INSERT payroll_employee"``),
    never a literal or parameter of it (a hand-written statement may still carry a literal)."""
    head = sql.split("'", 1)[0]  # nothing from inside or after a string literal
    verb, target = _VERB.match(head), _TARGET.search(head)
    return " ".join(m.group(1) for m in (verb, target) if m) or "statement"


@contextmanager
def connection_lost(operation: str, driver_errors: tuple[type[BaseException], ...]) -> Iterator[None]:
    """Turn a driver's connection-level failure during ``operation`` into a retryable WarehouseError.

    ``driver_errors`` are the engine's connection/server failures (psycopg ``OperationalError``:
    server restart, backend terminated (``AdminShutdown``), lost connection, deadlock, lock or
    statement timeout; DuckDB ``IOException``): weather, so ``errors.is_retryable`` retries the task.
    Data errors (``IntegrityError``, ``DataError``) are bugs or bad data and pass unchanged. The
    message names the operation, the error class and SQLSTATE, never the driver's text (values).
    """
    try:
        yield
    except driver_errors as exc:
        sqlstate = getattr(exc, "sqlstate", None)
        code = f", SQLSTATE {sqlstate}" if sqlstate else ""
        raise WarehouseError(f"warehouse connection failed during {operation} "
                             f"({type(exc).__name__}{code}); the transaction was not committed") from None


def _plain(value: object) -> object:
    """A driver-friendly Python value: numpy/Arrow scalars become their Python equivalent."""
    if value is None or isinstance(value, (str, bytes, int, float, date)):
        return value
    item = getattr(value, "item", None) or getattr(value, "as_py", None)
    return item() if callable(item) else value


def in_list(name: str, values: Sequence[object]) -> tuple[str, dict[str, object]]:
    """``("(:name_0, :name_1)", {"name_0": v0, ...})`` for an ``IN`` with bound values (``(NULL)`` when empty)."""
    params = {f"{name}_{i}": v for i, v in enumerate(values)}
    return "(" + (", ".join(f":{k}" for k in params) or "NULL") + ")", params


@lru_cache(maxsize=64)
def _dialect(name: str) -> Any:
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.psycopg.dialect()
    from sqlalchemy.dialects import sqlite  # DuckDB takes qmark parameters in the order SQLAlchemy lists them

    return sqlite.dialect(paramstyle="qmark")


@lru_cache(maxsize=512)
def _compiled_text(dialect: str, sql: str) -> Any:
    from sqlalchemy import text

    return text(sql).compile(dialect=_dialect(dialect))


class Db(ABC):
    """The operations the loader needs, on DuckDB or PostgreSQL (one connection, one transaction).

    Attributes set per instance: ``touched`` (entity -> Arrow table(source_id) of the records this
    load inserted or superseded versions of; the mutation feed looks only at those) and ``prior``
    (entity -> SQL relation of "what we believed before this load" when that is not the entity's
    table: a cutover load adds the old connector's facts, translated; warehouse/cutover.py).
    """

    dialect: str
    touched: dict[str, Any]
    prior: dict[str, str] = {}  # noqa: RUF012 - replaced per instance, never mutated in place

    @abstractmethod
    def _native(self, sql: str, params: Any) -> None:
        ...

    @abstractmethod
    def _rows(self, sql: str, params: Any) -> list[tuple]:
        ...

    def _bind(self, compiled: Any, values: dict[str, Any] | None = None) -> Any:
        """Parameters of a compiled statement in this driver's style (dict or ordered list)."""
        values = compiled.params if values is None else values
        if self.dialect == "postgresql":
            return values
        return [values[name] for name in compiled.positiontup]

    def text(self, sql: str, params: Params | None) -> tuple[str, Any]:
        """``sql`` with ``:name`` placeholders -> (the driver's SQL, its parameters); unchanged without params."""
        if not params:
            return sql, None
        compiled = _compiled_text(self.dialect, sql)
        return str(compiled), self._bind(compiled, compiled.construct_params(dict(params)))

    def execute(self, sql: str, params: Params | None = None) -> None:
        """Run one statement; ``params`` bind its ``:name`` placeholders. Raises the driver's error."""
        self._native(*self.text(sql, params))

    def query(self, sql: str, params: Params | None = None) -> list[tuple]:
        """Rows of one SELECT as tuples; ``params`` bind its ``:name`` placeholders."""
        return self._rows(*self.text(sql, params))

    def run(self, statement: ClauseElement) -> list[tuple]:
        """Run a SQLAlchemy Core statement (select/insert/update/delete on ``schema.py``'s tables)."""
        compiled = statement.compile(dialect=_dialect(self.dialect), compile_kwargs={"render_postcompile": True})
        return self._rows(str(compiled), self._bind(compiled))

    def insert(self, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
        """Insert ``rows`` (dicts of column -> Python value; the first row's keys name the columns, a
        missing key is NULL) into ``table``, as multi-row INSERTs of ``INSERT_CHUNK`` rows, bound."""
        from sqlalchemy import insert

        columns = list(rows[0]) if rows else []
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = [{c: _plain(r.get(c)) for c in columns} for r in rows[start:start + INSERT_CHUNK]]
            compiled = insert(table).values(chunk).compile(dialect=_dialect(self.dialect))
            self._native(str(compiled), self._bind(compiled))

    @abstractmethod
    def stage(self, name: str, table: pa.Table, types: dict[str, str]) -> None:
        """Create the temporary table ``name`` (dropped at commit) with ``table``'s rows, column types
        from ``types`` (column -> SQL type text valid on both dialects)."""
        ...

    @abstractmethod
    def fetch_arrow(self, sql: str, schema: pa.Schema, params: Params | None = None) -> pa.Table:
        """Run the SELECT ``sql`` (``:name`` placeholders bound from ``params``) and return its rows as
        an Arrow table in ``schema`` (the SELECT names its columns as ``schema`` does), in no particular order (on
        PostgreSQL the rows come as CSV text aggregated server-side in chunks: fast for big key sets)."""
        ...

    @abstractmethod
    def bulk_insert(self, target: str, table: pa.Table, types: dict[str, str]) -> None:
        """Append ``table``'s rows to ``target`` (COPY on PostgreSQL, an Arrow scan on DuckDB)."""
        ...

    @abstractmethod
    def lock_scope(self, connector: str, employer: str) -> None:
        """Serialise loads of one scope (the loader passes ``("employer", <employer>)``)."""
        ...

    def drop_temp(self, name: str) -> None:
        """Drop the temporary table ``name`` if it exists."""
        self.execute(f"DROP TABLE IF EXISTS {name}")

    def begin(self) -> None:
        """Start the load transaction."""
        self._native("BEGIN TRANSACTION", None)

    def commit(self) -> None:
        """Commit the load transaction."""
        self._native("COMMIT", None)

    def rollback(self) -> None:
        """Roll back the load transaction; quiet when none is open (or the connection is gone)."""
        try:
            self._native("ROLLBACK", None)
        except Exception:  # noqa: BLE001 - nothing to roll back
            pass

    @abstractmethod
    def close(self) -> None:
        """Close the connection (an open transaction is rolled back by the server)."""
        ...
