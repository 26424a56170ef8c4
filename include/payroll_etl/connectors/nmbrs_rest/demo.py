"""The first consent of an Nmbrs REST Connection on the local simulator (``make demo``, end-to-end tests).

Nmbrs REST has no password grant: a person logs in and clicks 'Toestaan' once (``make connect-nmbrs``).
Against the simulator the demo login does that here. Named by the registry (``ConnectorSpec.demo_consent``),
so the demo and the test fixtures call it for every connector that has one, without naming Nmbrs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from payroll_etl.connectors.nmbrs_rest.settings import API_URL, BANK_SCOPE, DEFAULT_SCOPES, IDENTITY_URL
from payroll_etl.errors import ConfigurationError

if TYPE_CHECKING:
    from payroll_etl.config import EmployerConfig
    from payroll_etl.connectors.base import SourceCredentials
    from payroll_etl.connectors.transport.tokens import TokenStore

# The simulator's demo login (the Nmbrs REST simulator's DEMO_USERNAME / DEMO_PASSWORD; the simulators
# and payroll_etl import nothing of each other).
DEMO_LOGIN = ("demo@example.nl", "demo")


def simulator_login(username: str, password: str) -> Callable[[str], None]:
    """The person of a local consent: posts ``username``/``password`` and 'allow' to the consent page of the
    authorization URL it receives. ConfigurationError for a host other than 127.0.0.1/localhost (a real
    identity server never gets the demo login)."""
    import requests

    def open_url(url: str) -> None:
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ConfigurationError("refusing to post credentials to a non-local identity server")
        requests.post(f"{parts.scheme}://{parts.netloc}/connect/authorize", timeout=10,
                      data={**dict(parse_qsl(parts.query)), "username": username, "password": password,
                            "decision": "allow"})
    return open_url


def simulator_consent(credentials: SourceCredentials, store: TokenStore,
                      employer: EmployerConfig | None = None) -> dict[str, Any]:
    """Do the first consent of Connection ``credentials`` on the local simulator with :data:`DEMO_LOGIN`;
    the tokens (``access_token``, ``refresh_token``, ``expires_at`` epoch s) are saved in ``store`` and
    returned. Scopes: those ``make connect-nmbrs`` asks for ``employer``; without one (a test Connection
    any employer entry may use) the defaults plus bank accounts. 30 s timeout; errors as :func:`.auth.consent`."""
    from payroll_etl.connectors.nmbrs_rest.auth import consent
    from payroll_etl.connectors.nmbrs_rest.connector import NmbrsRestConnector

    extra = credentials.extra or {}
    host = credentials.host.rstrip("/")
    identity = extra.get("identity_url") or (IDENTITY_URL if host == API_URL else host)
    scopes = NmbrsRestConnector.scopes(extra, employer) if employer is not None else (*DEFAULT_SCOPES, BANK_SCOPE)
    return consent(identity_url=identity, client_id=extra["client_id"], client_secret=extra.get("client_secret"),
                   store=store, scopes=scopes, employer=employer.employer if employer else None,
                   on_url=simulator_login(*DEMO_LOGIN), timeout=30)
