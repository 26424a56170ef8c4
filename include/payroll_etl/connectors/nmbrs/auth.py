"""Credentials of the Nmbrs SOAP connector: one Airflow Connection per employer, checked before any call.

``host`` = base URL (``https://api.nmbrs.nl``; a bare host gets ``https://``), ``login`` = the API
user's e-mail, ``password`` = its 32-character API token (Nmbrs: user name > User profile > API
token), ``extra["domain"]`` = the environment's subdomain. The token never appears in a message.
"""

from __future__ import annotations

from dataclasses import dataclass

from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.connectors.nmbrs.settings import TOKEN_LENGTH
from payroll_etl.errors import ConfigurationError
from payroll_etl.quality.identifiers import IdentifierError, normalize_nmbrs_domain


@dataclass(frozen=True)
class NmbrsLogin:
    """A checked Nmbrs SOAP login: base URL, API user e-mail, API token, environment domain."""

    base_url: str
    username: str
    token: str
    domain: str

    def __repr__(self) -> str:
        return f"NmbrsLogin(base_url={self.base_url!r}, username={self.username!r}, domain={self.domain!r})"


def check_credentials(credentials: SourceCredentials) -> NmbrsLogin:
    """The Connection's fields as an :class:`NmbrsLogin`; :class:`ConfigurationError` naming the field
    that is empty or malformed (host, login, a token that is not 32 characters, extra.domain)."""
    host = (credentials.host or "").strip()
    if not host:
        raise ConfigurationError("Nmbrs connection: host (base URL, e.g. https://api.nmbrs.nl) is empty")
    if "://" not in host:
        host = f"https://{host}"
    if not credentials.login:
        raise ConfigurationError("Nmbrs connection: login (the API user's e-mail address) is empty")
    token = (credentials.password or "").strip()
    if len(token) != TOKEN_LENGTH:
        raise ConfigurationError(
            f"Nmbrs connection: the API token must be exactly {TOKEN_LENGTH} characters, got {len(token)} "
            "(Nmbrs: click your user name > User profile > API token)")
    try:
        domain = normalize_nmbrs_domain((credentials.extra or {}).get("domain"))
    except IdentifierError as exc:
        raise ConfigurationError(f"Nmbrs connection: extra.domain: {exc}") from None
    return NmbrsLogin(host, credentials.login.strip(), token, domain)
