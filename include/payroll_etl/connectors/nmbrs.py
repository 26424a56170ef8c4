"""Nmbrs SOAP v3 connector (CompanyService + EmployeeService) with zeep.

Connection (one Airflow Connection per employer): ``host`` = base URL (``https://api.nmbrs.nl``),
``login`` = the API user's e-mail, ``password`` = its 32-character API token, ``extra["domain"]``
= the environment's subdomain. The employer config's ``source_ids`` name each company by its
exact Nmbrs name or its numeric Company ID.

Extraction uses only the calls the customer's setup guide tells them to enable (so the template
user's rights suffice), company-wide calls first, and the fewest per-employee calls the canonical
model needs (``PersonalInfo_GetCurrent``, ``Address_GetListCurrent``, ``Schedule_GetList``; bank
accounts, partner and children only when ``options.include`` asks). Every raw response is landed
before zeep interprets it; ``normalize`` re-reads the landed XML with lxml, never with zeep.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

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
from payroll_etl.connectors.network import check_refused, where
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    PayrollError,
    RecordError,
    TransientSourceError,
)
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod, calendar_tail, period_bounds, period_for_logical_date
from payroll_etl.quality.identifiers import (
    IdentifierError,
    closest_names,
    nmbrs_company_ref,
    normalize_nmbrs_domain,
)

COMPANY = "CompanyService"
EMPLOYEE = "EmployeeService"
NAMESPACE = "https://api.nmbrs.nl/soap/v3/{service}"
TOKEN_LENGTH = 32
MAX_CALLS_PER_SECOND = 150.0  # Nmbrs fair use: 150 calls/s, above that the service delays

# The calls the seed guide (§1.2.2) has the customer enable on the API template user.
SEED_CALLS: dict[str, str] = {
    "Company_GetCurrentPeriod": COMPANY, "List_GetAll": COMPANY, "Run_GetList": COMPANY,
    "Reports_GetWageCodesByRunCompany_FilterByWageCode": COMPANY, "Reports_GetWageCodesByRunCompany_v2": COMPANY,
    "Address_GetListCurrent": EMPLOYEE, "BankAccount_GetListCurrent": EMPLOYEE, "Children_Get": EMPLOYEE,
    "Contract_GetCurrentPeriod": EMPLOYEE, "List_GetByCompany": EMPLOYEE, "Partner_Get": EMPLOYEE,
    "PersonalInfo_GetCurrent": EMPLOYEE, "Salary_GetAll_AllEmployeesByCompany": EMPLOYEE,
    "Schedule_GetCurrent": EMPLOYEE, "Schedule_GetList": EMPLOYEE, "SVW_GetCurrent": EMPLOYEE,
    "WageComponentFixed_GetCurrent": EMPLOYEE, "WageComponentVar_GetCurrent": EMPLOYEE,
    "Employment_GetAll_AllEmployeesByCompany": EMPLOYEE,
}
# Per-employee calls every nightly run makes: the minimum the canonical model needs.
EMPLOYEE_CALLS = ("PersonalInfo_GetCurrent", "Address_GetListCurrent", "Schedule_GetList")
# Optional per-employee calls, switched on by ``options.include`` (seed: "indien ... noodzakelijk").
OPTIONAL_CALLS = {"bank_accounts": "BankAccount_GetListCurrent", "partner": "Partner_Get", "children": "Children_Get"}
# Which landing entity (partition) each operation's raw responses go to.
LANDING_ENTITY = {
    "List_GetAll": "employer", "Company_GetCurrentPeriod": "payroll_period",
    "Employment_GetAll_AllEmployeesByCompany": "employment", "Schedule_GetList": "employment",
    "Salary_GetAll_AllEmployeesByCompany": "salary", "PersonalInfo_GetCurrent": "employee",
    "Address_GetListCurrent": "employee", "BankAccount_GetListCurrent": "employee", "Partner_Get": "employee",
    "Children_Get": "employee", "Run_GetList": "payroll_result",
    "Reports_GetWageCodesByRunCompany_v2": "payroll_result",
    "Reports_GetWageCodesByRunCompany_FilterByWageCode": "payroll_result",
}
FAULT_CODE_RE = re.compile(r"--->\s*(\d{4})\s*:\s*([^\r\n]*)")
# Company_GetCurrentPeriod: "yyyy-p-type" (WSDL doc: "2010-5-M or 2010-4-4W"); any type is captured so
# that an unknown one is refused by name instead of failing the pattern.
PERIOD_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})-([0-9A-Za-z-]+)\s*$")
# Pay period types: M and 4W are documented; weekly companies exist (REST periodType "1-week"), their SOAP
# suffix is not documented, so both W and 1W are read as weekly (docs/benefits.md "Pay calendars").
PERIOD_TYPES = {"M": "month", "4W": "four_weeks", "W": "week", "1W": "week"}
# Salary_V2.Type = position in the WSDL's SalaryType enum: 1 Bruto_Salaris_Fulltime, 2 Bruto_Salaris_Partime
# (the part-time amount actually paid), 3 Bruto_Uurloon. 0 None, 4-8 net wages / employer costs: no basis.
SALARY_BASES = {"1": "fulltime", "2": "actual", "3": "hourly"}
SALARY_TYPE_NAMES = {"0": "None", "4": "Netto_Salaris_Partime_incl_looncomp",
                     "5": "Netto_Salaris_Partime_excl_looncomp", "6": "Netto_Uurloon_excl_looncomp",
                     "7": "Werkgerverslasten", "8": "Netto_Uurloon_incl_looncomp"}
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
GENDERS = {"male": "M", "female": "V", "undefined": "U"}
FREQUENCIES = {"Month": "month", "Week4": "four_weeks"}


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
class _Company:
    id: int
    name: str
    frequency: str | None


@dataclass
class _Options:
    max_workers: int = 8
    rate: float = MAX_CALLS_PER_SECOND
    timeout: float = 120.0
    attempts: int = 5
    retry_wait: float = 1.0
    include: tuple[str, ...] = ()
    wage_codes: tuple[int, ...] = ()

    @classmethod
    def of(cls, employer: EmployerConfig) -> _Options:
        o = employer.options
        include = tuple(o.get("include", ()) or ())
        unknown = set(include) - set(OPTIONAL_CALLS)
        if unknown:
            raise ConfigurationError(f"employer {employer.employer}: options.include has unknown {sorted(unknown)}; "
                                     f"allowed: {sorted(OPTIONAL_CALLS)}")
        return cls(max_workers=max(1, int(o.get("max_workers", 8))),
                   rate=min(float(o.get("rate_limit", MAX_CALLS_PER_SECOND)), MAX_CALLS_PER_SECOND),
                   timeout=float(o.get("timeout", 120.0)), attempts=max(1, int(o.get("retry_attempts", 5))),
                   retry_wait=float(o.get("retry_wait", 1.0)), include=include,
                   wage_codes=tuple(int(c) for c in o.get("wage_codes", ()) or ()))


@dataclass
class _Run:
    """Bookkeeping for one extract: call counter and the thread-local call context."""

    sink: LandingSink
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)


class NmbrsConnector(Connector):
    name: ClassVar[str] = "nmbrs"

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

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_credentials(cls, credentials: SourceCredentials) -> NmbrsConnector:
        host = (credentials.host or "").strip()
        if not host:
            raise ConfigurationError("Nmbrs connection: host (base URL, e.g. https://api.nmbrs.nl) is empty")
        if "://" not in host:
            host = f"https://{host}"
        if not credentials.login:
            raise ConfigurationError("Nmbrs connection: login (the API user's e-mail address) is empty")
        token = (credentials.password or "").strip()
        if len(token) != TOKEN_LENGTH:
            raise ConfigurationError(
                f"Nmbrs connection: the API token must be exactly {TOKEN_LENGTH} characters, got {len(token)} "
                "(Nmbrs: click your user name > User profile > API token)")
        try:
            domain = normalize_nmbrs_domain((credentials.extra or {}).get("domain"))
        except IdentifierError as exc:
            raise ConfigurationError(f"Nmbrs connection: extra.domain: {exc}") from None
        return cls(host, credentials.login.strip(), token, domain)

    def __repr__(self) -> str:
        return f"NmbrsConnector(base_url={self.base_url!r}, domain={self.domain!r})"

    def service_url(self, service: str) -> str:
        return f"{self.base_url}/soap/v3/{service}.asmx"

    # ------------------------------------------------------------------ zeep plumbing
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

    # ------------------------------------------------------------------ extract
    def extract(self, request: ExtractRequest, sink: LandingSink) -> ExtractResult:
        options = _Options.of(request.employer)
        self._run = _Run(sink)
        self._limiter = _RateLimiter(options.rate)
        try:
            companies = self._resolve(request.employer, options)
            seen = {str(k): set(v) for k, v in (request.state.get("runs_seen") or {}).items()}
            source_period: PayPeriod | None = None
            for company in companies:
                current = self._call(options, "Company_GetCurrentPeriod", company.id, CompanyId=company.id)
                period = source_period_of(current, request, company.frequency, str(company.id))
                source_period = source_period or period
                seen[str(company.id)] = self._extract_company(company, replace(request, period=period), options,
                                                              seen.get(str(company.id), set()))
            scope = {"employer": "full", "employee": "full", "employment": "full", "salary": "full",
                     "payroll_period": "full",
                     "payroll_result": "full" if request.backfill or request.full_refresh else "incremental"}
            state = {"runs_seen": {k: sorted(v) for k, v in seen.items()}}
            return ExtractResult(calls=self._run.calls, state=state, scope=scope, period=source_period)
        finally:
            self._run.local.ctx = None

    def _resolve(self, employer: EmployerConfig, options: _Options) -> list[_Company]:
        """Companies named in ``source_ids``: exact (case/space/dot/comma sensitive) name or Company ID."""
        listed = self._call(options, "List_GetAll", "all") or []
        by_id = {int(c.ID): c for c in listed if c is not None and c.ID is not None}
        by_name = {c.Name: c for c in by_id.values() if c.Name is not None}
        out: list[_Company] = []
        for source_id in employer.source_ids:
            text = nmbrs_company_ref(source_id)
            company = by_name.get(text)
            if company is None and text.strip().isdigit():
                company = by_id.get(int(text.strip()))
                if company is None:  # not listed: let the service say whether it is 2004
                    out.append(_Company(int(text.strip()), text.strip(), None))
                    continue
            if company is None:
                closest = closest_names(text, list(by_name))
                names = ", ".join(f"{name!r} (Company ID {int(by_name[name].ID)})" for name in closest) or "(none)"
                raise ConfigurationError(
                    f"employer {employer.employer}: Nmbrs company {text!r} not found among the {len(by_name)} "
                    f"companies this API user sees; closest names: {names}. Names are case, space, dot and comma "
                    "sensitive: enter the literal name as Nmbrs shows it, or the Company ID")
            out.append(_Company(int(company.ID), company.Name, FREQUENCIES.get(str(company.LoonaangifteTijdvak))))
        return list({c.id: c for c in out}.values())

    def _extract_company(self, company: _Company, request: ExtractRequest, options: _Options,
                         seen: set[int]) -> set[int]:
        period = request.period
        cid = company.id
        employments = self._call(options, "Employment_GetAll_AllEmployeesByCompany", cid, CompanyID=cid) or []
        self._call(options, "Salary_GetAll_AllEmployeesByCompany", cid, CompanyID=cid)
        population = sorted({int(item.EmployeeId) for item in employments
                             if request.full_refresh or _overlaps(item, period.start, period.end)})
        seen = self._extract_runs(company, request, options, seen)
        calls = list(EMPLOYEE_CALLS) + [OPTIONAL_CALLS[name] for name in options.include]
        tasks: list[tuple[str, int]] = [(op, emp) for emp in population for op in calls]
        self._per_employee(tasks, company, period, options)
        return seen

    def _extract_runs(self, company: _Company, request: ExtractRequest, options: _Options, seen: set[int]) -> set[int]:
        """Runs and their wage-code reports: a backfill takes the period's runs, a nightly the new ones."""
        period = request.period
        years = [period.year] + ([period.year - 1] if period.number == 1 and not request.backfill else [])
        seen = set(seen)
        for year in years:
            runs = self._call(options, "Run_GetList", company.id, CompanyId=company.id, Year=year) or []
            for run in runs:
                run_id = int(run.ID)
                if request.backfill:
                    wanted = int(run.Year) == period.year and int(run.PeriodStart) <= period.number <= int(
                        run.PeriodEnd)
                else:
                    wanted = request.full_refresh or run_id not in seen
                if not wanted:
                    continue
                if options.wage_codes:
                    for code in options.wage_codes:
                        self._call(options, "Reports_GetWageCodesByRunCompany_FilterByWageCode", company.id,
                                   CompanyId=company.id, RunId=run_id, intYear=int(run.Year), WageCode=code)
                else:
                    self._call(options, "Reports_GetWageCodesByRunCompany_v2", company.id,
                               CompanyId=company.id, RunId=run_id, intYear=int(run.Year))
                seen.add(run_id)
        return seen

    def _per_employee(self, tasks: list[tuple[str, int]], company: _Company, period: PayPeriod,
                      options: _Options) -> None:
        def run(operation: str, employee_id: int) -> None:
            params: dict[str, Any] = {"EmployeeId": employee_id}
            if operation == "Schedule_GetList":
                params.update(Period=period.number, Year=period.year)
            self._call(options, operation, company.id, employee_id, **params)

        if not tasks:
            return
        with ThreadPoolExecutor(max_workers=options.max_workers, thread_name_prefix="nmbrs") as pool:
            futures = [pool.submit(run, op, emp) for op, emp in tasks]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            for future in futures:
                if future.done() and not future.cancelled() and future.exception() is not None:
                    raise future.exception()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        self._services.clear()
        self._clients.clear()

    # ------------------------------------------------------------------ normalize
    @classmethod
    def normalize(cls, pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod,
                  parser: Parser) -> Normalized:
        data = _Landed()
        for page in pages:
            data.add(page)
        return data.rows(employer, period, parser)


def parse_current_period(text: str | None, employer: str, company: str) -> tuple[int, int, str] | None:
    """(year, number, frequency) of a ``Company_GetCurrentPeriod`` answer ("2026-14-4W"); None when it is
    not in the yyyy-p-type shape. An unknown period type is an error naming employer and company."""
    match = PERIOD_RE.match(text or "")
    if not match:
        return None
    code = match.group(3).upper()
    if code not in PERIOD_TYPES:
        raise RecordError(employer, "payroll_period", company, "Company_GetCurrentPeriod",
                          f"unknown Nmbrs period type {code!r} (known: {', '.join(PERIOD_TYPES)})")
    return int(match.group(1)), int(match.group(2)), PERIOD_TYPES[code]


def source_period_of(current: Any, request: ExtractRequest, company_frequency: str | None,
                     company: str) -> PayPeriod:
    """The period this run processes, in the company's calendar as Nmbrs states it.

    The frequency is the current period's type (else the company's, else the employer config's); a
    nightly run processes the company's current period, a backfill the period containing its
    logical date. Dates come from the calendar (Nmbrs SOAP states numbers, not dates).
    """
    employer = request.employer
    parsed = parse_current_period(str(current) if current is not None else None, employer.employer, company)
    frequency = parsed[2] if parsed else company_frequency or employer.payroll_frequency
    tail = calendar_tail(frequency, employer.four_week_tail, [parsed[:2]] if parsed else [])
    if parsed and not request.backfill:
        year, number = parsed[0], parsed[1]
        try:
            start, end = period_bounds(frequency, year, number, tail)  # type: ignore[arg-type]
        except ValueError:
            raise RecordError(employer.employer, "payroll_period", company, "Company_GetCurrentPeriod",
                              f"period {number} does not exist in {year} for a {frequency} payroll") from None
        return PayPeriod(frequency, year, number, start, end, tail)  # type: ignore[arg-type]
    return period_for_logical_date(request.logical_date, frequency, tail)  # type: ignore[arg-type]


def company_not_found(employer: EmployerConfig, text: str, names: list[str], seen_by: str,
                      alternatives: str) -> ConfigurationError:
    """The error for a configured Nmbrs company that is not listed: the three closest names (rapidfuzz)
    and the seed's rule that names are literal."""
    from rapidfuzz import fuzz, process

    closest = process.extract(text, names, scorer=fuzz.WRatio, limit=3)
    found = ", ".join(repr(name) for name, _score, _ in closest) or "(none)"
    return ConfigurationError(
        f"employer {employer.employer}: Nmbrs company {text!r} not found among the {len(names)} companies "
        f"{seen_by}; closest names: {found}. Names are case, space, dot and comma sensitive: use the literal name "
        f"or {alternatives}")


def _require_well_formed(content: bytes, ctx: _CallContext) -> None:
    """zeep's parser recovers from broken XML (a truncated body becomes half the records): refuse it."""
    from lxml import etree

    try:
        etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError:
        raise MalformedPayloadError(f"Nmbrs {ctx.operation} answered with XML that does not parse (url {ctx.url}); "
                                    "the raw response is kept in landing") from None


def _overlaps(item: Any, start: date, end: date) -> bool:
    for e in (getattr(item.EmployeeEmployments, "Employment", None) or []) if item.EmployeeEmployments else []:
        s = e.StartDate.date() if e.StartDate else None
        f = e.EndDate.date() if e.EndDate else None
        if (s is None or s <= end) and (f is None or f >= start):
            return True
    return False


# ---------------------------------------------------------------------- normalize helpers

def _text(node: Any, name: str) -> str | None:
    """Text of the child ``name`` (any namespace); ``None`` when absent or ``xsi:nil``."""
    if node is None:
        return None
    for child in node:
        if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == name:
            if child.get(XSI_NIL) == "true":
                return None
            return child.text if child.text is not None else ""
    return None


def _children(node: Any, name: str) -> list[Any]:
    if node is None:
        return []
    return [c for c in node if isinstance(c.tag, str) and c.tag.rsplit("}", 1)[-1] == name]


def _child(node: Any, *path: str) -> Any | None:
    for name in path:
        found = _children(node, name) if node is not None else []
        node = found[0] if found else None
    return node


def _per_employee_items(result: Any, item: str, array: str, leaf: str) -> list[tuple[str, Any]]:
    """(EmployeeId, leaf) pairs of a company-wide list; empty arrays may be absent or ``<X />``."""
    if result is None:
        return []
    return [(_text(node, "EmployeeId") or "", leaf_node) for node in _children(result, item)
            for leaf_node in (_children(_child(node, array), leaf) if _child(node, array) is not None else [])]


def _report_decimal(text: str | None) -> str | None:
    """Report values use decimal commas and '-' for "no amount"."""
    if text is None:
        return None
    text = text.strip()
    if text in ("", "-"):
        return None
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    return text


@dataclass
class _Employment:
    id: str
    employee_id: str
    start: date | None
    end: date | None


@dataclass
class _Landed:
    """Everything parsed from the landed pages, per company, before rows are built."""

    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched: set[str] = field(default_factory=set)
    current_period: dict[str, str] = field(default_factory=dict)
    employments: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)  # company -> [(emp id, node)]
    salaries: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    personal: dict[str, dict[str, Any]] = field(default_factory=dict)  # company -> emp id -> node
    addresses: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    banks: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    schedules: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # company -> run id -> node
    reports: list[tuple[str, str, Any]] = field(default_factory=list)  # (company, run id, <report>)

    def add(self, page: RawPage) -> None:
        from lxml import etree

        try:
            root = etree.fromstring(page.payload.encode("utf-8"),
                                    etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
        except etree.XMLSyntaxError:
            raise MalformedPayloadError(f"landed Nmbrs page {page.url} is not well-formed XML") from None
        body = root.find(f"{{{SOAP_ENV}}}Body")
        response = body[0] if body is not None and len(body) else None
        if response is None:
            raise MalformedPayloadError(f"landed Nmbrs page {page.url} has no SOAP body")
        if etree.QName(response).localname == "Fault":
            return  # a fault that was retried or that failed the run: kept in landing, no data
        operation = etree.QName(response).localname.removesuffix("Response")
        query = parse_qs(urlsplit(page.url).query)
        employee = (query.get("EmployeeId") or [""])[0]
        company = page.source_id
        result = response[0] if len(response) else None
        try:
            self._dispatch(operation, company, employee, query, result)
        except (AttributeError, IndexError, TypeError, ValueError):
            raise MalformedPayloadError(f"landed Nmbrs page {page.url} ({operation}) has an unexpected shape"
                                        ) from None

    def _dispatch(self, operation: str, company: str, employee: str, query: dict, result: Any) -> None:
        from lxml import etree

        if operation == "List_GetAll":
            for node in _children(result, "Company") if result is not None else []:
                self.companies[_text(node, "ID") or ""] = {
                    "name": _text(node, "Name"), "tijdvak": _text(node, "LoonaangifteTijdvak")}
            return
        self.fetched.add(company)
        if operation == "Company_GetCurrentPeriod":
            self.current_period[company] = result.text if result is not None else ""
        elif operation == "Employment_GetAll_AllEmployeesByCompany":
            self.employments[company] = _per_employee_items(result, "EmployeeEmploymentItem", "EmployeeEmployments",
                                                            "Employment")
        elif operation == "Salary_GetAll_AllEmployeesByCompany":
            self.salaries[company] = _per_employee_items(result, "EmployeeSalaryItem", "EmployeeSalaries", "Salary_V2")
        elif operation == "PersonalInfo_GetCurrent":
            if result is not None:
                self.personal.setdefault(company, {})[_text(result, "Id") or employee] = result
        elif operation == "Address_GetListCurrent":
            self.addresses[(company, employee)] = _children(result, "EmployeeAddress") if result is not None else []
        elif operation == "BankAccount_GetListCurrent":
            self.banks[(company, employee)] = _children(result, "BankAccount") if result is not None else []
        elif operation == "Schedule_GetList":
            self.schedules[(company, employee)] = _children(result, "Schedule") if result is not None else []
        elif operation == "Run_GetList":
            for node in _children(result, "RunInfo") if result is not None else []:
                self.runs.setdefault(company, {})[_text(node, "ID") or ""] = node
        elif operation.startswith("Reports_GetWageCodesByRunCompany"):
            text = result.text if result is not None else None
            if text and text.strip():
                # XML inside a string, declared utf-16: drop the declaration and parse the text itself.
                report_root = etree.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text).strip())
                run_id = (query.get("RunId") or [""])[0]
                for report in _children(report_root, "report"):
                    self.reports.append((company, run_id, report))

    # --------------------------------------------------------------- rows
    def rows(self, employer: EmployerConfig, period: PayPeriod, parser: Parser) -> Normalized:
        out = Normalized()
        for company in sorted(self.fetched):
            info = self.companies.get(company, {})
            current = parse_current_period(self.current_period.get(company), employer.employer, company)
            frequency = (current[2] if current else None) or FREQUENCIES.get(info.get("tijdvak") or "") \
                or employer.payroll_frequency
            tail = calendar_tail(frequency, employer.four_week_tail, self._stated_periods(company, current, parser))
            out.add("employer", {
                "source_id": company, "valid_from": period.start, "valid_to": None,
                "name": parser.string(info.get("name"), "employer", company, "name") or company,
                "loonheffingennummer": None, "payroll_frequency": frequency})
            self._period_rows(out, company, current, frequency, parser, tail)
            employments = self._employments(company, parser)
            for employee_id, node in sorted(self.personal.get(company, {}).items()):
                self._employee_row(out, company, employee_id, node, period, parser)
                self._employment_rows(out, company, employee_id, employments.get(employee_id, []), frequency, parser)
                self._salary_rows(out, company, employee_id, employments.get(employee_id, []), frequency, parser)
            self._result_rows(out, company, employments, frequency, parser, tail)
        return out

    def _stated_periods(self, company: str, current: tuple[int, int, str] | None,
                        parser: Parser) -> list[tuple[int, int]]:
        """Every (year, period number) the landed answers state: current period, runs, wage-code reports."""
        stated = [current[:2]] if current else []
        for run in self.runs.get(company, {}).values():
            year = parser.integer(_text(run, "Year"), "payroll_result", _text(run, "ID") or "", "Year")
            for name in ("PeriodStart", "PeriodEnd"):
                number = parser.integer(_text(run, name), "payroll_result", _text(run, "ID") or "", name)
                if year is not None and number is not None:
                    stated.append((year, number))
        for _company, run_id, report in (r for r in self.reports if r[0] == company):
            year = parser.integer(_text(report, "year"), "payroll_result", run_id, "year")
            number = parser.integer(_text(report, "period"), "payroll_result", run_id, "period")
            if year is not None and number is not None:
                stated.append((year, number))
        return stated

    def _period_rows(self, out: Normalized, company: str, current: tuple[int, int, str] | None, frequency: str,
                     parser: Parser, tail: str) -> None:
        text = self.current_period.get(company)
        if text is None:
            return
        if current is None:
            parser.issue("payroll_period", company, "Company_GetCurrentPeriod", "parse_period",
                         "not in the yyyy-p-type format (e.g. 2026-3-M, 2026-4-4W)")
            return
        add_period_row(out, company, frequency, current[0], current[1], tail, parser)

    def _employments(self, company: str, parser: Parser) -> dict[str, list[_Employment]]:
        out: dict[str, list[_Employment]] = {}
        for employee_id, node in self.employments.get(company, []):
            emp_id = _text(node, "EmploymentId") or ""
            out.setdefault(employee_id, []).append(_Employment(
                emp_id, employee_id, parser.date(_text(node, "StartDate"), "employment", emp_id, "start_date"),
                parser.date(_text(node, "EndDate"), "employment", emp_id, "end_date")))
        for emps in out.values():
            emps.sort(key=lambda e: e.start or date.min)
        return out

    def _employee_row(self, out: Normalized, company: str, employee_id: str, node: Any, period: PayPeriod,
                      parser: Parser) -> None:
        e = "employee"
        address = _pick_address(self.addresses.get((company, employee_id), []))
        bank = self.banks.get((company, employee_id))
        iban = None
        if bank:
            chosen = next((b for b in bank if _text(b, "Type") == "Bankrekening1"), bank[0])
            iban = parser.string(_text(chosen, "IBAN"), e, employee_id, "iban")
        house = " ".join(p for p in (_text(address, "HouseNumber"), _text(address, "HouseNumberAddition")) if p) \
            if address is not None else None
        gender = _text(node, "Gender")
        out.add(e, {
            "source_id": employee_id, "valid_from": period.start, "valid_to": None,
            "employer_source_id": company,
            "employee_number": parser.string(_text(node, "EmployeeNumber") or _text(node, "Number"), e, employee_id,
                                             "employee_number"),
            "bsn": parser.string(_text(node, "BSN"), e, employee_id, "bsn"),
            "initials": parser.string(_text(node, "Initials"), e, employee_id, "initials"),
            "first_name": parser.string(_text(node, "FirstName"), e, employee_id, "first_name"),
            "prefix": parser.string(_text(node, "Prefix"), e, employee_id, "prefix"),
            "last_name": parser.string(_text(node, "LastName"), e, employee_id, "last_name"),
            "birth_date": parser.date(_text(node, "Birthday"), e, employee_id, "birth_date"),
            "gender": GENDERS.get(gender or "", "U") if gender else None,
            "street": parser.string(_text(address, "Street"), e, employee_id, "street") if address is not None
            else None,
            "house_number": parser.string(house, e, employee_id, "house_number"),
            "postcode": _postcode(_text(address, "PostalCode")) if address is not None else None,
            "city": parser.string(_text(address, "City"), e, employee_id, "city") if address is not None else None,
            "country": parser.string(_text(address, "CountryISOCode"), e, employee_id, "country")
            if address is not None else None,
            "civil_status": parser.string(_text(node, "BurgerlijkeStaat"), e, employee_id, "civil_status"),
            "date_of_death": parser.date(_text(node, "DeceasedDate"), e, employee_id, "date_of_death"),
            "iban": iban,
        })

    def _employment_rows(self, out: Normalized, company: str, employee_id: str, employments: list[_Employment],
                         frequency: str, parser: Parser) -> None:
        """One row per (employment, schedule version): hours and part-time factor from Schedule_GetList."""
        versions: list[tuple[date, Decimal | None, Decimal | None]] = []
        for node in self.schedules.get((company, employee_id), []):
            start = parser.date(_text(node, "StartDate"), "employment", employee_id, "schedule_start")
            if start is None:
                continue
            hours, fulltime = _schedule_hours(node, employee_id, parser)
            versions = [v for v in versions if v[0] != start] + [(start, hours, fulltime)]  # later entry wins
        versions.sort(key=lambda v: v[0])
        add_employment_rows(out, company, employee_id, employments, versions, frequency, parser)

    def _salary_rows(self, out: Normalized, company: str, employee_id: str, employments: list[_Employment],
                     frequency: str, parser: Parser) -> None:
        nodes = [n for emp, n in self.salaries.get(company, []) if emp == employee_id]
        parsed = []
        for node in nodes:
            sid = _text(node, "ID") or ""
            start = parser.date(_text(node, "StartDate"), "salary", sid, "valid_from")
            if start is not None:
                parsed.append((start, sid, node))
        versions = []
        for start, sid, node in parsed:
            salary_type = (_text(node, "Type") or "").strip()
            label = f"Salary_V2 Type {salary_type or '(empty)'} " \
                    f"({SALARY_TYPE_NAMES.get(salary_type, 'not in the WSDL SalaryType enum')})"
            versions.append(SalaryVersion(start, sid, _text(node, "Value"), SALARY_BASES.get(salary_type), label))
        add_salary_rows(out, employments, versions, frequency, parser)

    def _result_rows(self, out: Normalized, company: str, employments: dict[str, list[_Employment]],
                     frequency: str, parser: Parser, tail: str) -> None:
        runs = self.runs.get(company, {})
        for _company, run_id, report in (r for r in self.reports if r[0] == company):
            run = runs.get(run_id)
            run_period = f"{_text(run, 'Year')}{int(_text(run, 'PeriodEnd') or 0):02d}" if run is not None else None
            add_report_rows(out, run_id, report, (_text(report, "employeeid") or "").strip(), employments,
                            frequency, tail, run_period, parser, company=company)



def _pick_address(nodes: list[Any]) -> Any | None:
    homes = [n for n in nodes if _text(n, "Type") == "HomeAddress"]
    for candidates in (homes, nodes):
        default = [n for n in candidates if _text(n, "Default") == "true"]
        if default or candidates:
            return (default or candidates)[0]
    return None


def _postcode(text: str | None) -> str | None:
    if not text:
        return None
    compact = re.sub(r"\s+", "", text).upper()
    return f"{compact[:4]} {compact[4:]}" if re.fullmatch(r"\d{4}[A-Z]{2}", compact) else text.strip()


DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _schedule_hours(node: Any, employee_id: str, parser: Parser) -> tuple[Decimal | None, Decimal | None]:
    """Hours per week (the mean of a two-week cycle when week 2 is filled) and the full-time norm."""
    week1 = [parser.decimal(_text(node, f"Hours{d}"), "employment", employee_id, f"Hours{d}") for d in DAYS]
    week2 = [parser.decimal(_text(node, f"Hours{d}2"), "employment", employee_id, f"Hours{d}2") for d in DAYS]
    if any(v is None for v in week1):
        return None, None
    hours = sum(week1, Decimal(0))
    if all(v is not None for v in week2) and sum(week2, Decimal(0)) > 0:  # type: ignore[arg-type]
        hours = (hours + sum(week2, Decimal(0))) / 2  # type: ignore[arg-type]
    hours = hours.quantize(Decimal("0.01"))
    pct = parser.decimal(_text(node, "ParttimePercentage"), "employment", employee_id, "ParttimePercentage")
    fulltime = (hours * 100 / pct).quantize(Decimal("0.01")) if pct else None
    return hours, fulltime


def add_period_row(out: Normalized, company: str, frequency: str, year: int, number: int, tail: str,
                   parser: Parser) -> None:
    """A pay period of the company as a ``payroll_period`` row (``company:YYYY-N``), bounds from
    :func:`~payroll_etl.periods.period_bounds`; a number out of range is a record issue. The current
    period and every period a run has results for get one row each (a second call is a no-op)."""
    source_id = f"{company}:{year}-{number}"
    if any(row["source_id"] == source_id for row in out.rows.get("payroll_period", ())):
        return  # one row per period, whichever call named it first
    try:
        start, end = period_bounds(frequency, year, number, tail)  # type: ignore[arg-type]
    except ValueError:
        parser.issue("payroll_period", company, "period_number", "parse_period", "period number out of range")
        return
    out.add("payroll_period", {"source_id": source_id, "valid_from": start, "valid_to": end,
                               "year": year, "period_number": number, "frequency": frequency,
                               "start_date": start, "end_date": end})


def add_employment_rows(out: Normalized, company: str, employee_id: str, employments: list[_Employment],
                        versions: list[tuple[date, Decimal | None, Decimal | None]], frequency: str | None,
                        parser: Parser, end_reasons: dict[str, str | None] | None = None) -> None:
    """Employment rows of one employee: one per (employment, schedule version), see :func:`employment_versions`.

    ``versions``: (start, hours per week, full-time hours) sorted by start; ``end_reasons`` by
    employment id where the API delivers them (REST), else ``end_reason`` stays None (SOAP).
    """
    for emp in employments:
        if emp.start is None:
            parser.issue("employment", emp.id, "start_date", "required", "employment has no start date")
            continue
        for valid_from, valid_to, hours, fulltime, factor in employment_versions(emp, versions):
            out.add("employment", {
                "source_id": emp.id, "valid_from": valid_from, "valid_to": valid_to,
                "employee_source_id": employee_id, "employment_number": None,
                "start_date": emp.start, "end_date": emp.end, "end_reason": (end_reasons or {}).get(emp.id),
                "hours_per_week": hours, "fulltime_hours_per_week": fulltime, "part_time_factor": factor,
                "payroll_frequency": frequency, "payroll_administration_id": company})


@dataclass(frozen=True)
class SalaryVersion:
    """One salary record as either Nmbrs API states it: start, id, amount text, the basis the type states
    (``fulltime`` | ``actual`` | ``hourly``; None for a type that is no gross salary, e.g. a net one) and
    the type as the API names it, for the quarantine reason."""

    start: date
    id: str
    value: object
    basis: str | None
    type_label: str


def add_salary_rows(out: Normalized, employments: list[_Employment], versions: list[SalaryVersion],
                    frequency: str | None, parser: Parser) -> None:
    """Salary rows of one employee: each version closed the day before the next (by start, id) or at the
    employment's end; component ``BASIS``, ``basis`` as the source states it (docs/benefits.md "Salary
    basis"), an hourly wage with frequency ``hour``. A type that is no gross salary is a record issue
    (``unknown_basis``: the row is quarantined, never guessed)."""
    ordered = sorted(versions, key=lambda v: (v.start, v.id))
    for i, version in enumerate(ordered):
        emp = _employment_on(employments, version.start)
        if emp is None:
            parser.issue("salary", version.id, "employment_source_id", "parent", "no employment for this salary")
            continue
        if version.basis is None:
            parser.issue("salary", version.id, "basis", "unknown_basis",
                         f"{version.type_label} is not a gross full-time, part-time or hourly salary")
        next_start = ordered[i + 1].start if i + 1 < len(ordered) else None
        out.add("salary", {
            "source_id": version.id, "valid_from": version.start,
            "valid_to": next_start - timedelta(days=1) if next_start else emp.end,
            "employment_source_id": emp.id,
            "gross_amount": parser.decimal(version.value, "salary", version.id, "gross_amount"),
            "frequency": "hour" if version.basis == "hourly" else frequency, "basis": version.basis,
            "holiday_allowance_pct": None, "component": "BASIS", "is_correction": False})


def add_report_rows(out: Normalized, run_id: str, report: Any, employee_id: str,
                    employments: dict[str, list[_Employment]], frequency: str, tail: str, run_period: str | None,
                    parser: Parser, *, company: str | None = None) -> None:
    """Payroll-result rows of one ``<report>`` of the run output (one employee, one period): a row per
    wage code with an amount (``-`` = none), keyed ``run:employee:YYYYPP:code``. With ``company``, the
    report's period also gets its ``payroll_period`` row (every period we load results for has one)."""
    year = parser.integer(_text(report, "year"), "payroll_result", run_id, "year")
    number = parser.integer(_text(report, "period"), "payroll_result", run_id, "period")
    if year is None or number is None:
        return
    try:
        start, end = period_bounds(frequency, year, number, tail)  # type: ignore[arg-type]
    except ValueError:
        parser.issue("payroll_result", run_id, "period", "parse_period", "period number out of range")
        return
    emps = employments.get(employee_id, [])
    emp = _employment_on(emps, end) or _employment_on(emps, start)
    period_id = f"{year}{number:02d}"
    if company is not None:
        add_period_row(out, company, frequency, year, number, tail, parser)
    for line in _children(_child(report, "lines"), "line"):
        code = (_text(line, "code") or "").strip()
        source_id = f"{run_id}:{employee_id}:{period_id}:{code}"
        amount_text = _report_decimal(_text(line, "value"))
        if amount_text is None:
            continue  # "-": no amount for this wage code
        if emp is None:
            parser.issue("payroll_result", source_id, "employment_source_id", "parent",
                         "no employment for this employee in the period")
            continue
        out.add("payroll_result", {
            "source_id": source_id, "valid_from": start, "valid_to": None,
            "employment_source_id": emp.id, "period_id": period_id, "run_id": run_id,
            "run_sequence": parser.integer(_text(report, "runnumber"), "payroll_result", source_id, "run_sequence"),
            "run_period_id": run_period, "component": code,
            "amount": parser.decimal(amount_text, "payroll_result", source_id, "amount")})


def employment_versions(emp: _Employment, versions: list[tuple[date, Decimal | None, Decimal | None]]
                        ) -> list[tuple[date, date | None, Decimal | None, Decimal | None, Decimal | None]]:
    """Split an employment by schedule versions (start, hours, full-time hours), sorted by start.

    Returns (valid_from, valid_to, hours, fulltime, part-time factor) per version: the version in
    force at the employment's start, then every later one up to its end; without any version one
    row with unknown hours. The factor is hours / full-time hours, 4 decimals.
    """
    assert emp.start is not None
    starts = [v for v in versions if v[0] <= emp.start][-1:] + [
        v for v in versions if emp.start < v[0] and (emp.end is None or v[0] <= emp.end)]
    if not starts:
        starts = [(emp.start, None, None)]
    out = []
    for i, (start, hours, fulltime) in enumerate(starts):
        valid_to = starts[i + 1][0] - timedelta(days=1) if i + 1 < len(starts) else emp.end
        factor = (hours / fulltime).quantize(Decimal("0.0001")) if hours is not None and fulltime else None
        out.append((max(start, emp.start), valid_to, hours, fulltime, factor))
    return out


def _employment_on(employments: list[_Employment], day: date) -> _Employment | None:
    for emp in employments:
        if (emp.start is None or emp.start <= day) and (emp.end is None or emp.end >= day):
            return emp
    earlier = [e for e in employments if e.start is not None and e.start <= day]
    return earlier[-1] if earlier else (employments[0] if employments else None)
