"""The HTTP transport every REST connector is built on: one ``requests`` session per extract.

It owns the session, the timeout, call counting, the retry policy
(:class:`~payroll_etl.connectors.transport.retry.RetryPolicy`) and landing: a response body is
handed to the landing sink (:meth:`HttpTransport.land`) before anyone parses it. A connector
subclasses it and overrides the hooks, as the Airflow HTTP provider's ``check_response`` and the
Meltano SDK's ``validate_response`` do:

* :meth:`HttpTransport.headers`: the headers of one attempt (bearer token, API version);
* :meth:`HttpTransport.check_response`: status (and error body) -> nothing (fine), a
  :class:`~payroll_etl.connectors.transport.retry.Retry` (tried again), :class:`Reauthenticate`
  (refresh the credentials, then send once more) or the error class the taxonomy says;
* :meth:`HttpTransport.reauthenticate`: what :class:`Reauthenticate` does (refresh a token);
* :meth:`HttpTransport.on_error_response`: e.g. land a 4xx/5xx body as evidence.

A refused connection to a local host fails at once (:func:`~payroll_etl.connectors.network.check_refused`);
other network failures and timeouts are retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests

from payroll_etl.connectors.base import LandingSink
from payroll_etl.connectors.network import check_refused, where
from payroll_etl.connectors.transport.retry import Retry, RetryPolicy, retry_after_seconds
from payroll_etl.errors import AuthenticationError, ConfigurationError
from payroll_etl.landing import ERRORS_ENTITY, redact_secrets


class Reauthenticate(Exception):
    """Raised by :meth:`HttpTransport.check_response` for a 401 worth one credential refresh."""


@dataclass
class HttpCall:
    """One logical request (all its attempts).

    ``url``: absolute; ``params``: the query; ``entity``/``source_id``/``meta``: where and how its
    body lands; ``what``: a short name for messages ("Loket employee request /v2/…"); ``accept``:
    statuses that are a success. ``refreshed`` turns True once :meth:`HttpTransport.reauthenticate`
    ran for this call, so a second 401 can be refused for good.
    """

    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    entity: str = ""
    source_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    what: str = ""
    method: str = "GET"
    accept: frozenset[int] = frozenset({200})
    refreshed: bool = False


class HttpTransport:
    """Session, timeout, retries, call counting and landing for one extract (see the module docstring).

    ``timeout_seconds``: per request (connect and read); ``policy``: the retries; ``sleep``: the
    wait between attempts (tests pass a recorder). ``calls`` counts every request sent, failed ones too.
    """

    source: ClassVar[str] = "HTTP source"  # the source's name in messages ("Loket.nl REST")

    def __init__(self, *, timeout_seconds: float = 30.0, policy: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None):
        self.timeout_seconds = timeout_seconds
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.session = session or requests.Session()
        self.calls = 0
        self._count_lock = threading.Lock()

    def close(self) -> None:
        """Close the session (the pipeline calls the connector's ``close`` in ``finally``)."""
        self.session.close()

    # ------------------------------------------------------------------ hooks
    def headers(self, call: HttpCall) -> dict[str, str]:
        """Headers of one attempt of ``call`` (override: tokens, versions). Default: none."""
        return {}

    def check_response(self, response: requests.Response, call: HttpCall) -> None:
        """Classify a response: return for a success, raise otherwise.

        Default: a status in ``call.accept`` is fine; 429 is retried as throttled (``Retry-After``
        honoured), 5xx retried, anything else a :class:`ConfigurationError` naming the status.
        Connectors override this and call ``super().check_response`` for the common cases."""
        status = response.status_code
        if status in call.accept:
            return
        if status == 429:
            raise Retry("429 Too Many Requests", retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                        throttled=True)
        if status >= 500:
            raise Retry(f"HTTP {status}", retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        raise ConfigurationError(f"{self.source} refused {call.what or call.url} (HTTP {status})")

    def reauthenticate(self, call: HttpCall, response: requests.Response) -> None:
        """Refresh the credentials after a 401 (override). Default: refuse."""
        raise AuthenticationError(f"{self.source} refused the credentials (401) on {call.what or call.url}")

    def on_error_response(self, response: requests.Response, call: HttpCall) -> None:
        """Called for every response of status 400 or more, before it is classified. Default: nothing."""

    # ------------------------------------------------------------------ sending
    def send(self, call: HttpCall) -> requests.Response:
        """One HTTP exchange, counted. Timeouts and network failures become :class:`Retry`; a refused
        connection to a local host raises :class:`~payroll_etl.errors.SourceUnreachableError`."""
        with self._count_lock:
            self.calls += 1
        try:
            return self.session.request(call.method, call.url, params=dict(call.params), headers=self.headers(call),
                                        timeout=self.timeout_seconds)
        except requests.Timeout:
            raise Retry("timeout") from None
        except requests.ConnectionError as exc:
            check_refused(exc, call.url, self.source)
            raise Retry(f"connection error to {where(call.url)} ({type(exc).__name__})") from None

    def attempt(self, call: HttpCall) -> requests.Response:
        """One attempt: send, classify, and on :class:`Reauthenticate` refresh once and send again."""
        while True:
            response = self.send(call)
            if response.status_code >= 400:
                self.on_error_response(response, call)
            try:
                self.check_response(response, call)
            except Reauthenticate:
                if call.refreshed:
                    raise AuthenticationError(f"{self.source} refused fresh credentials (401) on "
                                              f"{call.what or call.url}") from None
                self.reauthenticate(call, response)
                call.refreshed = True
                continue
            return response

    def request(self, call: HttpCall) -> requests.Response:
        """``call`` with retries (:meth:`RetryPolicy.run`); the accepted response, not yet landed."""
        def once() -> requests.Response:
            call.refreshed = False
            return self.attempt(call)

        return self.policy.run(once, what=call.what or f"{self.source} {call.url}", sleep=self.sleep)

    # ------------------------------------------------------------------ landing
    @staticmethod
    def land(sink: LandingSink, entity: str, response: requests.Response, *, source_id: str,
             meta: dict[str, Any] | None = None, url: str | None = None,
             secrets: Iterable[str | None] | None = None) -> str:
        """Write ``response``'s body to ``sink`` under ``entity`` and return it as text (UTF-8,
        undecodable bytes replaced). With ``secrets`` (the tokens and passwords sent), body and URL
        are redacted first (:func:`~payroll_etl.landing.redact_secrets`): for error bodies, which a
        gateway may fill with the request's headers."""
        text = response.content.decode("utf-8", errors="replace")
        landed_url = url or response.url
        if secrets is not None:
            secrets = tuple(secrets)
            text, landed_url = redact_secrets(text, secrets), redact_secrets(landed_url, secrets)
        sink.write(entity, text, url=landed_url, source_id=source_id, status=response.status_code,
                   content_type=content_type(response), meta=meta)
        return text

    def land_error(self, sink: LandingSink, response: requests.Response, call: HttpCall,
                   secrets: Iterable[str | None], meta: dict[str, Any] | None = None) -> None:
        """Land a 4xx/5xx body under ``errors`` (every attempt), credentials redacted; ``meta`` adds
        the call's entity and status so the evidence says what failed."""
        self.land(sink, ERRORS_ENTITY, response, source_id=call.source_id, secrets=secrets,
                  meta={**(meta or {}), "entity": call.entity, "status": response.status_code, **call.meta})


def content_type(response: requests.Response, default: str = "application/json") -> str:
    """The media type of ``response`` without parameters (``application/json;charset=…`` -> ``application/json``)."""
    return response.headers.get("Content-Type", default).split(";")[0]
