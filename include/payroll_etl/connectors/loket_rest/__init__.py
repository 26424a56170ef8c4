"""Loket.nl REST connector (``loket_rest``), one module per concern.

* :mod:`.settings`    API paths and versions, rights per activity, code values, tuning defaults
* :mod:`.auth`        OAuth2 access tokens from rotating refresh tokens
* :mod:`.onboarding`  the first login ("Eerste aanmelding"): authorization code flow, ``make connect-loket``
* :mod:`.client`      HTTP on the shared transport: headers, status mapping, paging, landing
* :mod:`.plan`        what an extract fetches (incremental by version numbers, payroll results of new runs)
* :mod:`.rows`        one Loket record -> one canonical row
* :mod:`.normalize`   landed pages -> canonical rows
* :mod:`.connector`   :class:`~.connector.LoketRestConnector`
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from payroll_etl.connectors.lazy import exports

if TYPE_CHECKING:
    from payroll_etl.connectors.loket_rest.connector import LoketRestConnector
    from payroll_etl.connectors.loket_rest.settings import API, DEFAULT_VERSION

__all__ = ["API", "DEFAULT_VERSION", "LoketRestConnector"]

__getattr__ = exports(__name__, {
    "LoketRestConnector": "connector",
    "API": "settings",
    "DEFAULT_VERSION": "settings",
})
