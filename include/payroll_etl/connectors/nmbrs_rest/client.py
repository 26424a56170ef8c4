"""HTTP for the Nmbrs REST API over :class:`~payroll_etl.connectors.transport.http.HttpTransport`:
headers, the status mapping (its ``check_response`` hook), paging, landing; session, timeout, call
counting and the retry policy (``Retry-After`` honoured) are the shared transport's.

Every request carries ``Authorization: Bearer …`` and ``X-Subscription-Key``. Every successful
response body is handed to the landing sink before it is parsed (a truncated page stays landed).

Error mapping (the spec's error body ``{type, httpStatus, code, title, detail}``; mapped by code,
then status, as the research note advises):

=========================  ===================================================================
401 40103 / subscription   :class:`ConfigurationError` naming ``X-Subscription-Key``
401 40101/40102            one refresh under the store lock, then the call again; a second 401:
                           :class:`AuthenticationError` (re-consent)
403 40303                  :class:`AuthorizationError`: no access to the company (tags/filters)
403 40304                  :class:`ConfigurationError`: the environment has no valid subscription
403 otherwise              :class:`AuthorizationError` naming the scope(s) the spec lists
404                        :class:`ConfigurationError` (404 on a company: wrong company id)
429 42909                  :class:`QuotaExhaustedError` at once, no retries (the plan's volume is used up)
429                        retried, waiting ``Retry-After`` when given, else exponential backoff
5xx, timeout, reset        retried with exponential backoff, then :class:`TransientSourceError`
=========================  ===================================================================
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from payroll_etl.connectors.base import LandingSink
from payroll_etl.connectors.nmbrs_rest.auth import Tokens
from payroll_etl.connectors.nmbrs_rest.settings import (
    PAGE_SIZE,
    QUOTA_EXHAUSTED,
    SUBSCRIPTION_HEADER,
    Endpoint,
    Options,
)
from payroll_etl.connectors.transport.http import HttpCall, HttpTransport, Reauthenticate
from payroll_etl.connectors.transport.retry import Retry, RetryPolicy, retry_after_seconds
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    QuotaExhaustedError,
)


def parse_json(text: str, what: str) -> Any:
    """JSON with decimals kept exact (``parse_float=Decimal``); MalformedPayloadError names ``what``."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        raise MalformedPayloadError(f"Nmbrs REST {what} is not valid JSON (truncated or malformed); the raw "
                                    "response is kept in landing") from None


def _error(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@dataclass
class NmbrsCall(HttpCall):
    """An :class:`HttpCall` of one spec operation (``endpoint``: its scopes name a 403)."""

    endpoint: Endpoint | None = None


class Client(HttpTransport):
    """One extract's HTTP session; ``calls`` counts every request sent to the API.

    ``options`` give the timeout (s) and the retry policy (``RetryPolicy.of(options)``);
    ``sleep`` is the wait between attempts (tests record it).
    """

    source: ClassVar[str] = "Nmbrs REST"

    def __init__(self, api_url: str, subscription_key: str, tokens: Tokens, options: Options, sink: LandingSink, *,
                 employer: str, sleep: Callable[[float], None] = time.sleep):
        super().__init__(timeout_seconds=options.timeout_seconds, policy=RetryPolicy.of(options), sleep=sleep)
        self.api_url = api_url.rstrip("/")
        self._key = subscription_key
        self.tokens, self.options, self.sink, self.employer = tokens, options, sink, employer
        self._sent = ""  # the access token of the last request (to report it refused after a 401)

    # ------------------------------------------------------------------ transport hooks
    def headers(self, call: HttpCall) -> dict[str, str]:
        """Bearer token, ``X-Subscription-Key`` and ``Accept: application/json``."""
        self._sent = self.tokens.access_token()
        return {"Authorization": f"Bearer {self._sent}", SUBSCRIPTION_HEADER: self._key, "Accept": "application/json"}

    def reauthenticate(self, call: HttpCall, response: requests.Response) -> None:
        """Adopt a token another task stored meanwhile, else refresh (under the store lock)."""
        self.tokens.after_401(self._sent)

    def on_error_response(self, response: requests.Response, call: HttpCall) -> None:
        """Land every 4xx/5xx body under ``errors`` as the failed attempt's evidence (the access token,
        subscription key and client secret redacted), before it is classified or retried."""
        self.land_error(self.sink, response, call, (self._sent, self._key, self.tokens.client_secret))

    def check_response(self, response: requests.Response, call: HttpCall) -> None:
        """Nmbrs' statuses and error codes -> the error taxonomy (table in the module docstring)."""
        status = response.status_code
        if status in call.accept:
            return
        endpoint = call.endpoint if isinstance(call, NmbrsCall) and call.endpoint else None
        operation = endpoint.operation if endpoint else call.url
        body = _error(response)
        code, title = body.get("code"), body.get("title", "")
        if status == 401 and (code == 40103 or "subscription" in str(title).lower()):
            raise ConfigurationError(
                f"Nmbrs refused the subscription key (401 {title}) on {operation}: set the connection's password "
                f"to the {SUBSCRIPTION_HEADER} of your product subscription on developer.nmbrs.com (Profile > "
                "Subscriptions)")
        if status == 401 and call.refreshed:
            raise AuthenticationError(
                f"Nmbrs rejected a freshly refreshed access token on {operation} (401 {title}): redo the consent: "
                f"make connect-nmbrs EMPLOYER={self.employer}")
        if status == 401:
            raise Reauthenticate()
        if status == 429 and code == QUOTA_EXHAUSTED:
            raise QuotaExhaustedError(
                f"Nmbrs plan call volume exhausted (429, code {QUOTA_EXHAUSTED} Quota_Exceeded) on {operation} for "
                f"employer {self.employer}: not retried; the next run continues once the subscription's window "
                "resets, or raise the plan on developer.nmbrs.com")
        if status == 429:
            raise Retry(f"429 {body.get('title', 'Too Many Requests')}", throttled=True,
                        retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        if status >= 500:
            raise Retry(f"HTTP {status} {title}".strip())
        raise self._refusal(endpoint, call.url, status, body, call.source_id)

    # ------------------------------------------------------------------ one request
    def get(self, endpoint: Endpoint, path: str, params: dict[str, Any] | None = None, *, source_id: str,
            meta: dict[str, Any] | None = None, land: bool = True, landed_url: str | None = None,
            accept_202: bool = False) -> tuple[requests.Response, str]:
        """GET with retries; lands a 200 body (unless ``land`` is False) and returns (response, text).

        ``accept_202``: a 202 (document still being produced) is an answer too, not landed."""
        url = f"{self.api_url}{path}"
        call = NmbrsCall(url, dict(params or {}), endpoint.entity, source_id,
                         {"operation": endpoint.operation, **(meta or {})},
                         f"Nmbrs REST {endpoint.operation} ({urlsplit(url).path})",
                         accept=frozenset({200, 202}) if accept_202 else frozenset({200}), endpoint=endpoint)
        response = self.request(call)
        if land and response.status_code == 200:
            text = self.land(self.sink, endpoint.entity, response, source_id=source_id, meta=call.meta,
                             url=landed_url or response.url)
        else:
            text = response.content.decode("utf-8", errors="replace")
        return response, text

    def _refusal(self, endpoint: Endpoint | None, url: str, status: int, body: dict[str, Any],
                 source_id: str) -> Exception:
        code, title = body.get("code"), body.get("title", "")
        if endpoint is None:
            return ConfigurationError(f"Nmbrs REST refused {urlsplit(url).path} ({status} {code} {title})")
        if status == 403 and code == 40303:
            return AuthorizationError(
                f"Nmbrs login has no access to company {source_id} on {endpoint.operation} (403 {code} {title}): "
                "ask the customer to review the login's access rights by tags/filters on its Template User")
        if status == 403 and code == 40304:
            return ConfigurationError(
                f"Nmbrs environment has no valid subscription (403 {code} {title}) on {endpoint.operation}: the "
                f"{SUBSCRIPTION_HEADER} or the customer's Nmbrs subscription must be renewed")
        if status == 403:
            scopes = " or ".join(endpoint.scopes)
            return AuthorizationError(
                f"Nmbrs refused {endpoint.operation} (403 {code} {title}): the access token lacks the scope "
                f"{scopes} (the scope the OpenAPI document lists for it). Add it to the connection's extra.scopes "
                f"(or use the defaults) and redo the consent: make connect-nmbrs EMPLOYER={self.employer}")
        if status == 404 and "{companyId}" in endpoint.path:
            return ConfigurationError(
                f"Nmbrs does not know company {source_id} (404 {code} {title}) on {endpoint.operation}: check the "
                "company id or exact name in the employer config")
        if status == 404:
            return ConfigurationError(f"Nmbrs REST {endpoint.operation}: {urlsplit(url).path} not found (404 {title})")
        invalid = ", ".join(str(p.get("name")) for p in body.get("invalid-params") or [] if isinstance(p, dict))
        return ConfigurationError(f"Nmbrs REST refused {endpoint.operation} ({status} {code} {title}"
                                  + (f"; invalid parameters: {invalid}" if invalid else "") + ")")

    # ------------------------------------------------------------------ collections
    def pages(self, endpoint: Endpoint, path: str, params: dict[str, Any] | None = None, *, source_id: str,
              meta: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a list (``pageNumber`` 1.. ``totalPages``, ``pageSize`` 100), each landed first."""
        number = 1
        while True:
            query = dict(params or {})
            if endpoint.paged:
                query.update(pageNumber=number, pageSize=PAGE_SIZE)
            response, text = self.get(endpoint, path, query, source_id=source_id, meta={**(meta or {}), "page": number})
            body = parse_json(text, f"{endpoint.operation} page {response.url}")
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise MalformedPayloadError(f"Nmbrs REST {endpoint.operation} page {response.url} lacks the "
                                            "{pagination, data} envelope; the raw response is kept in landing")
            total = (body.get("pagination") or {}).get("totalPages")
            if not endpoint.paged and isinstance(total, int) and total > 1:
                raise MalformedPayloadError(
                    f"Nmbrs REST {endpoint.operation} answered {total} pages, but the spec declares no paging "
                    f"parameters for it: refusing to drop records (page {response.url} kept in landing)")
            yield body
            if not endpoint.paged or not isinstance(total, int) or number >= total or not body["data"]:
                return
            number += 1

    def items(self, endpoint: Endpoint, path: str, params: dict[str, Any] | None = None, *,
              source_id: str) -> list[dict[str, Any]]:
        """All ``data`` items of a list."""
        return [item for body in self.pages(endpoint, path, params, source_id=source_id) for item in body["data"]]
