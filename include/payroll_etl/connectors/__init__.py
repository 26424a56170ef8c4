"""Payroll source connectors. All implement :class:`payroll_etl.connectors.base.Connector`.

One folder per source (``loket_rest/``, ``loket_soap/``, ``nmbrs_rest/``, …) composed from the shared
pieces in ``transport/``, ``xml.py`` and ``normalizers.py``; the sources are listed once, in
:mod:`payroll_etl.connectors.registry`. Importing this package imports nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from payroll_etl.connectors.base import Connector


def connector_class(name: str) -> type[Connector]:
    """The :class:`~payroll_etl.connectors.base.Connector` subclass of connector ``name`` (imported on
    first use, from the registry). KeyError for a name the registry does not list."""
    from payroll_etl.connectors.registry import CONNECTORS

    return CONNECTORS[name].connector_class()
