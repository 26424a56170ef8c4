"""Lazy re-exports of a connector package (PEP 562 module ``__getattr__``).

The registry names each connector's ``options:`` model in ``connectors/<name>/settings.py``, which the
employer config imports at DAG-parse time; importing a submodule runs its package's ``__init__``, so
that must not import the connector's client (requests, zeep, lxml). A package lists its public names
here instead and they are imported on first use (``from payroll_etl.connectors.nmbrs import
NmbrsConnector`` works as before).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def exports(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` resolving each name of ``names`` (name -> submodule,
    relative to ``package``) by importing that submodule; AttributeError for any other name."""

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
