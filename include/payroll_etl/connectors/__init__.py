"""Payroll source connectors. All implement :class:`payroll_etl.connectors.base.Connector`."""

from __future__ import annotations

import importlib

from payroll_etl.connectors.base import Connector

_REGISTRY = {
    "loket_rest": "payroll_etl.connectors.loket_rest:LoketRestConnector",
    "loket_soap": "payroll_etl.connectors.loket_soap:LoketSoapConnector",
    "nmbrs": "payroll_etl.connectors.nmbrs:NmbrsConnector",
    "nmbrs_rest": "payroll_etl.connectors.nmbrs_rest.connector:NmbrsRestConnector",
}


def connector_class(name: str) -> type[Connector]:
    module, _, attr = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attr)
