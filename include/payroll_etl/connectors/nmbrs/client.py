"""SOAP plumbing of the Nmbrs connector: zeep clients, landing, rate limit, retries, fault mapping.

Every raw response is handed to the landing sink before zeep interprets it (a 200 body that is not
well-formed XML is refused, since zeep's parser would recover half the records). Calls are spaced
to the fair-use rate across worker threads and counted per extract.

Fault mapping (the Nmbrs code in the fault text, ``---> 1234: title``):

=======================  ==================================================================
1001                     :class:`AuthenticationError` (e-mail, API token, domain)
1002                     :class:`AuthorizationError`: the call is not enabled on the API template user
2003 / 2004              :class:`AuthorizationError`: no access to the employee / company
server fault, no code    retried
HTTP 5xx, 429, timeout   retried with exponential backoff, then :class:`TransientSourceError`
200 that does not parse  :class:`MalformedPayloadError`
=======================  ==================================================================
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from payroll_etl.connectors.base import LandingSink
from payroll_etl.connectors.network import check_refused, where
from payroll_etl.connectors.nmbrs.settings import (
    COMPANY,
    FAULT_CODE_RE,
    LANDING_ENTITY,
    MAX_CALLS_PER_SECOND,
    NAMESPACE,
    SEED_CALLS,
    _Options,
)
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    PayrollError,
    TransientSourceError,
)


class _Transient(Exception):
    """Internal: a transport failure worth retrying (5xx without an Nmbrs code, timeout, reset)."""


@dataclass
class _CallContext:
    operation: str = ""
    url: str = ""
    company_id: str = ""
    employee_id: int | None = None


class _RateLimiter:
    """Spaces call starts at least 1/rate seconds apart across all worker threads."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self.lock = threading.Lock()
        self.next_at = 0.0

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_at)
            self.next_at = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class _Run:
    """Bookkeeping for one extract: call counter and the thread-local call context."""

    sink: LandingSink
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)


class NmbrsSoapClient:
    """zeep clients for CompanyService and EmployeeService of one Nmbrs environment.

    ``base_url``: e.g. ``https://api.nmbrs.nl``; ``username``: the API user's e-mail; ``token``: its
    32-character API token; ``domain``: the environment's subdomain. An extract sets ``_run``
    (sink and call counter) before calling :meth:`_call`.
    """

    def __init__(self, base_url: str, username: str, token: str, domain: str):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._token = token
        self.domain = domain
        self._clients: dict[str, Any] = {}
        self._services: dict[str, Any] = {}
        self._headers: dict[str, Any] = {}
        self._run: _Run | None = None
        self._session: Any = None
        self._limiter = _RateLimiter(MAX_CALLS_PER_SECOND)

    def service_url(self, service: str) -> str:
        """The ``.asmx`` address of ``service`` (``CompanyService`` | ``EmployeeService``)."""
        return f"{self.base_url}/soap/v3/{service}.asmx"

    def close(self) -> None:
        """Close the HTTP session and forget the zeep clients (a later call loads the WSDLs again)."""
        if self._session is not None:
            self._session.close()
            self._session = None
        self._services.clear()
        self._clients.clear()

    def _service(self, service: str, options: _Options) -> Any:
        """zeep service proxy for ``service``, WSDL loaded once, address pointing at ``base_url``."""
        if service in self._services:
            return self._services[service]
        import requests
        import zeep
        from requests.adapters import HTTPAdapter

        connector = self

        class CapturingTransport(zeep.Transport):
            def post(self, address, message, headers):  # noqa: ANN001 - zeep's signature
                connector._before_call()
                response = super().post(address, message, headers)
                connector._land(response)
                return response

        if self._session is None:
            self._session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(10, options.max_workers + 2))
            self._session.mount("http://", adapter)
            self._session.mount("https://", adapter)
        transport = CapturingTransport(session=self._session, timeout=options.timeout,
                                       operation_timeout=options.timeout)
        settings = zeep.Settings(strict=False, xml_huge_tree=True)
        wsdl = f"{self.service_url(service)}?WSDL"
        client = self._retrying(options, lambda: self._load_wsdl(zeep, wsdl, transport, settings), f"{service} WSDL")
        namespace = NAMESPACE.format(service=service)
        proxy = client.create_service(f"{{{namespace}}}{service}Soap", self.service_url(service))
        header = client.get_element(f"{{{namespace}}}AuthHeaderWithDomain")(
            Username=self.username, Token=self._token, Domain=self.domain)
        self._clients[service], self._services[service], self._headers[service] = client, proxy, header
        return proxy

    def _load_wsdl(self, zeep: Any, wsdl: str, transport: Any, settings: Any) -> Any:
        import requests

        try:
            return zeep.Client(wsdl, transport=transport, settings=settings)
        except (requests.ConnectionError, requests.Timeout) as exc:
            check_refused(exc, wsdl, "Nmbrs SOAP")
            raise _Transient(f"could not load {wsdl}: {type(exc).__name__}") from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status >= 500 or status == 429:
                raise _Transient(f"could not load {wsdl}: HTTP {status}") from None
            raise ConfigurationError(f"Nmbrs host {self.base_url} does not serve {wsdl} (HTTP {status}); "
                                     "check the connection's host") from None
        except Exception as exc:  # lxml/zeep parse errors: not an Nmbrs WSDL
            raise ConfigurationError(f"Nmbrs host {self.base_url}: {wsdl} is not a usable WSDL "
                                     f"({type(exc).__name__})") from None

    def _before_call(self) -> None:
        run = self._run
        if run is not None:
            self._limiter.wait()
            with run.lock:
                run.calls += 1

    def _land(self, response: Any) -> None:
        """Hand the raw response body to the landing sink before zeep parses it."""
        run = self._run
        ctx: _CallContext | None = getattr(run.local, "ctx", None) if run else None
        if run is None or ctx is None:
            return
        body = response.content.decode("utf-8", errors="replace") if response.content else ""
        run.sink.write(LANDING_ENTITY.get(ctx.operation, "raw"), body, url=ctx.url, source_id=ctx.company_id,
                       status=response.status_code, content_type="text/xml",
                       meta={"operation": ctx.operation, "employee_id": ctx.employee_id})
        if response.status_code == 200:
            _require_well_formed(response.content, ctx)

    def _retrying(self, options: _Options, fn: Callable[[], Any], what: str) -> Any:
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        retrying = Retrying(stop=stop_after_attempt(options.attempts),
                            wait=wait_exponential(multiplier=options.retry_wait, max=30 * options.retry_wait),
                            retry=retry_if_exception_type(_Transient), reraise=True)
        try:
            return retrying(fn)
        except _Transient as exc:
            raise TransientSourceError(f"Nmbrs {what} failed after {options.attempts} attempts: {exc}") from None

    def _call(self, options: _Options, operation: str, company_id: int | str, employee_id: int | None = None,
              **params: Any) -> Any:
        """One SOAP call with landing, rate limit, retries and fault mapping."""
        service = SEED_CALLS[operation]
        proxy = self._service(service, options)
        query = {"op": operation, **({"EmployeeId": employee_id} if employee_id is not None else {}),
                 **{k: v for k, v in params.items() if k != "EmployeeId"}}
        url = f"{self.service_url(service)}?{urlencode(query)}"
        run = self._run
        assert run is not None

        def attempt() -> Any:
            run.local.ctx = _CallContext(operation, url, str(company_id), employee_id)
            try:
                return getattr(proxy, operation)(**params, _soapheaders=[self._headers[service]])
            finally:
                run.local.ctx = None

        return self._retrying(options, lambda: self._translate(attempt, operation, url, company_id, employee_id),
                              f"call {operation}")

    def _translate(self, fn: Callable[[], Any], operation: str, url: str, company_id: int | str,
                   employee_id: int | None) -> Any:
        import requests
        from lxml.etree import XMLSyntaxError
        from zeep.exceptions import Fault, TransportError, XMLParseError

        try:
            return fn()
        except Fault as fault:
            raise self._fault_error(fault, operation, company_id, employee_id) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            check_refused(exc, self.base_url, "Nmbrs SOAP")
            raise _Transient(f"{type(exc).__name__} on {operation} to {where(self.base_url)}") from None
        except TransportError as exc:
            status = exc.status_code or 0
            if status >= 500 or status == 429:
                raise _Transient(f"HTTP {status} on {operation}") from None
            if status == 200:
                raise MalformedPayloadError(
                    f"Nmbrs {operation} answered with XML that does not parse (url {url}); "
                    "the raw response is kept in landing") from None
            raise PayrollError(f"Nmbrs {operation}: HTTP {status} (url {url})") from None
        except (XMLSyntaxError, XMLParseError, ValueError) as exc:
            raise MalformedPayloadError(f"Nmbrs {operation} answered with an unexpected payload "
                                        f"({type(exc).__name__}; url {url}); the raw response is kept in landing"
                                        ) from None

    def _fault_error(self, fault: Any, operation: str, company_id: int | str, employee_id: int | None) -> Exception:
        message = str(getattr(fault, "message", "") or "")
        match = FAULT_CODE_RE.search(message)
        service = SEED_CALLS[operation]
        if match is None:
            if str(getattr(fault, "code", "")).endswith("Server"):
                return _Transient(f"server error without an Nmbrs code on {operation}")
            return PayrollError(f"Nmbrs {service}.{operation} fault: {message[:200]}")
        code, title = int(match.group(1)), match.group(2).strip()
        if code == 1001:
            return AuthenticationError(
                f"Nmbrs refused the credentials on {operation} (1001 Invalid Authentication): check the API "
                f"user's e-mail, the 32-character API token and the domain {self.domain!r} in the connection")
        if code == 1002:
            kind = "Company service" if service == COMPANY else "Employee service"
            return AuthorizationError(
                f"Nmbrs call {operation} is not enabled for this API user (1002 Unauthorized Access). Ask the "
                f"customer to activate '{operation}' under {kind} on the API template user (Settings > Users > "
                "Template Users > API; setup guide step 1.2.2)")
        if code == 2003:
            return AuthorizationError(f"Nmbrs API user has no access to employee {employee_id} of company "
                                      f"{company_id} on {operation} (2003 Unauthorized Access)")
        if code == 2004:
            return AuthorizationError(f"Nmbrs API user has no access to company {company_id} on {operation} "
                                      "(2004 Unauthorized Access)")
        return PayrollError(f"Nmbrs {service}.{operation} fault {code}: {title[:200]}")


def _require_well_formed(content: bytes, ctx: _CallContext) -> None:
    """zeep's parser recovers from broken XML (a truncated body becomes half the records): refuse it."""
    from lxml import etree

    try:
        etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError:
        raise MalformedPayloadError(f"Nmbrs {ctx.operation} answered with XML that does not parse (url {ctx.url}); "
                                    "the raw response is kept in landing") from None


