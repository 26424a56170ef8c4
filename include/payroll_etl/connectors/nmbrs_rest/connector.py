"""The ``nmbrs_rest`` connector: Nmbrs REST API through company-level bulk lists.

Connection (one Airflow Connection per employer): ``host`` = API base URL
(``https://api.nmbrsapp.com``), ``password`` = the ``X-Subscription-Key``; ``extra``:
``connector: nmbrs_rest``, ``client_id``, ``client_secret``, optional ``identity_url`` (default
``https://identityservice.nmbrs.com``, or the host itself for a local simulator), optional
``scopes`` (space-separated; default :data:`~.settings.DEFAULT_SCOPES`), and the tokens
(``access_token``, ``refresh_token``, ``expires_at``) written by ``make connect-nmbrs`` and rotated
by every run. Per extract and company (see :mod:`.plan`):

1. ``/api/companies`` (or the debtor's companies): resolve the configured company.
2. ``/period``: the company's current period and period type.
3. HR lists, full or probe-only: ``personalinfo``, ``addresses``, ``privateInfos`` (BSN),
   ``employments``, ``contracts``, ``salaries``, ``schedules`` (+ ``bankaccounts`` when
   ``options.include`` has ``bank_accounts``), pageSize 100.
4. ``/runs?year=`` and, per wanted run, the run output: ``/runs/{id}/wagecodes/xml`` gives a
   document task, ``/api/documents/{taskId}`` the XML (202 while it is being produced).
5. ``/pensionexport``: the pension declarations sent, landed as entity ``pension_export``.

Every response body is landed before it is parsed; ``normalize`` (:mod:`.normalize`) re-reads them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import (
    Connector,
    ExtractRequest,
    ExtractResult,
    LandingSink,
    Normalized,
    RawPage,
    SourceCredentials,
)
from payroll_etl.connectors.nmbrs_rest import normalize as normalize_module
from payroll_etl.connectors.nmbrs_rest import plan
from payroll_etl.connectors.nmbrs_rest.auth import Tokens
from payroll_etl.connectors.nmbrs_rest.client import Client, NmbrsCall, parse_json
from payroll_etl.connectors.nmbrs_rest.settings import (
    API_URL,
    BANK_SCOPE,
    DEFAULT_SCOPES,
    ENDPOINTS,
    HR_LISTS,
    IDENTITY_URL,
    OPTIONAL_LISTS,
    SUBSCRIPTION_HEADER,
    Endpoint,
    Options,
)
from payroll_etl.connectors.transport.check import Discard, check_api_client, check_json, stored_tokens
from payroll_etl.connectors.transport.tokens import TOKEN_KEYS, FileTokenStore, MemoryTokenStore, TokenStore
from payroll_etl.errors import ConfigurationError, MalformedPayloadError
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod

NESTED = {"personalinfo": "info", "addresses": "addresses", "privateInfos": "privateInfos",
          "bankaccounts": "bankAccounts", "employments": "employments", "contracts": "contracts",
          "salaries": "salaries", "schedules": "schedules"}
HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


class NmbrsRestConnector(Connector):
    """The ``nmbrs_rest`` connector (see the module docstring): extract lands, normalize re-reads.

    ``api_url``: the API base URL; ``subscription_key``: the ``X-Subscription-Key``; ``tokens``:
    the employer's rotating OAuth2 tokens; ``sleep``: the wait between attempts and document polls.
    """

    name: ClassVar[str] = "nmbrs_rest"

    def __init__(self, api_url: str, subscription_key: str, tokens: Tokens, *, employer: str | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.api_url = api_url.rstrip("/")
        self._key = subscription_key
        self.tokens = tokens
        self.employer = employer
        self._sleep = sleep
        self._client: Client | None = None

    def __repr__(self) -> str:
        return f"NmbrsRestConnector(api_url={self.api_url!r})"

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_credentials(cls, credentials: SourceCredentials, token_store: TokenStore | None = None,
                         employer: str | None = None, sleep: Callable[[float], None] = time.sleep
                         ) -> NmbrsRestConnector:
        """Check the Connection's shape (host, subscription key, client) and build the connector.

        Without a token store (the Airflow layer attaches a Connection-backed one) the tokens in
        ``extra`` are used from memory, or ``extra.token_file`` names a file store.
        """
        extra = dict(credentials.extra or {})
        host = (credentials.host or "").strip().rstrip("/")
        if not re.match(r"^https?://", host):
            raise ConfigurationError(f"Nmbrs REST connection: host must be the API base URL, e.g. {API_URL}")
        key = (credentials.password or "").strip()
        if not key:
            raise ConfigurationError("Nmbrs REST connection: the X-Subscription-Key is missing (connection password; "
                                     "developer.nmbrs.com > Profile > Subscriptions)")
        if not HEX32.match(key):
            raise ConfigurationError("Nmbrs REST connection: the X-Subscription-Key must be 32 hexadecimal "
                                     f"characters, got {len(key)} characters")
        if not extra.get("client_id"):
            raise ConfigurationError("Nmbrs REST connection: extra.client_id is missing")
        store = token_store or credentials.token_store
        if store is None:
            if extra.get("token_file"):
                store = FileTokenStore(extra["token_file"])
                if not store.load() and any(extra.get(k) for k in TOKEN_KEYS):
                    store.save({k: extra.get(k) for k in TOKEN_KEYS})
            else:
                store = MemoryTokenStore({k: extra.get(k) for k in TOKEN_KEYS})
        identity = extra.get("identity_url") or (IDENTITY_URL if host == API_URL else host)
        employer = employer or extra.get("employer")
        tokens = Tokens(identity, extra["client_id"], extra.get("client_secret"), store, employer=employer)
        return cls(host, key, tokens, employer=employer, sleep=sleep)

    @classmethod
    def connection_check(cls, credentials: SourceCredentials, timeout: float) -> str:
        """The Test button's check (:class:`~payroll_etl.connectors.transport.check.ConnectionCheck`), one
        call of at most ``timeout`` seconds: with a usable stored access token ``GET /api/companies`` (token
        and subscription key both checked); without one only the API client at the identity server
        (:func:`~payroll_etl.connectors.transport.check.check_api_client`). The stored refresh token is never
        spent: it is single-use, and a test works on a copy of the Connection, so the rotated token would be
        lost and the employer would need a new consent."""
        connector = cls.from_credentials(credentials)
        tokens, stored = connector.tokens, stored_tokens(credentials)
        if not tokens._usable(stored):
            return (check_api_client("Nmbrs identity server", tokens.token_url, tokens.client_id,
                                     tokens.client_secret, timeout) + "; " +
                    ("the stored refresh token is not used by a test (single-use; the next run refreshes it)"
                     if stored.get("refresh_token") else "no consent is stored yet: make connect-nmbrs "
                     "EMPLOYER=<employer>"))
        tokens._adopt(stored)
        client = Client(connector.api_url, connector._key, tokens, Options(timeout_seconds=timeout), Discard(),
                        employer=connector.employer or "<employer>")
        endpoint = ENDPOINTS["getCompanies"]
        try:
            body = check_json(client, NmbrsCall(f"{connector.api_url}{endpoint.path}", what="Nmbrs REST getCompanies",
                                                endpoint=endpoint),
                              refused=f"Nmbrs REST API {connector.api_url} refused the stored access token or the "
                                      f"{SUBSCRIPTION_HEADER} (401)")
        finally:
            client.close()
        count = len(body) if isinstance(body, list) else len((body or {}).get("data") or [])
        return (f"Nmbrs REST API {connector.api_url}: authenticated with the stored access token; {count} compan"
                f"{'y' if count == 1 else 'ies'} visible")

    @staticmethod
    def scopes(extra: dict[str, Any], employer: EmployerConfig | None = None) -> tuple[str, ...]:
        """Scopes to request at consent: ``extra.scopes`` (space-separated) or the defaults, plus
        ``employee.bankaccount.read`` when the employer's ``options.include`` has ``bank_accounts``."""
        raw = extra.get("scopes")
        scopes = tuple(str(raw).split()) if raw else DEFAULT_SCOPES
        if employer is not None and "bank_accounts" in Options.of(employer).include and BANK_SCOPE not in scopes:
            scopes += (BANK_SCOPE,)
        return scopes

    def close(self) -> None:
        """Close the HTTP session of the last extract, if any."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ extract
    def extract(self, request: ExtractRequest, sink: LandingSink) -> ExtractResult:
        """Land every page of ``request`` for each configured company (see the module docstring).

        Returns the API calls made, the state per company id (``created_watermark``, ``last_full``,
        ``runs_seen``) and the scope per entity (HR entities incremental after a quiet probe).
        """
        employer = request.employer
        self.employer = self.employer or employer.employer
        self.tokens.employer = self.tokens.employer or self.employer
        options = Options.of(employer)
        client = self._client = Client(self.api_url, self._key, self.tokens, options, sink,
                                       employer=self.employer, sleep=self._sleep)
        companies = self._companies(client, employer, options)
        state_in = dict((request.state or {}).get("companies") or {})
        result = ExtractResult(state={"companies": {}})
        for company in companies:
            result.state["companies"][company.id] = self._company(client, company, request, options,
                                                                   dict(state_in.get(company.id) or {}), result)
        result.calls = client.calls
        return result

    def _companies(self, client: Client, employer: EmployerConfig, options: Options) -> list[plan.Company]:
        if options.debtor_id:
            endpoint = ENDPOINTS["getCompaniesByDebtor"]
            listed = client.items(endpoint, endpoint.path.format(debtorId=options.debtor_id), source_id="")
        else:
            endpoint = ENDPOINTS["getCompanies"]
            listed = client.items(endpoint, endpoint.path, source_id="")
        return plan.resolve_companies(employer, listed)

    def _company(self, client: Client, company: plan.Company, request: ExtractRequest, options: Options,
                 state: dict[str, Any], result: ExtractResult) -> dict[str, Any]:
        cid = company.id
        period = ENDPOINTS["getCurrentPeriod"]
        client.items(period, period.path.format(companyId=cid), source_id=cid)
        _scope(result, "employer", "full")
        _scope(result, "payroll_period", "full")
        lists = list(HR_LISTS) + [OPTIONAL_LISTS[name] for name in options.include]
        mode = plan.hr_mode(request, state, options)
        if mode == "probe" and self._anything_new(client, cid, lists, plan.probe_from(state)):
            mode = "full"
        new_state: dict[str, Any] = {k: state[k] for k in ("created_watermark", "last_full") if k in state}
        if mode == "full":
            watermark = None
            for name in lists:
                endpoint = ENDPOINTS[name]
                for body in client.pages(endpoint, endpoint.path.format(companyId=cid), source_id=cid):
                    watermark = plan.newest_created(body, NESTED[name], watermark)
            new_state.update(created_watermark=watermark or state.get("created_watermark"),
                             last_full=request.logical_date.isoformat())
        for entity in ("employee", "employment", "salary"):
            _scope(result, entity, "full" if mode == "full" else "incremental")
        new_state["runs_seen"] = sorted(self._runs(client, cid, request, options, set(state.get("runs_seen") or [])))
        _scope(result, "payroll_result", "full" if request.backfill or request.full_refresh else "incremental")
        exports = ENDPOINTS["getCompanyPensionExports"]
        client.items(exports, exports.path.format(companyId=cid), source_id=cid)
        return new_state

    def _anything_new(self, client: Client, cid: str, lists: list[str], created_from: str) -> bool:
        """One ``createdFrom`` call per list (pageSize 1, landed as ``change_probe``): any record created since?"""
        for name in lists:
            endpoint = ENDPOINTS[name]
            probe = Endpoint(endpoint.operation, endpoint.path, "change_probe", endpoint.scopes, paged=False)
            response, text = client.get(probe, endpoint.path.format(companyId=cid),
                                        {"createdFrom": created_from, "pageNumber": 1, "pageSize": 1}, source_id=cid)
            body = parse_json(text, f"{name} probe {response.url}")
            total = (body.get("pagination") or {}).get("totalRecords") if isinstance(body, dict) else None
            if not isinstance(total, int):
                raise MalformedPayloadError(f"Nmbrs REST {name} probe {response.url} has no pagination.totalRecords")
            if total > 0:
                return True
        return False

    def _runs(self, client: Client, cid: str, request: ExtractRequest, options: Options, seen: set[str]) -> set[str]:
        runs_ep, task_ep, doc_ep = (ENDPOINTS[k] for k in ("getCompanyPayrollRuns", "getPayrollRunWageCodes",
                                                            "GetDocumentContentId"))
        seen, listed = set(seen), set()
        for year in plan.run_years(request):
            runs = client.items(runs_ep, runs_ep.path.format(companyId=cid), {"year": year}, source_id=cid)
            listed |= {str(run.get("payrollRunId", "")).lower() for run in runs}
            for run in plan.wanted_runs(runs, request, seen):
                run_id = str(run["payrollRunId"]).lower()
                params: dict[str, Any] = {"year": int(run.get("year") or year)}
                if options.wage_codes:
                    params["wageCodes"] = list(options.wage_codes)
                response, text = client.get(task_ep, task_ep.path.format(companyId=cid, payrollRunId=run_id), params,
                                            source_id=cid, meta={"payroll_run_id": run_id})
                task = parse_json(text, f"run output task {response.url}")
                task_id = task.get("taskId") if isinstance(task, dict) else None
                if not task_id:
                    raise MalformedPayloadError(f"Nmbrs REST run output {response.url} answered without a taskId")
                self._document(client, doc_ep, cid, str(task_id), run_id, params["year"], options)
                seen.add(run_id)
        # A nightly lists this year's runs (and last year's in January): older ids can never come back.
        return seen if request.backfill else seen & listed

    def _document(self, client: Client, endpoint: Endpoint, cid: str, task_id: str, run_id: str, year: int,
                  options: Options) -> None:
        """Poll ``/api/documents/{taskId}`` until the run output is ready (202 = still being produced)."""
        path = endpoint.path.format(taskId=task_id)
        landed = f"{self.api_url}{path}#companyId={cid}&payrollRunId={run_id}&year={year}"
        for attempt in range(options.document_polls):
            response, _text = client.get(endpoint, path, source_id=cid, landed_url=landed, accept_202=True,
                                         meta={"payroll_run_id": run_id, "task_id": task_id})
            if response.status_code == 200:
                return
            if attempt + 1 < options.document_polls:
                self._sleep(options.document_wait)
        raise MalformedPayloadError(f"Nmbrs REST run output document {task_id} of run {run_id} was still being "
                                    f"processed after {options.document_polls} polls")

    # ------------------------------------------------------------------ normalize
    @classmethod
    def normalize(cls, pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod,
                  parser: Parser) -> Normalized:
        """Canonical rows from landed pages (see :mod:`.normalize`)."""
        return normalize_module.normalize(pages, employer, period, parser)


def _scope(result: ExtractResult, entity: str, scope: str) -> None:
    if result.scope.get(entity) != "full":
        result.scope[entity] = scope

