"""PostgreSQL for tests: the production warehouse on 127.0.0.1:5432 (user postgres, trust auth).

Importable from any test module (``from pg_support import ...``); conftest.py uses it for the
``postgres_url`` fixture. Under ``CI=true`` a missing server fails, elsewhere it skips.
"""

from __future__ import annotations

import os

import pytest

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
