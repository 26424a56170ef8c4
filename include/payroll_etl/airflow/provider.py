"""This package as an Airflow provider: its connection types and their hooks.

Airflow 3 finds the hook of a connection by ``conn_type`` through ``ProvidersManager().hooks``, which
only knows providers: packages with an ``apache_airflow_provider`` entry point returning this dict
(validated against ``airflow/provider_info.schema.json``; ``package-name`` must equal the
distribution name). The entry point is declared in ``pyproject.toml``; after changing it the package
must be re-installed (``pip install --no-deps -e .``, which ``make install`` does) for Airflow to see it.
With it, the Connections page lists one type per connector of the registry
(:data:`payroll_etl.connectors.registry.CONNECTORS`) with its form labels, and its **Test** button
(``POST /api/v2/connections/test``, enabled by ``AIRFLOW__CORE__TEST_CONNECTION=Enabled``) runs the
hook's ``test_connection``.
"""

from __future__ import annotations

from typing import Any

from payroll_etl.connectors.registry import CONNECTORS, ConnectorSpec

PACKAGE = "payroll-etl"
_HIDDEN = ["schema", "port"]
# Form hints per connector: (hook name, field labels, placeholders). A connector without an entry gets
# the generic labels below and its registry label as the hook name.
_FORMS: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "loket_rest": ("Loket.nl REST (payroll)",
                   {"host": "API base URL", "login": "Loket user (demo clients only)",
                    "password": "Loket password (demo clients only)"},
                   {"host": "https://api.loket.nl", "extra": '{"client_id": "…", "client_secret": "…"}'}),
    "loket_soap": ("Loket.nl SOAP webservice (payroll)",
                   {"host": "Webservice base URL", "login": "Webservice user", "password": "Webservice password"},
                   {"host": "the Loket webservice host", "extra": '{"omgevingscode": "…"}'}),
    "nmbrs": ("Nmbrs SOAP (payroll)",
              {"host": "API base URL", "login": "API user (e-mail)", "password": "API token (32 characters)"},
              {"host": "https://api.nmbrs.nl", "extra": '{"domain": "mycompany"}'}),
    "nmbrs_rest": ("Nmbrs REST (payroll)",
                   {"host": "API base URL", "login": "(unused)", "password": "X-Subscription-Key (32 hex characters)"},
                   {"host": "https://api.nmbrsapp.com",
                    "extra": '{"client_id": "…", "client_secret": "…"} (tokens: make connect-nmbrs)'}),
}
_GENERIC = {"host": "API base URL", "login": "User", "password": "Secret"}


def hook_class_name(spec: ConnectorSpec) -> str:
    """The hook class of a connector in ``payroll_etl.airflow.hooks``: its name in CamelCase + ``Hook``
    (``loket_rest`` -> ``LoketRestHook``)."""
    return "".join(part.title() for part in spec.name.split("_")) + "Hook"


def _connection_type(spec: ConnectorSpec) -> dict[str, Any]:
    name, labels, placeholders = _FORMS.get(spec.name, (f"{spec.label or spec.name} (payroll)", _GENERIC, {}))
    return {"connection-type": spec.conn_type, "hook-class-name": f"payroll_etl.airflow.hooks.{hook_class_name(spec)}",
            "hook-name": name,
            "ui-field-behaviour": {"hidden-fields": _HIDDEN, "relabeling": labels, "placeholders": placeholders}}


def get_provider_info() -> dict[str, Any]:
    """The provider info Airflow's ProvidersManager reads (connection types -> hook classes, form hints)."""
    return {
        "package-name": PACKAGE,
        "name": "Payroll ETL",
        "description": "Payroll sources (Loket.nl REST and SOAP, Nmbrs) for the benefits warehouse.",
        "connection-types": [_connection_type(spec) for spec in CONNECTORS.values()],
    }
