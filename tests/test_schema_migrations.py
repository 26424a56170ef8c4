"""The schema is defined once: SQLAlchemy Core metadata and the alembic migrations agree."""

from __future__ import annotations

from pathlib import Path

import pytest

MIGRATIONS = Path(__file__).resolve().parents[1] / "include" / "payroll_etl" / "warehouse" / "migrations" / "versions"


def _metadata():
    import payroll_etl.benefits.tables  # noqa: F401 - registers the benefit tables on the same metadata
    from payroll_etl.warehouse.schema import metadata

    return metadata


def test_migrations_form_one_line():
    from alembic.script import ScriptDirectory

    from payroll_etl.warehouse.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("duckdb:///:memory:"))
    assert len(script.get_heads()) == 1, f"several alembic heads: {script.get_heads()}"


@pytest.mark.postgres
def test_metadata_matches_migrated_postgres(postgres_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from payroll_etl.warehouse.migrate import upgrade

    upgrade(postgres_url)
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), _metadata())
    finally:
        engine.dispose()
    assert diffs == []


def test_same_tables_on_duckdb_and_postgres(tmp_path, postgres_url):
    from payroll_etl.warehouse.load import connect
    from payroll_etl.warehouse.migrate import upgrade

    names = []
    for url in (f"duckdb:///{tmp_path / 'w.duckdb'}", postgres_url):
        upgrade(url)
        db = connect(url)
        try:
            rows = db.query("SELECT table_name, column_name FROM information_schema.columns "
                            "WHERE table_schema IN ('main', 'public') AND table_name <> 'alembic_version'")
        finally:
            db.close()
        columns: dict[str, set[str]] = {}
        for table, column in rows:
            columns.setdefault(table, set()).add(column)
        names.append(columns)
    duck, pg = names
    assert duck == pg
    assert set(_metadata().tables) <= set(pg)


def test_parallel_first_runs_migrate_once(postgres_url):
    """Several employers' first extracts start together on a fresh warehouse: no alembic race."""
    from concurrent.futures import ThreadPoolExecutor

    from payroll_etl.warehouse.load import connect
    from payroll_etl.warehouse.migrate import upgrade

    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(upgrade, postgres_url) for _ in range(4)]:
            future.result()
    db = connect(postgres_url)
    try:
        assert len(db.query("SELECT version_num FROM alembic_version")) == 1
    finally:
        db.close()
