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


def get_provider_info() -> dict[str, Any]:
    """The provider info Airflow's ProvidersManager reads (connection types -> hook classes, form hints)."""
    hooks = "payroll_etl.airflow.hooks"
    return {
        "package-name": PACKAGE,
        "name": "Payroll ETL",
        "description": "Payroll sources (Loket.nl REST and SOAP, Nmbrs) for the benefits warehouse.",
        "connection-types": [
            {"connection-type": "loket_rest", "hook-class-name": f"{hooks}.LoketRestHook",
             "hook-name": "Loket.nl REST (payroll)",
             "ui-field-behaviour": {
                 "hidden-fields": _HIDDEN,
                 "relabeling": {"host": "API base URL", "login": "Loket user (demo clients only)",
                                "password": "Loket password (demo clients only)"},
                 "placeholders": {"host": "https://api.loket.nl",
                                  "extra": '{"client_id": "…", "client_secret": "…"}'}}},
            {"connection-type": "loket_soap", "hook-class-name": f"{hooks}.LoketSoapHook",
             "hook-name": "Loket.nl SOAP webservice (payroll)",
             "ui-field-behaviour": {
                 "hidden-fields": _HIDDEN,
                 "relabeling": {"host": "Webservice base URL", "login": "Webservice user",
                                "password": "Webservice password"},
                 "placeholders": {"host": "the Loket webservice host", "extra": '{"omgevingscode": "…"}'}}},
            {"connection-type": "nmbrs", "hook-class-name": f"{hooks}.NmbrsHook",
             "hook-name": "Nmbrs SOAP (payroll)",
             "ui-field-behaviour": {
                 "hidden-fields": _HIDDEN,
                 "relabeling": {"host": "API base URL", "login": "API user (e-mail)",
                                "password": "API token (32 characters)"},
                 "placeholders": {"host": "https://api.nmbrs.nl", "extra": '{"domain": "mycompany"}'}}},
        ],
    }
