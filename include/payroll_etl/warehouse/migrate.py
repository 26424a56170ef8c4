"""Run the warehouse migrations (alembic) against a DuckDB file or a PostgreSQL URL.

Every extract task calls :func:`upgrade` first, so its common case (the warehouse is at the head
revision already) is one query and imports no alembic: :func:`head_revision` reads the revision
ids from ``migrations/versions`` itself, and alembic is imported only when there is work to do.
"""

from __future__ import annotations

import ast
import os
from functools import lru_cache
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


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration revision id (the head of ``migrations/versions``).

    Read from the scripts' ``revision``/``down_revision`` assignments (a few ms, no alembic: importing it
    and its script directory cost an extract task ≈0.1 s CPU before its first call); alembic's
    ``ScriptDirectory`` decides when they do not name exactly one head (branches, merges, a
    revision id that is not a plain literal)."""
    head = _head_from_scripts(MIGRATIONS / "versions")
    if head is not None:
        return head
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("duckdb:///:memory:")).get_current_head()
    if head is None:
        raise RuntimeError("the warehouse migrations have no head revision")
    return head


def _head_from_scripts(versions: Path) -> str | None:
    """The one revision no other script names as its ``down_revision`` (module-level assignments of
    each script, parsed, not run); None when that is not clear-cut."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        found: dict[str, object] = {}
        header = path.read_text(encoding="utf-8").split("\ndef ", 1)[0]  # alembic puts them before upgrade()
        try:
            body = ast.parse(header).body
        except SyntaxError:
            return None
        for node in body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                try:
                    found[target.id] = ast.literal_eval(value)
                except ValueError:
                    return None
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None  # not a plain script (or a merge point): let alembic decide
        revisions.add(revision)
        if down is not None:
            parents.add(down)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


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
