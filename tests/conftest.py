"""Shared test setup.

* Airflow gets its own home and SQLite metadata DB in a temp dir, configured through the
  environment *before* anything imports airflow (it reads its config at import time).
* ``postgres_url`` gives each test module a fresh PostgreSQL database on 127.0.0.1:5432.
  Under ``CI=true`` a missing server fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="payroll-airflow-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(_AIRFLOW_HOME / "logs"))
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "x2ZcK2r0pGk6Q0Yz5rj2r8yEJ0Xw0gk1VdB2m4pVf9c=")
os.environ.setdefault("PAYROLL_DATA_DIR", str(_AIRFLOW_HOME / "data"))
sys.path.insert(0, str(ROOT / "dags"))

PG_HOST = os.environ.get("PAYROLL_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PAYROLL_TEST_PG_PORT", "5432"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_admin():
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True,
                           connect_timeout=5)


def postgres_available() -> tuple[bool, str]:
    try:
        _pg_admin().close()
        return True, ""
    except Exception as exc:  # noqa: BLE001
        return False, f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}: {type(exc).__name__}"


def require_postgres() -> None:
    ok, reason = postgres_available()
    if not ok:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the production warehouse must be tested)")
        pytest.skip(reason)


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    require_postgres()
    name = f"payroll_test_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata DB (SQLite) for dag.test()."""
    from airflow.utils import db

    db.initdb()
    return os.environ["AIRFLOW_HOME"]
