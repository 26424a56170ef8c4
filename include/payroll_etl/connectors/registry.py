"""The one connector registry: everything else derives what it needs about a source from here.

Config validation (the employer entry's ``options:`` model), token handling (which connectors rotate
single-use refresh tokens), the Airflow provider (Connection types), the demo and the tests (the
local simulator's default port), the ``source_ids`` normaliser and the default pool size read
:data:`CONNECTORS`. Adding a source is one folder under
``payroll_etl/connectors/`` plus one line here (docs/architecture.md).

Only strings and plain values live here, so importing the registry at DAG-parse time costs nothing;
:meth:`ConnectorSpec.connector_class` and :meth:`ConnectorSpec.options_model` import lazily.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
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
    ``source_ids`` is the ``"module:function"`` path of the normaliser of an employer entry's
    ``source_ids`` (one value in, the form the source expects out, ``IdentifierError`` saying what to
    enter; see ``payroll_etl.quality.identifiers``). ``pool_slots`` is the size of the Airflow pool
    ``payroll_<name>`` when ``pools:`` in the employer config does not name it (docs/decisions.md).
    ``demo_consent``: for a source whose first login is a person's consent, the ``"module:function"``
    doing it on the local simulator with the demo login (``make demo``, the end-to-end fixtures):
    ``(SourceCredentials, TokenStore, EmployerConfig | None) -> tokens``; None when a run logs in by itself.
    """

    name: str
    connector: str
    options: str
    conn_type: str
    rotating_tokens: bool
    simulator_port: int
    label: str = ""
    source_ids: str = field(kw_only=True)
    pool_slots: int = field(kw_only=True)
    demo_consent: str | None = field(default=None, kw_only=True)

    def connector_class(self) -> type[Connector]:
        """The :class:`~payroll_etl.connectors.base.Connector` subclass (imports its module)."""
        return _load(self.connector)

    def options_model(self) -> type[BaseModel]:
        """The pydantic model of this connector's ``options:`` in an employer entry (``Options`` in
        ``connectors/<name>/settings.py``, a :class:`~payroll_etl.connectors.options.ConnectorOptions`)."""
        return _load(self.options)

    def source_id_normaliser(self) -> Callable[[object], str]:
        """The normaliser named by ``source_ids`` (imports its module): value -> canonical text,
        raising :class:`~payroll_etl.quality.identifiers.IdentifierError` for an unusable value."""
        return _load(self.source_ids)

    def demo_consenter(self) -> Callable[..., dict[str, Any]] | None:
        """The function named by ``demo_consent`` (imports its module), or None when the source has none."""
        return _load(self.demo_consent) if self.demo_consent else None


_LOKET_IDS = "payroll_etl.quality.identifiers:normalize_loket_werkgever_id"
_NMBRS_IDS = "payroll_etl.quality.identifiers:nmbrs_company_ref"

CONNECTORS: dict[str, ConnectorSpec] = {
    spec.name: spec
    for spec in (
        ConnectorSpec("loket_rest", "payroll_etl.connectors.loket_rest.connector:LoketRestConnector",
                      "payroll_etl.connectors.loket_rest.settings:Options", "loket_rest", True, 8081, "Loket.nl REST",
                      source_ids=_LOKET_IDS, pool_slots=8),
        ConnectorSpec("loket_soap", "payroll_etl.connectors.loket_soap.connector:LoketSoapConnector",
                      "payroll_etl.connectors.loket_soap.settings:Options", "loket_soap", False, 8082, "Loket.nl SOAP",
                      source_ids=_LOKET_IDS, pool_slots=4),
        ConnectorSpec("nmbrs", "payroll_etl.connectors.nmbrs:NmbrsConnector",
                      "payroll_etl.connectors.nmbrs.settings:Options", "nmbrs", False, 8083, "Nmbrs SOAP",
                      source_ids=_NMBRS_IDS, pool_slots=8),
        ConnectorSpec("nmbrs_rest", "payroll_etl.connectors.nmbrs_rest.connector:NmbrsRestConnector",
                      "payroll_etl.connectors.nmbrs_rest.settings:Options", "nmbrs_rest", True, 8084, "Nmbrs REST",
                      source_ids=_NMBRS_IDS, pool_slots=4,
                      demo_consent="payroll_etl.connectors.nmbrs_rest.demo:simulator_consent"),
    )
}


def default_pools() -> dict[str, int]:
    """``{"payroll_<connector>": slots}`` for every registered connector: the pools that exist when
    ``pools:`` in the employer config names none (entries there override these slots)."""
    return {f"payroll_{name}": spec.pool_slots for name, spec in CONNECTORS.items()}
