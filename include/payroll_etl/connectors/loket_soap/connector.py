"""The Loket webservice :class:`~payroll_etl.connectors.base.Connector` (legacy webservice user).

See docs/connectors/loket_soap.md. The Connection: ``host`` (base URL), ``login``/``password`` of
the webservice user, ``extra.omgevingscode``; optional ``extra.path`` and the tuning knobs
(``timeout_seconds``, ``max_attempts``, ``backoff_seconds``, ``max_backoff_seconds``; ``timeout`` is
read as a deprecated alias).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, ClassVar

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import Connector, ExtractResult, LandingSink, Normalized, RawPage, SourceCredentials
from payroll_etl.connectors.base import ExtractRequest as Request
from payroll_etl.connectors.loket_soap import normalize as _normalize
from payroll_etl.connectors.loket_soap.client import LoketSoapClient
from payroll_etl.connectors.loket_soap.plan import Extraction
from payroll_etl.connectors.loket_soap.settings import DEFAULT_PATH, ExtraTuning
from payroll_etl.connectors.transport.retry import RetryPolicy
from payroll_etl.connectors.transport.soap import SoapCall
from payroll_etl.errors import ConfigurationError
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod
from payroll_etl.quality.identifiers import IdentifierError, normalize_omgevingscode


class LoketSoapConnector(Connector):
    """Loket.nl SOAP webservice connector (legacy webservice user; see docs/connectors/loket_soap.md)."""

    name: ClassVar[str] = "loket_soap"

    def __init__(self, base_url: str, username: str, password: str, omgevingscode: str, *,
                 path: str = DEFAULT_PATH, timeout_seconds: float = 60.0, policy: RetryPolicy | None = None):
        self.endpoint = base_url.rstrip("/") + "/" + path.lstrip("/")
        self.username = username
        self.client = LoketSoapClient(self.endpoint, username, password, omgevingscode,
                                      timeout_seconds=timeout_seconds, policy=policy)

    def __repr__(self) -> str:
        return f"LoketSoapConnector(endpoint={self.endpoint!r}, username={self.username!r})"

    @classmethod
    def from_credentials(cls, credentials: SourceCredentials) -> LoketSoapConnector:
        """Build from a Connection; ConfigurationError names what is missing or malformed."""
        extra = credentials.extra or {}
        missing = [name for name, value in (("host", credentials.host), ("login", credentials.login),
                                            ("password", credentials.password),
                                            ("extra.omgevingscode", extra.get("omgevingscode")))
                   if not value]
        if missing:
            raise ConfigurationError(f"Loket SOAP connection is missing {', '.join(missing)}")
        host = credentials.host if "://" in credentials.host else f"https://{credentials.host}"
        try:
            omgevingscode = normalize_omgevingscode(extra["omgevingscode"])
        except IdentifierError as exc:
            raise ConfigurationError(f"Loket SOAP connection: extra.omgevingscode: {exc}") from None
        tuning = ExtraTuning.from_extra(extra, credentials.where("Loket SOAP"))
        return cls(host, str(credentials.login).strip(), str(credentials.password), omgevingscode,
                   path=str(extra.get("path", DEFAULT_PATH)), timeout_seconds=tuning.timeout_seconds,
                   policy=RetryPolicy.of(tuning))

    @classmethod
    def connection_check(cls, credentials: SourceCredentials, timeout: float) -> str:
        """The Test button's check (:class:`~payroll_etl.connectors.transport.check.ConnectionCheck`):
        ``GetUserToken`` (username, password, omgevingscode), then ``List(Werkgever)``; one attempt each
        (the client's fault mapping), at most ``timeout`` seconds per call, nothing landed."""
        tuning = ExtraTuning.from_extra(credentials.extra, credentials.where("Loket SOAP"))
        extra = {**(credentials.extra or {}), "max_attempts": 1,
                 "timeout_seconds": min(tuning.timeout_seconds, timeout)}
        connector = cls.from_credentials(replace(credentials, extra=extra))
        try:
            connector.client.token()  # GetUserToken: the login itself
            listed = connector.client.authed(SoapCall("List", "werkgever_list", "", {"entity_name": "Werkgever"}),
                                             None, EntityName="Werkgever") or []
            return (f"Loket webservice {connector.endpoint}: user {connector.username!r} logged in; linked to "
                    f"{len(listed)} werkgever(s)")
        finally:
            connector.close()

    @property
    def calls(self) -> int:
        """Operations sent so far (failed attempts too)."""
        return self.client.calls

    def extract(self, request: Request, sink: LandingSink) -> ExtractResult:
        """Every configured werkgever (``request.employer.source_ids``); state per werkgever
        (:meth:`~payroll_etl.connectors.loket_soap.plan.Extraction.werkgever`)."""
        result = ExtractResult()
        previous = {} if request.full_refresh else dict(request.state.get("werkgevers", {}))
        plan = Extraction(self.client)
        werkgevers: dict[str, Any] = {}
        for wg_id in request.employer.source_ids:
            werkgevers[wg_id] = plan.werkgever(wg_id, previous.get(wg_id) or {}, request, sink, result)
        result.calls = self.calls
        result.state = {"werkgevers": werkgevers}
        return result

    def close(self) -> None:
        """Close the session and forget the login token."""
        self.client.close()

    @classmethod
    def normalize(cls, pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod,
                  parser: Parser) -> Normalized:
        """Canonical rows from landed pages (:func:`payroll_etl.connectors.loket_soap.normalize.normalize`)."""
        return _normalize.normalize(pages, employer, period, parser)
