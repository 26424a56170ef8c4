"""Runtime settings from the environment (pydantic-settings), with demo-friendly defaults inside the repo.

Every function reads the environment when called (tests and scripts change it at run time):
``PAYROLL_DATA_DIR`` (landing, staging, reports, the parsed-config cache), ``PAYROLL_WAREHOUSE_URL``,
``PAYROLL_PSEUDONYM_KEY``, ``PAYROLL_IDENTITY_KEYS``, ``PAYROLL_EMPLOYERS_FILE``. Secrets held by an
Airflow Connection come through :data:`SECRET_SOURCES`, which the Airflow glue
(``payroll_etl.airflow``) fills: this module never imports Airflow.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_PSEUDONYM_KEY = "demo-only-pseudonym-key-not-for-production"
DEMO_IDENTITY_KEYS = "demo:demo-only-identity-key-not-for-production"
IDENTITY_KEYS_CONN_ID = "payroll_identity_keys"
# Functions (conn_id -> the secret of that Connection, or None) asked in order for a secret that is
# not in the environment; payroll_etl.airflow registers the Airflow Connection lookup here.
SECRET_SOURCES: list[Callable[[str], str | None]] = []


class RuntimeSettings(BaseSettings):
    """``PAYROLL_*`` environment variables (empty counts as unset)."""

    model_config = SettingsConfigDict(env_prefix="PAYROLL_", env_ignore_empty=True, extra="ignore",
                                      case_sensitive=False)

    data_dir: Path = PROJECT_ROOT / "data"
    warehouse_url: str | None = None
    pseudonym_key: str = DEMO_PSEUDONYM_KEY
    identity_keys: str | None = None
    employers_file: Path = PROJECT_ROOT / "include" / "employers.yaml"


_VARIABLES = tuple(f"PAYROLL_{name.upper()}" for name in RuntimeSettings.model_fields)


def runtime() -> RuntimeSettings:
    """The settings as the environment says now (parsed once per distinct value of the variables:
    building a settings object costs ~1 ms, and e.g. the pseudonym key is read per employee)."""
    return _runtime(tuple(os.environ.get(name) for name in _VARIABLES))


@lru_cache(maxsize=16)
def _runtime(values: tuple[str | None, ...]) -> RuntimeSettings:
    return RuntimeSettings()


def data_dir() -> Path:
    """``PAYROLL_DATA_DIR``, default ``<repo>/data``."""
    return runtime().data_dir


def landing_dir() -> Path:
    """Raw payloads: ``<data dir>/landing``."""
    return data_dir() / "landing"


def staging_dir() -> Path:
    """Hand-over files between the tasks of one run: ``<data dir>/staging``."""
    return data_dir() / "staging"


def reports_dir() -> Path:
    """Data Docs and reports: ``<data dir>/reports``."""
    return data_dir() / "reports"


def cache_dir() -> Path:
    """Derived files that may be deleted at any time (the parsed employer config): ``<data dir>/cache``."""
    return data_dir() / "cache"


def warehouse_url() -> str:
    """SQLAlchemy URL of the warehouse: DuckDB file by default, PostgreSQL in production."""
    settings = runtime()
    return settings.warehouse_url or f"duckdb:///{settings.data_dir / 'warehouse.duckdb'}"


def pseudonym_key() -> bytes:
    """Key of the BSN HMAC. Production sets PAYROLL_PSEUDONYM_KEY from a secret store.

    Read per BSN (privacy.pseudonymize), so straight from the environment (1 µs) rather than through
    :func:`runtime` (14 µs); same variable, same default, empty counts as unset."""
    return (os.environ.get("PAYROLL_PSEUDONYM_KEY") or DEMO_PSEUDONYM_KEY).encode()


def identity_keys() -> tuple[str, dict[str, str]]:
    """(current key id, {key id: secret}) of the ``person_identity`` encryption (warehouse/identity.py).

    From ``PAYROLL_IDENTITY_KEYS`` (``"<id>:<secret>,<older id>:<older secret>"``, the first is
    current), else from the Airflow Connection ``payroll_identity_keys`` (its password, same format;
    a secrets backend can serve it; through :data:`SECRET_SOURCES`), else the demo key (simulators
    only). Never stored in the warehouse. Raises ConfigurationError for a malformed list (naming the
    position, not the secret).
    """
    from payroll_etl.errors import ConfigurationError

    raw = runtime().identity_keys or _secret(IDENTITY_KEYS_CONN_ID) or DEMO_IDENTITY_KEYS
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


def _secret(conn_id: str) -> str | None:
    """The first answer of :data:`SECRET_SOURCES` for ``conn_id`` (None: no source has it)."""
    for source in SECRET_SOURCES:
        if value := source(conn_id):
            return value
    return None
