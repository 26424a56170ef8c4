"""Runtime settings from the environment, with demo-friendly defaults inside the repo."""

from __future__ import annotations

import os
from pathlib import Path

from payroll_etl.config import PROJECT_ROOT


def data_dir() -> Path:
    return Path(os.environ.get("PAYROLL_DATA_DIR", PROJECT_ROOT / "data"))


def landing_dir() -> Path:
    return data_dir() / "landing"


def staging_dir() -> Path:
    return data_dir() / "staging"


def reports_dir() -> Path:
    return data_dir() / "reports"


def warehouse_url() -> str:
    """SQLAlchemy URL of the warehouse: DuckDB file by default, PostgreSQL in production."""
    return os.environ.get("PAYROLL_WAREHOUSE_URL") or f"duckdb:///{data_dir() / 'warehouse.duckdb'}"


DEMO_PSEUDONYM_KEY = "demo-only-pseudonym-key-not-for-production"


def pseudonym_key() -> bytes:
    """Key of the BSN HMAC. Production sets PAYROLL_PSEUDONYM_KEY from a secret store."""
    return os.environ.get("PAYROLL_PSEUDONYM_KEY", DEMO_PSEUDONYM_KEY).encode()
