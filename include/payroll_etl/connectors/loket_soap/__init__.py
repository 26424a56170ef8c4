"""Loket.nl legacy SOAP webservices ("Loket webservice", webservice user + omgevingscode), one module per concern.

* :mod:`.settings`   endpoint path, the entity tree, landing entities, tuning defaults
* :mod:`.client`     the webservice over the shared SOAP transport: WSDL, login token, fault mapping
* :mod:`.plan`       what an extract calls, werkgever by werkgever (version-based change detection)
* :mod:`.normalize`  landed XML -> canonical rows
* :mod:`.connector`  :class:`~.connector.LoketSoapConnector`

Extraction per configured werkgever (``EmployerConfig.source_ids``)::

    GetUserToken                                    once per run; again when a token is rejected
    List(Werkgever), GetChildNodes, GetNodeFunction first / full-refresh runs: is the user linked,
                                                    does the tree have what we need?
    SelectVersion(Werkgever)  -> Select + GetMetaData         when the werkgever changed
    ListVersion(Persoon|Dienstverband)
        -> List + GetMetaData + (SelectVersion ->) Select     when the entity changed
    ListVersion(Verloning)
        -> ListGoedgekeurdeLoonrunsPeriode -> ExportLoonresultatenPerRun   new approved runs

zeep is imported lazily: this package is imported at DAG-parse time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from payroll_etl.connectors.lazy import exports

if TYPE_CHECKING:
    from payroll_etl.connectors.loket_soap.connector import LoketSoapConnector

__all__ = ["LoketSoapConnector"]

__getattr__ = exports(__name__, {
    "LoketSoapConnector": "connector",
})
