"""Airflow hooks for payroll sources: a hook owns a Connection and builds the connector client.

Connection layout (one per employer, id from ``include/employers.yaml``):

* ``host``/``port``/``schema``: the source's base URL (``https://api.loket.nl`` in production,
  ``http://127.0.0.1:8081`` for the simulator). A full URL in ``host`` is used as is.
* ``login`` / ``password``: username and secret (Loket SOAP password, Nmbrs API token).
* ``extra``: the rest (Loket REST ``client_id``, ``client_secret``, ``refresh_token`` …;
  Nmbrs ``domain``; Loket SOAP ``omgevingscode``).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from payroll_etl.config import CONNECTORS
from payroll_etl.connectors.base import SourceCredentials


def base_url(host: str | None, schema: str | None, port: int | None) -> str:
    host = (host or "").rstrip("/")
    if host.startswith(("http://", "https://")):
        return host
    scheme = schema if schema in ("http", "https") else "https"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


class PayrollSourceHook(BaseHook):
    """Credentials of one employer's payroll source, from its Airflow Connection."""

    conn_name_attr = "payroll_conn_id"
    default_conn_name = "payroll_default"
    conn_type = "http"
    hook_name = "Payroll source"

    def __init__(self, payroll_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.payroll_conn_id = payroll_conn_id

    def get_credentials(self) -> SourceCredentials:
        conn = self.get_connection(self.payroll_conn_id)
        return SourceCredentials(host=base_url(conn.host, conn.schema, conn.port), login=conn.login,
                                 password=conn.password, extra=dict(conn.extra_dejson or {}))

    def get_conn(self):
        from payroll_etl.connectors import connector_class

        credentials = self.get_credentials()
        # Typed into the Connection's extra by hand: " Nmbrs" is still the nmbrs connector.
        connector = str(credentials.extra.get("connector") or "").strip().lower()
        if not connector:
            raise ValueError(f"connection {self.payroll_conn_id} has no 'connector' in extra")
        if connector not in CONNECTORS:
            raise ValueError(f"connection {self.payroll_conn_id}: extra.connector must be one of {CONNECTORS}")
        return connector_class(connector).from_credentials(credentials)
