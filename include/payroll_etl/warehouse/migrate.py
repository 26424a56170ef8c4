"""Run the warehouse migrations (alembic) against a DuckDB file or a PostgreSQL URL.

Every extract task calls :func:`upgrade` first, so its common case (the warehouse is at the head
revision already) is one query and imports no alembic: the head revision is written down in
``HEAD_REVISION`` (a test checks it against alembic's), and alembic is imported only when there is work to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """Alembic config for ``url``. ``%`` is doubled: alembic's ConfigParser interpolates, and a
    percent-encoded password (``p%40ss``) would otherwise fail or be mangled."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


MIGRATION_LOCK = 7_420_551  # pg_advisory_lock key: one migrator at a time per warehouse


# The newest migration revision id. Written here, not looked up: importing alembic and reading its script
# directory cost every extract task ≈0.1 s CPU before its first call. tests/test_task_startup.py fails
# until this names the head alembic finds, so a new migration cannot be forgotten here.
HEAD_REVISION = "0010_connector_comment"


def head_revision() -> str:
    """The newest migration revision id (the head of ``migrations/versions``), ``HEAD_REVISION``."""
    return HEAD_REVISION


def is_current(url: str) -> bool:
    """True when the warehouse is already at the head revision (one cheap query, no alembic).

    A refused TLS/authentication handshake (ConfigurationError) is raised here, before alembic
    would report it as a retryable SQLAlchemy OperationalError.
    """
    from payroll_etl.errors import ConfigurationError
    from payroll_etl.warehouse.db_url import duckdb_path
    from payroll_etl.warehouse.engines import connect

    if url.startswith("duckdb:///") and not Path(duckdb_path(url)).exists():
        return False
    try:
        db = connect(url)
    except ConfigurationError:
        raise
    except Exception:  # noqa: BLE001 - let the real migration report connection problems
        return False
    try:
        rows = db.query("SELECT version_num FROM alembic_version")
    except Exception:  # noqa: BLE001 - no version table yet
        return False
    finally:
        db.close()
    return [r[0] for r in rows] == [head_revision()]


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the warehouse; safe when several tasks start at once on a fresh PostgreSQL.

    Every task calls this, so the common case (already at head) is one query. On PostgreSQL the
    migration runs under a session advisory lock, so parallel first runs of different employers
    wait for one migrator instead of racing on ``alembic_version``.
    """
    if revision == "head" and is_current(url):
        return
    from alembic import command

    if url.startswith("duckdb:///"):  # the file is protected by its directory: created 0700
        from payroll_etl.landing import private_dir
        from payroll_etl.warehouse.db_url import duckdb_path

        private_dir(Path(duckdb_path(url)).parent)
        command.upgrade(alembic_config(url), revision)
        return
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as lock_conn:
                lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
                try:
                    command.upgrade(alembic_config(url), revision)
                finally:
                    lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
        finally:
            engine.dispose()
        return
    command.upgrade(alembic_config(url), revision)


if __name__ == "__main__":  # python -m payroll_etl.warehouse.migrate [url]
    import sys

    from payroll_etl.settings import warehouse_url

    upgrade(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PAYROLL_WAREHOUSE_URL") or warehouse_url())
