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

Collections are read page by page without parsing a page whole (:class:`Page`: its top-level
fields as raw JSON; a payroll-results page of a 100,000-employee employer is ≈ 75 MB): the paging
fields are decoded, the items only where the plan needs them (:meth:`LoketRestClient.items`,
:meth:`LoketRestClient.ids`). Per-item calls (:meth:`LoketRestClient.get_each`) run on up to
``workers`` threads, every call through the same transport (retries, 429, 401 refresh, counting),
their bodies landed in the order of the calls.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgspec
import requests
from requests.adapters import HTTPAdapter

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


_EMPTY = re.compile(rb"(?:\[\s*\]|\{\s*\}|null|false|0|\"\")\Z")  # falsy JSON values (of ``_embedded``)
_TOP = msgspec.json.Decoder(dict[str, msgspec.Raw])  # a page's top-level fields, values left as raw JSON


@dataclass
class Page:
    """One landed page of a collection: its top-level fields as raw JSON (nothing below them parsed)."""

    fields: dict[str, msgspec.Raw]

    def get(self, key: str, default: Any = None) -> Any:
        """A top-level field decoded (meant for small ones: ``totalPages``, ``currentPage``)."""
        raw = self.fields.get(key)
        if raw is None:
            return default
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError:  # what the json module reads and msgspec does not (NaN)
            return json.loads(bytes(raw))

    @property
    def has_items(self) -> bool:
        """``_embedded`` is there and not empty (nor another falsy value)."""
        raw = self.fields.get("_embedded")
        return raw is not None and _EMPTY.match(raw) is None

    def items(self) -> list[Any]:
        """The ``_embedded`` items, parsed (``[]`` for an empty or absent one)."""
        return (self.get("_embedded") if self.has_items else None) or []


@functools.cache
def _column_decoder(name: str) -> msgspec.json.Decoder[Any]:
    """Decodes a list of objects into items holding only field ``name`` (None where absent)."""
    return msgspec.json.Decoder(list[msgspec.defstruct("Item", [(name, Any, None)])])  # type: ignore[misc]


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
        self._local = threading.local()  # per thread: the access token of its last request
        self._pool_size = 10  # requests' default connections per host
        # requests reads the proxy and CA-bundle environment (and stats ~/.netrc) again for every request,
        # ≈0.5 ms CPU each (a third of the CPU of a BSN call, 20,000 of them): read them once per extract.
        # (A ~/.netrc entry would replace the bearer token by basic auth: it is not wanted here anyway.)
        self.session.proxies.update(requests.utils.get_environ_proxies(self.api_url))
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session.trust_env = False

    @property
    def _sent(self) -> str | None:
        """The access token this thread's last request sent (to redact, to report on 401)."""
        return getattr(self._local, "sent", None)

    @_sent.setter
    def _sent(self, token: str | None) -> None:
        self._local.sent = token

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
    def _call(self, path: str, params: dict[str, Any], *, entity: str, source_id: str, activity: str,
              sink: LandingSink, version: str = DEFAULT_VERSION, meta: dict[str, Any] | None = None) -> LoketCall:
        url = path if path.startswith("http") else f"{self.api_url}{path}"
        return LoketCall(url, params, entity, source_id, dict(meta or {}),
                         f"Loket {entity} request {urlsplit(url).path}", activity=activity, version=version, sink=sink)

    def _land(self, call: LoketCall, response: requests.Response, meta: dict[str, Any] | None) -> str:
        assert call.sink is not None
        return self.land(call.sink, call.entity, response, source_id=call.source_id,
                         meta={"activity": call.activity, "accept_version": call.version, **(meta or {})})

    @staticmethod
    def _parsed(text: str, call: LoketCall, url: str) -> dict[str, Any]:
        try:
            body = json.loads(text)
        except ValueError:
            raise MalformedPayloadError(f"Loket {call.entity} page {url} is not valid JSON "
                                        "(truncated or malformed); earlier pages stay landed") from None
        if not isinstance(body, dict) or not ("_embedded" in body or "content" in body):
            raise MalformedPayloadError(f"Loket {call.entity} page {url} lacks the Loket envelope")
        return body

    def get(self, path: str, params: dict[str, Any], *, entity: str, source_id: str, activity: str,
            sink: LandingSink, version: str = DEFAULT_VERSION, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GET (retried); lands the body, then parses it. MalformedPayloadError when it is not JSON
        or lacks Loket's envelope (``_embedded`` or ``content``); the body stays landed."""
        call = self._call(path, params, entity=entity, source_id=source_id, activity=activity, sink=sink,
                          version=version, meta=meta)
        response = self.request(call)
        return self._parsed(self._land(call, response, meta), call, response.url)

    def page(self, path: str, params: dict[str, Any], *, entity: str, source_id: str, activity: str,
             sink: LandingSink, version: str = DEFAULT_VERSION, meta: dict[str, Any] | None = None) -> Page:
        """As :meth:`get`, the body parsed only down to its top-level fields (:class:`Page`)."""
        call = self._call(path, params, entity=entity, source_id=source_id, activity=activity, sink=sink,
                          version=version, meta=meta)
        response = self.request(call)
        text, url = self._land(call, response, meta), response.url
        del response  # the landed text is all that is kept of a big page
        try:
            fields = _TOP.decode(text)
        except msgspec.ValidationError:  # JSON, but no object
            raise MalformedPayloadError(f"Loket {entity} page {url} lacks the Loket envelope") from None
        except msgspec.DecodeError:  # not JSON, or what the json module reads and msgspec does not (NaN)
            body = self._parsed(text, call, url)
            return Page({k: msgspec.Raw(json.dumps(v).encode()) for k, v in body.items()})
        if not ("_embedded" in fields or "content" in fields):
            raise MalformedPayloadError(f"Loket {entity} page {url} lacks the Loket envelope")
        return Page(fields)

    def get_each(self, paths: Iterable[str], *, workers: int = 1, **kwargs: Any) -> int:
        """A GET of every path in ``paths`` (arguments as :meth:`get`, no query), on up to ``workers``
        threads; bodies land and are checked in the order of ``paths``. The first failing call (in
        that order) raises once the calls in flight are done; calls not started yet are dropped.
        Returns the number of paths."""
        count = 0
        for call, response in self._responses((self._call(p, {}, **kwargs) for p in paths), workers):
            self._parsed(self._land(call, response, call.meta or None), call, response.url)
            count += 1
        return count

    def _responses(self, calls: Iterable[LoketCall],
                   workers: int) -> Iterator[tuple[LoketCall, requests.Response]]:
        """(call, accepted response) in the order of ``calls``; at most ``2 * workers`` requested ahead."""
        if workers <= 1:
            yield from ((call, self.request(call)) for call in calls)
            return
        if workers > self._pool_size:  # one kept-alive connection per thread
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=workers)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
            self._pool_size = workers
        window: deque[tuple[LoketCall, Future[requests.Response]]] = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loket") as pool:
            try:
                for call in calls:
                    window.append((call, pool.submit(self.request, call)))
                    if len(window) >= 2 * workers:
                        done, future = window.popleft()
                        yield done, future.result()
                while window:
                    done, future = window.popleft()
                    yield done, future.result()
            finally:
                for _call, future in window:
                    future.cancel()

    def pages(self, path: str, *, entity: str, source_id: str, activity: str, sink: LandingSink,
              params: dict[str, Any] | None = None, version: str = DEFAULT_VERSION,
              paged: bool = True, meta: dict[str, Any] | None = None) -> Iterator[Page]:
        """Every page of a collection: pageNumber 1.. until currentPage == totalPages."""
        page = 1
        while True:
            query = dict(params or {})
            if paged:
                query.update(pageNumber=page, pageSize=self.page_size)
            body = self.page(path, query, entity=entity, source_id=source_id, activity=activity, sink=sink,
                             version=version, meta={**(meta or {}), "page": page})
            yield body
            total, current, more = body.get("totalPages"), body.get("currentPage", page), body.has_items
            del body  # not kept while the next page is fetched
            if not isinstance(total, int) or not isinstance(current, int):
                raise MalformedPayloadError(f"Loket {entity} page {path} has no paging fields")
            if not paged or current >= total or not more:
                return
            page = current + 1

    def items(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """All ``_embedded`` items of every page (arguments as :meth:`pages`)."""
        return [item for body in self.pages(*args, **kwargs) for item in body.items()]

    def column(self, name: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Field ``name`` of every ``_embedded`` item of every page (arguments as :meth:`pages`), nothing
        else of the items kept. A generator: the calls are made as it is consumed. MalformedPayloadError
        when an item is no object or lacks the field."""
        entity = kwargs.get("entity")
        for body in self.pages(*args, **kwargs):
            if not body.has_items:
                continue
            try:
                values = [getattr(item, name) for item in _column_decoder(name).decode(body.fields["_embedded"])]
            except msgspec.DecodeError:
                raise MalformedPayloadError(f"Loket {entity} page lists items that are no objects") from None
            if any(v is None for v in values):
                raise MalformedPayloadError(f"Loket {entity} page lists an item without {name}")
            yield from values

    def land_all(self, *args: Any, **kwargs: Any) -> None:
        """Every page of a collection into the landing, keeping none of it (normalize reads it back)."""
        for _ in self.pages(*args, **kwargs):
            del _
