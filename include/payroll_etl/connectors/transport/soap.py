"""The SOAP transport every zeep-based connector is built on (Loket webservice, Nmbrs SOAP).

It owns the ``requests`` session under zeep, the timeout, WSDL loading (retried), call counting,
the retry policy and landing: every operation is sent with zeep's ``raw_response``, the raw body is
handed to the landing sink, and only then does zeep interpret it (``process_reply``). A connector
subclasses it and overrides the classification hooks:

* :meth:`SoapTransport.check_status`: HTTP status -> nothing, or a :class:`Retry`;
* :meth:`SoapTransport.check_fault`: a SOAP fault -> the error class the taxonomy says (or a
  :class:`Retry`, or a connector's own signal such as "token rejected");
* :meth:`SoapTransport.check_transport_error`: a body zeep cannot read -> retry or malformed;
* :meth:`SoapTransport.before_send`: e.g. a rate limiter.

zeep is imported lazily: connectors are imported at DAG-parse time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests

from payroll_etl.connectors.base import LandingSink
from payroll_etl.connectors.network import check_refused, where
from payroll_etl.connectors.transport.retry import Retry, RetryPolicy, retry_after_seconds
from payroll_etl.errors import ConfigurationError, MalformedPayloadError, PayrollError
from payroll_etl.landing import ERRORS_ENTITY

RETRY_STATUS = frozenset({429, 502, 503, 504})


@dataclass
class SoapCall:
    """One operation call (all its attempts).

    ``operation``: the WSDL operation name; ``entity``: where its response lands (``""``: never
    landed, e.g. a login whose answer is a credential); ``source_id``/``meta``: landing columns;
    ``url``: the URL recorded in landing (default: the endpoint + ``#operation``).
    """

    operation: str
    entity: str = ""
    source_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    url: str = ""


class SoapTransport:
    """zeep clients, session, timeout, retries, counting and landing for one extract.

    ``label`` names the source in messages ("Loket SOAP"); ``timeout_seconds`` applies to WSDL loading
    and to every operation; ``settings``: keyword arguments for ``zeep.Settings``.
    ``calls`` counts every operation sent (thread-safe; failed attempts too).
    """

    source: ClassVar[str] = "SOAP source"  # for refused-connection messages ("Loket.nl SOAP")
    label: ClassVar[str] = "SOAP"  # for other messages ("Loket SOAP")

    def __init__(self, *, timeout_seconds: float = 60.0, policy: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None,
                 settings: dict[str, Any] | None = None):
        self.timeout_seconds = timeout_seconds
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.session = session or requests.Session()
        self.settings = dict(settings or {})
        self.calls = 0
        self._count_lock = threading.Lock()

    def close(self) -> None:
        """Close the session."""
        self.session.close()

    # ------------------------------------------------------------------ hooks
    def check_status(self, status: int, response: requests.Response, call: SoapCall) -> None:
        """Default: 429, 502, 503 and 504 are retried (``Retry-After`` honoured); others go to zeep."""
        if status in RETRY_STATUS:
            raise Retry(f"HTTP {status}", retry_after=retry_after_seconds(response.headers.get("Retry-After")))

    def check_fault(self, fault: Any, call: SoapCall, status: int) -> BaseException:
        """The exception for a SOAP ``fault`` (a ``zeep.exceptions.Fault``). Default: a server fault is
        retried, anything else is a :class:`PayrollError` with the fault's message (first 200 characters)."""
        if str(getattr(fault, "code", "") or "").endswith("Server") or status in RETRY_STATUS:
            return Retry(f"SOAP server fault on {call.operation} (HTTP {status})")
        message = str(getattr(fault, "message", "") or "").strip()
        return PayrollError(f"{self.label} {call.operation} fault: {message[:200]}")

    def check_transport_error(self, status: int, call: SoapCall, url: str) -> BaseException:
        """The exception when zeep cannot read a reply (a ``TransportError``): 5xx is retried; anything
        else is a :class:`MalformedPayloadError` naming ``url`` (the raw body stays landed)."""
        if status >= 500:
            return Retry(f"HTTP {status}")
        return MalformedPayloadError(f"{self.label} {url} answered HTTP {status} with a body that is not valid XML "
                                     "(kept in landing)")

    def before_send(self, call: SoapCall) -> None:
        """Called before every attempt (override: rate limiting). Default: nothing."""

    # ------------------------------------------------------------------ WSDL
    def load_client(self, wsdl: str) -> Any:
        """A ``zeep.Client`` for ``wsdl``, loaded with retries. 5xx/429 and network failures are retried;
        another HTTP status or a document that is no WSDL is a :class:`ConfigurationError`."""
        return self.policy.run(lambda: self._load_once(wsdl), what=f"{self.label} WSDL download from {wsdl}",
                               sleep=self.sleep)

    def _load_once(self, wsdl: str) -> Any:
        import zeep
        from zeep.transports import Transport

        transport = Transport(session=self.session, timeout=self.timeout_seconds,
                              operation_timeout=self.timeout_seconds)
        try:
            return zeep.Client(wsdl, transport=transport, settings=zeep.Settings(**self.settings))
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in RETRY_STATUS or status >= 500:
                raise Retry(f"HTTP {status}") from None
            raise ConfigurationError(f"{self.label} WSDL not found at {wsdl} (HTTP {status})") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            check_refused(exc, wsdl, self.source)
            raise Retry(f"{type(exc).__name__} to {where(wsdl)}") from None

    # ------------------------------------------------------------------ operations
    def invoke(self, client: Any, service: Any, call: SoapCall, sink: LandingSink | None,
               soapheaders: list[Any] | None = None, **params: Any) -> Any:
        """``call.operation`` on the zeep ``service`` of ``client`` with retries; returns zeep's result.

        The raw reply lands in ``sink`` (under ``call.entity``, or ``errors`` for a status of 300 or
        more) before it is interpreted; no landing when ``sink`` is None or ``call.entity`` is empty."""
        return self.policy.run(lambda: self._attempt(client, service, call, sink, soapheaders, params),
                               what=f"{self.label} {call.operation}", sleep=self.sleep)

    def _attempt(self, client: Any, service: Any, call: SoapCall, sink: LandingSink | None,
                 soapheaders: list[Any] | None, params: dict[str, Any]) -> Any:
        from zeep.exceptions import Fault, TransportError, XMLParseError

        url = call.url or f"{service._binding_options['address']}#{call.operation}"
        self.before_send(call)
        with self._count_lock:
            self.calls += 1
        try:
            with client.settings(raw_response=True):
                extra = {"_soapheaders": soapheaders} if soapheaders else {}
                response = getattr(service, call.operation)(**params, **extra)
        except (requests.ConnectionError, requests.Timeout) as exc:
            address = service._binding_options["address"]
            check_refused(exc, address, self.source)
            raise Retry(f"{type(exc).__name__} to {where(address)}") from None
        status = response.status_code
        if sink is not None and call.entity:
            sink.write(call.entity if status < 300 else ERRORS_ENTITY, response.content.decode("utf-8", "replace"),
                       url=url, source_id=call.source_id, status=status, content_type="text/xml",
                       meta={**call.meta, "operation": call.operation, "status": status})
        self.check_status(status, response, call)
        binding = service._binding
        try:
            return binding.process_reply(client, binding.get(call.operation), response)
        except Fault as fault:
            raise self.check_fault(fault, call, status) from None
        except TransportError:
            raise self.check_transport_error(status, call, url) from None
        except XMLParseError:
            raise MalformedPayloadError(f"{self.label} {call.operation} answered with XML that does not match the "
                                        f"WSDL (url {url}); the raw response is kept in landing") from None
