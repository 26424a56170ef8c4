"""Run the warehouse migrations (alembic) against a DuckDB file or a PostgreSQL URL."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    if url.startswith("duckdb:///"):
        Path(url.removeprefix("duckdb:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


if __name__ == "__main__":  # python -m payroll_etl.warehouse.migrate [url]
    import sys

    from payroll_etl.settings import warehouse_url

    upgrade(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PAYROLL_WAREHOUSE_URL") or warehouse_url())
