"""Warehouse fixtures: a fresh migrated DuckDB file or PostgreSQL database per test.

PostgreSQL runs on 127.0.0.1:5432 (user postgres, trust auth). Locally a missing server skips the
PostgreSQL variants; with CI=true it fails them, so CI can never go green without PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_DSN = os.environ.get("HIST_TEST_PG", "host=127.0.0.1 port=5432 user=postgres")


def _pg_admin():
    import psycopg
    from pg_support import require_postgres

    require_postgres()  # fails under CI=true, skips with the reason elsewhere
    return psycopg.connect(PG_DSN + " dbname=postgres", autocommit=True, connect_timeout=5)


@pytest.fixture
def pg_url() -> Iterator[str]:
    from payroll_etl.warehouse.migrate import upgrade

    admin = _pg_admin()
    name = f"hist_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    from payroll_etl.warehouse.migrate import upgrade

    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    upgrade(url)
    return url


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request) -> str:
    """The same test on both warehouses."""
    return request.getfixturevalue("duckdb_url" if request.param == "duckdb" else "pg_url")
