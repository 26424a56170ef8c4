"""Prepare the local Airflow home: metadata DB, pools from the config, demo Connections.

Run by `make demo`, `make airflow` and (when the metadata DB was never migrated) `make airflow-cli`;
safe to run again (it replaces what it created). The metadata DB is PostgreSQL (the Makefile's
default: database ``airflow_payroll_<hash>`` on the local server, created here if missing): backfills and
a running scheduler need concurrent writers, which SQLite cannot serve. SQLite stays for the
test suite's ``dag.test()``. See docs/operations.md "Local Airflow".
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def ensure_fernet_key() -> None:
    """Connections are stored Fernet-encrypted: generate the local key once (0600, git-ignored)."""
    if os.environ.get("AIRFLOW__CORE__FERNET_KEY"):
        return
    from cryptography.fernet import Fernet

    path = Path(os.environ["AIRFLOW_HOME"]) / "fernet.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(Fernet.generate_key().decode())
    os.environ["AIRFLOW__CORE__FERNET_KEY"] = path.read_text().strip()
    os.environ.pop("AIRFLOW__CORE__FERNET_KEY_CMD", None)


METADATA_URL = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
METADATA_URL_ASYNC = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"


def ensure_async_metadata_url() -> None:
    """Airflow's async engine would use asyncpg (not installed) for ``postgresql+psycopg``;
    psycopg 3 is async itself, so the async URL is the sync one unless the caller set it."""
    url = os.environ.get(METADATA_URL, "")
    if url.startswith("postgresql+psycopg://") and not os.environ.get(METADATA_URL_ASYNC):
        os.environ[METADATA_URL_ASYNC] = url


ensure_fernet_key()  # before airflow is imported anywhere in this process or its children
ensure_async_metadata_url()


def _pg_connect(url, dbname: str):
    import psycopg

    return psycopg.connect(host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username,
                           password=url.password, dbname=dbname, autocommit=True, connect_timeout=5)


def ensure_metadata_database(url: str | None = None) -> bool:
    """Create the PostgreSQL metadata database named in ``url`` if it does not exist yet.

    ``url`` defaults to ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``; other backends are left alone.
    Returns True when it created the database. Raises ``SystemExit`` with the host and port when
    the server does not answer (the README's local PostgreSQL must run).
    """
    from sqlalchemy.engine import make_url

    url = url or os.environ.get(METADATA_URL, "")
    if not url.startswith("postgresql"):
        return False
    parsed = make_url(url)
    where = f"{parsed.host or '127.0.0.1'}:{parsed.port or 5432}"
    try:
        _pg_connect(parsed, parsed.database).close()
        return False
    except Exception as exc:  # noqa: BLE001 - psycopg.OperationalError, narrowed below
        if "does not exist" not in str(exc):
            raise SystemExit(f"Airflow's metadata DB is PostgreSQL at {where} (database {parsed.database}), "
                             f"which does not answer: {type(exc).__name__}. Start the local PostgreSQL "
                             "the README requires, or set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN.") from None
    with _pg_connect(parsed, "postgres") as conn:
        conn.execute(f'CREATE DATABASE "{parsed.database}"')
    print(f"created PostgreSQL database {parsed.database} on {where} for Airflow's metadata")
    return True


def metadata_migrated(url: str | None = None) -> bool:
    """True when the metadata DB exists and Airflow's migrations ran at least once (cheap: no airflow import)."""
    from sqlalchemy.engine import make_url

    url = url or os.environ.get(METADATA_URL, "")
    if not url.startswith("postgresql"):
        return True  # SQLite and others: the airflow CLI itself says what is missing
    parsed = make_url(url)
    try:
        with _pg_connect(parsed, parsed.database) as conn:
            return conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()[0]
    except Exception:  # noqa: BLE001 - missing database or server: setup explains which
        return False


def connection_specs(path: Path = ROOT / "include" / "demo_connections.yaml") -> dict[str, dict]:
    """The demo Connections: ``{conn_id: {conn_type, host, login, password, extra}}``."""
    return yaml.safe_load(path.read_text())


def main() -> int:
    """Create the metadata DB if missing, migrate it, write pools and demo Connections; 0 on success."""
    from airflow.configuration import write_default_airflow_configuration_if_needed
    from airflow.models import Connection, Pool  # noqa: AIR311 - the ORM model: this script writes the DB
    from airflow.utils import db
    from airflow.utils.session import create_session

    from payroll_etl.config import load_config

    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    # airflow.cfg with its generated [api_auth] jwt_secret, now: components started together would
    # each write one with a secret of their own, and the API server would then refuse the tasks'
    # tokens ("Invalid auth token", task killed).
    write_default_airflow_configuration_if_needed()
    ensure_metadata_database()
    db.initdb()
    config = load_config()
    with create_session() as session:
        for name, slots in config.pools.items():
            Pool.create_or_update_pool(name, slots, f"Concurrent calls to {name.removeprefix('payroll_')}",
                                       include_deferred=False, session=session)
        for conn_id, spec in connection_specs().items():
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()  # noqa: AIR311
            session.add(Connection(  # noqa: AIR311
                conn_id=conn_id, conn_type=spec.get("conn_type", "http"), host=spec.get("host"),
                login=spec.get("login"), password=spec.get("password"), extra=json.dumps(spec.get("extra", {}))))
    print(f"Airflow home {os.environ['AIRFLOW_HOME']}: metadata DB migrated, "
          f"{len(config.pools)} pools, {len(connection_specs())} connections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
