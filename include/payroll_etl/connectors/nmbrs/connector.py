"""Nmbrs SOAP v3 connector (CompanyService + EmployeeService) with zeep.

Connection (one Airflow Connection per employer): see :mod:`.auth`. The employer config's
``source_ids`` name each company by its exact Nmbrs name or its numeric Company ID.

Extraction uses only the calls the customer's setup guide tells them to enable (so the template
user's rights suffice), company-wide calls first, and the fewest per-employee calls the canonical
model needs (``PersonalInfo_GetCurrent``, ``Address_GetListCurrent``, ``Schedule_GetList``; bank
accounts, partner and children only when ``options.include`` asks); see :mod:`.plan`. Every raw
response is landed before zeep interprets it (:mod:`.client`); ``normalize`` re-reads the landed
XML with lxml, never with zeep (:mod:`.normalize`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import ClassVar

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors import base
from payroll_etl.connectors.nmbrs import plan
from payroll_etl.connectors.nmbrs.auth import check_credentials
from payroll_etl.connectors.nmbrs.client import NmbrsSoapClient, _Run
from payroll_etl.connectors.nmbrs.normalize import _Landed
from payroll_etl.connectors.nmbrs.settings import Options
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod


class NmbrsConnector(NmbrsSoapClient, base.Connector):
    """The ``nmbrs`` connector: extract (SOAP calls, landed raw) and normalize (landed XML -> rows)."""

    name: ClassVar[str] = "nmbrs"

    @classmethod
    def from_credentials(cls, credentials: base.SourceCredentials) -> NmbrsConnector:
        """A connector for the Connection; :class:`ConfigurationError` names a missing or malformed field."""
        login = check_credentials(credentials)
        return cls(login.base_url, login.username, login.token, login.domain)

    @classmethod
    def connection_check(cls, credentials: base.SourceCredentials, timeout: float) -> str:
        """The Test button's check (:class:`~payroll_etl.connectors.transport.check.ConnectionCheck`):
        ``CompanyService.List_GetAll`` with the domain header, once, at most ``timeout`` seconds, nothing landed."""
        connector = cls.from_credentials(credentials)
        try:
            companies = connector.list_companies(timeout)
        finally:
            connector.close()
        return (f"Nmbrs {connector.base_url}: API user {connector.username} on domain {connector.domain!r} "
                f"authenticated; {len(companies)} compan{'y' if len(companies) == 1 else 'ies'} visible")

    def __repr__(self) -> str:
        return f"NmbrsConnector(base_url={self.base_url!r}, domain={self.domain!r})"

    def extract(self, request: base.ExtractRequest, sink: base.LandingSink) -> base.ExtractResult:
        """Land every call of ``request`` for each configured company; state ``runs_seen`` per company id.

        Returns the number of SOAP calls, the state, the scope per entity (payroll results are
        incremental on a nightly run) and the source period of the first company.
        """
        options = Options.of(request.employer)
        self.use(options)
        self._run = _Run(sink)
        self.calls = 0
        call = self._call
        try:
            companies = plan.resolve_companies(call, request.employer)
            seen = {str(k): set(v) for k, v in (request.state.get("runs_seen") or {}).items()}
            source_period: PayPeriod | None = None
            for company in companies:
                current = call("Company_GetCurrentPeriod", company.id, CompanyId=company.id)
                period = plan.source_period_of(current, request, company.frequency, str(company.id))
                source_period = source_period or period
                seen[str(company.id)] = plan.extract_company(call, company, replace(request, period=period), options,
                                                             seen.get(str(company.id), set()))
            scope = {"employer": "full", "employee": "full", "employment": "full", "salary": "full",
                     "payroll_period": "full",
                     "payroll_result": "full" if request.backfill or request.full_refresh else "incremental"}
            state = {"runs_seen": {k: sorted(v) for k, v in seen.items()}}
            return base.ExtractResult(calls=self.calls, state=state, scope=scope, period=source_period)
        finally:
            self._run = None

    @classmethod
    def normalize(cls, pages: Iterable[base.RawPage], employer: EmployerConfig, period: PayPeriod,
                  parser: Parser) -> base.Normalized:
        """Canonical rows from the landed pages (no network); MalformedPayloadError names the page URL."""
        data = _Landed()
        for page in pages:
            data.add(page)
        return data.rows(employer, period, parser)
