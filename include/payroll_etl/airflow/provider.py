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

The form of a connector (hook name, field labels, placeholders) is ``CONNECTION_FORM`` in its
settings module (``connectors/<name>/settings.py``, the module of its ``options`` model); a connector
without one gets the generic labels below and its registry label as the hook name.
"""

from __future__ import annotations

import importlib
from typing import Any

from payroll_etl.connectors.registry import CONNECTORS, ConnectorSpec

PACKAGE = "payroll-etl"
_HIDDEN = ["schema", "port"]
_GENERIC = {"host": "API base URL", "login": "User", "password": "Secret"}


def hook_class_name(spec: ConnectorSpec) -> str:
    """The hook class of a connector in ``payroll_etl.airflow.hooks``: its name in CamelCase + ``Hook``
    (``loket_rest`` -> ``LoketRestHook``)."""
    return "".join(part.title() for part in spec.name.split("_")) + "Hook"


def connection_form(spec: ConnectorSpec) -> dict[str, Any]:
    """The connector's Connections form: ``{"hook-name": str, "relabeling": {field: label},
    "placeholders": {field: text}}`` from ``CONNECTION_FORM`` in its settings module, else generic."""
    settings = importlib.import_module(spec.options.partition(":")[0])
    form = dict(getattr(settings, "CONNECTION_FORM", None) or {})
    return {"hook-name": form.get("hook-name") or f"{spec.label or spec.name} (payroll)",
            "relabeling": form.get("relabeling") or _GENERIC, "placeholders": form.get("placeholders") or {}}


def _connection_type(spec: ConnectorSpec) -> dict[str, Any]:
    form = connection_form(spec)
    return {"connection-type": spec.conn_type, "hook-class-name": f"payroll_etl.airflow.hooks.{hook_class_name(spec)}",
            "hook-name": form["hook-name"],
            "ui-field-behaviour": {"hidden-fields": _HIDDEN, "relabeling": form["relabeling"],
                                   "placeholders": form["placeholders"]}}


def get_provider_info() -> dict[str, Any]:
    """The provider info Airflow's ProvidersManager reads (connection types -> hook classes, form hints)."""
    return {
        "package-name": PACKAGE,
        "name": "Payroll ETL",
        "description": "Payroll sources (Loket.nl REST and SOAP, Nmbrs) for the benefits warehouse.",
        "connection-types": [_connection_type(spec) for spec in CONNECTORS.values()],
    }
