"""HTTP for the Loket.nl REST API over :class:`~payroll_etl.connectors.transport.http.HttpTransport`:
bearer token and resource version per request, the status mapping, paging, landing.

Every response body is handed to the landing sink before it is parsed; 4xx/5xx bodies land under
the ``errors`` entity (every attempt, credentials redacted), as the SOAP connectors do.

=====================  ===========================================================================
401                    one refresh under the store lock, then the call again; a second 401:
                       :class:`AuthenticationError` (redo the first login)
403                    :class:`AuthorizationError` naming the Loket right the activity needs
404                    :class:`ConfigurationError` (the Werkgever ID in the employer config)
429                    retried as throttled, waiting ``Retry-After`` (capped) or backing off
5xx, timeout, reset    retried with exponential backoff, then :class:`TransientSourceError`
other 4xx              :class:`ConfigurationError` with Loket's ``messages``
=====================  ===========================================================================
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from payroll_etl.connectors.base import LandingSink
from payroll_etl.connectors.loket_rest.auth import LoketTokens
from payroll_etl.connectors.loket_rest.settings import ACTIVITY_RIGHTS, DEFAULT_VERSION, PAGE_SIZE
from payroll_etl.connectors.transport.http import HttpCall, HttpTransport, Reauthenticate
from payroll_etl.connectors.transport.retry import RetryPolicy
from payroll_etl.errors import AuthenticationError, AuthorizationError, ConfigurationError, MalformedPayloadError


@dataclass
class LoketCall(HttpCall):
    """An :class:`HttpCall` with Loket's ``activity`` (for rights and messages), resource ``version``
    (the Accept header) and the ``sink`` its bodies land in."""

    activity: str = ""
    version: str = DEFAULT_VERSION
    sink: LandingSink | None = None


def _describe(response: requests.Response) -> str:
    try:
        messages = response.json().get("messages") or []
        return "; ".join(str(m.get("description", ""))[:200] for m in messages) or "no message"
    except (ValueError, AttributeError):
        return "no message"


class LoketRestClient(HttpTransport):
    """One extract's session on ``api_url`` with the tokens of one employer; ``calls`` counts requests."""

    source: ClassVar[str] = "Loket.nl REST"

    def __init__(self, api_url: str, tokens: LoketTokens, *, timeout_seconds: float = 30.0,
                 policy: RetryPolicy | None = None, page_size: int = PAGE_SIZE,
                 sleep: Callable[[float], None] = time.sleep):
        super().__init__(timeout_seconds=timeout_seconds, policy=policy, sleep=sleep)
        self.api_url = api_url.rstrip("/")
        self.tokens, self.page_size = tokens, page_size
        self._sent: str | None = None  # the access token of the last request (to redact, to report on 401)

    # ------------------------------------------------------------------ transport hooks
    def headers(self, call: HttpCall) -> dict[str, str]:
        """Bearer token and ``Accept: application/json;version=…``."""
        self._sent = self.tokens.access_token()
        version = call.version if isinstance(call, LoketCall) else DEFAULT_VERSION
        return {"Authorization": f"Bearer {self._sent}", "Accept": f"application/json;version={version}"}

    def reauthenticate(self, call: HttpCall, response: requests.Response) -> None:
        """Adopt a token another task stored meanwhile, else refresh (under the store lock)."""
        self.tokens.after_401(self._sent or "")

    def on_error_response(self, response: requests.Response, call: HttpCall) -> None:
        """Land the 4xx/5xx body under ``errors`` with every credential we sent redacted."""
        if isinstance(call, LoketCall) and call.sink is not None:
            secrets = (self._sent, self.tokens._access, self.tokens.client_secret, self.tokens.password)
            self.land_error(call.sink, response, call, secrets,
                            meta={"activity": call.activity, "accept_version": call.version})

    def check_response(self, response: requests.Response, call: HttpCall) -> None:
        """Loket's statuses -> the error taxonomy (table in the module docstring)."""
        status, activity = response.status_code, getattr(call, "activity", "")
        if status < 400:
            return
        if status == 401 and call.refreshed:
            raise AuthenticationError(f"Loket rejected a freshly refreshed access token for {activity}; redo the first "
                                      f"login: make connect-loket EMPLOYER={self.tokens.employer_key or '<employer>'}")
        if status == 401:
            raise Reauthenticate()
        if status == 429 or status >= 500:
            super().check_response(response, call)
        if status == 403:
            raise AuthorizationError(
                f"Loket refused activity {activity} (403) for werkgever {call.source_id}: the Loket user needs the "
                f"right '{ACTIVITY_RIGHTS.get(activity, 'unknown')}' and access to this werkgever (via Teams or "
                f"directly), and the API client needs the activity {activity}")
        if status == 404:
            raise ConfigurationError(
                f"Loket does not know {urlsplit(call.url).path} (404) while extracting werkgever {call.source_id}: "
                "check the Werkgever ID in the employer config (Loket: Werkgever > Bedrijfsgegevens > Werkgever id)")
        raise ConfigurationError(f"Loket refused {activity} ({status}): {_describe(response)}")

    # ------------------------------------------------------------------ requests
    def get(self, path: str, params: dict[str, Any], *, entity: str, source_id: str, activity: str,
            sink: LandingSink, version: str = DEFAULT_VERSION, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GET (retried); lands the body, then parses it. MalformedPayloadError when it is not JSON
        or lacks Loket's envelope (``_embedded`` or ``content``); the body stays landed."""
        url = path if path.startswith("http") else f"{self.api_url}{path}"
        call = LoketCall(url, params, entity, source_id, dict(meta or {}),
                         f"Loket {entity} request {urlsplit(url).path}", activity=activity, version=version, sink=sink)
        response = self.request(call)
        text = self.land(sink, entity, response, source_id=source_id,
                         meta={"activity": activity, "accept_version": version, **(meta or {})})
        try:
            body = json.loads(text)
        except ValueError:
            raise MalformedPayloadError(f"Loket {entity} page {response.url} is not valid JSON "
                                        "(truncated or malformed); earlier pages stay landed") from None
        if not isinstance(body, dict) or not ("_embedded" in body or "content" in body):
            raise MalformedPayloadError(f"Loket {entity} page {response.url} lacks the Loket envelope")
        return body

    def pages(self, path: str, *, entity: str, source_id: str, activity: str, sink: LandingSink,
              params: dict[str, Any] | None = None, version: str = DEFAULT_VERSION,
              paged: bool = True, meta: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a collection: pageNumber 1.. until currentPage == totalPages."""
        page = 1
        while True:
            query = dict(params or {})
            if paged:
                query.update(pageNumber=page, pageSize=self.page_size)
            body = self.get(path, query, entity=entity, source_id=source_id, activity=activity, sink=sink,
                            version=version, meta={**(meta or {}), "page": page})
            yield body
            total, current = body.get("totalPages"), body.get("currentPage", page)
            if not isinstance(total, int) or not isinstance(current, int):
                raise MalformedPayloadError(f"Loket {entity} page {path} has no paging fields")
            if not paged or current >= total or not body.get("_embedded"):
                return
            page = current + 1

    def items(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """All ``_embedded`` items of every page (arguments as :meth:`pages`)."""
        return [item for body in self.pages(*args, **kwargs) for item in body.get("_embedded") or []]

    def land_all(self, *args: Any, **kwargs: Any) -> None:
        """Every page of a collection into the landing, keeping none of it (normalize reads it back)."""
        for _body in self.pages(*args, **kwargs):
            pass
