"""Rotating OAuth tokens (Loket REST) persisted in the employer's Airflow Connection.

Loket refresh tokens rotate: the new pair must be written back before the new access token is
used, atomically, and two tasks of one employer must never spend the same refresh token.

* Storage: the Connection's ``extra`` (``access_token``, ``refresh_token``, ``expires_at``),
  encrypted with Airflow's Fernet key like every Connection secret. Airflow 3 blocks ORM access
  from task code through ``airflow.settings.Session``; this store opens its own short
  transaction on the metadata database (``[database] sql_alchemy_conn``), which is what the
  Connection model does on the API server as well. Workers without metadata-DB access (remote
  Celery workers) need that setting too; see docs/operations.md.
* Locking: an exclusive ``fcntl`` lock per Connection under ``$AIRFLOW_HOME/locks`` plus a
  thread lock. Across machines the DAG's ``max_active_runs=1`` keeps one extract per employer.
* A Connection defined only in the environment (``AIRFLOW_CONN_…``) cannot be written back:
  the store then keeps rotated tokens in memory for the run and says so in the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.connectors.registry import CONNECTORS
from payroll_etl.connectors.transport.tokens import TOKEN_KEYS

if TYPE_CHECKING:
    from airflow.models.connection import Connection
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
# Connectors whose single-use refresh tokens are written back to the Connection (from the registry).
ROTATING_CONNECTORS = frozenset(name for name, spec in CONNECTORS.items() if spec.rotating_tokens)


class AirflowConnectionTokenStore:
    """A :class:`~payroll_etl.connectors.transport.tokens.TokenStore` backed by Connection ``conn_id``
    (see the module docstring); ``initial``: the tokens the run started from (the Connection extra)."""

    _thread_locks: dict[str, threading.RLock] = {}
    _guard = threading.Lock()

    def __init__(self, conn_id: str, initial: dict[str, Any] | None = None):
        self.conn_id = conn_id
        self._memory = {k: v for k, v in (initial or {}).items() if k in TOKEN_KEYS and v is not None}
        with self._guard:
            self._tlock = self._thread_locks.setdefault(conn_id, threading.RLock())
        self._engine: Engine | None = None

    # -- metadata DB access ------------------------------------------------------------------
    def _session(self) -> Session:
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session

        if self._engine is None:
            from airflow.configuration import conf

            self._engine = create_engine(conf.get("database", "sql_alchemy_conn"), pool_pre_ping=True)
        return Session(self._engine)

    def _stored(self, session: Session) -> Connection | None:
        from airflow.models.connection import Connection
        from sqlalchemy import select

        return session.scalar(select(Connection).where(Connection.conn_id == self.conn_id))

    def _from_environment(self) -> bool:
        """An ``AIRFLOW_CONN_<ID>`` variable defines this Connection: Airflow reads it before the metadata
        DB, so its tokens (kept in memory as they rotate) win over a stale DB copy of the same id."""
        return f"AIRFLOW_CONN_{self.conn_id.upper()}" in os.environ

    def load(self) -> dict[str, Any]:
        """The ``TOKEN_KEYS`` of the Connection's ``extra`` in the metadata DB; the in-memory tokens when the
        Connection comes from the environment or is not in the DB. SQLAlchemy errors propagate."""
        if self._from_environment():
            return dict(self._memory)
        with self._session() as session:
            conn = self._stored(session)
            if conn is None:
                return dict(self._memory)
            extra = conn.extra_dejson or {}
            return {k: extra[k] for k in TOKEN_KEYS if extra.get(k) is not None}

    def save(self, tokens: dict[str, Any]) -> None:
        """Keep ``tokens`` in memory and merge them into the Connection's ``extra`` in one transaction (Fernet-
        encrypted); logs a warning and keeps them for this run only when the Connection is not writable."""
        new = {k: tokens[k] for k in TOKEN_KEYS if tokens.get(k) is not None}
        self._memory = new
        if self._from_environment():
            log.warning("connection %s comes from an environment variable: rotated tokens kept for this run only",
                        self.conn_id)
            return
        with self._session() as session, session.begin():
            conn = self._stored(session)
            if conn is None:
                log.warning("connection %s is not in the metadata DB: rotated tokens kept for this run only",
                            self.conn_id)
                return
            extra = {**(conn.extra_dejson or {}), **new}
            conn.set_extra(json.dumps(extra))  # Fernet-encrypted by the model; one transaction

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive per ``conn_id``: a thread lock plus ``flock`` on ``$AIRFLOW_HOME/locks/<conn_id>.lock``."""
        home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
        lock_dir = home / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with self._tlock, open(lock_dir / f"{self.conn_id}.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def credentials_with_token_store(credentials: SourceCredentials, cfg: EmployerConfig) -> SourceCredentials:
    """Attach a Connection-backed token store for connectors whose tokens rotate."""
    if cfg.connector not in ROTATING_CONNECTORS or credentials.login:
        return credentials  # password-grant demo clients and SOAP sources need no store
    from dataclasses import replace

    return replace(credentials, token_store=AirflowConnectionTokenStore(cfg.conn_id, credentials.extra))
