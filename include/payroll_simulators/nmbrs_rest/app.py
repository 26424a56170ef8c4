"""Nmbrs REST API simulator (``api.nmbrsapp.com`` + ``identityservice.nmbrs.com`` on one port).

Serves the same world as the Nmbrs SOAP simulator (:mod:`payroll_simulators.nmbrs`): the same
users see the same companies; REST ids are the GUIDs of the SOAP integers
(:func:`payroll_simulators.world.nmbrs_rest_id`).

* Identity server: :mod:`.identity` (authorize + consent page, token with PKCE and rotating
  single-use refresh tokens, revocation, discovery).
* API (paths, parameters, response shapes and error bodies of the official OpenAPI document):
  ``/api/debtors``, ``/api/companies``, ``/api/debtors/{debtorId}/companies``,
  ``/api/companies/{companyId}/period``, the company-level bulk lists
  ``/api/companies/{companyId}/employees/{personalinfo,employments,contracts,salaries,schedules,
  addresses,privateInfos,bankaccounts}`` (``pageNumber``, ``pageSize`` ≤ 100, ``createdFrom``,
  ``employeeId``), ``/api/companies/{companyId}/runs?year=``, the run output
  ``/api/companies/{companyId}/runs/{payrollRunId}/wagecodes/xml`` (a document task) with
  ``/api/documents/{taskId}`` (202 while "processing", then the XML), and
  ``/api/companies/{companyId}/pensionexport``.
* Every call needs ``X-Subscription-Key`` (missing or wrong: 401, code 40103, checked first as the
  API gateway does) and a bearer token (40101 missing, 40102 invalid/expired) whose grant has one
  of the operation's scopes (else 403, code 40301, naming the scope). A company the user may not
  see: 403 40303; an unknown company: 404 40404. Codes 40103 and 40301 are assumptions: the spec's
  code list is not exhaustive and does not show these two cases.
* Faults (``/_sim/faults``): the shared kinds, plus ``revoke_token`` (API: the access token is
  dead, 401 40102; token endpoint: the grant is revoked) and ``quota`` (429, code 42909, no
  ``Retry-After``). Test control under ``/_sim/nmbrs/``: ``clock`` (advance seconds),
  ``expire-tokens``, ``stats``.

Run standalone: ``python -m payroll_simulators.nmbrs_rest`` (127.0.0.1:8084).
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, request

from payroll_simulators.faults import FaultMiddleware, FaultSwitch
from payroll_simulators.nmbrs.app import wage_code_report
from payroll_simulators.nmbrs_rest import render
from payroll_simulators.nmbrs_rest.identity import Client, IdentityState, register
from payroll_simulators.server import SimClock
from payroll_simulators.world import (
    REFERENCE_TODAY,
    WageVersion,
    Werkgever,
    World,
    nmbrs_rest_id,
    nmbrs_salary_id,
    period_bounds,
    stable_id,
)

DEMO_CLIENT_ID = "benefits-etl-demo"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_SUBSCRIPTION_KEY = "5e1f0c3a9b7d4e2f8a6c1b0d3e5f7a9c"
DEMO_USERNAME, DEMO_PASSWORD = "demo@example.nl", "demo"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
DOC_URL = "https://developer.nmbrs.com/api/docs/errors"

# Scopes per operation, as the OpenAPI document's ``security: Bearer: [...]`` lists them (any one suffices).
SCOPES: dict[str, tuple[str, ...]] = {
    "getDebtors": ("company.info", "company.info.read"),
    "getCompanies": ("company.info", "company.info.read"),
    "getCompaniesByDebtor": ("company.info.read", "company.info"),
    "getCurrentPeriod": ("company.info.read", "company.info"),
    "personalinfo": ("employee.info", "employee.info.read"),
    "addresses": ("employee.info", "employee.info.read"),
    "privateInfos": ("employee.info", "employee.info.read"),
    "employments": ("employee.employment.read", "employee.employment"),
    "contracts": ("employee.employment", "employee.employment.read"),
    "salaries": ("employee.employment", "employee.employment.read"),
    "schedules": ("employee.employment", "employee.employment.read"),
    "bankaccounts": ("employee.bankaccount.read", "employee.bankaccount"),
    "getCompanyPayrollRuns": ("company.payrollsettings.read",),
    "getPayrollRunWageCodes": ("company.document.read",),
    "GetDocumentContentId": ("document.read",),
    "getCompanyPensionExports": ("company.payrollsettings.read",),
}
BULK = {"personalinfo": "personal_info", "employments": "employments", "contracts": "contracts",
        "salaries": "salaries", "schedules": "schedules", "addresses": "addresses", "privateInfos": "private_infos",
        "bankaccounts": "bank_accounts"}
NESTED = {"personalinfo": "info", "employments": "employments", "contracts": "contracts", "salaries": "salaries",
          "schedules": "schedules", "addresses": "addresses", "privateInfos": "privateInfos",
          "bankaccounts": "bankAccounts"}


@dataclass(frozen=True)
class Environment:
    """An Nmbrs environment (debtor) and the login that consents for it."""

    username: str
    password: str
    debtor_name: str
    companies: tuple[str, ...]  # werkgever keys (build_world spec keys) or werkgever ids

    @property
    def debtor_id(self) -> str:
        return stable_id("nmbrs-debtor", self.username)


def default_environments() -> list[Environment]:
    """The SOAP simulator's API users, as REST logins (same companies)."""
    return [Environment(DEMO_USERNAME, DEMO_PASSWORD, "Demo Administratiekantoor",
                        ("transport_oost", "schoonmaak_west")),
            Environment("partner@example.nl", "partner", "Partner Accountants",
                        ("bakkerij_de_vries", "techniek_noord"))]


class ApiError(Exception):
    def __init__(self, status: int, code: int, title: str, detail: str, kind: str = "invalidRequestError",
                 headers: dict[str, str] | None = None, invalid: list[dict[str, str]] | None = None):
        super().__init__(title)
        self.status, self.code, self.title, self.detail, self.kind = status, code, title, detail, kind
        self.headers, self.invalid = headers or {}, invalid

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "httpStatus": self.status, "code": self.code, "title": self.title,
                               "detail": self.detail}
        if self.invalid:
            out["invalid-params"] = self.invalid
        out["docUrl"] = DOC_URL
        return out


def error_body(message: str, status: int) -> tuple[str, bytes]:
    """The spec's error body for an injected transport fault (FaultMiddleware ``status_body``)."""
    known = {429: (42908, "Too_Many_Calls", "throttlingError",
                   "The amount of calls is above the threshold for your subscription plan."),
             500: (50001, "Unkown", "apiError", "An unexpected error has occurred."),
             502: (50201, "Bad_Gateway", "apiError", message),
             503: (50301, "Service_Unavailable", "apiError", "The service is temporarily unavailable.")}
    code, title, kind, detail = known.get(status, (50001, "Unkown", "apiError", message))
    return "application/json", json.dumps(ApiError(status, code, title, detail, kind).body()).encode()


@dataclass
class Task:
    xml: str
    polls_left: int


@dataclass
class NmbrsRestSimulator:
    """The WSGI app: ``/_sim/nmbrs`` control, then the fault switch, then Flask."""

    world: World
    environments: dict[str, Environment]
    clients: dict[str, Client]
    subscription_keys: frozenset[str]
    today: date = REFERENCE_TODAY
    document_polls: int = 1  # 202 answers before a document is ready
    clock: SimClock = field(default_factory=SimClock)
    switch: FaultSwitch = field(default_factory=FaultSwitch)
    created: dict[str, datetime] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        passwords = {e.username: e.password for e in self.environments.values()}
        self.identity = IdentityState(self.clock, self.clients, passwords)
        self.flask = _build_flask(self)
        self.wsgi = FaultMiddleware(self.flask.wsgi_app, self.switch, status_body=error_body)

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if environ.get("PATH_INFO", "").startswith("/_sim/nmbrs/"):
            return self.flask.wsgi_app(environ, start_response)
        return self.wsgi(environ, start_response)

    # ---- world lookups ---------------------------------------------------------------------
    def werkgever(self, ref: str) -> Werkgever | None:
        return self.world.werkgevers.get(ref) or self.world.werkgevers.get(stable_id("werkgever", ref))

    def companies_of(self, env: Environment) -> list[Werkgever]:
        return [wg for ref in env.companies if (wg := self.werkgever(ref)) is not None]

    def current_period(self, wg: Werkgever) -> tuple[int, int]:
        found = render.period_of(wg, self.today)
        return found["year"], found["period"]

    def as_of(self, wg: Werkgever) -> date:
        return period_bounds(wg.frequency, *self.current_period(wg))[1]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC).replace(tzinfo=None)

    # ---- test control ----------------------------------------------------------------------
    def add_salary(self, employment_id: str, start: date, amount: Any) -> str:
        """A new salary version created now (``createdAt`` = the simulator's clock); returns its REST id."""
        with self.lock:
            for wg in self.world.werkgevers.values():
                for emp in wg.employments:
                    if render.employment_id(self.world, wg, emp) == employment_id:
                        emp.wages.append(WageVersion(stable_id("wage", emp.id, start.isoformat()), start, amount))
                        index = sorted(emp.wages, key=lambda w: w.start).index(emp.wages[-1])
                        rest_id = nmbrs_rest_id("salary", nmbrs_salary_id(self.world, wg, emp, index))
                        self.created[rest_id] = self.now()
                        return rest_id
        raise KeyError(employment_id)


def _build_flask(sim: NmbrsRestSimulator) -> Flask:
    app = Flask("nmbrs_rest_simulator")
    register(app, sim.identity, sim.switch)

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):  # noqa: ANN202
        return _json(e.body(), e.status, e.headers)

    @app.errorhandler(404)
    def _not_found(_e):  # noqa: ANN202
        return _json(ApiError(404, 40401, "Not_Found", "The requested resource could not be found.").body(), 404)

    # ---- plumbing --------------------------------------------------------------------------
    def caller(operation: str) -> Environment:
        key = request.headers.get("X-Subscription-Key")
        if key not in sim.subscription_keys:
            raise ApiError(401, 40103, "Invalid_Subscription_Key",
                           "Access denied due to missing or invalid subscription key (header X-Subscription-Key).",
                           "authenticationError")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise ApiError(401, 40101, "Missing_Token", "Token is missing on the authentication", "authenticationError")
        token = auth[7:].strip()
        if sim.switch.take(request.environ.get("sim.signature", ""), {"revoke_token"}) is not None:
            sim.identity.invalidate_access(token)
        grant = sim.identity.grant_of_access(token)
        if grant is None:
            raise ApiError(401, 40102, "Invalid_Token", "Token is invalid.", "authenticationError")
        if sim.switch.take(request.environ.get("sim.signature", ""), {"quota"}) is not None:
            raise ApiError(429, 42909, "Quota_Exceeded", "Out of call volume quota.", "throttlingError")
        needed = SCOPES[operation]
        if not grant.scopes & set(needed):
            raise ApiError(403, 40301, "Insufficient_Scope",
                           f"The access token lacks the scope required by this operation: one of {', '.join(needed)}.",
                           "authenticationError")
        return sim.environments[grant.username]

    def company_of(env: Environment, company_id: str) -> Werkgever:
        for wg in sim.world.werkgevers.values():
            if render.company_id(wg) == company_id.lower():
                if wg in sim.companies_of(env):
                    return wg
                raise ApiError(403, 40303, "Unauthorized_AccessData",
                               "You do not have access for the debtor or company you are trying to reach. Contact "
                               "the administrator of the environment and review access rights by tags/filters for "
                               "your login on Template User.", "authenticationError")
        raise ApiError(404, 40404, "Invalid_Company", "Company not found. Check if the company Id is correct.")

    def int_arg(name: str, default: int | None = None, low: int | None = None, high: int | None = None) -> int | None:
        raw = request.args.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or (low is not None and value < low) or (high is not None and value > high):
            raise ApiError(400, 40033, "Parameter_Invalid", "Invalid parameter.", "validationError",
                           invalid=[{"name": name, "reason": "The parameter is invalid."}])
        return value

    def created_from() -> datetime | None:
        raw = request.args.get("createdFrom")
        if not raw:
            return None
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)
        except ValueError:
            raise ApiError(400, 40033, "Parameter_Invalid", "Invalid parameter.", "validationError",
                           invalid=[{"name": "createdFrom", "reason": "It needs to be a valid date-time."}]) from None

    def paged(items: list[Any], pageable: bool = True) -> Response:
        """The spec's list envelope; operations without paging parameters answer everything on one page."""
        number = int_arg("pageNumber", 1, low=1) if pageable else 1
        size = int_arg("pageSize", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE) if pageable else max(1, len(items))
        assert number is not None and size is not None
        total_pages = max(1, math.ceil(len(items) / size))
        base = request.base_url
        others = {k: v for k, v in request.args.items() if k != "pageNumber"}

        def link(n: int) -> str:
            return f"{base}?{urlencode({**others, 'pageNumber': n})}"

        return _json({"pagination": {
            "pageNumber": number, "pageSize": size, "firstPage": link(1), "lastPage": link(total_pages),
            "totalPages": total_pages, "totalRecords": len(items),
            "nextPage": link(number + 1) if number < total_pages else None,
            "previousPage": link(number - 1) if number > 1 else None},
            "data": items[(number - 1) * size: number * size]})

    def renderer(wg: Werkgever) -> render.Renderer:
        return render.Renderer(sim.world, sim.created, sim.as_of(wg))

    # ---- API -------------------------------------------------------------------------------
    @app.route("/api/debtors")
    def debtors():  # noqa: ANN202
        env = caller("getDebtors")
        return paged([{"debtorId": env.debtor_id, "number": "1", "name": env.debtor_name}])

    @app.route("/api/companies")
    def companies():  # noqa: ANN202
        env = caller("getCompanies")
        return paged([render.company(wg, env.debtor_id) for wg in sim.companies_of(env)])

    @app.route("/api/debtors/<debtor_id>/companies")
    def debtor_companies(debtor_id: str):  # noqa: ANN202
        env = caller("getCompaniesByDebtor")
        if debtor_id.lower() != env.debtor_id:
            raise ApiError(404, 40401, "Not_Found", "The requested resource could not be found.")
        return paged([render.company(wg, env.debtor_id) for wg in sim.companies_of(env)])

    @app.route("/api/companies/<company_id>/period")
    def period(company_id: str):  # noqa: ANN202
        wg = company_of(caller("getCurrentPeriod"), company_id)
        year, number = sim.current_period(wg)
        kind = "month" if wg.frequency == "month" else "4-weeks"
        return paged([{"period": {"year": year, "period": number}, "periodType": kind,
                       "displayPeriod": f"{year}-{number:02d}"}], pageable=False)

    @app.route("/api/companies/<company_id>/employees/<collection>")
    def bulk(company_id: str, collection: str):  # noqa: ANN202
        if collection not in BULK:
            raise ApiError(404, 40401, "Not_Found", "The requested resource could not be found.")
        wg = company_of(caller(collection), company_id)
        since = created_from()
        only = request.args.get("employeeId")
        make = getattr(renderer(wg), BULK[collection])
        items = []
        for person in wg.persons:
            item = make(wg, person)
            if only and item["employeeId"] != only.lower():
                continue
            if since is not None:
                nested = [r for r in item[NESTED[collection]] or []  # employments carry creationDate instead
                          if datetime.fromisoformat((r.get("createdAt") or r["creationDate"]).removesuffix("Z"))
                          >= since]
                if not nested:
                    continue
                item = {**item, NESTED[collection]: nested}
            items.append(item)
        return paged(items)

    @app.route("/api/companies/<company_id>/runs")
    def runs(company_id: str):  # noqa: ANN202
        wg = company_of(caller("getCompanyPayrollRuns"), company_id)
        year = int_arg("year", sim.today.year, low=1900, high=2100)
        r = renderer(wg)
        return paged([r.payroll_run(run) for run in sim.world.runs if run.werkgever_id == wg.id and run.year == year],
                     pageable=False)

    @app.route("/api/companies/<company_id>/runs/<payroll_run_id>/wagecodes/xml")
    def wage_codes(company_id: str, payroll_run_id: str):  # noqa: ANN202
        wg = company_of(caller("getPayrollRunWageCodes"), company_id)
        run = next((x for x in sim.world.runs if x.werkgever_id == wg.id
                    and render.run_id(sim.world, x.id) == payroll_run_id.lower()), None)
        if run is None:
            raise ApiError(404, 40401, "Not_Found", "The requested resource could not be found.")
        year = int_arg("year", sim.today.year, low=1900, high=2100)
        codes: set[int] = set()
        for raw in request.args.getlist("wageCodes"):
            for part in raw.split(","):
                if part.strip():
                    try:
                        codes.add(int(part))
                    except ValueError:
                        raise ApiError(400, 40033, "Parameter_Invalid", "Invalid parameter.", "validationError",
                                       invalid=[{"name": "wageCodes", "reason": "Wage codes are integers."}]) from None
        if year != run.year:
            xml = '<?xml version="1.0" encoding="utf-8"?>\r\n<reports />'
        else:
            xml = wage_code_report(sim.world, wg, run, lambda p: render.employee_id(wg, p), codes or None)
            xml = xml.replace('encoding="utf-16"', 'encoding="utf-8"', 1)  # a file download: UTF-8 bytes
        task_id = str(uuid.uuid4())
        with sim.lock:
            sim.tasks[task_id] = Task(xml, sim.document_polls)
        return _json({"taskId": task_id})

    @app.route("/api/documents/<task_id>")
    def document(task_id: str):  # noqa: ANN202
        caller("GetDocumentContentId")
        with sim.lock:
            task = sim.tasks.get(task_id.lower())
            if task is None:
                raise ApiError(404, 40401, "Not_Found", "The requested resource could not be found.")
            if task.polls_left > 0:
                task.polls_left -= 1
                return _json("Document is being processed", 202)
        data = task.xml.encode("utf-8")
        return Response(data, 200, headers={"Content-Type": "application/octet-stream",
                                            "Content-Disposition": f'attachment; filename="{task_id}.xml"'})

    @app.route("/api/companies/<company_id>/pensionexport")
    def pension_exports(company_id: str):  # noqa: ANN202
        wg = company_of(caller("getCompanyPensionExports"), company_id)
        return paged(renderer(wg).pension_exports(wg, sim.today), pageable=False)

    # ---- test control ----------------------------------------------------------------------
    @app.route("/_sim/nmbrs/clock", methods=["POST"])
    def control_clock():  # noqa: ANN202
        sim.clock.advance(float((request.get_json(silent=True) or {}).get("advance", 0)))
        return _json({"offset": sim.clock.offset})

    @app.route("/_sim/nmbrs/expire-tokens", methods=["POST"])
    def control_expire():  # noqa: ANN202
        sim.identity.expire_access_tokens()
        return _json({"ok": True})

    @app.route("/_sim/nmbrs/stats")
    def control_stats():  # noqa: ANN202
        return _json({"refreshes": sim.identity.refreshes, "grants": len(sim.identity.grants)})

    return app


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers={"Content-Type": "application/json; charset=utf-8",
                                                       **(headers or {})})


def create_app(world: World, environments: list[Environment] | None = None, *,
               clients: list[Client] | None = None, subscription_keys: tuple[str, ...] = (DEMO_SUBSCRIPTION_KEY,),
               **options: Any) -> NmbrsRestSimulator:
    """The simulator as a WSGI app (``app.switch``: faults; ``app.identity``: tokens; ``app.world``)."""
    envs = environments or default_environments()
    return NmbrsRestSimulator(world, {e.username: e for e in envs},
                              {c.client_id: c for c in (clients or [Client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)])},
                              frozenset(subscription_keys), **options)

