"""This package as an Airflow provider: its connection types and their hooks.

Airflow 3 finds the hook of a connection by ``conn_type`` through ``ProvidersManager().hooks``, which
only knows providers: packages with an ``apache_airflow_provider`` entry point returning this dict
(validated against ``airflow/provider_info.schema.json``; ``package-name`` must equal the
distribution name). The entry point is declared in ``pyproject.toml``; after changing it the package
must be re-installed (``pip install --no-deps -e .``, which ``make install`` does) for Airflow to see it.
With it, the Connections page lists the three types with their form labels, and its **Test** button
(``POST /api/v2/connections/test``, enabled by ``AIRFLOW__CORE__TEST_CONNECTION=Enabled``) runs the
hook's ``test_connection``.
"""

from __future__ import annotations

from typing import Any

PACKAGE = "payroll-etl"
_HIDDEN = ["schema", "port"]


def _connection_type(conn_type: str, hook: str, name: str, labels: dict[str, str],
                     placeholders: dict[str, str]) -> dict[str, Any]:
    return {"connection-type": conn_type, "hook-class-name": f"payroll_etl.airflow.hooks.{hook}", "hook-name": name,
            "ui-field-behaviour": {"hidden-fields": _HIDDEN, "relabeling": labels, "placeholders": placeholders}}


def get_provider_info() -> dict[str, Any]:
    """The provider info Airflow's ProvidersManager reads (connection types -> hook classes, form hints)."""
    return {
        "package-name": PACKAGE,
        "name": "Payroll ETL",
        "description": "Payroll sources (Loket.nl REST and SOAP, Nmbrs) for the benefits warehouse.",
        "connection-types": [
            _connection_type("loket_rest", "LoketRestHook", "Loket.nl REST (payroll)",
                             {"host": "API base URL", "login": "Loket user (demo clients only)",
                              "password": "Loket password (demo clients only)"},
                             {"host": "https://api.loket.nl", "extra": '{"client_id": "…", "client_secret": "…"}'}),
            _connection_type("loket_soap", "LoketSoapHook", "Loket.nl SOAP webservice (payroll)",
                             {"host": "Webservice base URL", "login": "Webservice user",
                              "password": "Webservice password"},
                             {"host": "the Loket webservice host", "extra": '{"omgevingscode": "…"}'}),
            _connection_type("nmbrs", "NmbrsHook", "Nmbrs SOAP (payroll)",
                             {"host": "API base URL", "login": "API user (e-mail)",
                              "password": "API token (32 characters)"},
                             {"host": "https://api.nmbrs.nl", "extra": '{"domain": "mycompany"}'}),
        ],
    }
