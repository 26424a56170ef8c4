"""Warehouse helpers shared by test modules: one query helper, and a fixture that runs a test on
DuckDB and on PostgreSQL (``warehouse``; the PostgreSQL case follows pg_support's missing-server rule)."""

from __future__ import annotations

import pytest

from payroll_etl.warehouse.load import connect


def query(url: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the warehouse at ``url`` (its own short connection)."""
    db = connect(url)
    try:
        return db.query(sql)
    finally:
        db.close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request, tmp_path) -> str:
    """A fresh warehouse URL: a DuckDB file in ``tmp_path``, then a fresh PostgreSQL database."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("postgres_url")
