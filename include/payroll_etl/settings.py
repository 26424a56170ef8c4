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


DEMO_IDENTITY_KEYS = "demo:demo-only-identity-key-not-for-production"
IDENTITY_KEYS_CONN_ID = "payroll_identity_keys"


def identity_keys() -> tuple[str, dict[str, str]]:
    """(current key id, {key id: secret}) of the ``person_identity`` encryption (warehouse/identity.py).

    From ``PAYROLL_IDENTITY_KEYS`` (``"<id>:<secret>,<older id>:<older secret>"``, the first is
    current), else from the Airflow Connection ``payroll_identity_keys`` (its password, same format;
    a secrets backend can serve it), else the demo key (simulators only). Never stored in the
    warehouse. Raises ConfigurationError for a malformed list (naming the position, not the secret).
    """
    from payroll_etl.errors import ConfigurationError

    raw = os.environ.get("PAYROLL_IDENTITY_KEYS") or _identity_keys_from_airflow() or DEMO_IDENTITY_KEYS
    keys: dict[str, str] = {}
    order: list[str] = []
    for i, item in enumerate(p.strip() for p in raw.split(",") if p.strip()):
        key_id, sep, secret = item.partition(":")
        if not sep or not key_id.strip() or len(secret) < 16 or len(key_id.strip()) > 32 or ":" in key_id:
            raise ConfigurationError(f"PAYROLL_IDENTITY_KEYS entry {i + 1}: expected <id>:<secret of 16+ characters>")
        keys[key_id.strip()] = secret
        order.append(key_id.strip())
    if not order:
        raise ConfigurationError("PAYROLL_IDENTITY_KEYS is empty")
    return order[0], keys


def _identity_keys_from_airflow() -> str | None:
    """The password of the Airflow Connection ``payroll_identity_keys``, when running under Airflow
    (a task process has imported airflow already; plain-Python callers never import it from here:
    importing Airflow reconfigures logging)."""
    import sys

    if "airflow.sdk" not in sys.modules:
        return None
    from airflow.sdk import BaseHook
    try:
        return BaseHook.get_connection(IDENTITY_KEYS_CONN_ID).password or None
    except Exception:  # noqa: BLE001 - not defined: fall back to the demo key
        return None
