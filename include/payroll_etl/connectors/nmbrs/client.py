"""Nmbrs SOAP over :class:`~payroll_etl.connectors.transport.soap.SoapTransport`: the two services'
zeep clients with the ``AuthHeaderWithDomain``, the fair-use rate limit, and the mapping of Nmbrs faults.

The transport lands every raw response before zeep interprets it; a 200 body that is not
well-formed XML is refused here (zeep's parser would recover half the records from it).

Fault mapping (the Nmbrs code in the fault text, ``---> 1234: title``):

=======================  ==================================================================
1001                     :class:`AuthenticationError` (e-mail, API token, domain)
1002                     :class:`AuthorizationError`: the call is not enabled on the API template user
2003 / 2004              :class:`AuthorizationError`: no access to the employee / company
other code               :class:`PayrollError` naming service, operation, code and title
server fault, no code    retried
HTTP 5xx, 429, timeout   retried (the shared retry policy), then :class:`TransientSourceError`
200 that does not parse  :class:`MalformedPayloadError`
=======================  ==================================================================
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

from payroll_etl.connectors import xml
from payroll_etl.connectors.base import LandingSink
from payroll_etl.connectors.nmbrs.settings import (
    COMPANY,
    FAULT_CODE_RE,
    LANDING_ENTITY,
    MAX_CALLS_PER_SECOND,
    NAMESPACE,
    SEED_CALLS,
    Options,
)
from payroll_etl.connectors.transport.retry import Retry, RetryPolicy
from payroll_etl.connectors.transport.soap import RETRY_STATUS, SoapCall, SoapTransport
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    PayrollError,
)


class _RateLimiter:
    """Spaces call starts at least 1/rate seconds apart across all worker threads (``rate`` in calls/s)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self.lock = threading.Lock()
        self.next_at = 0.0

    def wait(self) -> None:
        """Block until this call may start."""
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_at)
            self.next_at = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class _Run:
    """One extract's landing sink (the transport counts its calls)."""

    sink: LandingSink


class NmbrsSoapClient(SoapTransport):
    """zeep clients for CompanyService and EmployeeService of one Nmbrs environment.

    ``base_url``: e.g. ``https://api.nmbrs.nl``; ``username``: the API user's e-mail; ``token``: its
    32-character API token; ``domain``: the environment's subdomain. An extract sets ``_run`` (its
    sink) and calls :meth:`_call`; ``calls`` counts every operation sent.
    """

    source: ClassVar[str] = "Nmbrs SOAP"
    label: ClassVar[str] = "Nmbrs"

    def __init__(self, base_url: str, username: str, token: str, domain: str):
        super().__init__(timeout_seconds=Options().timeout_seconds,
                         settings={"strict": False, "xml_huge_tree": True})
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._token = token
        self.domain = domain
        self._services: dict[str, tuple[Any, Any, Any]] = {}  # service -> (zeep client, proxy, auth header)
        self._run: _Run | None = None
        self._limiter = _RateLimiter(MAX_CALLS_PER_SECOND)
        self._pool_size = 10

    def service_url(self, service: str) -> str:
        """The ``.asmx`` address of ``service`` (``CompanyService`` | ``EmployeeService``)."""
        return f"{self.base_url}/soap/v3/{service}.asmx"

    def close(self) -> None:
        """Close the HTTP session and forget the zeep clients (a later call loads the WSDLs again)."""
        super().close()
        self._services.clear()

    def use(self, options: Options) -> None:
        """Apply an extract's options: retry policy, rate limit, timeout (for WSDLs loaded from now on)
        and a connection pool as large as the worker threads need."""
        self.policy = RetryPolicy.of(options)
        self.timeout_seconds = options.timeout_seconds
        self._limiter = _RateLimiter(options.rate)
        wanted = max(10, options.max_workers + 2)
        if wanted > self._pool_size:
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=wanted)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
            self._pool_size = wanted

    # ------------------------------------------------------------------ zeep plumbing
    def _service(self, service: str) -> tuple[Any, Any, Any]:
        """(zeep client, service proxy at ``base_url``, auth header) of ``service``; the WSDL is loaded once."""
        if service not in self._services:
            client = self.load_client(f"{self.service_url(service)}?WSDL")
            namespace = NAMESPACE.format(service=service)
            proxy = client.create_service(f"{{{namespace}}}{service}Soap", self.service_url(service))
            header = client.get_element(f"{{{namespace}}}AuthHeaderWithDomain")(
                Username=self.username, Token=self._token, Domain=self.domain)
            self._services[service] = (client, proxy, header)
        return self._services[service]

    def load_client(self, wsdl: str) -> Any:
        """The shared WSDL loading (retried); a document that is no WSDL is a :class:`ConfigurationError`."""
        try:
            return super().load_client(wsdl)
        except PayrollError:
            raise
        except Exception as exc:  # lxml/zeep parse errors: not an Nmbrs WSDL
            raise ConfigurationError(f"Nmbrs host {self.base_url}: {wsdl} is not a usable WSDL "
                                     f"({type(exc).__name__})") from None

    def _call(self, operation: str, company_id: int | str, employee_id: int | None = None, **params: Any) -> Any:
        """One SOAP call with landing, rate limit, retries and fault mapping; returns zeep's result.

        The landed URL is ``{service}.asmx?op=…&EmployeeId=…&<params>``: :mod:`.normalize` reads the
        employee and run ids back from it. Options are those of the last :meth:`use`."""
        from zeep.exceptions import XMLSyntaxError

        service = SEED_CALLS[operation]
        client, proxy, header = self._service(service)
        query = {"op": operation, **({"EmployeeId": employee_id} if employee_id is not None else {}),
                 **{k: v for k, v in params.items() if k != "EmployeeId"}}
        call = SoapCall(operation, LANDING_ENTITY.get(operation, "raw"), str(company_id),
                        {"employee_id": employee_id}, f"{self.service_url(service)}?{urlencode(query)}")
        try:
            return self.invoke(client, proxy, call, self._run.sink if self._run else None, [header], **params)
        except (ValueError, SyntaxError, XMLSyntaxError) as exc:  # a value or document zeep cannot read
            raise MalformedPayloadError(f"Nmbrs {operation} answered with an unexpected payload "
                                        f"({type(exc).__name__}; url {call.url}); the raw response is kept in "
                                        "landing") from None

    def list_companies(self, timeout_seconds: float) -> list[Any]:
        """``List_GetAll`` once, not retried, nothing landed: the companies this API user sees (the
        connection test). Raises what a call raises (1001: AuthenticationError, ...)."""
        self.use(Options(max_attempts=1, timeout_seconds=timeout_seconds))
        self._run = None
        return list(self._call("List_GetAll", "all") or [])

    # ------------------------------------------------------------------ classification hooks
    def before_send(self, call: SoapCall) -> None:
        """The fair-use rate limit (``options.rate_limit``, at most 150 calls/s over all threads)."""
        self._limiter.wait()

    def check_status(self, status: int, response: requests.Response, call: SoapCall) -> None:
        """429/502/503/504 are retried (shared rule); a 200 body must be well-formed XML."""
        super().check_status(status, response, call)
        if status == 200:
            xml.parse(response.content, f"Nmbrs {call.operation} answer (url {call.url}; the raw response is kept "
                                        "in landing)")

    def check_transport_error(self, status: int, call: SoapCall, url: str) -> BaseException:
        """A body zeep cannot read: 5xx/429 retried, 200 malformed, any other status a PayrollError."""
        if status >= 500 or status == 429:
            return Retry(f"HTTP {status} on {call.operation}")
        if status == 200:
            return MalformedPayloadError(f"Nmbrs {call.operation} answered with XML that does not parse (url {url}); "
                                         "the raw response is kept in landing")
        return PayrollError(f"Nmbrs {call.operation}: HTTP {status} (url {url})")

    def check_fault(self, fault: Any, call: SoapCall, status: int) -> BaseException:
        """The Nmbrs code in a fault -> the error taxonomy (table in the module docstring)."""
        operation, service = call.operation, SEED_CALLS[call.operation]
        message = str(getattr(fault, "message", "") or "")
        match = FAULT_CODE_RE.search(message)
        if match is None:
            if str(getattr(fault, "code", "")).endswith("Server") or status in RETRY_STATUS:
                return Retry(f"server error without an Nmbrs code on {operation}")
            return PayrollError(f"Nmbrs {service}.{operation} fault: {message[:200]}")
        code, title = int(match.group(1)), match.group(2).strip()
        company_id, employee_id = call.source_id, call.meta.get("employee_id")
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
