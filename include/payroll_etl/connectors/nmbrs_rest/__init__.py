"""Nmbrs REST API connector (``nmbrs_rest``), one module per concern; the template for connector folders.

* :mod:`.settings`  constants, endpoints with their scopes (from the official OpenAPI), per-employer options
* :mod:`.auth`      OAuth2: first consent (authorization code + PKCE), rotating single-use refresh tokens
* :mod:`.client`    HTTP on the shared transport: headers, status mapping (``check_response``), paging, landing
* :mod:`.plan`      what an extract fetches (company, full or probe-only HR lists, payroll runs)
* :mod:`.normalize` landed pages -> canonical rows
* :mod:`.connector` :class:`~.connector.NmbrsRestConnector`, the :class:`~payroll_etl.connectors.base.Connector`

Importing the package imports nothing heavy; the registry loads ``.connector`` when a task runs.
"""
