"""Fixtures of the security tests: a TLS + SCRAM PostgreSQL of their own (tls_pg_support)."""

from tls_pg_support import tls_postgres  # noqa: F401 - fixture
