"""Connection checks on the shared transports: what a connector's ``connection_check`` is built from.

Airflow's Connections page **Test** button (``payroll_etl.airflow.hooks``) asks the connector of a
Connection for one cheap, authenticated call (``payroll_etl.connectors.probe``). A connector class
provides it as ``connection_check(credentials, timeout) -> str`` (:class:`ConnectionCheck`); the
helpers here let it reuse its own HTTP client and that client's ``check_response`` status mapping,
with no retries (a person is waiting) and no credential refresh:

* :func:`check_json`: one attempt of an :class:`~.http.HttpCall` through an
  :class:`~.http.HttpTransport`, classified by its ``check_response``; a 401 is final (a test never
  refreshes, so a rotating refresh token is never spent) and the body must be JSON.
* :func:`check_api_client`: for a source with rotating, single-use refresh tokens and no usable access
  token: a made-up refresh token is presented to the token endpoint. ``invalid_grant`` proves the API
  client (client id and secret) is accepted, ``invalid_client``/``unauthorized_client`` that it is not
  (RFC 6749 §5.2 error codes). The employer's stored refresh token is never used.
"""

from __future__ import annotations

import secrets
from typing import Any, Protocol

import requests

from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.connectors.network import where
from payroll_etl.connectors.transport.http import HttpCall, HttpTransport, Reauthenticate
from payroll_etl.connectors.transport.retry import Retry
from payroll_etl.connectors.transport.tokens import TOKEN_KEYS
from payroll_etl.errors import AuthenticationError, MalformedPayloadError, TransientSourceError

TIMEOUT = 20.0  # seconds per call of a connection check: a person is waiting for the answer


class ConnectionCheck(Protocol):
    """What a connector class offers the Test button: ``connection_check(credentials, timeout)``.

    ``timeout``: seconds per call. Returns one line naming the host and what answered (no secret, no
    personal data); raises the ``PayrollError`` subclasses a run raises."""

    def connection_check(self, credentials: SourceCredentials, timeout: float) -> str: ...


class Discard:
    """A :class:`~payroll_etl.connectors.base.LandingSink` that keeps nothing: a connection check lands nothing."""

    def write(self, entity: str, payload: str, *, url: str, source_id: str, status: int = 200,
              content_type: str = "application/json", meta: dict[str, Any] | None = None) -> None:
        """Drop the payload."""


def stored_tokens(credentials: SourceCredentials) -> dict[str, Any]:
    """The Connection's stored OAuth tokens: ``{access_token, refresh_token, expires_at}`` (values may be None)."""
    extra = credentials.extra or {}
    return {key: extra.get(key) for key in TOKEN_KEYS}


def check_json(transport: HttpTransport, call: HttpCall, *, refused: str) -> Any:
    """One attempt of ``call`` classified by ``transport.check_response``; returns the parsed JSON body.

    ``refused``: the message of the :class:`AuthenticationError` for a 401 (which a run would answer
    with a token refresh; a check does not). Throttling, 5xx, timeouts and network failures raise
    :class:`TransientSourceError`; a body that is not JSON :class:`MalformedPayloadError`."""
    try:
        response = transport.send(call)
        transport.check_response(response, call)
    except Reauthenticate:
        raise AuthenticationError(refused) from None
    except Retry as exc:
        raise TransientSourceError(f"{transport.source} at {where(call.url)} unavailable ({exc})") from None
    try:
        return response.json()
    except ValueError:
        raise MalformedPayloadError(f"{transport.source} at {where(call.url)} answered with a body that is not "
                                    "JSON") from None


def check_api_client(name: str, token_url: str, client_id: str, client_secret: str | None, timeout: float) -> str:
    """Check an OAuth API client with a made-up refresh grant at ``token_url`` (see the module docstring).

    ``name`` names the endpoint in messages ("Loket token endpoint"). Returns
    ``"<name> <token_url>: API client <client_id> accepted"``; raises :class:`AuthenticationError`
    (client refused), :class:`MalformedPayloadError` (any other answer) or
    :class:`TransientSourceError` (unreachable)."""
    form = {"grant_type": "refresh_token", "refresh_token": f"connection-test-{secrets.token_hex(8)}",
            "client_id": client_id, "client_secret": client_secret or ""}
    try:
        response = requests.post(token_url, data=form, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientSourceError(f"{name} {token_url} unreachable ({type(exc).__name__})") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if error in ("invalid_client", "unauthorized_client"):
        raise AuthenticationError(f"{name} {token_url} refused the API client ({error}): check client_id and "
                                  "client_secret")
    if error != "invalid_grant":
        raise MalformedPayloadError(f"{name} {token_url} answered HTTP {response.status_code} "
                                    f"({error or 'no OAuth error'}) to a test grant")
    return f"{name} {token_url}: API client {client_id} accepted"
