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
# The suite always runs on its own Airflow home and metadata DB, whatever the caller exported
# (`make test` exports the demo's .airflow settings for the other targets).
for _name in ("AIRFLOW__CORE__FERNET_KEY_CMD", "PAYROLL_WAREHOUSE_URL", "PAYROLL_EMPLOYERS_FILE"):
    os.environ.pop(_name, None)
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_AIRFLOW_HOME / "logs"),
    "AIRFLOW__CORE__FERNET_KEY": "x2ZcK2r0pGk6Q0Yz5rj2r8yEJ0Xw0gk1VdB2m4pVf9c=",  # test-only key
    "PAYROLL_DATA_DIR": str(_AIRFLOW_HOME / "data"),
})
sys.path.insert(0, str(ROOT / "dags"))
sys.path.insert(0, str(ROOT / "tests"))

from pg_support import IN_CI, PG_HOST, PG_PORT, _pg_admin, postgres_available, require_postgres  # noqa: E402,F401
from warehouse_support import warehouse  # noqa: E402,F401 - fixture: DuckDB and PostgreSQL


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
