"""Connection checks: one cheap, authenticated call per source, for Airflow's "Test" button.

:func:`probe` takes the same :class:`SourceCredentials` a run uses and either returns a one-line
description of what the source answered (no secrets, no personal data) or raises the same
``PayrollError`` subclasses the connectors raise in a run. It makes no retries (a human is waiting)
and lands nothing.

The check itself belongs to each connector: its class's ``connection_check(credentials, timeout)``
(:class:`~payroll_etl.connectors.transport.check.ConnectionCheck`), built on its own client and that
client's status or fault mapping (``connectors/transport/check.py``). The connector class is found
through the registry (:data:`payroll_etl.connectors.registry.CONNECTORS`), so adding a source needs
nothing here. Sources with rotating refresh tokens (Loket REST, Nmbrs REST) never spend the stored
refresh token in a test: the rotated token would be lost with the test's transient Connection.
"""

from __future__ import annotations

from typing import cast

from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.connectors.transport.check import TIMEOUT, ConnectionCheck
from payroll_etl.errors import ConfigurationError

__all__ = ["TIMEOUT", "probe"]


def probe(connector: str, credentials: SourceCredentials) -> str:
    """One cheap authenticated call to the source of ``connector`` (a name of the connector registry)
    with ``credentials``; returns what it found. Raises ``ConfigurationError`` for an unknown connector,
    one without a connection check, or incomplete credentials; ``AuthenticationError``/``AuthorizationError``
    when the source refuses, ``TransientSourceError`` when it cannot be reached."""
    from payroll_etl.connectors.registry import CONNECTORS

    if connector not in CONNECTORS:
        raise ConfigurationError(f"no connection check for connector {connector!r}; known: {', '.join(CONNECTORS)}")
    cls = CONNECTORS[connector].connector_class()
    if not callable(getattr(cls, "connection_check", None)):
        raise ConfigurationError(f"connector {connector!r} offers no connection check (a connection_check "
                                 "classmethod on its connector class)")
    return cast(ConnectionCheck, cls).connection_check(credentials, TIMEOUT)
