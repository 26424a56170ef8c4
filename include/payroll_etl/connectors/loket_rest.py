"""Loket.nl REST connector: OAuth2 with rotating refresh tokens, bulk employer endpoints, paging.

Extraction per configured Werkgever ID (one employer entity may have several):

1. ``GET /v2/providers/employers/{id}`` (404 = configuration error) and its payroll administrations.
2. Employments, employees (+ the BSN from its own endpoint), and the wage and working-hours record
   in force at the end of the processed pay period (``actualwages``/``actualworkinghours``, one
   paged call per employer instead of two per employment). Nightly runs are incremental: the
   watermark is the highest ``lastModifiedVersionNumber`` seen; only employments changed since
   are fetched (``filter=id eq '…' or …``). ``full_refresh`` or no watermark fetches everything.
3. Payroll periods (with their runs), payroll runs, and the payroll results of every period whose
   latest approved run was not fetched yet (a backfill fetches exactly ``request.period``).

Every response body is handed to the landing sink before it is parsed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type

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
from payroll_etl.connectors.loket_tokens import (
    TOKEN_KEYS,
    FileTokenStore,
    MemoryTokenStore,
    RotatingAccess,
    TokenStore,
)
from payroll_etl.connectors.network import check_refused, where
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    RecordError,
    TransientSourceError,
)
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod

API = "/v2/providers/employers"
# Resource versions we are written against (sent as Accept: application/json;version=…).
VERSIONS = {"employee": "2021-03-29", "employment": "2019-12-16"}
DEFAULT_VERSION = "2018-01-01"

# Which Loket right ("recht", as the customer guide lists them) grants which activity.
# Assumption: Loket does not publish this grouping; it follows the names of the rights.
ACTIVITY_RIGHTS: dict[str, str] = {
    "GetEmployersByUserId": "Raadplegen HRM",
    "GetEmployerByEmployerId": "Raadplegen HRM",
    "GetEmployerLastModifiedVersionNumbersByUser": "Raadplegen HRM",
    "GetPayrollAdministrationsByEmployerId": "Raadplegen HRM",
    "GetEmployeesByEmployerId": "Raadplegen HRM",
    "GetEmployeeByEmployeeId": "Raadplegen HRM",
    "GetCitizenServiceNumberByEmployeeId": "Beheren en raadplegen BSN",
    "GetEmploymentsByEmployerId": "Raadplegen dienstverbanden",
    "GetEmploymentLastModifiedVersionNumbersByEmployerId": "Raadplegen dienstverbanden",
    "GetWorkingHoursByEmploymentId": "Raadplegen dienstverbanden",
    "GetActualWorkingHoursByEmployerId": "Raadplegen dienstverbanden",
    "GetWagesByEmploymentId": "Raadplegen beloningen",
    "GetActualWagesByEmployerId": "Raadplegen beloningen",
    "GetPayrollPeriodsByPayrollAdministrationId": "Raadplegen variabele gegevens",
    "GetPayrollRunsByPayrollAdministrationId": "Raadplegen loonoutput beperkt",
    "GetPayrollPeriodResultsByPayrollAdministrationIdAndPayrollPeriodId": "Raadplegen loonoutput beperkt",
}
# payrollPeriodType keys (spec): 1 month, 3 four-weekly, 4 weekly.
PERIOD_TYPES = {1: "month", 3: "four_weeks", 4: "week"}
# grossWageType values (spec example {"key": 2, "value": "hourly"}); Dutch labels as the Loket UI shows them.
PERIODIC_WAGE_TYPES = frozenset({"periodic", "periodeloon", "periode", "periodiek"})
HOURLY_WAGE_TYPES = frozenset({"hourly", "uurloon", "uur"})
APPROVED = 9
FILTER_CHUNK = 25
BASE_COMPONENT = "BASIS"


class _Retryable(Exception):
    """A response or network failure worth another attempt."""

    def __init__(self, reason: str, retry_after: float | None = None, throttled: bool = False):
        super().__init__(reason)
        self.reason, self.retry_after, self.throttled = reason, retry_after, throttled


def _relogin(employer: str | None) -> str:
    key = employer or "<employer>"
    return (f"Loket refused the stored refresh token (invalid_grant) for employer {key}: it was revoked, expired "
            f"or already used. Redo the first login ('Eerste aanmelding'): make connect-loket EMPLOYER={key}")


class LoketRestConnector(RotatingAccess, Connector):
    name: ClassVar[str] = "loket_rest"

    def __init__(self, api_url: str, client_id: str, client_secret: str | None, *, oauth_url: str | None = None,
                 token_store: TokenStore | None = None, username: str | None = None, password: str | None = None,
                 employer_key: str | None = None, timeout: float = 30.0, page_size: int = 250,
                 max_attempts: int = 5, max_throttled: int = 10, backoff: float = 1.0, max_backoff: float = 60.0,
                 refresh_skew: float = 120.0, sleep: Callable[[float], None] = time.sleep):
        self.api_url = api_url.rstrip("/")
        self.oauth_url = (oauth_url or f"{self.api_url}/oauth").rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.store: TokenStore = token_store or MemoryTokenStore()
        self.username, self.password = username, password
        self.employer_key = employer_key
        self.timeout, self.page_size = timeout, page_size
        self.max_attempts, self.max_throttled = max_attempts, max_throttled
        self.backoff, self.max_backoff, self.refresh_skew = backoff, max_backoff, refresh_skew
        self._sleep = sleep
        self.http = requests.Session()
        self._access: str | None = None
        self._expires_at = 0.0
        self.calls = 0
        self._source_period: PayPeriod | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_credentials(cls, credentials: SourceCredentials, token_store: TokenStore | None = None,
                         employer_key: str | None = None) -> LoketRestConnector:
        """``host`` = API base URL; ``extra``: client_id, client_secret, oauth_url, tokens, tuning.

        Without ``token_store`` the tokens in ``extra`` are used from memory (rotated tokens are then
        lost at the end of the run: the Airflow layer passes its Connection-backed store instead),
        or ``extra.token_file`` names a :class:`FileTokenStore`.
        """
        extra = dict(credentials.extra or {})
        if not credentials.host or not re.match(r"^https?://", credentials.host):
            raise ConfigurationError("Loket REST connection: host must be the API base URL, e.g. https://api.loket.nl")
        # Copied from the Loket developer portal: spaces and line breaks around them are never part of them.
        for key in ("client_id", "client_secret"):
            if isinstance(extra.get(key), str):
                extra[key] = extra[key].strip()
        if not extra.get("client_id"):
            raise ConfigurationError("Loket REST connection: extra.client_id is missing")
        if token_store is None:
            token_store = credentials.token_store
        if token_store is None:
            if extra.get("token_file"):
                token_store = FileTokenStore(extra["token_file"])
                if not token_store.load() and any(extra.get(k) for k in TOKEN_KEYS):
                    token_store.save({k: extra.get(k) for k in TOKEN_KEYS})
            else:
                token_store = MemoryTokenStore({k: extra.get(k) for k in TOKEN_KEYS})
        tuning = {k: type_(extra[k]) for k, type_ in (("timeout", float), ("page_size", int), ("max_attempts", int),
                                                       ("max_throttled", int), ("backoff", float),
                                                       ("max_backoff", float), ("refresh_skew", float))
                  if extra.get(k) is not None}
        return cls(credentials.host, extra["client_id"], extra.get("client_secret"), oauth_url=extra.get("oauth_url"),
                   token_store=token_store, username=credentials.login, password=credentials.password,
                   employer_key=employer_key or extra.get("employer"), **tuning)

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ tokens
    @property
    def token_url(self) -> str:
        return f"{self.oauth_url}/token"

    def _refresh_locked(self, tokens: dict[str, Any]) -> dict[str, Any]:
        from authlib.integrations.base_client import OAuthError
        from authlib.integrations.requests_client import OAuth2Session

        oauth = OAuth2Session(self.client_id, self.client_secret, token_endpoint_auth_method="client_secret_post")
        try:
            if tokens.get("refresh_token"):
                issued = dict(oauth.refresh_token(self.token_url, refresh_token=tokens["refresh_token"],
                                                  timeout=self.timeout))
                issued.setdefault("refresh_token", tokens["refresh_token"])
            elif self.username and self.password:  # password grant: demo/simulator clients only
                issued = dict(oauth.fetch_token(self.token_url, grant_type="password", username=self.username,
                                                password=self.password, timeout=self.timeout))
            else:
                raise AuthenticationError(
                    f"No Loket tokens stored for employer {self.employer_key or '<employer>'}. Do the first login "
                    f"('Eerste aanmelding'): make connect-loket EMPLOYER={self.employer_key or '<employer>'}")
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                raise AuthenticationError(_relogin(self.employer_key)) from None
            if exc.error in ("invalid_client", "unauthorized_client"):
                raise AuthenticationError(f"Loket refused the API client ({exc.error}): check client_id and "
                                          "client_secret in the connection") from None
            raise AuthenticationError(f"Loket token endpoint refused the request ({exc.error})") from None
        except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as exc:
            check_refused(exc, self.token_url, "Loket.nl REST token endpoint")
            raise TransientSourceError(f"Loket token endpoint at {where(self.token_url)} unavailable "
                                       f"({type(exc).__name__})") from None
        finally:
            oauth.close()
        if not issued.get("access_token"):
            raise MalformedPayloadError(f"Loket token endpoint {self.token_url} answered without an access token")
        fresh = {"access_token": issued["access_token"], "refresh_token": issued.get("refresh_token"),
                 "expires_at": time.time() + float(issued.get("expires_in") or 3599)}
        self.store.save(fresh)  # persisted before the new access token is used
        return fresh

    # ------------------------------------------------------------------ HTTP
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_backoff)
        return min(self.backoff * 2 ** (state.attempt_number - 1), self.max_backoff)

    def _get(self, path: str, params: dict[str, Any], *, entity: str, source_id: str, activity: str,
             sink: LandingSink, version: str = DEFAULT_VERSION, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GET with token handling and retries; lands the body, then parses it."""
        url = path if path.startswith("http") else f"{self.api_url}{path}"
        counts = {"transient": 0, "throttled": 0}

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            kind = "throttled" if isinstance(exc, _Retryable) and exc.throttled else "transient"
            counts[kind] += 1
            return counts[kind] >= (self.max_throttled if kind == "throttled" else self.max_attempts)

        retrying = Retrying(retry=retry_if_exception_type(_Retryable), stop=stop, wait=self._wait,
                            sleep=self._sleep, reraise=True)
        try:
            response = retrying(self._attempt, url, params, activity, version, source_id)
        except _Retryable as exc:
            raise TransientSourceError(f"Loket {entity} request {urlsplit(url).path} failed after "
                                       f"{sum(counts.values())} attempts: {exc.reason}") from None
        text = response.content.decode("utf-8", errors="replace")
        sink.write(entity, text, url=response.url, source_id=source_id, status=response.status_code,
                   content_type=response.headers.get("Content-Type", "application/json").split(";")[0],
                   meta={"activity": activity, "accept_version": version, **(meta or {})})
        try:
            body = json.loads(text)
        except ValueError:
            raise MalformedPayloadError(f"Loket {entity} page {response.url} is not valid JSON "
                                        "(truncated or malformed); earlier pages stay landed") from None
        if not isinstance(body, dict) or not ("_embedded" in body or "content" in body):
            raise MalformedPayloadError(f"Loket {entity} page {response.url} lacks the Loket envelope")
        return body

    def _attempt(self, url: str, params: dict[str, Any], activity: str, version: str,
                 source_id: str) -> requests.Response:
        token = self.access_token()
        refreshed = False
        while True:
            headers = {"Authorization": f"Bearer {token}", "Accept": f"application/json;version={version}"}
            self.calls += 1
            try:
                response = self.http.get(url, params=params, headers=headers, timeout=self.timeout)
            except requests.Timeout:
                raise _Retryable("timeout") from None
            except requests.ConnectionError as exc:
                check_refused(exc, url, "Loket.nl REST")
                raise _Retryable(f"connection error to {where(url)} ({type(exc).__name__})") from None
            status = response.status_code
            if status == 401 and not refreshed:
                token, refreshed = self.after_401(token), True
                continue
            if status == 401:
                raise AuthenticationError(f"Loket rejected a freshly refreshed access token for {activity}; "
                                          f"redo the first login: make connect-loket "
                                          f"EMPLOYER={self.employer_key or '<employer>'}")
            if status == 429:
                raise _Retryable("429 Too Many Requests", _retry_after(response), throttled=True)
            if status >= 500:
                raise _Retryable(f"HTTP {status}")
            if status == 403:
                right = ACTIVITY_RIGHTS.get(activity, "unknown")
                raise AuthorizationError(
                    f"Loket refused activity {activity} (403) for werkgever {source_id}: the Loket user needs the "
                    f"right '{right}' and access to this werkgever (via Teams or directly), and the API client "
                    f"needs the activity {activity}")
            if status == 404:
                raise ConfigurationError(
                    f"Loket does not know {urlsplit(url).path} (404) while extracting werkgever {source_id}: "
                    "check the Werkgever ID in the employer config "
                    "(Loket: Werkgever > Bedrijfsgegevens > Werkgever id)")
            if status >= 400:
                raise ConfigurationError(f"Loket refused {activity} ({status}): {_describe(response)}")
            return response

    def _pages(self, path: str, *, entity: str, source_id: str, activity: str, sink: LandingSink,
               params: dict[str, Any] | None = None, version: str = DEFAULT_VERSION,
               paged: bool = True, meta: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a collection: pageNumber 1.. until currentPage == totalPages."""
        page = 1
        while True:
            query = dict(params or {})
            if paged:
                query.update(pageNumber=page, pageSize=self.page_size)
            body = self._get(path, query, entity=entity, source_id=source_id, activity=activity, sink=sink,
                             version=version, meta={**(meta or {}), "page": page})
            yield body
            total, current = body.get("totalPages"), body.get("currentPage", page)
            if not isinstance(total, int) or not isinstance(current, int):
                raise MalformedPayloadError(f"Loket {entity} page {path} has no paging fields")
            if not paged or current >= total or not body.get("_embedded"):
                return
            page = current + 1

    def _items(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return [item for body in self._pages(*args, **kwargs) for item in body.get("_embedded") or []]

    def _land(self, *args: Any, **kwargs: Any) -> None:
        """Every page of a collection into the landing, keeping none of it (normalize reads it back)."""
        for _body in self._pages(*args, **kwargs):
            pass

    # ------------------------------------------------------------------ extraction
    def extract(self, request: ExtractRequest, sink: LandingSink) -> ExtractResult:
        self.employer_key = self.employer_key or request.employer.employer
        state_in = dict((request.state or {}).get("werkgevers") or {})
        result = ExtractResult(state={"werkgevers": {}})
        calls_before = self.calls
        changed = self._changed_werkgevers(request, state_in, sink)
        for wid in request.employer.source_ids:
            result.state["werkgevers"][wid] = self._extract_werkgever(wid, request, state_in.get(wid) or {},
                                                                      changed, sink, result)
        if self._source_period is not None:
            result.period = self._source_period
        result.calls = self.calls - calls_before
        return result

    def _changed_werkgevers(self, request: ExtractRequest, state: dict[str, Any],
                            sink: LandingSink) -> dict[str, int] | None:
        """Employer-level change detection: which configured werkgevers changed since their watermark."""
        marks = [state.get(w, {}).get("employment_version") for w in request.employer.source_ids]
        if request.full_refresh or request.backfill or any(m is None for m in marks):
            return None
        ids = " or ".join(f"id eq '{w}'" for w in request.employer.source_ids)
        items = self._items(f"{API}/lastmodifiedversionnumbers", entity="employer_version",
                            source_id=",".join(request.employer.source_ids),
                            activity="GetEmployerLastModifiedVersionNumbersByUser", sink=sink,
                            params={"filter": f"({ids}) and lastModifiedVersionNumber gt {min(marks)}"})
        return {str(i["id"]).lower(): int(i["lastModifiedVersionNumber"]) for i in items}

    def _extract_werkgever(self, wid: str, request: ExtractRequest, state: dict[str, Any],
                           changed: dict[str, int] | None, sink: LandingSink, result: ExtractResult) -> dict[str, Any]:
        get = dict(source_id=wid, sink=sink)
        self._get(f"{API}/{wid}", {}, entity="employer", activity="GetEmployerByEmployerId", **get)
        admins = self._items(f"{API}/{wid}/payrolladministrations", entity="payroll_administration",
                             activity="GetPayrollAdministrationsByEmployerId", **get)
        _scope(result, "employer", "full")
        periods = {str(admin["id"]): self._items(
            f"{API}/payrolladministrations/{admin['id']}/payrollperiods", entity="payroll_period", source_id=wid,
            sink=sink, activity="GetPayrollPeriodsByPayrollAdministrationId", paged=False,
            meta={"payroll_administration_id": str(admin["id"])}) for admin in admins}
        _scope(result, "payroll_period", "full")
        stated = next((p for aid in periods if (p := source_period(periods[aid], request, wid)) is not None), None)
        if stated is not None:
            request = replace(request, period=stated)
            self._source_period = self._source_period or stated
        watermark = state.get("employment_version")
        full = request.full_refresh or request.backfill or watermark is None
        new_state: dict[str, Any] = {"employment_version": watermark}
        reference = {"referenceDate": request.period.end.isoformat()}
        if full:
            versions = self._items(f"{API}/{wid}/employees/employments/lastmodifiedversionnumbers",
                                   entity="employment_version",
                                   activity="GetEmploymentLastModifiedVersionNumbersByEmployerId", **get)
            new_state["employment_version"] = max((int(v["lastModifiedVersionNumber"]) for v in versions), default=0)
            self._land(f"{API}/{wid}/employees/employments", entity="employment",
                       activity="GetEmploymentsByEmployerId", version=VERSIONS["employment"], **get)
            employees = self._items(f"{API}/{wid}/employees", entity="employee", activity="GetEmployeesByEmployerId",
                                    version=VERSIONS["employee"], **get)
            self._bsns([e["id"] for e in employees], wid, sink)
            self._land(f"{API}/{wid}/actualwages", entity="wage", activity="GetActualWagesByEmployerId",
                       params=reference, **get)
            self._land(f"{API}/{wid}/actualworkinghours", entity="working_hours",
                       activity="GetActualWorkingHoursByEmployerId", params=reference, **get)
            for entity in ("employee", "employment", "salary"):
                _scope(result, entity, "full")
        else:
            for entity in ("employee", "employment", "salary"):
                _scope(result, entity, "incremental")
            if changed is not None and wid.lower() in changed:
                versions = self._items(f"{API}/{wid}/employees/employments/lastmodifiedversionnumbers",
                                       entity="employment_version",
                                       activity="GetEmploymentLastModifiedVersionNumbersByEmployerId",
                                       params={"filter": f"lastModifiedVersionNumber gt {watermark}",
                                               "orderBy": "-lastModifiedVersionNumber"}, **get)
                ids = [str(v["id"]) for v in versions]
                new_state["employment_version"] = max([watermark] + [int(v["lastModifiedVersionNumber"])
                                                                     for v in versions])
                employee_ids: list[str] = []
                for chunk in _chunks(ids):
                    for emp in self._items(f"{API}/{wid}/employees/employments", entity="employment",
                                           activity="GetEmploymentsByEmployerId", version=VERSIONS["employment"],
                                           params={"filter": _any_of("id", chunk)}, **get):
                        if (emp.get("employee") or {}).get("id") not in employee_ids:
                            employee_ids.append(emp["employee"]["id"])
                    for path, entity, activity in (("actualwages", "wage", "GetActualWagesByEmployerId"),
                                                   ("actualworkinghours", "working_hours",
                                                    "GetActualWorkingHoursByEmployerId")):
                        self._items(f"{API}/{wid}/{path}", entity=entity, activity=activity,
                                    params={**reference, "filter": _any_of("employmentId", chunk)}, **get)
                for chunk in _chunks(employee_ids):
                    self._items(f"{API}/{wid}/employees", entity="employee", activity="GetEmployeesByEmployerId",
                                version=VERSIONS["employee"], params={"filter": _any_of("id", chunk)}, **get)
                self._bsns(employee_ids, wid, sink)
        new_state["results"] = self._payroll(wid, admins, periods, request, state.get("results") or {}, sink, result)
        return new_state

    def _bsns(self, employee_ids: Iterable[str], wid: str, sink: LandingSink) -> None:
        for employee_id in employee_ids:
            self._get(f"{API}/employees/{employee_id}/citizenservicenumber", {}, entity="citizen_service_number",
                      source_id=wid, activity="GetCitizenServiceNumberByEmployeeId", sink=sink)

    def _payroll(self, wid: str, admins: list[dict[str, Any]], admin_periods: dict[str, list[dict[str, Any]]],
                 request: ExtractRequest, seen: dict[str, str], sink: LandingSink,
                 result: ExtractResult) -> dict[str, str]:
        """Runs always; results for periods whose latest approved run is new to us (``admin_periods``:
        the periods already fetched per administration)."""
        target = int(request.period.id)
        first_year = request.period.year - 1
        fetched = dict(seen)
        for admin in admins:
            aid = str(admin["id"])
            base = f"{API}/payrolladministrations/{aid}"
            periods = admin_periods.get(aid) or []
            self._items(f"{base}/payrollruns", entity="payroll_run", source_id=wid, sink=sink,
                        activity="GetPayrollRunsByPayrollAdministrationId",
                        params={"filter": f"payrollPeriod.year ge {first_year}"},
                        meta={"payroll_administration_id": aid})
            for period in periods:
                pid = int(period["id"])
                run = _latest_approved(period)
                if run is None or pid > target:
                    continue
                key, marker = f"{aid}/{pid}", f"{run['id']}:{run.get('sequenceNumber')}"
                if request.backfill:
                    wanted = pid == target
                elif request.full_refresh or not seen:
                    wanted = int(period.get("year") or 0) >= first_year
                else:
                    wanted = seen.get(key) != marker
                if not wanted:
                    continue
                self._land(f"{base}/payrollperiods/{pid}/payrollresults", entity="payroll_result", source_id=wid,
                           sink=sink, paged=False,
                           activity="GetPayrollPeriodResultsByPayrollAdministrationIdAndPayrollPeriodId",
                           meta={"payroll_administration_id": aid, "payroll_period_id": pid,
                                 "payroll_run_id": run["id"]})
                fetched[key] = marker
                _scope(result, "payroll_result", "incremental")
        keep = str(first_year - 1)
        return {k: v for k, v in fetched.items() if k.rsplit("/", 1)[-1][:4] >= keep}

    # ------------------------------------------------------------------ normalization
    @classmethod
    def normalize(cls, pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod,
                  parser: Parser, *, stream: bool = False) -> Normalized:
        """Canonical rows. payroll_result (the bulk: one row per component, employment and period)
        is parsed one page at a time after everything else; with ``stream`` its rows come as
        ``out.streams["payroll_result"]`` (chunks of one page) instead of a list. When ``pages``
        can re-read one entity (:class:`~payroll_etl.landing.LandedPages`), the result pages stay
        on disk until then; otherwise their raw payloads are kept (never their parsed bodies)."""
        out = Normalized()
        bodies: dict[str, list[tuple[RawPage, dict[str, Any]]]] = {}
        reread = callable(getattr(pages, "entity", None)) and isinstance(getattr(pages, "entities", None), list)
        kept_results: list[RawPage] = []
        if reread:
            first: Iterable[RawPage] = (p for name in pages.entities if name != "payroll_result"  # type: ignore[attr-defined]
                                        for p in pages.entity(name))  # type: ignore[attr-defined]
        else:
            first = pages
        for page in first:
            if page.entity == "payroll_result":
                kept_results.append(page)
                continue
            bodies.setdefault(page.entity, []).append((page, _body(page)))

        def items(entity: str) -> Iterator[tuple[RawPage, dict[str, Any]]]:
            for page, body in bodies.get(entity, []):
                for item in body.get("_embedded") or []:
                    if isinstance(item, dict):
                        yield page, item

        admins: dict[str, dict[str, Any]] = {}
        admins_of: dict[str, list[dict[str, Any]]] = {}
        for page, admin in items("payroll_administration"):
            admins[str(admin.get("id", "")).lower()] = admin
            admins_of.setdefault(page.source_id.lower(), []).append(admin)

        def frequency(obj: dict[str, Any] | None, entity: str, record: str) -> str | None:
            return period_type(obj, employer.employer, entity, record)

        for page, body in bodies.get("employer", []):
            content = body.get("content") or {}
            sid = str(content.get("id") or page.source_id)
            admin = (admins_of.get(sid.lower()) or [{}])[0]
            out.add("employer", {
                "source_id": sid, "valid_from": period.start, "valid_to": None,
                "name": parser.string(content.get("companyName"), "employer", sid, "companyName"),
                "loonheffingennummer": parser.string(admin.get("payrollTaxesNumber"), "employer", sid,
                                                     "payrollTaxesNumber"),
                "payroll_frequency": frequency(admin.get("payrollPeriodType"), "employer", sid),
            })

        bsn: dict[str, Any] = {}
        for page, body in bodies.get("citizen_service_number", []):
            m = re.search(r"/employees/([^/]+)/citizenservicenumber", urlsplit(page.url).path)
            if m:
                bsn[m.group(1).lower()] = (body.get("content") or {}).get("citizenServiceNumber")

        seen_employees: set[str] = set()
        for page, item in items("employee"):
            sid = str(item.get("id"))
            if sid in seen_employees:
                continue
            seen_employees.add(sid)
            out.add("employee", _employee_row(item, sid, page.source_id, bsn.get(sid.lower()), period, parser))

        employments: dict[str, tuple[RawPage, dict[str, Any]]] = {}
        for page, item in items("employment"):
            employments[str(item.get("id")).lower()] = (page, item)
        hours: dict[str, list[dict[str, Any]]] = {}
        for page, item in items("working_hours"):
            record = item.get("workingHours") if "workingHours" in item else item
            emp_id = item.get("employmentId") or _id_from_url(page.url, "employments")
            if record and emp_id:
                hours.setdefault(str(emp_id).lower(), []).append(record)
        for emp_id, (_page, emp) in employments.items():
            admin_ref = emp.get("payrollAdministration") or {}
            admin = admins.get(str(admin_ref.get("id", "")).lower(), {})
            records = _dedupe(hours.get(emp_id) or [None])
            admin_frequency = frequency(admin.get("payrollPeriodType"), "employment", emp_id)
            for record in records:
                out.add("employment", _employment_row(emp, record, admin, admin_frequency, parser))

        for page, item in items("wage"):
            wage = item.get("wage") if "wage" in item else item
            emp_id = item.get("employmentId") or _id_from_url(page.url, "employments")
            if wage and emp_id:
                sid = f"{emp_id}/{BASE_COMPONENT}"
                wage_frequency = frequency(wage.get("payrollPeriodType"), "salary", sid)
                if wage_frequency is None:  # not stated on the wage: the payroll administration's frequency
                    _page, emp = employments.get(str(emp_id).lower(), (None, {}))
                    admin = admins.get(str((emp.get("payrollAdministration") or {}).get("id", "")).lower(), {})
                    wage_frequency = frequency(admin.get("payrollPeriodType"), "salary", sid)
                out.add("salary", _salary_row(str(emp_id), wage, wage_frequency, parser))

        runs: dict[tuple[str, int], dict[str, Any]] = {}
        for page, item in items("payroll_period"):
            aid = _id_from_url(page.url, "payrolladministrations") or ""
            pid = parser.integer(item.get("id"), "payroll_period", aid, "id")
            sid = f"{aid}/{pid}"
            run = _latest_approved(item)
            if run and pid is not None:
                runs[(aid.lower(), pid)] = run
            out.add("payroll_period", {
                "source_id": sid,
                "valid_from": parser.date(item.get("startDate"), "payroll_period", sid, "startDate"),
                "valid_to": parser.date(item.get("endDate"), "payroll_period", sid, "endDate"),
                "year": parser.integer(item.get("year"), "payroll_period", sid, "year"),
                "period_number": parser.integer(item.get("periodNumber"), "payroll_period", sid, "periodNumber"),
                "frequency": frequency(item.get("payrollPeriodType"), "payroll_period", sid),
                "start_date": parser.date(item.get("startDate"), "payroll_period", sid, "startDate"),
                "end_date": parser.date(item.get("endDate"), "payroll_period", sid, "endDate"),
            })

        bodies.clear()  # the other entities' parsed pages are no longer needed
        out.issues.extend(parser.issues)
        result_pages = pages.entity("payroll_result") if reread else iter(kept_results)  # type: ignore[attr-defined]
        results = _result_chunks(result_pages, runs, parser, out)
        if stream:
            out.streams["payroll_result"] = results
        else:
            for chunk in results:
                out.rows.setdefault("payroll_result", []).extend(chunk)
        return out


# ---------------------------------------------------------------------- helpers

def _body(page: RawPage) -> dict[str, Any]:
    try:
        body = json.loads(page.payload)
    except ValueError:
        raise MalformedPayloadError(f"Loket {page.entity} page {page.url} is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedPayloadError(f"Loket {page.entity} page {page.url} lacks the Loket envelope")
    return body


def _result_chunks(pages: Iterable[RawPage], runs: dict[tuple[str, int], dict[str, Any]], parser: Parser,
                   out: Normalized) -> Iterator[list[dict[str, Any]]]:
    """payroll_result rows, one chunk per landed page (only that page's body is parsed at a time).
    Issues found on the way join ``out.issues`` once the pages are exhausted."""
    issues_before = len(parser.issues)
    for page in pages:
        body = _body(page)
        m = re.search(r"/payrolladministrations/([^/]+)/payrollperiods/(\d+)/payrollresults", page.url)
        chunk: list[dict[str, Any]] = []
        for item in body.get("_embedded") or []:
            if not isinstance(item, dict):
                continue
            if not m:
                raise MalformedPayloadError(f"Loket payroll_result page {page.url} has an unexpected URL")
            aid, run_pid = m.group(1).lower(), int(m.group(2))
            chunk.extend(_result_rows(item, runs.get((aid, run_pid)) or {}, run_pid, parser))
        del body
        if chunk:
            yield chunk
    out.issues.extend(parser.issues[issues_before:])


def _scope(result: ExtractResult, entity: str, scope: str) -> None:
    if result.scope.get(entity) != "incremental":
        result.scope[entity] = scope


def _chunks(ids: list[str], size: int = FILTER_CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _any_of(field: str, ids: list[str]) -> str:
    return " or ".join(f"{field} eq '{i}'" for i in ids)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _describe(response: requests.Response) -> str:
    try:
        messages = response.json().get("messages") or []
        return "; ".join(str(m.get("description", ""))[:200] for m in messages) or "no message"
    except (ValueError, AttributeError):
        return "no message"


def _id_from_url(url: str, collection: str) -> str | None:
    m = re.search(rf"/{collection}/([0-9a-fA-F-]{{36}})", url)
    return m.group(1) if m else None


def _latest_approved(period: dict[str, Any]) -> dict[str, Any] | None:
    approved = [r for r in period.get("payrollRuns") or []
                if (r.get("payrollRunStatus") or {}).get("key") == APPROVED]
    return max(approved, key=lambda r: r.get("sequenceNumber") or 0) if approved else None


def _dedupe(records: list[dict[str, Any] | None]) -> list[dict[str, Any] | None]:
    seen, out = set(), []
    for r in records:
        key = (r or {}).get("id")
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


GENDERS = {1: "M", 2: "V"}


def _gender(value: Any) -> str:
    if isinstance(value, dict):
        if value.get("key") in GENDERS:
            return GENDERS[value["key"]]
        value = value.get("value")
    text = str(value or "").strip().lower()
    return {"man": "M", "male": "M", "vrouw": "V", "female": "V", "x": "X"}.get(text, "U")


def _postcode(value: Any) -> str | None:
    text = re.sub(r"\s+", "", str(value or "")).upper()
    return f"{text[:4]} {text[4:]}" if re.fullmatch(r"\d{4}[A-Z]{2}", text) else (text or None)


def _employee_row(item: dict[str, Any], sid: str, werkgever: str, bsn: Any, period: PayPeriod,
                  parser: Parser) -> dict[str, Any]:
    pd = item.get("personalDetails") or {}
    address = item.get("address") or {}
    e = "employee"
    house = address.get("houseNumber")
    addition = address.get("houseNumberAddition")
    bsn_text = parser.string(bsn, e, sid, "citizenServiceNumber")
    if bsn_text is not None and bsn_text.isdigit() and len(bsn_text) < 9:
        bsn_text = bsn_text.zfill(9)  # old resource versions send the BSN as an integer
    return {
        "source_id": sid, "valid_from": period.start, "valid_to": None,
        "employer_source_id": werkgever,
        "employee_number": parser.string(item.get("employeeNumber"), e, sid, "employeeNumber"),
        "bsn": bsn_text,
        "initials": parser.string(pd.get("initials"), e, sid, "initials"),
        "first_name": parser.string(pd.get("firstName"), e, sid, "firstName"),
        "prefix": parser.string(pd.get("prefix"), e, sid, "prefix"),
        "last_name": parser.string(pd.get("lastName"), e, sid, "lastName"),
        "birth_date": parser.date(pd.get("dateOfBirth"), e, sid, "dateOfBirth"),
        "gender": _gender(pd.get("gender")),
        "street": parser.string(address.get("street"), e, sid, "street"),
        "house_number": f"{house}{' ' + addition if addition else ''}" if house is not None else None,
        "postcode": _postcode(address.get("postalCode")),
        "city": parser.string(address.get("city"), e, sid, "city"),
        "country": parser.string((address.get("country") or {}).get("isoCode"), e, sid, "country"),
        "civil_status": parser.string((pd.get("civilStatus") or {}).get("value"), e, sid, "civilStatus"),
        "date_of_death": parser.date(pd.get("dateOfDeath"), e, sid, "dateOfDeath"),
        "iban": None,  # bank accounts are a separate Loket resource, not extracted
    }


def _employment_row(emp: dict[str, Any], hours: dict[str, Any] | None, admin: dict[str, Any],
                    payroll_frequency: str | None, parser: Parser) -> dict[str, Any]:
    e, sid = "employment", str(emp.get("id"))
    start = parser.date(emp.get("startDate"), e, sid, "startDate")
    end = parser.date(emp.get("endDate"), e, sid, "endDate")
    valid_from, valid_to = start, end
    per_week = fulltime = factor = None
    if hours:
        h_start = parser.date(hours.get("startDate"), e, sid, "workingHours.startDate")
        h_end = parser.date(hours.get("endDate"), e, sid, "workingHours.endDate")
        valid_from = max(d for d in (h_start, start) if d) if (h_start or start) else None
        valid_to = min(d for d in (h_end, end) if d) if (h_end or end) else None
        fulltime = parser.decimal((hours.get("shift") or {}).get("fullTimeHoursPerWeek"), e, sid,
                                  "shift.fullTimeHoursPerWeek")
        deviating = parser.decimal(hours.get("deviatingHoursPerWeek"), e, sid, "deviatingHoursPerWeek")
        # Loket stores no part-time %: hours = deviatingHoursPerWeek (null = full time) / shift full-time hours.
        per_week = deviating if deviating is not None else fulltime
        if per_week is not None and fulltime:
            factor = (per_week / fulltime).quantize(Decimal("0.0001"))
    reason = emp.get("endOfEmploymentReason") or {}
    return {
        "source_id": sid, "valid_from": valid_from, "valid_to": valid_to,
        "employee_source_id": str((emp.get("employee") or {}).get("id")),
        "employment_number": parser.string(emp.get("incomeRelationshipNumber"), e, sid, "incomeRelationshipNumber"),
        "start_date": start, "end_date": end,
        "end_reason": parser.string(reason.get("value"), e, sid, "endOfEmploymentReason"),
        "hours_per_week": per_week, "fulltime_hours_per_week": fulltime, "part_time_factor": factor,
        "payroll_frequency": payroll_frequency,
        "payroll_administration_id": parser.string((emp.get("payrollAdministration") or {}).get("id"), e, sid,
                                                   "payrollAdministration.id"),
    }


def period_type(obj: dict[str, Any] | None, employer: str, entity: str, record: str) -> str | None:
    """Canonical frequency of a Loket ``payrollPeriodType`` (key 1 month, 3 four-weekly, 4 week).

    None when the source states none; an unknown key is an error naming employer and record: a
    frequency is never guessed (it decides periods and annualisation)."""
    if not obj:
        return None
    key = obj.get("key")
    if isinstance(key, bool) or not isinstance(key, int) or key not in PERIOD_TYPES:
        raise RecordError(employer, entity, record, "payrollPeriodType",
                          f"unknown Loket payroll period type key {key!r} (known: 1 month, 3 four-weekly, 4 week)")
    return PERIOD_TYPES[key]


def source_period(periods: list[dict[str, Any]], request: ExtractRequest, werkgever: str) -> PayPeriod | None:
    """The Loket payroll period (``payrollperiods``: startDate..endDate) that contains the run's logical
    day: the source's calendar decides which period a nightly run or a backfill date processes. None when
    the administration lists no period containing it (the configured calendar is used then)."""
    from payroll_etl.periods import calendar_tail, local_day

    day = local_day(request.logical_date).isoformat()
    numbers = [(item.get("year"), item.get("periodNumber")) for item in periods]
    stated = [(y, n) for y, n in numbers if isinstance(y, int) and isinstance(n, int)]
    for item in periods:
        start, end = str(item.get("startDate") or ""), str(item.get("endDate") or "")
        if not (start[:10] <= day <= end[:10]) or not start or not end:
            continue
        record = f"{werkgever}/{item.get('id')}"
        frequency = period_type(item.get("payrollPeriodType"), request.employer.employer, "payroll_period", record)
        frequency = frequency or request.period.frequency
        tail = calendar_tail(frequency, request.employer.four_week_tail, stated)
        try:
            return PayPeriod(frequency, int(item["year"]), int(item["periodNumber"]),  # type: ignore[arg-type]
                             date.fromisoformat(start[:10]), date.fromisoformat(end[:10]), tail)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            raise MalformedPayloadError(f"Loket payroll period {record} of employer {request.employer.employer} "
                                        "lacks a valid year, periodNumber, startDate or endDate") from None
    return None


def wage_basis(wage: dict[str, Any]) -> tuple[str | None, str | None]:
    """(basis, problem) of a Loket wage: ``grossWageType`` periodic (key 1) or hourly (key 2) and, for a
    periodic wage, ``isGrossWageFullTime`` (true or absent: the full-time wage, Loket's default; false:
    the part-time amount actually paid). Anything else, or a net wage only, is a problem (no basis)."""
    if wage.get("grossWage") is None and wage.get("netWage") is not None:
        return None, "only a net wage is stated: the benefit bases need a gross wage"
    kind = wage.get("grossWageType") or {}
    value = str(kind.get("value") or "").strip().lower()
    key = kind.get("key")
    if value in HOURLY_WAGE_TYPES or (not value and key == 2):
        return "hourly", None
    if value in PERIODIC_WAGE_TYPES or (not value and key in (1, None)):
        full_time = wage.get("isGrossWageFullTime")
        if full_time is None or full_time is True:
            return "fulltime", None
        if full_time is False:
            return "actual", None
        return None, "isGrossWageFullTime is not a boolean"
    return None, f"unknown grossWageType (key {key!r}): not a periodic or hourly gross wage"


def _salary_row(employment_id: str, wage: dict[str, Any], frequency: str | None, parser: Parser) -> dict[str, Any]:
    sid = f"{employment_id}/{BASE_COMPONENT}"
    basis, problem = wage_basis(wage)
    if problem:
        parser.issue("salary", sid, "basis", "unknown_basis", problem)
    if frequency is None:
        parser.issue("salary", sid, "payrollPeriodType", "required",
                     "neither the wage nor its payroll administration states a payroll period type")
    return {
        "source_id": sid,
        "valid_from": parser.date(wage.get("startDate"), "salary", sid, "startDate"),
        "valid_to": parser.date(wage.get("endDate"), "salary", sid, "endDate"),
        "employment_source_id": employment_id,
        "gross_amount": parser.decimal(wage.get("grossWage"), "salary", sid, "grossWage"),
        "frequency": "hour" if basis == "hourly" else frequency,
        "basis": basis,
        "holiday_allowance_pct": None,
        "component": BASE_COMPONENT,
        "is_correction": False,
    }


def _result_rows(item: dict[str, Any], run: dict[str, Any], run_pid: int, parser: Parser) -> Iterator[dict[str, Any]]:
    employment_id = str(item.get("employmentId"))
    run_id = str(run.get("id") or f"period-{run_pid}")
    sequence = run.get("sequenceNumber")
    for entry in item.get("payrollPeriods") or []:
        pp = entry.get("payrollPeriod") or {}
        year, number = pp.get("year"), pp.get("periodNumber")
        if not isinstance(year, int) or not isinstance(number, int):
            parser.issue("payroll_result", employment_id, "payrollPeriod", "parse_int", "period year/number missing")
            continue
        period_id = f"{year}{number:02d}"
        start = parser.date(pp.get("periodStartDate"), "payroll_result", employment_id, "periodStartDate")
        for slip in entry.get("payslipTypes") or []:
            slip_key = (slip.get("payslipType") or {}).get("key")
            for res in slip.get("payrollComponentResults") or []:
                key = (res.get("payrollComponent") or {}).get("key")
                if key is None:
                    continue
                component = str(key) if slip_key in (None, 1) else f"{key}@{slip_key}"
                values = [(component, res.get("value"))]
                if res.get("valueSpecialTariff"):
                    values.append((f"{component}_BT", res["valueSpecialTariff"]))
                for code, value in values:
                    sid = f"{employment_id}/{period_id}/{run_id}/{code}"
                    amount = parser.decimal(value, "payroll_result", sid, "value")
                    if amount is None:
                        continue
                    yield {"source_id": sid, "valid_from": start or date(year, 1, 1), "valid_to": None,
                           "employment_source_id": employment_id, "period_id": period_id, "run_id": run_id,
                           "run_sequence": sequence, "run_period_id": str(run_pid), "component": code,
                           "amount": amount}
