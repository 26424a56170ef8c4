"""The Loket webservice over :class:`~payroll_etl.connectors.transport.soap.SoapTransport`:
WSDL and endpoint, the login token (``GetUserToken``) and the mapping of Loket's faults.

Faults carry a ``Foutcode`` in their detail:

=======================  =====================================================================
InloggegevensOngeldig    :class:`AuthenticationError` (username, password or omgevingscode)
TokenOngeldig            a new token, then the call once more; a second refusal: AuthenticationError
NietGeautoriseerd        :class:`AuthorizationError` naming the function and entity
OnbekendeEntiteit        :class:`ConfigurationError`
soap:Server, ServerFout  retried (:class:`~payroll_etl.connectors.transport.retry.Retry`)
=======================  =====================================================================
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from payroll_etl.connectors.base import LandingSink
from payroll_etl.connectors.transport.retry import Retry, RetryPolicy
from payroll_etl.connectors.transport.soap import RETRY_STATUS, SoapCall, SoapTransport
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    PayrollError,
)


class TokenRejected(Exception):
    """Internal: the UserToken was refused; get a new one and repeat the call once."""


class LoketSoapClient(SoapTransport):
    """One webservice user's session on ``endpoint`` (``https://host/Loket.asmx``)."""

    source: ClassVar[str] = "Loket.nl SOAP"
    label: ClassVar[str] = "Loket SOAP"

    def __init__(self, endpoint: str, username: str, password: str, omgevingscode: str, *,
                 timeout_seconds: float = 60.0, policy: RetryPolicy | None = None):
        super().__init__(timeout_seconds=timeout_seconds, policy=policy)
        self.endpoint, self.username = endpoint, username
        self._password, self._omgevingscode = password, omgevingscode
        self._token: str | None = None
        self._client: Any = None
        self._service: Any = None

    def connect(self) -> None:
        """Load the WSDL (with retries) and bind the service to the configured endpoint."""
        if self._service is not None:
            return
        client = self.load_client(f"{self.endpoint}?WSDL")
        self._client = client
        self._service = client.create_service(next(iter(client.wsdl.bindings)), self.endpoint)

    def call(self, call: SoapCall, sink: LandingSink | None, **params: Any) -> Any:
        """One operation: post, land the raw body, then interpret it (retrying transient failures)."""
        self.connect()
        landed = replace(call, url=call.url or f"{self.endpoint}#{call.operation}")
        return self.invoke(self._client, self._service, landed, sink, **params)

    def token(self) -> str:
        """The UserToken (``GetUserToken`` once per session); its response is a credential: never landed."""
        if self._token is None:
            token = self.call(SoapCall("GetUserToken", "token", ""), None, Username=self.username,
                              Password=self._password, Omgevingscode=self._omgevingscode)
            if not token:
                raise AuthenticationError(f"Loket webservice returned no token for user {self.username!r}")
            self._token = str(token)
        return self._token

    def authed(self, call: SoapCall, sink: LandingSink | None, **params: Any) -> Any:
        """``call`` with the UserToken; a rejected token is replaced once."""
        for attempt in (1, 2):
            try:
                return self.call(call, sink, UserToken=self.token(), **params)
            except TokenRejected:
                self._token = None
                if attempt == 2:
                    raise AuthenticationError(f"Loket webservice rejected a fresh token of user {self.username!r} "
                                              f"on {call.operation}") from None
        raise AssertionError("unreachable")

    def check_fault(self, fault: Any, call: SoapCall, status: int) -> BaseException:
        """Loket's ``Foutcode`` -> the error taxonomy (table in the module docstring)."""
        detail = fault.detail
        code = functie = entity = None
        if detail is not None:
            found = {el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in detail.iter() if el.text}
            code, functie, entity = found.get("Foutcode"), found.get("Functie"), found.get("EntityName")
        message = (fault.message or "").strip()
        if code == "InloggegevensOngeldig":
            return AuthenticationError(f"Loket webservice refused the login of user {self.username!r}: username, "
                                       "password or omgevingscode is wrong")
        if code == "TokenOngeldig":
            return TokenRejected()
        if code == "NietGeautoriseerd" or "geautoriseerd" in message.lower():
            what = f"function {functie or call.operation}"
            entity = entity or call.meta.get("entity_name")
            return AuthorizationError(f"Loket webservice user {self.username!r} is not authorized for {what}"
                                      + (f" on entity {entity}" if entity else "")
                                      + "; Loket.nl must authorize the webservicepartij for it")
        if code == "OnbekendeEntiteit":
            return ConfigurationError(f"Loket webservice does not know entity {entity or call.meta.get('entity_name')}"
                                      f" ({call.operation})")
        if (fault.code or "").endswith("Server") or code == "ServerFout" or status in RETRY_STATUS:
            return Retry(f"SOAP server fault on {call.operation} (HTTP {status})")
        return PayrollError(f"Loket SOAP {call.operation} fault {code or fault.code}: {message[:200]}")

    def close(self) -> None:
        """Close the session and forget the token."""
        super().close()
        self._client = self._service = None
        self._token = None
