"""HTTP for the Nmbrs REST API: headers, retries, error mapping, paging, landing.

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
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from payroll_etl.connectors.base import LandingSink
from payroll_etl.connectors.network import check_refused, where
from payroll_etl.connectors.nmbrs_rest.auth import Tokens
from payroll_etl.connectors.nmbrs_rest.settings import (
    PAGE_SIZE,
    QUOTA_EXHAUSTED,
    SUBSCRIPTION_HEADER,
    Endpoint,
    Options,
)
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    QuotaExhaustedError,
    TransientSourceError,
)


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, throttled: bool = False):
        super().__init__(reason)
        self.reason, self.retry_after, self.throttled = reason, retry_after, throttled


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


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class Client:
    """One extract's HTTP session; ``calls`` counts every request sent to the API."""

    def __init__(self, api_url: str, subscription_key: str, tokens: Tokens, options: Options, sink: LandingSink, *,
                 employer: str, sleep: Callable[[float], None] = time.sleep):
        self.api_url = api_url.rstrip("/")
        self._key = subscription_key
        self.tokens, self.options, self.sink, self.employer = tokens, options, sink, employer
        self._sleep = sleep
        self.http = requests.Session()
        self.calls = 0

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ one request
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.retry_after is not None:
            return min(exc.retry_after, self.options.max_wait)
        return min(self.options.retry_wait * 2 ** (state.attempt_number - 1), self.options.max_wait)

    def get(self, endpoint: Endpoint, path: str, params: dict[str, Any] | None = None, *, source_id: str,
            meta: dict[str, Any] | None = None, land: bool = True, landed_url: str | None = None,
            accept_202: bool = False) -> tuple[requests.Response, str]:
        """GET with retries; lands the body (unless ``land`` is False) and returns (response, text)."""
        url = f"{self.api_url}{path}"
        counts = {"transient": 0, "throttled": 0}

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            kind = "throttled" if isinstance(exc, _Retry) and exc.throttled else "transient"
            counts[kind] += 1
            limit = self.options.max_throttled if kind == "throttled" else self.options.retry_attempts
            return counts[kind] >= limit

        retrying = Retrying(retry=retry_if_exception_type(_Retry), stop=stop, wait=self._wait, sleep=self._sleep,
                            reraise=True)
        try:
            response = retrying(self._attempt, endpoint, url, params or {}, source_id, accept_202)
        except _Retry as exc:
            raise TransientSourceError(f"Nmbrs REST {endpoint.operation} ({urlsplit(url).path}) failed after "
                                       f"{sum(counts.values())} attempts: {exc.reason}") from None
        text = response.content.decode("utf-8", errors="replace")
        if land and response.status_code == 200:
            content_type = response.headers.get("Content-Type", "application/json").split(";")[0]
            self.sink.write(endpoint.entity, text, url=landed_url or response.url, source_id=source_id,
                            status=response.status_code, content_type=content_type,
                            meta={"operation": endpoint.operation, **(meta or {})})
        return response, text

    def _attempt(self, endpoint: Endpoint, url: str, params: dict[str, Any], source_id: str,
                 accept_202: bool) -> requests.Response:
        token = self.tokens.access_token()
        refreshed = False
        while True:
            headers = {"Authorization": f"Bearer {token}", SUBSCRIPTION_HEADER: self._key, "Accept": "application/json"}
            self.calls += 1
            try:
                response = self.http.get(url, params=params, headers=headers, timeout=self.options.timeout)
            except requests.Timeout:
                raise _Retry("timeout") from None
            except requests.ConnectionError as exc:
                check_refused(exc, url, "Nmbrs REST")
                raise _Retry(f"connection error to {where(url)} ({type(exc).__name__})") from None
            status = response.status_code
            if status == 200 or (status == 202 and accept_202):
                return response
            body = _error(response)
            code = body.get("code")
            if status == 401 and (code == 40103 or "subscription" in str(body.get("title", "")).lower()):
                raise ConfigurationError(
                    f"Nmbrs refused the subscription key (401 {body.get('title', '')}) on {endpoint.operation}: set "
                    f"the connection's password to the {SUBSCRIPTION_HEADER} of your product subscription on "
                    "developer.nmbrs.com (Profile > Subscriptions)")
            if status == 401 and not refreshed:
                token, refreshed = self.tokens.after_401(token), True
                continue
            if status == 401:
                raise AuthenticationError(
                    f"Nmbrs rejected a freshly refreshed access token on {endpoint.operation} (401 "
                    f"{body.get('title', '')}): redo the consent: make connect-nmbrs EMPLOYER={self.employer}")
            if status == 429 and code == QUOTA_EXHAUSTED:
                raise QuotaExhaustedError(
                    f"Nmbrs plan call volume exhausted (429, code {QUOTA_EXHAUSTED} Quota_Exceeded) on "
                    f"{endpoint.operation} for employer {self.employer}: not retried; the next run continues once the "
                    "subscription's window resets, or raise the plan on developer.nmbrs.com")
            if status == 429:
                raise _Retry(f"429 {body.get('title', 'Too Many Requests')}", _retry_after(response), throttled=True)
            if status >= 500:
                raise _Retry(f"HTTP {status} {body.get('title', '')}".strip())
            raise self._refusal(endpoint, url, status, body, source_id)

    def _refusal(self, endpoint: Endpoint, url: str, status: int, body: dict[str, Any], source_id: str) -> Exception:
        code, title = body.get("code"), body.get("title", "")
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
