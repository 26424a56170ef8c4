"""The one connector registry: everything else derives what it needs about a source from here.

Config validation (the employer entry's ``options:`` model), token handling (which connectors rotate
single-use refresh tokens), the Airflow provider (Connection types), the demo and the tests (the
local simulator's default port) read :data:`CONNECTORS`. Adding a source is one folder under
``payroll_etl/connectors/`` plus one line here (docs/architecture.md).

Only strings and plain values live here, so importing the registry at DAG-parse time costs nothing;
:meth:`ConnectorSpec.connector_class` and :meth:`ConnectorSpec.options_model` import lazily.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from payroll_etl.connectors.base import Connector


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class ConnectorSpec:
    """What the rest of the pipeline knows about one source.

    ``connector`` and ``options`` are ``"module:attribute"`` paths, imported on first use.
    ``conn_type`` is the Airflow Connection type; ``rotating_tokens``: the source issues single-use
    refresh tokens that must be written back to the Connection (``payroll_etl.airflow.tokens``).
    ``simulator_port`` is the port ``make simulators`` serves this source on (the demo Connections' host);
    ``label`` names the source in messages and in the Connections form ("Loket.nl REST").
    """

    name: str
    connector: str
    options: str
    conn_type: str
    rotating_tokens: bool
    simulator_port: int
    label: str = ""

    def connector_class(self) -> type[Connector]:
        """The :class:`~payroll_etl.connectors.base.Connector` subclass (imports its module)."""
        return _load(self.connector)

    def options_model(self) -> type[BaseModel]:
        """The pydantic model of this connector's ``options:`` in an employer entry (``Options`` in
        ``connectors/<name>/settings.py``, a :class:`~payroll_etl.connectors.options.ConnectorOptions`)."""
        return _load(self.options)


CONNECTORS: dict[str, ConnectorSpec] = {
    spec.name: spec
    for spec in (
        ConnectorSpec("loket_rest", "payroll_etl.connectors.loket_rest.connector:LoketRestConnector",
                      "payroll_etl.connectors.loket_rest.settings:Options", "loket_rest", True, 8081, "Loket.nl REST"),
        ConnectorSpec("loket_soap", "payroll_etl.connectors.loket_soap.connector:LoketSoapConnector",
                      "payroll_etl.connectors.loket_soap.settings:Options", "loket_soap", False, 8082, "Loket.nl SOAP"),
        ConnectorSpec("nmbrs", "payroll_etl.connectors.nmbrs:NmbrsConnector",
                      "payroll_etl.connectors.nmbrs.settings:Options", "nmbrs", False, 8083, "Nmbrs SOAP"),
        ConnectorSpec("nmbrs_rest", "payroll_etl.connectors.nmbrs_rest.connector:NmbrsRestConnector",
                      "payroll_etl.connectors.nmbrs_rest.settings:Options", "nmbrs_rest", True, 8084, "Nmbrs REST"),
    )
}
