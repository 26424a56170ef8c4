"""Secrets from Airflow Connections for :mod:`payroll_etl.settings` (registered by ``payroll_etl.airflow``)."""

from __future__ import annotations

import sys


def connection_password(conn_id: str) -> str | None:
    """The password of the Airflow Connection ``conn_id`` when running under Airflow, else None.

    Only when a task process has imported ``airflow.sdk`` already: plain-Python callers never import
    Airflow from here (importing it reconfigures logging). An undefined Connection is None too.
    """
    if "airflow.sdk" not in sys.modules:
        return None
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id).password or None
    except Exception:  # noqa: BLE001 - not defined: the caller falls back (e.g. to the demo key)
        return None
