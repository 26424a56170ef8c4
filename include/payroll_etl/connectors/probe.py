"""Connection checks: one cheap, authenticated call per source, for Airflow's "Test" button.

:func:`probe` takes the same :class:`SourceCredentials` a run uses and either returns a one-line
description of what the source answered (no secrets, no personal data) or raises the same
``PayrollError`` subclasses the connectors raise in a run. It makes no retries (a human is waiting)
and lands nothing. Per source:

* **Loket.nl REST**: a token, then ``GET /v2/providers/employers/lastmodifiedversionnumbers``
  (``pageSize=1``; the activity every nightly run uses first). The token is the stored access token
  while it is valid, or a password grant when the connection has a login (demo clients). A stored
  refresh token is **never spent** by a test: Loket rotates it on use, and the rotated token would be
  lost with the test's transient connection, logging the employer out. Without a valid access token
  the check therefore presents a dummy refresh token to the token endpoint: ``invalid_grant`` proves
  the API client (client id and secret) is accepted; ``invalid_client`` that it is not.
* **Loket.nl SOAP**: ``GetUserToken`` (username, password, omgevingscode), then ``List(Werkgever)``.
* **Nmbrs**: ``CompanyService.List_GetAll`` with the domain header.

The connectors' own call machinery is reused (fault mapping, WSDL handling), with retries off.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    TransientSourceError,
)

if TYPE_CHECKING:
    from payroll_etl.connectors.loket_rest.auth import LoketTokens

TIMEOUT = 20.0  # seconds per call: a person is waiting for the answer


class _Discard:
    """A landing sink that keeps nothing: a connection check lands no payloads."""

    def write(self, *_: Any, **__: Any) -> None:
        return None


def probe(connector: str, credentials: SourceCredentials) -> str:
    """One cheap authenticated call to the source of ``connector`` (``loket_rest``, ``loket_soap``,
    ``nmbrs``) with ``credentials``; returns what it found. Raises ``ConfigurationError`` for an unknown
    connector or incomplete credentials, ``AuthenticationError``/``AuthorizationError`` when the source
    refuses, ``TransientSourceError`` when it cannot be reached."""
    checks = {"loket_rest": _loket_rest, "loket_soap": _loket_soap, "nmbrs": _nmbrs, "nmbrs_rest": _nmbrs_rest}
    if connector not in checks:
        raise ConfigurationError(f"no connection check for connector {connector!r}; known: {', '.join(checks)}")
    return checks[connector](credentials)


def _loket_rest(credentials: SourceCredentials) -> str:
    import requests

    from payroll_etl.connectors.loket_rest import API, DEFAULT_VERSION, LoketRestConnector

    client = LoketRestConnector.from_credentials(credentials)
    tokens = client.tokens
    timeout = tokens.timeout_seconds = min(client.client.timeout_seconds, TIMEOUT)
    extra = credentials.extra or {}
    try:
        stored = {k: extra.get(k) for k in ("access_token", "refresh_token", "expires_at")}
        if tokens._usable(stored):
            token, how = str(stored["access_token"]), "the stored access token"
        elif credentials.login and credentials.password:
            how = f"a password grant for {credentials.login}"
            try:
                token = tokens._refresh_locked({})["access_token"]
            except AuthenticationError as exc:
                if "invalid_grant" in str(exc):
                    raise AuthenticationError(f"Loket token endpoint {tokens.token_url} refused {how} "
                                              "(invalid_grant): check the connection's login and password") from None
                raise
        else:
            return _loket_rest_client_only(tokens, timeout, has_refresh=bool(stored.get("refresh_token")))
        try:
            response = client.client.session.get(
                f"{client.api_url}{API}/lastmodifiedversionnumbers", params={"pageSize": 1}, timeout=timeout,
                headers={"Authorization": f"Bearer {token}", "Accept": f"application/json;version={DEFAULT_VERSION}"})
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientSourceError(f"Loket REST API {client.api_url} unreachable ({type(exc).__name__})") from None
        if response.status_code == 401:
            raise AuthenticationError(f"Loket REST API {client.api_url} refused {how} (401)")
        if response.status_code == 403:
            raise AuthorizationError(f"Loket REST API {client.api_url} answered 403 to "
                                     "GetEmployerLastModifiedVersionNumbersByUser: the API client needs that activity "
                                     "and the Loket user access to the employer")
        if response.status_code != 200:
            raise ConfigurationError(f"Loket REST API {client.api_url} answered HTTP {response.status_code} to "
                                     f"{API}/lastmodifiedversionnumbers")
        try:
            total = response.json().get("totalSize")
        except ValueError:
            raise MalformedPayloadError(f"Loket REST API {client.api_url} answered with a body that is not JSON") \
                from None
        return f"Loket REST API {client.api_url}: authenticated with {how}; {total} werkgever(s) visible"
    finally:
        client.close()


def _loket_rest_client_only(client: LoketTokens, timeout: float, has_refresh: bool) -> str:
    """Without a usable access token: check the API client at the token endpoint with a dummy grant."""
    import requests

    form = {"grant_type": "refresh_token", "refresh_token": f"connection-test-{secrets.token_hex(8)}",
            "client_id": client.client_id, "client_secret": client.client_secret or ""}
    try:
        response = requests.post(client.token_url, data=form, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientSourceError(f"Loket token endpoint {client.token_url} unreachable "
                                   f"({type(exc).__name__})") from None
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    if error in ("invalid_client", "unauthorized_client"):
        raise AuthenticationError(f"Loket token endpoint {client.token_url} refused the API client ({error}): "
                                  "check client_id and client_secret")
    if error != "invalid_grant":
        raise MalformedPayloadError(f"Loket token endpoint {client.token_url} answered HTTP {response.status_code} "
                                    f"({error or 'no OAuth error'}) to a test grant")
    login = ("the employer's refresh token is not used by a test (Loket rotates it on use; the next run "
             "refreshes it)" if has_refresh else
             "no employer login is stored yet: do the first login (make connect-loket EMPLOYER=<employer>)")
    return f"Loket token endpoint {client.token_url}: API client {client.client_id} accepted; {login}"


def _loket_soap(credentials: SourceCredentials) -> str:
    from payroll_etl.connectors.loket_soap import LoketSoapConnector
    from payroll_etl.connectors.loket_soap.settings import ExtraTuning
    from payroll_etl.connectors.transport.soap import SoapCall

    tuning = ExtraTuning.from_extra(credentials.extra, credentials.where("Loket SOAP"))
    extra = {**(credentials.extra or {}), "max_attempts": 1, "timeout_seconds": min(tuning.timeout_seconds, TIMEOUT)}
    client = LoketSoapConnector.from_credentials(replace(credentials, extra=extra))
    try:
        client.client.token()  # GetUserToken: the login itself
        listed = client.client.authed(SoapCall("List", "werkgever_list", "", {"entity_name": "Werkgever"}), None,
                                      EntityName="Werkgever") or []
        return (f"Loket webservice {client.endpoint}: user {client.username!r} logged in; linked to "
                f"{len(listed)} werkgever(s)")
    finally:
        client.close()


def _nmbrs(credentials: SourceCredentials) -> str:
    from payroll_etl.connectors.nmbrs import NmbrsConnector

    client = NmbrsConnector.from_credentials(credentials)
    try:
        companies = client.list_companies(TIMEOUT)
    finally:
        client.close()
    return (f"Nmbrs {client.base_url}: API user {client.username} on domain {client.domain!r} authenticated; "
            f"{len(companies)} compan{'y' if len(companies) == 1 else 'ies'} visible")


def _nmbrs_rest(credentials: SourceCredentials) -> str:
    """Nmbrs REST: with a usable stored access token, ``GET /api/companies`` (token and subscription key
    both checked); without one, only the API client at the identity server with a dummy refresh grant.
    The stored refresh token is never spent: it is single-use, and a test works on a copy of the
    Connection, so the rotated token would be lost and the employer would need a new consent."""
    import requests

    from payroll_etl.connectors.nmbrs_rest.connector import NmbrsRestConnector
    from payroll_etl.connectors.nmbrs_rest.settings import SUBSCRIPTION_HEADER

    client = NmbrsRestConnector.from_credentials(credentials)
    tokens = client.tokens
    extra = credentials.extra or {}
    stored = {k: extra.get(k) for k in ("access_token", "refresh_token", "expires_at")}
    if not tokens._usable(stored):
        form = {"grant_type": "refresh_token", "refresh_token": f"connection-test-{secrets.token_hex(8)}",
                "client_id": tokens.client_id, "client_secret": tokens.client_secret or ""}
        try:
            response = requests.post(tokens.token_url, data=form, timeout=TIMEOUT)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientSourceError(f"Nmbrs identity server {tokens.token_url} unreachable "
                                       f"({type(exc).__name__})") from None
        error = (response.json() if "json" in response.headers.get("content-type", "") else {}).get("error")
        if error in ("invalid_client", "unauthorized_client"):
            raise AuthenticationError(f"Nmbrs identity server refused the API client ({error}): check client_id and "
                                      "client_secret")
        if error != "invalid_grant":
            raise MalformedPayloadError(f"Nmbrs identity server {tokens.token_url} answered HTTP "
                                        f"{response.status_code} ({error or 'no OAuth error'}) to a test grant")
        login = ("the stored refresh token is not used by a test (single-use; the next run refreshes it)"
                 if stored.get("refresh_token") else
                 "no consent is stored yet: make connect-nmbrs EMPLOYER=<employer>")
        return f"Nmbrs identity server {tokens.token_url}: API client {tokens.client_id} accepted; {login}"
    try:
        response = requests.get(f"{client.api_url}/api/companies", timeout=TIMEOUT, headers={
            "Authorization": f"Bearer {stored['access_token']}", SUBSCRIPTION_HEADER: client._key})
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientSourceError(f"Nmbrs REST API {client.api_url} unreachable ({type(exc).__name__})") from None
    if response.status_code == 401:
        raise AuthenticationError(f"Nmbrs REST API {client.api_url} refused the stored access token or the "
                                  f"{SUBSCRIPTION_HEADER} (401)")
    if response.status_code == 403:
        raise AuthorizationError(f"Nmbrs REST API {client.api_url} answered 403 to GET /api/companies: the consent "
                                 "needs scope company.info.read")
    if response.status_code != 200:
        raise ConfigurationError(f"Nmbrs REST API {client.api_url} answered HTTP {response.status_code} to "
                                 "GET /api/companies")
    try:
        companies = response.json()
    except ValueError:
        raise MalformedPayloadError(f"Nmbrs REST API {client.api_url} answered with a body that is not JSON") from None
    count = len(companies) if isinstance(companies, list) else len((companies or {}).get("data") or [])
    return f"Nmbrs REST API {client.api_url}: authenticated with the stored access token; {count} compan" \
           f"{'y' if count == 1 else 'ies'} visible"
