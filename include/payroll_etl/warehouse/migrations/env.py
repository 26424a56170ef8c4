"""Alembic environment: the same migrations run on DuckDB and PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from payroll_etl.warehouse.schema import metadata

try:  # let alembic know DuckDB behaves like PostgreSQL for DDL
    from alembic.ddl.impl import DefaultImpl

    class DuckDBImpl(DefaultImpl):
        """Alembic DDL implementation for the ``duckdb`` dialect: the default one, with transactional DDL."""

        __dialect__ = "duckdb"
        transactional_ddl = True
except ImportError:  # pragma: no cover
    pass

config = context.config
target_metadata = metadata


def run_migrations() -> None:
    """Run the migrations on ``config.attributes["connection"]`` if given, else on a new engine for
    ``sqlalchemy.url`` (RuntimeError when neither is configured), each in one transaction."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: no sqlalchemy.url configured")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()  # DuckDB allows one configuration per file per process


run_migrations()
